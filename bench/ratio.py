#!/usr/bin/python3
"""normbench against PyTorch, from the interleaved rounds `make bench` writes.

`make bench` runs, for each instruction-set setting CAP (native: what oneDNN picks; AVX2: both
programs capped with ONEDNN_MAX_CPU_ISA=AVX2) and each round R, first `normbench bench --out
results/bench/CAP/roundR` (throughput.csv: both backends), then bench/torch_train.py into the same
folder (train_torch.csv). This script joins them: for each (CAP, backbone, threads, mode) the
median over rounds of normbench's images/s per backend, and of PyTorch's faster memory format
(NCHW or channels_last) per round, and their ratio. Writes results/bench/ratio.csv (or --out)
and prints it as a Markdown table. Standard library only.

  /usr/bin/python3 bench/ratio.py [RESULTS_BENCH_DIR] [--out FILE]
"""
import argparse
import csv
import glob
import os
import statistics
import sys

HEADER = ["isa_cap", "dnnl_isa", "backbone", "threads", "mode", "rounds", "normbench_dnnl", "normbench_blas",
          "pytorch", "pytorch_format", "ratio_dnnl", "ratio_blas"]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def collect(root):
    """{(cap, backbone, threads, mode): {"dnnl": [...], "blas": [...], "torch": [(ips, fmt)], "isa": str}}"""
    out = {}
    for rdir in sorted(glob.glob(os.path.join(root, "*", "round*"))):
        cap = os.path.basename(os.path.dirname(rdir))
        tp, tt = os.path.join(rdir, "throughput.csv"), os.path.join(rdir, "train_torch.csv")
        if not os.path.exists(tp):
            continue
        for r in read_csv(tp):
            k = (cap, r["backbone"], int(r["threads"]), r["mode"])
            e = out.setdefault(k, {"dnnl": [], "blas": [], "torch": [], "isa": ""})
            e[r["backend"]].append(float(r["images_per_second"]))
            if r["backend"] == "dnnl":
                e["isa"] = r["dnnl_isa"]
        if not os.path.exists(tt):
            continue
        best = {}
        for r in read_csv(tt):
            if r["status"] != "ok":
                continue
            k = (cap, r["backbone"], int(r["threads"]), r["mode"])
            ips = float(r["images_per_second"])
            if k not in best or ips > best[k][0]:
                best[k] = (ips, r["memory_format"])
        for k, v in best.items():
            out.setdefault(k, {"dnnl": [], "blas": [], "torch": [], "isa": ""})["torch"].append(v)
    return out


def median(xs):
    return statistics.median(xs) if xs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", nargs="?", default="results/bench")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    data = collect(a.root)
    if not data:
        print(f"bench/ratio.py: no {a.root}/CAP/roundN/throughput.csv found: run make bench", file=sys.stderr)
        return 1
    out = a.out or os.path.join(a.root, "ratio.csv")
    rows = []
    for k in sorted(data, key=lambda k: (k[0] != "native", k[0], k[1], k[2], k[3] != "train")):
        e = data[k]
        dn, bl = median(e["dnnl"]), median(e["blas"])
        pt = median([v[0] for v in e["torch"]])
        fmts = sorted({v[1] for v in e["torch"]})
        rows.append({"isa_cap": k[0], "dnnl_isa": e["isa"], "backbone": k[1], "threads": k[2], "mode": k[3],
                     "rounds": max(len(e["dnnl"]), len(e["torch"])),
                     "normbench_dnnl": "" if dn is None else round(dn, 1),
                     "normbench_blas": "" if bl is None else round(bl, 1),
                     "pytorch": "" if pt is None else round(pt, 1), "pytorch_format": "+".join(fmts),
                     "ratio_dnnl": "" if dn is None or not pt else round(dn / pt, 3),
                     "ratio_blas": "" if bl is None or not pt else round(bl / pt, 3)})
    tmp = out + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, HEADER, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, out)
    print("| ISA cap (oneDNN ISA) | backbone | threads | mode | normbench oneDNN img/s | normbench OpenBLAS img/s "
          "| PyTorch img/s (format) | ratio oneDNN | ratio OpenBLAS | rounds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['isa_cap']} ({r['dnnl_isa']}) | {r['backbone']} | {r['threads']} | {r['mode']} "
              f"| {r['normbench_dnnl']} | {r['normbench_blas']} | {r['pytorch']} ({r['pytorch_format']}) "
              f"| {r['ratio_dnnl']} | {r['ratio_blas']} | {r['rounds']} |")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
