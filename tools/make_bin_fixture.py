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

PNG images: DIR/lfw_mixed/ is the same four identities with Ann's two images the committed JPEGs
and the other four PNGs written here, one per form a decoder must handle (8-bit RGB with the Sub
filter; 16-bit RGBA, Adam7-interlaced; a 4-bit palette with a tRNS chunk; 8-bit gray with alpha),
their pixels drawn from a seeded generator; DIR/mixed2_p2.bin and DIR/mixed2_p4.bin are
pairs_2folds.txt over that folder, and DIR/png_expected.npy (uint8, (4, 20, 20, 3), the four
PNGs in the order above) holds the RGB pixels a decoder must give: alpha dropped, 16-bit samples
cut to their high byte, the palette expanded, gray repeated. The PNGs are written here chunk by
chunk (zlib and CRC from Python's zlib), with no imaging library.

reads DIR/pairs.txt (LFW format) and DIR/lfw/<name>/<name>_NNNN.jpg and writes DIR/lfw_p2.bin,
DIR/lfw_p4.bin and DIR/bad_global.bin; and from DIR/pairs_2folds.txt (the same images in 8 pairs,
2 folds of 2 matched + 2 mismatched, for a trained model's evaluation with 2 folds in
tests/test_insightface_bin.c) DIR/folds2_p2.bin and DIR/folds2_p4.bin. The JPEGs are committed (20x20 RGB, written once with
libjpeg at quality 90).
"""
import collections
import os
import pickle
import shutil
import struct
import sys
import random
import zlib


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


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)


def png_rows(a, depth, filt):
    """Scanlines of a (rows of pixels, each a list of samples) at depth bits (samples packed
    big-endian below 8), each with filter byte filt (0 None, 1 Sub)."""
    spp = len(a[0][0])
    bpp = max(1, spp * depth // 8)
    out = bytearray()
    for row in a:
        vals = [v for px in row for v in px]
        if depth == 16:
            raw = b"".join(struct.pack(">H", v) for v in vals)
        elif depth == 8:
            raw = bytes(vals)
        else:
            raw, acc, nbits = bytearray(), 0, 0
            for v in vals:
                acc, nbits = (acc << depth) | v, nbits + depth
                if nbits == 8:
                    raw.append(acc)
                    acc, nbits = 0, 0
            if nbits:
                raw.append(acc << (8 - nbits))
            raw = bytes(raw)
        if filt == 1:
            raw = bytes((raw[i] - (raw[i - bpp] if i >= bpp else 0)) & 0xff for i in range(len(raw)))
        out += bytes([filt]) + raw
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png_file(a, depth, color_type, interlace=0, filt=0, plte=None, trns=None):
    h, w = len(a), len(a[0])
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, interlace)
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = [row[x0::dx] for row in a[y0::dy]]
            if sub and sub[0]:
                raw += png_rows(sub, depth, filt)
    else:
        raw = png_rows(a, depth, filt)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
    if plte is not None:
        out += png_chunk(b"PLTE", bytes(v for c in plte for v in c))
    if trns is not None:
        out += png_chunk(b"tRNS", bytes(trns))
    return out + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b"")


def save_npy_u8(path, shape, flat):
    """numpy.save of a uint8 C-order array (format 1.0), without numpy."""
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': (%s), }" % "".join("%d, " % n for n in shape).rstrip(" ")
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + bytes(flat))


def make_mixed(d):
    """DIR/lfw_mixed/ and DIR/png_expected.npy (see the header)."""
    rng = random.Random(20261203)

    def img(spp, hi=256):
        return [[[rng.randrange(hi) for _ in range(spp)] for _ in range(20)] for _ in range(20)]

    top = os.path.join(d, "lfw_mixed")
    shutil.rmtree(top, ignore_errors=True)
    for name in ("Ann", "Bob", "Cy", "Dee"):
        os.makedirs(os.path.join(top, name))
    for k in (1, 2):
        shutil.copyfile(os.path.join(d, "lfw", "Ann", "Ann_%04d.jpg" % k),
                        os.path.join(top, "Ann", "Ann_%04d.jpg" % k))
    files, expected = [], []
    rgb = img(3)
    files.append(("Bob", 1, png_file(rgb, 8, 2, filt=1)))
    expected.append(rgb)
    hi, lo = img(4), img(4)
    rgba16 = [[[h * 256 + l for h, l in zip(ph, pl)] for ph, pl in zip(rh, rl)] for rh, rl in zip(hi, lo)]
    files.append(("Bob", 2, png_file(rgba16, 16, 6, interlace=1)))
    expected.append([[px[:3] for px in row] for row in hi])
    plte = [[rng.randrange(256) for _ in range(3)] for _ in range(16)]
    idx = img(1, 16)
    files.append(("Cy", 1, png_file(idx, 4, 3, plte=plte, trns=[0, 128, 255])))
    expected.append([[plte[px[0]] for px in row] for row in idx])
    ga = img(2)
    files.append(("Dee", 1, png_file(ga, 8, 4)))
    expected.append([[[px[0]] * 3 for px in row] for row in ga])
    for name, k, data in files:
        with open(os.path.join(top, name, "%s_%04d.png" % (name, k)), "wb") as f:
            f.write(data)
    flat = [v for im in expected for row in im for px in row for v in px]
    save_npy_u8(os.path.join(d, "png_expected.npy"), (4, 20, 20, 3), flat)


def image_bytes(folder, name, idx):
    for ext in (".jpg", ".png"):
        p = os.path.join(folder, name, "%s_%04d%s" % (name, idx, ext))
        if os.path.exists(p):
            with open(p, "rb") as f:
                return f.read()
    raise FileNotFoundError(p)


def write_bins(d, pairs_name, prefix, folder="lfw"):
    pairs = read_pairs(d, pairs_name)
    cache = collections.OrderedDict()
    bins, issame = [], []
    for a, b, same in pairs:
        for name, idx in (a, b):
            if (name, idx) not in cache:
                cache[(name, idx)] = image_bytes(os.path.join(d, folder), name, idx)
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
    make_mixed(d)
    write_bins(d, "pairs_2folds.txt", "mixed2", "lfw_mixed")
    w = Wrapped()
    with open(os.path.join(d, "bad_global.bin"), "wb") as f:
        f.write(pickle.dumps(([w], [True]), protocol=4))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/bin")
