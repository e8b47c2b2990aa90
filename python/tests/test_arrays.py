"""How arrays cross into attnspec: float32/float64 numpy arrays in any layout are read in place (no copy, checked
with tracemalloc, which sees numpy's allocations), everything else is converted once and gives the same answer."""
import tracemalloc

import numpy as np
import pytest

import attnspec


def peak_allocation(call):
    """Bytes numpy (or Python) allocated at the peak of `call()`; attnspec's own C++ buffers are not counted."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("order", ["C", "F"])
def test_float64_inputs_are_not_copied(rng, order):
    Q = np.asarray(rng.standard_normal((4096, 64)), order=order)
    K = np.asarray(rng.standard_normal((4096, 64)), order=order)
    size = Q.nbytes
    assert peak_allocation(lambda: attnspec.LogitEnergyField(Q, K)) < size / 20
    assert peak_allocation(lambda: attnspec.SoftmaxStabilityBound(Q[:512], K[:512], ranks=[1])) < size / 20
    # The same measurement sees a conversion: float16 input is copied to float32.
    half = Q.astype(np.float16)
    assert peak_allocation(lambda: attnspec.LogitEnergyField(half, K.astype(np.float16))) >= half.nbytes


def test_views_and_strides_are_read_in_place_and_correctly(rng):
    base = rng.standard_normal((300, 200))
    Q, K = base[::3, 10:74], base[1::3, 100:164].T.copy().T  # a strided view and an F-ordered copy
    expected = attnspec.LogitEnergyField(np.ascontiguousarray(Q), np.ascontiguousarray(K)).singular_values
    assert peak_allocation(lambda: attnspec.LogitEnergyField(Q, K)) < Q.nbytes / 4
    assert np.array_equal(attnspec.LogitEnergyField(Q, K).singular_values, expected)


def test_other_inputs_are_converted_to_the_same_answer(rng):
    Q, K = rng.standard_normal((64, 16)), rng.standard_normal((64, 16))
    expected = attnspec.LogitEnergyField(Q, K).singular_values
    variants = [
        (Q[::-1][::-1], K),                                # positive strides again after two reversals
        (np.flipud(np.flipud(Q)), K),
        (Q.tolist(), K.tolist()),                           # lists
        (Q.astype(">f8"), K.astype(">f8")),                # byte-swapped
    ]
    for q, k in variants:
        assert np.array_equal(attnspec.LogitEnergyField(q, k).singular_values, expected)
    reversed_view = attnspec.LogitEnergyField(Q[::-1], K[::-1]).singular_values  # negative strides: copied
    assert np.allclose(reversed_view, expected, rtol=1e-13)
    mixed = attnspec.LogitEnergyField(Q.astype(np.float32), K)  # one float32 argument is widened
    assert np.array_equal(mixed.singular_values, attnspec.LogitEnergyField(Q.astype(np.float32).astype(float), K).singular_values)
    integers = rng.integers(-5, 5, (64, 16))
    assert np.array_equal(attnspec.LogitEnergyField(integers, integers).singular_values,
                          attnspec.LogitEnergyField(integers.astype(float), integers.astype(float)).singular_values)


def test_torch_tensors_of_every_precision(rng):
    import torch  # a test dependency (scripts/install-deps.sh), never skipped
    Q, K = rng.standard_normal((64, 16)), rng.standard_normal((64, 16))
    expected = attnspec.LogitEnergyField(Q, K).singular_values
    q, k = torch.tensor(Q, requires_grad=True), torch.tensor(K)
    assert np.array_equal(attnspec.LogitEnergyField(q, k).singular_values, expected)
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        got = attnspec.LogitEnergyField(q.to(dtype), k.to(dtype)).singular_values
        widened = attnspec.LogitEnergyField(q.to(dtype).float().detach().numpy(), k.to(dtype).float().numpy())
        assert np.array_equal(got, widened.singular_values), dtype
    # A float32 tensor is read in place through its numpy view.
    big = torch.randn(4096, 64)
    assert peak_allocation(lambda: attnspec.LogitEnergyField(big, big)) < big.numel() * 4 / 20


def test_keep_factors_false_reads_in_place_to_the_same_values(rng):
    Q, K = rng.standard_normal((3000, 32)), rng.standard_normal((2500, 32))
    kept = attnspec.LogitEnergyField(Q, K)
    for q, k in [(Q, K), (np.asfortranarray(Q), K[::2]), (Q.astype(np.float32), K.astype(np.float32))]:
        in_place = attnspec.LogitEnergyField(q, k, keep_factors=False)
        reference = attnspec.LogitEnergyField(q, k)
        assert np.allclose(in_place.singular_values, reference.singular_values, rtol=1e-12 if q.dtype == float else 1e-5)
    assert np.allclose(attnspec.LogitEnergyField(Q, K, keep_factors=False).singular_values, kept.singular_values,
                       rtol=1e-13)
    with pytest.raises(attnspec.InvalidArgument, match="keep_factors = false"):
        attnspec.LogitEnergyField(Q, K, keep_factors=False).dense()
