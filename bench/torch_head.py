#!/usr/bin/python3
"""PyTorch reference for `normbench bench head`.

Times one training step of a classification head in PyTorch on the same machine, thread count and
shapes as the C benchmark (random features (B, d), uniform random labels, W (C, d), SGD with
momentum 0.9 and weight decay 5e-4):

  softmax  F.linear(x, W, b) + F.cross_entropy, backward, SGD step;
  arcface  the usual PyTorch ArcFace head (ArcMarginProduct of ronghuaiyang/arcface-pytorch, the
           code InsightFace's torch recipes grew from): F.linear(F.normalize(x), F.normalize(W)),
           sine = sqrt(1 - cos^2), phi = cos*cos(m) - sine*sin(m), phi = where(cos > cos(pi - m),
           phi, cos - sin(pi - m)*m), one-hot blend, *s, F.cross_entropy, backward, SGD step
           (s = 64, m = 0.5).

Each configuration runs in its own child process (this script with --one), so its peak resident
memory (VmHWM) is its own; baseline_rss_bytes is the child's resident memory after importing torch
and before allocating anything, which the C program does not pay. Configurations whose estimated
memory exceeds --mem-fraction (default 0.6) of MemAvailable are recorded as skipped_memory: on a
shared machine a step that takes most of the memory gets other people's processes killed (the
ArcFace code path at C = 10^6, d = 512 grows past 18 GB). Writes results/bench/head_torch.csv (or
--out).

Run with Debian's interpreter (python3-torch): /usr/bin/python3 bench/torch_head.py [options].
Without torch it prints a message and exits 0, so `make bench` does not need it.
"""
import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time

from procinfo import loadavg, status_bytes

HEADER = ["framework", "loss", "dim", "classes", "batch", "threads", "steps", "seconds_median", "seconds_min",
          "peak_rss_bytes", "baseline_rss_bytes", "torch_version", "loadavg", "status"]



def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0



def estimate_bytes(loss, C, d, B):
    """Rough peak: W, its grad and momentum; arcface adds normalised W and its grad; each (B, C)
    tensor the autograd graph keeps (about 3 for softmax, 10 for the ArcFace code path)."""
    w = 3 * C * d * 4
    if loss == "arcface":  # measured: 2.6 GB at C = 10^5, d = 512; past 18 GB at C = 10^6
        return w + 2 * C * d * 4 + 12 * B * C * 4 + 400e6
    return w + 3 * B * C * 4 + 400e6


def run_one(cfg):
    """Child: one configuration; prints one JSON line."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(cfg["threads"])
    baseline = status_bytes("VmRSS")
    torch.manual_seed(1)
    B, d, C = cfg["batch"], cfg["dim"], cfg["classes"]
    x = torch.randn(B, d)
    std = math.sqrt(2.0 / (d + C))
    W = torch.nn.Parameter(torch.randn(C, d) * std)
    params = [W]
    b = None
    if cfg["loss"] == "softmax":
        b = torch.nn.Parameter(torch.zeros(C))
        params.append(b)
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4)
    s, m = 64.0, 0.5
    cos_m, sin_m = math.cos(m), math.sin(m)
    th, mm = math.cos(math.pi - m), math.sin(math.pi - m) * m
    gen = torch.Generator().manual_seed(2)

    def step():
        labels = torch.randint(0, C, (B,), generator=gen)
        feat = x.clone().requires_grad_(True)  # the backbone's output: needs ∂L/∂f like the C step
        opt.zero_grad()
        if cfg["loss"] == "softmax":
            logits = F.linear(feat, W, b)
        else:
            cosine = F.linear(F.normalize(feat), F.normalize(W))
            sine = torch.sqrt((1.0 - cosine * cosine).clamp(0, 1))
            phi = cosine * cos_m - sine * sin_m
            phi = torch.where(cosine > th, phi, cosine - mm)
            one_hot = torch.zeros_like(cosine)
            one_hot.scatter_(1, labels.view(-1, 1), 1)
            logits = (one_hot * phi + (1.0 - one_hot) * cosine) * s
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        opt.step()
        return float(loss)

    step()  # warm-up
    times = []
    spent = 0.0
    while len(times) < cfg["max_steps"]:
        t0 = time.perf_counter()
        step()
        dt = time.perf_counter() - t0
        times.append(dt)
        spent += dt
        if len(times) >= cfg["min_steps"] and spent >= cfg["seconds"]:
            break
    times.sort()
    n = len(times)
    median = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    print(json.dumps({"steps": n, "median": median, "min": times[0], "peak": status_bytes("VmHWM"),
                      "baseline": baseline, "version": torch.__version__}))


def int_list(text):
    return [int(float(v)) for v in text.split(",")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loss", default="softmax,arcface")
    ap.add_argument("--dim", default="128,512")
    ap.add_argument("--classes", default="1000,10000,100000,1000000")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--min-steps", type=int, default=3)
    ap.add_argument("--max-steps", type=int, default=20)
    ap.add_argument("--out", default="results/bench/head_torch.csv")
    ap.add_argument("--mem-fraction", type=float, default=0.6,
                    help="skip configurations estimated to need more than this fraction of MemAvailable")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        run_one(json.loads(a.one))
        return 0
    try:
        import torch  # noqa: F401
    except ImportError:
        print("bench/torch_head.py: PyTorch is not installed (Debian: python3-torch); "
              "PyTorch comparison skipped")
        return 0
    losses = a.loss.split(",")
    for l in losses:
        if l not in ("softmax", "arcface"):
            ap.error("--loss: softmax and/or arcface")
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    tmp = a.out + ".tmp"
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    print(f"PyTorch {torch.__version__}, {a.threads} threads, batch {a.batch}")
    print(f"{'loss':8} {'d':>5} {'C':>8} {'s/step':>10} {'peak MB':>10} {'base MB':>8}  status")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        for loss in losses:
            for d in int_list(a.dim):
                for C in int_list(a.classes):
                    cfg = {"loss": loss, "dim": d, "classes": C, "batch": a.batch, "threads": a.threads,
                           "seconds": a.seconds, "min_steps": a.min_steps, "max_steps": a.max_steps}
                    row = {"framework": "pytorch", "loss": loss, "dim": d, "classes": C, "batch": a.batch,
                           "threads": a.threads, "torch_version": torch.__version__, "loadavg": loadavg()}
                    need = estimate_bytes(loss, C, d, a.batch)
                    if need > a.mem_fraction * mem_available():
                        row["status"] = "skipped_memory"
                        print(f"{loss:8} {d:5} {C:8}  skipped_memory (needs about {need / 1e9:.1f} GB)")
                    else:
                        p = subprocess.run([sys.executable, __file__, "--one", json.dumps(cfg)], env=env,
                                           capture_output=True, text=True)
                        if p.returncode != 0 or not p.stdout.strip():
                            row["status"] = "killed_oom" if p.returncode == -9 else "failed"
                            print(f"{loss:8} {d:5} {C:8}  {row['status']}: {p.stderr.strip()[-200:]}")
                        else:
                            r = json.loads(p.stdout.strip().splitlines()[-1])
                            row.update(steps=r["steps"], seconds_median=r["median"], seconds_min=r["min"],
                                       peak_rss_bytes=r["peak"], baseline_rss_bytes=r["baseline"], status="ok")
                            print(f"{loss:8} {d:5} {C:8} {r['median']:10.4f} {r['peak'] / 1e6:10.1f} "
                                  f"{r['baseline'] / 1e6:8.1f}  ok")
                    w.writerow([row.get(k, "") for k in HEADER])
                    f.flush()
                    sys.stdout.flush()
    os.replace(tmp, a.out)
    print(f"written: {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
