"""Bad input raises the documented exceptions with the C++ library's messages: InvalidArgument (a ValueError),
FileError (an OSError with .path and .offset), Cancelled; a callback's own exception comes back unchanged."""
import os

import numpy as np
import pytest

import attnspec


def test_invalid_arguments_are_value_errors_naming_the_problem(rng):
    Q = rng.standard_normal((10, 4))
    cases = [
        (lambda: attnspec.LogitEnergyField(Q, Q[:, :3]), "Q (10x4) and K (10x3) must have the same number of columns"),
        (lambda: attnspec.LogitEnergyField(Q[None], Q), "Q must be a 2-D array"),
        (lambda: attnspec.LogitEnergyField(Q[:0], Q), "Q is empty"),
        (lambda: attnspec.LogitEnergyField(Q.astype(complex), Q), "Q has dtype complex128"),
        (lambda: attnspec.LogitEnergyField(Q, Q, algorithm="fast"), "algorithm = 'fast' is not one of accurate, gram"),
        (lambda: attnspec.LogitEnergyField(Q, Q, threads=-1), "threads = -1 must be in [0, 65536]"),
        (lambda: attnspec.LogitEnergyField(Q, Q, dtype="int32"), "dtype = int32 is not an analysis precision"),
        (lambda: attnspec.LogitEnergyField(Q, [["a"] * 4] * 10), "K has dtype <U1"),
        (lambda: attnspec.SpectrumStats([1.0, -1.0]), "singular_values(1) = -1 must be finite and >= 0"),
        (lambda: attnspec.SoftmaxStabilityBound(Q, Q).min_rank(0.5, target="best"), "target = 'best' is not one of"),
        (lambda: attnspec.model_heads(2, 6, 4), "query_heads"),
    ]
    for call, message in cases:
        with pytest.raises(attnspec.InvalidArgument) as caught:
            call()
        assert isinstance(caught.value, ValueError) and isinstance(caught.value, attnspec.Error)
        assert message in str(caught.value), (message, str(caught.value))
        assert str(caught.value).startswith("[attnspec.invalid_argument] ")


def test_non_finite_entries_are_named(rng):
    Q = rng.standard_normal((10, 4))
    Q[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"Q\(3, 2\) = nan is not finite"):
        attnspec.LogitEnergyField(Q, rng.standard_normal((10, 4)))
    with pytest.raises(ValueError, match="overflows float"):
        attnspec.LogitEnergyField(np.full((4, 2), 1e300), np.ones((4, 2)), dtype="float32")


def test_files_raise_os_errors_with_path_and_offset(tmp_path):
    with pytest.raises(attnspec.FileError) as caught:
        attnspec.ModelWeights(str(tmp_path / "absent"))
    assert isinstance(caught.value, OSError) and caught.value.path == str(tmp_path / "absent")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "gpt2", "n_embd": 8, "n_head": 2, "n_layer": 1}')
    (folder / "model.safetensors").write_bytes((100).to_bytes(8, "little") + b"{}")
    with pytest.raises(OSError) as caught:
        attnspec.ModelWeights(str(folder))
    assert caught.value.path.endswith("model.safetensors") and "[attnspec.io_error]" in str(caught.value)
    assert isinstance(caught.value.offset, (int, type(None)))
    os.mkfifo(folder / "fifo.safetensors")
    with pytest.raises(attnspec.FileError, match="not a regular file|named pipe"):
        attnspec.ModelWeights(str(folder / "fifo.safetensors"))


def test_pipeline_errors_name_the_head_and_callbacks_keep_their_exceptions(rng):
    Q = rng.standard_normal((20, 4))
    heads = [{"layer": 1, "head": h, "queries": Q, "keys": Q if h != 2 else Q[:, :3]} for h in range(4)]
    with pytest.raises(attnspec.InvalidArgument, match=r"\(layer 1, head 2\)"):
        attnspec.analyse_model(heads, threads=2)
    with pytest.raises(attnspec.InvalidArgument, match="unknown key 'querys'"):
        attnspec.analyse_model([{"layer": 0, "head": 0, "querys": Q, "keys": Q}])
    units = attnspec.model_heads(2, 3)

    class Failure(Exception):
        pass

    def load(unit):
        if unit.layer == 1:
            raise Failure(f"cannot load {unit}")
        return {"queries": Q, "keys": Q}

    with pytest.raises(Failure, match="cannot load HeadId"):
        attnspec.analyse_model(units, load, threads=2)
    with pytest.raises(attnspec.Cancelled, match="cancelled by the progress callback"):
        attnspec.analyse_model(units, lambda unit: {"queries": Q, "keys": Q}, progress=lambda done, total: done < 2)
    with pytest.raises(ZeroDivisionError):
        attnspec.analyse_model(units, lambda unit: {"queries": Q, "keys": Q}, progress=lambda done, total: 1 / 0)
    with pytest.raises(attnspec.InvalidArgument, match="must return a dict"):
        attnspec.analyse_model(units, lambda unit: (Q, Q))


def test_a_bad_weight_is_named_in_the_stored_tensor(tmp_path):
    """NaN at row 5, column 70 of layer 1's packed [192, 576] c_attn weight (Conv1D layout): the error names that
    tensor and that index, not an index into the head's transposed slice, and the unit."""
    import json
    import shutil
    import struct

    from conftest import SOURCE
    checkpoint = tmp_path / "model"
    shutil.copytree(os.path.join(SOURCE, "models", "tiny-gpt2-books"), checkpoint)
    data = bytearray((checkpoint / "model.safetensors").read_bytes())
    length = struct.unpack("<Q", data[:8])[0]
    entry = json.loads(data[8:8 + length])["h.1.attn.c_attn.weight"]
    at = 8 + length + entry["data_offsets"][0] + 2 * (5 * 576 + 70)
    data[at:at + 2] = np.array([np.nan], dtype="<f2").tobytes()
    (checkpoint / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(attnspec.InvalidArgument,
                       match=r"h\.1\.attn\.c_attn\.weight\[5, 70\] = nan is not finite \(shape \[192, 576\]\) "
                             r"\(layer 1, head 1\)"):
        attnspec.analyse_weights(str(checkpoint))


def test_a_units_preparation_is_checked(rng):
    W = rng.standard_normal((4, 6))
    with pytest.raises(attnspec.InvalidArgument, match="preparation scale must be a number, got str"):
        attnspec.analyse_model([{"layer": 0, "head": 0, "query_weight": W, "key_weight": W,
                                 "preparation": {"scale": "1/8"}}])
    with pytest.raises(attnspec.InvalidArgument, match=r"preparation.scale = -1 .*\(layer 0, head 0\)"):
        attnspec.analyse_model([{"layer": 0, "head": 0, "query_weight": W, "key_weight": W,
                                 "preparation": {"scale": -1}}])
    with pytest.raises(attnspec.InvalidArgument, match="unknown key 'gain'"):
        attnspec.analyse_model([{"layer": 0, "head": 0, "query_weight": W, "key_weight": W,
                                 "preparation": {"gain": W[0]}}])
