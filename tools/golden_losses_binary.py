#!/usr/bin/python3
"""golden_losses_binary.py — golden values for sphereface2, uniface, circle and proxy_anchor.

The companion of tools/golden_losses.py (same inputs generator, same fixture format, same reader:
tests/test_loss_golden.c): each loss re-implemented in PyTorch (float64, autograd) the way its
authors' reference code computes it, read for this purpose — a reader of that code and of
docs/losses.md, not of lib/loss/:
  sphereface2   ydwen/opensphere model/head/sphereface2.py: cos = f̂ ŵᵀ; g(z) = 2((z+1)/2)^t − 1;
                variant c: g(cos) − m·(2·onehot − 1); a: g(cos(clamp(θ + m·onehot, 1e-5, 3.14159)));
                m: the same with θ·m on the target (θ = acos(clamp(cos, −1+1e-5, 1−1e-5)));
                logits = r·(cos + d) + b with d = that − cos computed under no_grad (detach_margin 1,
                the reference) or with its gradient (detach_margin 0, the paper's exact gradient);
                loss = BCE-with-logits(logits, onehot, weight = lw·C/r·(λ onehot + (1−λ)(1−onehot)))
                averaged over the B·C elements (torch's default mean); b starts at the reference's
                value (the bin_b0 record). Unlike the reference, W is normalised inside the graph
                (our ∂L/∂W is w.r.t. the raw rows, through the normalisation), instead of being
                renormalised in place before each step.
  uniface       CVI-SZU/UniFace head.py Unified_Cross_Entropy_Loss: p = s(cos − m) − b,
                n = s·cos − b, p_loss = log(1 + exp(−clamp(p, −s, s))), n_loss = λ log(1 +
                exp(clamp(n, −s, s))), loss = (onehot·p_loss + (1−onehot)·n_loss).sum(1).mean();
                b starts at log(C·r·10).
  circle        pytorch-metric-learning losses/circle_loss.py (the pair-mask version): s = f̂ f̂ᵀ,
                positives j ≠ i of i's class, negatives the other classes; logit_p = −γ [1 + m −
                s]₊ (s − 1 + m), logit_n = γ [s + m]₊ (s − m) with the [·]₊ factors detached;
                ℓ_i = softplus(logsumexp_p + logsumexp_n); mean over the anchors with ℓ_i > 0
                (AvgNonZeroReducer). per_sample (our convention): ℓ_i·N/V, V the anchors counted.
  proxy_anchor  pytorch-metric-learning losses/proxy_anchor_loss.py: cos = f̂ ŵᵀ (proxies
                normalised), pos_term = logsumexp(−α(cos − δ)) over each class's samples with a 1
                added, summed over the classes present and divided by their number; neg_term the
                same with α(cos + δ) over the other samples, divided by C. per_sample (our
                convention): the batch loss for every sample.

Regenerate (Debian's python; the pyenv python3 on PATH has no torch):

    /usr/bin/python3 tools/golden_losses_binary.py > tests/fixtures/golden_losses_binary.txt

Records beyond golden_losses.py's: "bin_b0 <v>" the initial b the loss must set itself,
"bin_b <v>" the b to use, "dbin_b <v>" the expected ∂L/∂b; options lambda, r, t, lw, variant,
gamma, delta (and m, s, alpha, detach_margin as there). Each case retries seeds until every input
keeps a distance from the clamps (uniface's ±s, sphereface2's angle clamps) and Circle's α_n kink.
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_losses as G  # noqa: E402  (its generator, Reject/need, formatting)

torch.set_default_dtype(torch.float64)
need, Reject, SAFE = G.need, G.Reject, G.SAFE


def normalize(x):
    return torch.nn.functional.normalize(x, dim=1)


# ---- sphereface2 ----

def sf2_initial_b(o, C):
    lam, r, m, t = o["lambda"], o["r"], o["m"], o["t"]
    z = lam / ((1.0 - lam) * (C - 1.0))
    if o["variant"] == "c":
        ay = r * (2.0 * 0.5 ** t - 1.0 - m)
        ai = r * (2.0 * 0.5 ** t - 1.0 + m)
    else:
        ty = min(math.pi, math.pi / 2.0 + m) if o["variant"] == "a" else min(math.pi, m * math.pi / 2.0)
        ay = r * (2.0 * ((math.cos(ty) + 1.0) / 2.0) ** t - 1.0)
        ai = r * (2.0 * 0.5 ** t - 1.0)
    temp = (1.0 - z) ** 2 + 4.0 * z * math.exp(ay - ai)
    return math.log(2.0 * z) - ai - math.log(1.0 - z + math.sqrt(temp))


def sf2_shifted(o, cos, onehot):
    """The reference's g-transformed cosine (with the margin), differentiable; checks the clamps."""
    t, m = o["t"], o["m"]
    if o["variant"] == "c":
        g = 2.0 * ((cos + 1.0) / 2.0) ** t - 1.0
        return g - m * (2.0 * onehot - 1.0)
    theta = torch.acos(cos.clamp(-1 + 1e-5, 1 - 1e-5))
    if o["variant"] == "a":
        tm = theta + m * onehot
    else:
        tm = torch.where(onehot.bool(), theta * m, theta)
    tgt = tm[onehot.bool()]
    need(bool(((tgt - 1e-5).abs() > SAFE).all()) and bool(((tgt - 3.14159).abs() > SAFE).all()))
    tm = tm.clamp(1e-5, 3.14159)
    return 2.0 * ((torch.cos(tm) + 1.0) / 2.0) ** t - 1.0


def loss_sphereface2(o, f, y, W, b):
    C = W.shape[0]
    cos = normalize(f) @ normalize(W).t()
    onehot = torch.zeros_like(cos)
    onehot.scatter_(1, y.view(-1, 1), 1.0)
    u = sf2_shifted(o, cos, onehot)
    d = (u - cos).detach() if o["detach_margin"] else u - cos
    logits = o["r"] * (cos + d) + b
    weight = o["lambda"] * onehot + (1.0 - o["lambda"]) * (1.0 - onehot)
    weight = o["lw"] * C / o["r"] * weight
    el = torch.nn.functional.binary_cross_entropy_with_logits(logits, onehot, weight=weight, reduction="none")
    return el.mean(), el.sum(1) / C


# ---- uniface ----

def loss_uniface(o, f, y, W, b, want_clamp):
    s, m, lam = o["s"], o["m"], o["lambda"]
    cos = normalize(f) @ normalize(W).t()
    p = s * (cos - m) - b
    n = s * cos - b
    onehot = torch.zeros_like(cos, dtype=torch.bool)
    onehot.scatter_(1, y.view(-1, 1), True)
    zz = torch.where(onehot, p, n)
    need(bool(((zz.abs() - s).abs() > SAFE).all()))
    if want_clamp:
        need(bool((zz.abs() > s).any()) and bool((zz.abs() < s).any()))
    p_loss = torch.log(1 + torch.exp(-p.clamp(min=-s, max=s)))
    n_loss = torch.log(1 + torch.exp(n.clamp(min=-s, max=s))) * lam
    per = (onehot * p_loss + (~onehot) * n_loss).sum(1)
    return per.mean(), per


# ---- circle ----

def masked_lse(x, mask):
    return torch.logsumexp(x.masked_fill(~mask, float("-inf")), dim=1)


def loss_circle(o, f, y):
    m, gam = o["m"], o["gamma"]
    fh = normalize(f)
    S = fh @ fh.t()
    N = f.shape[0]
    same = y[:, None] == y[None, :]
    eye = torch.eye(N, dtype=torch.bool)
    pos, neg = same & ~eye, ~same
    need(bool(((S[neg] + m).abs() > SAFE).all()))
    need(bool((S[neg] + m < 0).any()) and bool((S[neg] + m > 0).any()))
    ap = torch.relu(1 + m - S.detach())
    an = torch.relu(S.detach() + m)
    lp = -gam * ap * (S - (1 - m))
    ln = gam * an * (S - m)
    per = torch.nn.functional.softplus(masked_lse(lp, pos) + masked_lse(ln, neg))
    valid = (pos.sum(1) > 0) & (neg.sum(1) > 0) & (per > 0)
    V = int(valid.sum())
    per = per * valid
    return per.sum() / V, per * N / V


# ---- proxy_anchor ----

def lse_add_one(x, mask, dim):
    x = x.masked_fill(~mask, float("-inf"))
    zeros = torch.zeros_like(x.select(dim, 0)).unsqueeze(dim)
    return torch.logsumexp(torch.cat([x, zeros], dim=dim), dim=dim)


def loss_proxy_anchor(o, f, y, W):
    C = W.shape[0]
    alpha, delta = o["alpha"], o["delta"]
    cos = normalize(f) @ normalize(W).t()
    pos_mask = torch.nn.functional.one_hot(y, C).bool()
    with_pos = int((pos_mask.sum(0) != 0).sum())
    pos_term = lse_add_one(-alpha * (cos - delta), pos_mask, 0)
    neg_term = lse_add_one(alpha * (cos + delta), ~pos_mask, 0)
    L = pos_term[pos_mask.sum(0) != 0].sum() / with_pos + neg_term.sum() / C
    return L, L.expand(f.shape[0])


# ---- the cases ----

def case(name, t, opts, **kw):
    c = dict(name=name, type=t, opts=opts, d=5, C=4, labels=G.CLS_LABELS, bias=False, scale=None,
             learn_scale=False, centers=False, construct=None, want=None, bin_b=False, want_clamp=False)
    c.update(kw)
    return c


SF2 = dict(**{"lambda": 0.7}, r=40.0, m=0.4, t=3.0, lw=50.0, variant="c", detach_margin=1)
UNI = dict(m=0.4, s=64.0, **{"lambda": 1.0}, r=1.0)
CIRCLE_LABELS = G.PAIR_LABELS

CASES = [
    case("sphereface2_c_detach", "sphereface2", dict(SF2), bin_b=True),
    case("sphereface2_c_exact", "sphereface2", dict(SF2, detach_margin=0), bin_b=True),
    case("sphereface2_c_r8_t2_l05", "sphereface2", dict(SF2, **{"lambda": 0.5}, r=8.0, t=2.0, lw=10.0,
                                                         detach_margin=0), bin_b=True),
    case("sphereface2_a_exact", "sphereface2", dict(SF2, variant="a", m=0.5, r=10.0, detach_margin=0), bin_b=True),
    case("sphereface2_a_detach", "sphereface2", dict(SF2, variant="a", m=0.5, r=10.0), bin_b=True),
    case("sphereface2_m_exact", "sphereface2", dict(SF2, variant="m", m=1.5, r=10.0, detach_margin=0), bin_b=True),
    case("uniface_default", "uniface", dict(UNI), bin_b=True),
    case("uniface_s4_clamped", "uniface", dict(UNI, s=4.0), bin_b=True, want_clamp=True),
    case("uniface_l05_r2_m03_s16", "uniface", dict(UNI, m=0.3, s=16.0, **{"lambda": 0.5}, r=2.0), bin_b=True),
    case("circle_m025_g256", "circle", dict(m=0.25, gamma=256.0), C=3, labels=CIRCLE_LABELS),
    case("circle_m04_g80", "circle", dict(m=0.4, gamma=80.0), C=3, labels=CIRCLE_LABELS),
    case("proxy_anchor_d01_a32", "proxy_anchor", dict(delta=0.1, alpha=32.0)),
    case("proxy_anchor_absent_class", "proxy_anchor", dict(delta=0.2, alpha=16.0), C=5),
]

HAS_W = {"sphereface2", "uniface", "proxy_anchor"}


def make_inputs(c, seed):
    """As golden_losses.make_inputs (features near class prototypes)."""
    import random
    rng = random.Random(1000 * seed + sum(map(ord, c["name"])))
    N, d, C = len(c["labels"]), c["d"], c["C"]
    y = torch.tensor(c["labels"])
    proto = G.normal_matrix(rng, C, d)
    f = 1.2 * proto[y] + G.normal_matrix(rng, N, d, 0.9)
    W = proto + G.normal_matrix(rng, C, d, 0.5) if c["type"] in HAS_W else None
    return f, y, W


def initial_b(c):
    o, C = c["opts"], c["C"]
    if c["type"] == "sphereface2":
        return sf2_initial_b(o, C)
    return math.log(C * o["r"] * 10)


def evaluate(c, seed):
    o = c["opts"]
    f, y, W = make_inputs(c, seed)
    G.check_inputs(f, W)
    f.requires_grad_(True)
    if W is not None:
        W.requires_grad_(True)
    b = None
    b0 = None
    if c["bin_b"]:
        b0 = initial_b(c)
        # a b away from its initial value, so the test sets it (and the bin_b0 record checks the
        # initial value separately)
        b = torch.tensor(b0 + 0.3 * (seed % 3 - 1) + 0.1, requires_grad=True)
    t = c["type"]
    if t == "sphereface2":
        L, per = loss_sphereface2(o, f, y, W, b)
    elif t == "uniface":
        L, per = loss_uniface(o, f, y, W, b, c["want_clamp"])
    elif t == "circle":
        L, per = loss_circle(o, f, y)
    else:
        L, per = loss_proxy_anchor(o, f, y, W)
    need(bool(torch.isfinite(L)))
    L.backward()
    return dict(f=f, W=W, b=b, b0=b0, L=L, per=per)


def emit(out, c, seed, r):
    o = c["opts"]
    N, d, C = len(c["labels"]), c["d"], c["C"]
    w = out.write
    fmt, vec = G.fmt, G.vec
    w("\n# generator seed %d\ncase %s\ntype %s\n" % (seed, c["name"], c["type"]))
    for k, v in o.items():
        w("opt %s %s\n" % (k, v if isinstance(v, str) else fmt(v)))
    w("dims %d %d %d\n" % (N, d, C))
    w("feat %s\n" % vec(r["f"]))
    w("labels %s\n" % " ".join(str(v) for v in c["labels"]))
    if r["W"] is not None:
        w("W %s\n" % vec(r["W"]))
    if r["b"] is not None:
        w("bin_b0 %s\n" % fmt(r["b0"]))
        w("bin_b %s\n" % fmt(float(r["b"])))
    w("loss %s\n" % fmt(float(r["L"])))
    w("per_sample %s\n" % vec(r["per"]))
    w("dfeat %s\n" % vec(r["f"].grad))
    if r["W"] is not None:
        w("dW %s\n" % vec(r["W"].grad))
    if r["b"] is not None:
        w("dbin_b %s\n" % fmt(float(r["b"].grad)))
    w("end\n")


HEADER = """\
# golden_losses_binary.txt — golden values for sphereface2, uniface, circle and proxy_anchor
# (docs/losses.md), computed by tools/golden_losses_binary.py in PyTorch float64 with autograd from
# the authors' reference code, independently of lib/loss/; read by tests/test_loss_golden.c. Do not
# edit by hand. Regenerate with
#     /usr/bin/python3 tools/golden_losses_binary.py > tests/fixtures/golden_losses_binary.txt
# Format: that of golden_losses.txt (see tools/golden_losses.py), plus the records bin_b0 (the
# initial b the loss must set), bin_b (b) and dbin_b (expected dL/db).
"""


def main():
    out = sys.stdout
    out.write(HEADER)
    out.write("format normbench-golden-losses 1\ncases %d\n" % len(CASES))
    names = set()
    for c in CASES:
        assert c["name"] not in names
        names.add(c["name"])
        for seed in range(1, 1000):
            try:
                r = evaluate(c, seed)
                break
            except Reject:
                continue
        else:
            raise SystemExit("no seed in 1..999 keeps case %s away from its kinks" % c["name"])
        emit(out, c, seed, r)
    out.write("\neof\n")


if __name__ == "__main__":
    main()
