#!/usr/bin/python3
"""Checks attnspec's field and interaction-matrix spectra against numpy's LAPACK SVD of the dense matrices.

Heads are drawn here, independently of the C++ tests: Gaussian, low rank plus noise, an attention sink, keys
with a large common offset, fewer keys than d, fewer queries than d. Pass: |Δσ_l| <= 1e-12·σ₁ for every l.
Usage: numpy_oracle.py <path to spectra_cli>
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

TOLERANCE = 1e-12


def run(cli, args):
    out = subprocess.run([cli, *map(str, args)], check=True, capture_output=True, text=True).stdout
    return np.array([float(x) for x in out.split()])


def compare(name, got, expected):
    sigma1 = expected[0] if expected.size else 0.0
    width = max(got.size, expected.size)
    got = np.pad(got, (0, width - got.size))
    expected = np.pad(expected, (0, width - expected.size))
    error = np.max(np.abs(got - expected)) / sigma1 if sigma1 > 0 else np.max(np.abs(got))
    ok = error <= TOLERANCE
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max |dsigma|/sigma1 = {error:.2e}")
    return ok


def main():
    cli = sys.argv[1]
    rng = np.random.default_rng(20261128)
    heads = {
        "gaussian 300x200 d=64": (rng.standard_normal((300, 64)), rng.standard_normal((200, 64))),
        "low rank + noise d=128": (rng.standard_normal((256, 4)) @ rng.standard_normal((4, 128))
                                   + 1e-3 * rng.standard_normal((256, 128)),
                                   rng.standard_normal((256, 4)) @ rng.standard_normal((4, 128))
                                   + 1e-3 * rng.standard_normal((256, 128))),
        "fewer keys than d": (rng.standard_normal((100, 64)), rng.standard_normal((20, 64))),
        "fewer queries than d": (rng.standard_normal((10, 128)), rng.standard_normal((90, 128))),
    }
    q, k = rng.standard_normal((150, 64)), rng.standard_normal((150, 64))
    k[0] *= 1e4
    heads["attention sink"] = (q, k)
    heads["keys offset by 1e3"] = (rng.standard_normal((80, 32)), rng.standard_normal((80, 32)) + 1e3)

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        def save(name, matrix):
            path = os.path.join(tmp, name)
            np.ascontiguousarray(matrix, dtype="<f8").tofile(path)
            return path

        for name, (q, k) in heads.items():
            scale = 1 / np.sqrt(q.shape[1])
            centred = q @ (k - k.mean(axis=0)).T * scale
            got = run(cli, ["field", q.shape[0], k.shape[0], q.shape[1], repr(scale), save("q", q), save("k", k)])
            ok &= compare("field " + name, got, np.linalg.svd(centred, compute_uv=False))
        for d, model_dim in [(64, 768), (128, 512), (64, 48)]:
            wq, wk = rng.standard_normal((d, model_dim)), rng.standard_normal((d, model_dim))
            got = run(cli, ["interaction", d, model_dim, save("wq", wq), save("wk", wk)])
            ok &= compare(f"interaction d={d} D={model_dim}", got, np.linalg.svd(wq.T @ wk, compute_uv=False))
    print("numpy oracle:", "all passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
