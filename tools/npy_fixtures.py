#!/usr/bin/python3
"""npy_fixtures.py — small .npy files written by numpy itself, for tests/test_npy.c: one per
dtype and layout the reader accepts (float32/64, bool, int, big-endian, format 2.0, a 1-D
Fortran-order array, a 0-d array, an empty array) and one it must refuse (an object array, a
2-D Fortran-order array). Deterministic; run with Debian's python3 (numpy):
    /usr/bin/python3 tools/npy_fixtures.py tests/fixtures/npy
"""
import os
import sys

import numpy as np


def main(out):
    os.makedirs(out, exist_ok=True)
    m = (np.arange(6, dtype=np.float64).reshape(2, 3) - 2.5) / 4
    np.save(os.path.join(out, "f4.npy"), m.astype("<f4"))
    np.save(os.path.join(out, "f8.npy"), m)
    np.save(os.path.join(out, "f4_big.npy"), m.astype(">f4"))
    np.save(os.path.join(out, "bool.npy"), np.array([True, False, False, True, True]))
    np.save(os.path.join(out, "i8.npy"), np.array([-3, 0, 7, 1 << 40], dtype=np.int64))
    np.save(os.path.join(out, "u1.npy"), np.array([0, 1, 255], dtype=np.uint8))
    np.save(os.path.join(out, "scalar.npy"), np.float64(1.5))
    np.save(os.path.join(out, "empty.npy"), np.zeros((0, 4), dtype=np.float32))
    np.save(os.path.join(out, "fortran_1d.npy"), np.asfortranarray(np.arange(3, dtype=np.int32)))
    with open(os.path.join(out, "v2.npy"), "wb") as f:
        np.lib.format.write_array(f, m.astype(np.float32), version=(2, 0))
    np.save(os.path.join(out, "bad_fortran_2d.npy"), np.asfortranarray(m))
    np.save(os.path.join(out, "bad_object.npy"), np.array([1, "a"], dtype=object), allow_pickle=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/npy")
