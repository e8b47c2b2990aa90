"""How attnspec turns what a caller passes into arrays its C++ side reads. float32 and float64 numpy arrays with
positive strides never reach this module (they are read in place); everything else is converted here, once."""
import numpy as np

from ._errors import InvalidArgument

#: Element types converted to float32 (no precision lost): half precision from numpy or torch.
_HALF = ("float16", "bfloat16")


def _from_torch(tensor):
    """A CPU numpy view of a torch tensor (a copy only when it lives elsewhere or is half precision)."""
    tensor = tensor.detach()
    if str(tensor.dtype).replace("torch.", "") in _HALF:
        tensor = tensor.float()
    return tensor.cpu().numpy()


def as_float_array(value, function, argument, ndim):
    """`value` as a float32 or float64 numpy array with `ndim` dimensions and positive strides, or InvalidArgument
    naming `function` and `argument`. Half precision becomes float32, integers float64."""
    if type(value).__module__.split(".")[0] == "torch":
        value = _from_torch(value)
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise InvalidArgument(f"[attnspec.invalid_argument] {function}: {argument} is not an array: {error}") from None
    if array.ndim != ndim:
        wanted = "a 2-D array (rows x columns)" if ndim == 2 else "a 1-D array"
        raise InvalidArgument(f"[attnspec.invalid_argument] {function}: {argument} must be {wanted}, "
                              f"got shape {tuple(array.shape)}")
    if array.size == 0:
        raise InvalidArgument(f"[attnspec.invalid_argument] {function}: {argument} is empty "
                              f"(shape {tuple(array.shape)})")
    kind = array.dtype.kind
    if array.dtype.name in _HALF or array.dtype == np.float32:
        target = np.float32
    elif kind in "fiu":
        target = np.float64
    else:
        raise InvalidArgument(f"[attnspec.invalid_argument] {function}: {argument} has dtype {array.dtype}; "
                              "attnspec needs real numbers (float16/32/64, bfloat16 or integers)")
    # Native byte order and positive strides, copying only what lacks them (reversed views, byte-swapped data).
    if not _positive(array):
        return np.array(array, dtype=target, order="C")
    return np.asarray(array, dtype=target)


def _positive(array):
    return all(stride > 0 for stride in array.strides)
