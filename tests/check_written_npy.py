"""numpy (a real client) reads the .npy files attnspec wrote in test_io, bit for bit. Usage: check_written_npy.py DIR"""
import os
import sys

import numpy as np

directory = sys.argv[1]


def formula(rows, cols):
    return (np.arange(rows * cols, dtype=np.float64) / 3.0 - 2.0).reshape(rows, cols)


wide = formula(3, 7)
wide[1, 2] = 1e-300
wide[2, 6] = -0.0
f8 = np.load(os.path.join(directory, "written_f8.npy"))
f4 = np.load(os.path.join(directory, "written_f4.npy"))
assert f8.dtype == np.dtype("<f8") and f8.shape == (3, 7), (f8.dtype, f8.shape)
assert f4.dtype == np.dtype("<f4") and f4.shape == (5, 2), (f4.dtype, f4.shape)
assert f8.tobytes() == wide.tobytes(), "float64 bits differ"
assert f4.tobytes() == formula(5, 2).astype(np.float32).tobytes(), "float32 bits differ"
assert np.signbit(f8[2, 6]), "-0.0 lost its sign"
print("numpy read both files bit-exact")
