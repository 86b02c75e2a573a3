#!/usr/bin/python3
"""Embeddings for timing `normbench eval`'s identification at 10^5 probes x 10^5 gallery templates.

Writes DIR/feat.npy (2·10^5 × 512 float32: 100,000 identities × 2 images, each a seeded Gaussian
centre plus N(0, 1.2²) noise) and DIR/labels.npy (int32 identity per row), without numpy; the
gallery/probe split of `normbench eval --labels` then holds one image of each identity on each
side. About 3 minutes of one core; 410 MB.

    /usr/bin/python3 bench/ident_embeddings.py DIR
    /usr/bin/time -v bin/normbench eval --features DIR/feat.npy --labels DIR/labels.npy --quiet
"""
import array
import os
import random
import struct
import sys

N, D, K = 200000, 512, 100000


def save_npy(path, descr, shape, data):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""))
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data)


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = random.Random(7)
    centres = [[rng.gauss(0, 1) for _ in range(D)] for _ in range(K)]
    feat, labels = array.array("f"), array.array("i")
    for i in range(N):
        feat.extend(v + rng.gauss(0, 1.2) for v in centres[i % K])
        labels.append(i % K)
    save_npy(os.path.join(out, "feat.npy"), "<f4", (N, D), feat.tobytes())
    save_npy(os.path.join(out, "labels.npy"), "<i4", (N,), labels.tobytes())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/bench/ident")
