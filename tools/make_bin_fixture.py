#!/usr/bin/python3
"""make_bin_fixture.py — small InsightFace .bin files for tests/test_insightface_bin.c and the fuzz
seeds of tests/fuzz/bin/, made with Python's own pickle from an LFW-style folder.

InsightFace's validation sets (lfw.bin, cfp_fp.bin, agedb_30.bin, ...) are a pickle of
(bins, issame_list): bins the encoded image of every pair's two images in pair order (pair i =
images 2i and 2i+1), issame_list one bool per pair (recognition/arcface_torch/eval/
verification.py, load_bin, which reads them with pickle.load and, failing that, encoding='bytes').
The published files were written by Python 2 (cPickle, protocol 2: images as str, i.e. BINSTRING
opcodes); Python 3's pickle cannot write that form (it pickles bytes under protocol 2 through
_codecs.encode, a GLOBAL + REDUCE), so the protocol-2 file is assembled here opcode by opcode as
Python 2 writes it and then checked by pickle.loads(..., encoding='bytes') to give back the same
objects. The protocol-4 file is pickle.dumps((bins, issame), protocol=4) itself. A repeated image
is the same bytes object, so both files use the memo (BINGET). Also written: a protocol-4 file
whose images are numpy-free but wrapped in a class (refused: GLOBAL), for the refusal test.

    /usr/bin/python3 tools/make_bin_fixture.py tests/fixtures/bin

reads DIR/pairs.txt (LFW format) and DIR/lfw/<name>/<name>_NNNN.jpg and writes DIR/lfw_p2.bin,
DIR/lfw_p4.bin and DIR/bad_global.bin; and from DIR/pairs_2folds.txt (the same images in 8 pairs,
2 folds of 2 matched + 2 mismatched, for a trained model's evaluation with 2 folds in
tests/test_insightface_bin.c) DIR/folds2_p2.bin and DIR/folds2_p4.bin. The JPEGs are committed (20x20 RGB, written once with
libjpeg at quality 90).
"""
import collections
import os
import pickle
import struct
import sys


def read_pairs(d, name):
    with open(os.path.join(d, name)) as f:
        lines = [l.split() for l in f if l.strip()]
    folds, n = int(lines[0][0]), int(lines[0][1])
    pairs = []
    for t in lines[1:]:
        pairs.append(((t[0], int(t[1])), (t[0], int(t[2])), True) if len(t) == 3
                     else ((t[0], int(t[1])), (t[2], int(t[3])), False))
    assert len(pairs) == 2 * folds * n
    return pairs


def py2_protocol2(bins, issame):
    """What Python 2's cPickle.dumps((bins, issame), 2) writes: a memoised list of str, a list
    of bools, TUPLE2, STOP; repeated objects as BINGET."""
    out, memo = bytearray(b"\x80\x02"), {}

    def put():
        k = len(memo)
        memo[("slot", k)] = k
        out.extend(b"q" + bytes([k]) if k < 256 else b"r" + struct.pack("<I", k))
        return k

    ids = {}
    out.extend(b"]")
    put()
    for start in range(0, len(bins), 1000):  # batches of 1000, as the pickler does
        out.extend(b"(")
        for b in bins[start:start + 1000]:
            if id(b) in ids:
                k = ids[id(b)]
                out.extend(b"h" + bytes([k]) if k < 256 else b"j" + struct.pack("<I", k))
                continue
            out.extend((b"U" + bytes([len(b)])) if len(b) < 256 else (b"T" + struct.pack("<i", len(b))))
            out.extend(b)
            ids[id(b)] = put()
        out.extend(b"e")
    out.extend(b"]")
    put()
    out.extend(b"(")
    for s in issame:
        out.extend(b"\x88" if s else b"\x89")
    out.extend(b"e\x86")
    put()
    out.extend(b".")
    return bytes(out)


class Wrapped:
    pass


def write_bins(d, pairs_name, prefix):
    pairs = read_pairs(d, pairs_name)
    cache = collections.OrderedDict()
    bins, issame = [], []
    for a, b, same in pairs:
        for name, idx in (a, b):
            if (name, idx) not in cache:
                with open(os.path.join(d, "lfw", name, "%s_%04d.jpg" % (name, idx)), "rb") as f:
                    cache[(name, idx)] = f.read()
            bins.append(cache[(name, idx)])
        issame.append(same)
    p2 = py2_protocol2(bins, issame)
    back = pickle.loads(p2, encoding="bytes")
    assert back[0] == bins and back[1] == issame, "the protocol-2 pickle does not load back"
    p4 = pickle.dumps((bins, issame), protocol=4)
    assert pickle.loads(p4) == (bins, issame)
    assert b"h" in p2 and (b"h" in p4 or b"j" in p4)
    with open(os.path.join(d, prefix + "_p2.bin"), "wb") as f:
        f.write(p2)
    with open(os.path.join(d, prefix + "_p4.bin"), "wb") as f:
        f.write(p4)
    print("%s: %d pairs, %d images (%d distinct): %s_p2.bin %d bytes, %s_p4.bin %d bytes"
          % (pairs_name, len(issame), len(bins), len(cache), prefix, len(p2), prefix, len(p4)), file=sys.stderr)


def main(d):
    write_bins(d, "pairs.txt", "lfw")
    write_bins(d, "pairs_2folds.txt", "folds2")
    w = Wrapped()
    with open(os.path.join(d, "bad_global.bin"), "wb") as f:
        f.write(pickle.dumps(([w], [True]), protocol=4))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/bin")
