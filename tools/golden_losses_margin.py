#!/usr/bin/python3
"""golden_losses_margin.py — golden values for the margin losses of docs/losses.md §1b, from an
independent implementation.

docs/losses.md, "Every loss is verified three ways", item 3, for mv_softmax, curricularface,
subcenter_arcface, elasticface, adacos, magface and adaface. Each loss is written here in PyTorch
(float64, autograd for every gradient) following its authors' reference code as read (the file
named at each function), not lib/loss/: the same tensor operations (normalise, mm, masks, where,
scatter, clamps), with the state the references keep in buffers (CurricularFace's t, AdaFace's
batch_mean / batch_std, AdaCos's scale) passed in and returned. Two deliberate differences from
the reference code, as docs/losses.md §1b says: the features are L2-normalised inside every loss
(MV-Softmax and AdaCos take them normalised from the backbone), and ElasticFace+ gives the k-th
largest target cosine the k-th smallest margin (its code indexes the sorted margins with the
sorting permutation instead of its inverse).

Regenerate (Debian's python; the pyenv python3 on PATH has no torch):

    /usr/bin/python3 tools/golden_losses_margin.py > tests/fixtures/golden_losses_margin.txt

Deterministic: inputs from random.Random (Mersenne Twister, stable across Python versions) through
our own Box–Muller, per-case seeds 1, 2, … until every branch the loss takes (target rule,
hard-negative mask, sub-centre argmax, clamps and clips) is the same at 40 random perturbations
of size 1e-3 of the inputs, i.e. the point is well away from every kink. A case of `steps` 2 runs
the loss twice on the same inputs and reports the second step (the state carried from the first).

Fixture format (one record per line, tokens separated by single spaces, %.17g numbers; '#' lines
and blank lines are comments):
  format normbench-golden-margin 1     first non-comment line
  cases <n>
  case <name>                          starts a block
  type <loss type name>
  opt <key> <value>                    loss_config field after loss_config_defaults(type);
                                       variant takes am, arc or cos, the others a number
  dims <N> <d> <C> <K>                 K rows of W per class (subcenter_arcface), else 1
  steps <n>                            forward passes on the same inputs; values are the last's
  feat <N·d values>                    features, row-major (N, d)
  labels <N ints>
  W <C·K·d values>                     row-major (C·K, d); row j·K + k is sub-centre k of class j
  state <k> <value>                    state value k (loss_margin_state_name order) before step 1
  margins <N values>                   elasticface: the per-sample draws of step 1, before plus
  loss <value>                         expected batch-mean loss of the last step
  per_sample <N values>
  dfeat <N·d values>                   ∂L/∂features of the last step
  dW <C·K·d values>                    ∂L/∂W of the last step
  state_after <k> <value>              state value k after the last step
  end
The last non-comment line is "eof".
"""
import math
import random
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def normal_matrix(rng, rows, cols, sd=1.0):
    """Box–Muller on random.Random.random(), which is stable across Python versions."""
    out = []
    for _ in range(rows):
        row = []
        for _ in range(cols):
            u1 = 1.0 - rng.random()
            u2 = rng.random()
            row.append(sd * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2))
        out.append(row)
    return torch.tensor(out)


def ce_per_sample(logits, y):
    return F.cross_entropy(logits, y, reduction="none")


# ---- the losses: (f raw features (N,d), y, W our layout (C·K, d), state dict, opts) →
#      (per-sample losses, list of the boolean masks the forward took, new state) ----

def mv_softmax(f, y, W, st, o):
    """JDAI-CV/FaceX-Zoo head/MV_Softmax.py."""
    x = F.normalize(f)
    kernel_norm = F.normalize(W.t(), dim=0)
    cos_theta = torch.mm(x, kernel_norm)
    B = y.size(0)
    gt = cos_theta[torch.arange(0, B), y].view(-1, 1)
    m, t = o["m"], o["t"]
    if o["variant"] == "am":
        mask = cos_theta > gt - m
        sel = gt > m
        final_gt = torch.where(sel, gt - m, gt)
    else:
        sin_theta = torch.sqrt(1.0 - torch.pow(gt, 2))
        cos_theta_m = gt * math.cos(m) - sin_theta * math.sin(m)
        mask = cos_theta > cos_theta_m
        sel = gt > 0.0
        final_gt = torch.where(sel, cos_theta_m, gt)
    cos_theta = cos_theta.clone()
    hard = cos_theta[mask]
    cos_theta[mask] = t * hard + t - 1.0
    cos_theta = cos_theta.scatter(1, y.view(-1, 1), final_gt)
    return ce_per_sample(cos_theta * o["s"], y), [mask, sel], st


def curricularface(f, y, W, st, o):
    """HuangYG123/CurricularFace head/metrics.py (CurricularFace)."""
    m, s = o["m"], o["s"]
    emb = F.normalize(f)
    kernel_norm = F.normalize(W.t(), dim=0)
    cos_theta = torch.mm(emb, kernel_norm).clamp(-1, 1)
    target_logit = cos_theta[torch.arange(0, emb.size(0)), y].view(-1, 1)
    sin_theta = torch.sqrt(1.0 - torch.pow(target_logit, 2))
    cos_theta_m = target_logit * math.cos(m) - sin_theta * math.sin(m)
    mask = cos_theta > cos_theta_m
    sel = target_logit > math.cos(math.pi - m)
    final_target_logit = torch.where(sel, cos_theta_m, target_logit - math.sin(math.pi - m) * m)
    hard = cos_theta[mask]
    with torch.no_grad():
        t = target_logit.mean() * 0.01 + (1 - 0.01) * st["t"]
    cos_theta = cos_theta.clone()
    cos_theta[mask] = hard * (t + hard)
    cos_theta = cos_theta.scatter(1, y.view(-1, 1).long(), final_target_logit)
    return ce_per_sample(cos_theta * s, y), [mask, sel], {"t": float(t)}


def subcenter_arcface(f, y, W, st, o):
    """KevinMusgrave/pytorch-metric-learning losses/subcenter_arcface_loss.py on its ArcFaceLoss
    (the version with the monotonic fallback) and LargeMarginSoftmaxLoss.compute_loss."""
    C, K, m, s = o["C"], o["K"], o["m"], o["s"]
    Wt = W.t()  # PML keeps W as (embedding_size, C·K)
    cosine_full = torch.mm(F.normalize(f), F.normalize(Wt, dim=0))
    cosine, arg = cosine_full.view(-1, C, K).max(axis=2)
    mask = torch.zeros(y.size(0), C)
    mask[torch.arange(y.size(0)), y] = 1
    cos_target = cosine[mask == 1]
    angles = torch.acos(torch.clamp(cos_target, -1, 1))
    sel = angles <= math.pi - m
    modified = torch.where(sel, torch.cos(angles + m), torch.cos(angles) - m * math.sin(m))
    diff = (modified - cos_target).unsqueeze(1)
    logits = (cosine + mask * diff) * s
    return ce_per_sample(logits, y), [sel, arg.reshape(-1, 1) == torch.arange(K)], st


def elasticface(f, y, W, st, o):
    """fdbtrs/ElasticFace utils/losses.py (ElasticArcFace / ElasticCosFace), the margins given."""
    s = o["s"]
    emb = F.normalize(f)
    kernel_norm = F.normalize(W.t(), dim=0)
    cos_theta = torch.mm(emb, kernel_norm).clamp(-1, 1)
    index = torch.where(y != -1)[0]
    m_hot = torch.zeros(index.size()[0], cos_theta.size()[1])
    margin = st["margins"].view(-1, 1).clone()
    if o["plus"]:
        with torch.no_grad():
            distmat = cos_theta[index, y.view(-1)].detach().clone()
            _, order = torch.sort(distmat, dim=0, descending=True)
            margin_sorted, _ = torch.sort(margin, dim=0)
            margin = torch.empty_like(margin)
            margin[order] = margin_sorted  # the inverse permutation (docs/losses.md §1b)
    m_hot.scatter_(1, y[index, None], margin)
    if o["variant"] == "arc":
        cos_theta = torch.cos(torch.acos(cos_theta) + m_hot)
    else:
        cos_theta = cos_theta - m_hot
    cy = cos_theta.gather(1, y.view(-1, 1))
    return ce_per_sample(cos_theta * s, y), [cy > cy.t()], st


def adacos(f, y, W, st, o):
    """JDAI-CV/FaceX-Zoo head/AdaCos.py."""
    Wn = F.normalize(W)
    logits = F.linear(F.normalize(f), Wn)
    theta = torch.acos(torch.clamp(logits, -1.0 + 1e-7, 1.0 - 1e-7))
    one_hot = torch.zeros_like(logits)
    one_hot.scatter_(1, y.view(-1, 1).long(), 1)
    scale = st["s"]
    if o["dynamic"]:
        with torch.no_grad():
            B_avg = torch.where(one_hot < 1, torch.exp(scale * logits), torch.zeros_like(logits))
            B_avg = torch.sum(B_avg) / f.size(0)
            theta_med = torch.median(theta[one_hot == 1])
            scale = float(torch.log(B_avg) / torch.cos(torch.min(math.pi / 4 * torch.ones_like(theta_med), theta_med)))
    return ce_per_sample(scale * logits, y), [], {"s": scale}


def magface(f, y, W, st, o):
    """IrvingMeng/MagFace models/magface.py (MagLinear, MagLoss) and the training loss
    loss_id + lambda_g · loss_g of its trainer."""
    l_a, u_a, l_m, u_m, s = o["l_a"], o["u_a"], o["l_m"], o["u_m"], o["s"]
    x_norm = torch.norm(f, dim=1, keepdim=True).clamp(l_a, u_a)
    ada_margin = (u_m - l_m) / (u_a - l_a) * (x_norm - l_a) + l_m
    cos_m, sin_m = torch.cos(ada_margin), torch.sin(ada_margin)
    weight_norm = F.normalize(W.t(), dim=0)
    cos_theta = torch.mm(F.normalize(f), weight_norm).clamp(-1, 1)
    sin_theta = torch.sqrt(1.0 - torch.pow(cos_theta, 2))
    cos_theta_m = cos_theta * cos_m - sin_theta * sin_m
    if o["easy_margin"]:
        sel = cos_theta > 0
        cos_theta_m = torch.where(sel, cos_theta_m, cos_theta)
    else:
        mm = torch.sin(math.pi - ada_margin) * ada_margin
        threshold = torch.cos(math.pi - ada_margin)
        sel = cos_theta > threshold
        cos_theta_m = torch.where(sel, cos_theta_m, cos_theta - mm)
    one_hot = torch.zeros_like(cos_theta)
    one_hot.scatter_(1, y.view(-1, 1), 1.0)
    output = one_hot * (s * cos_theta_m) + (1.0 - one_hot) * (s * cos_theta)
    g = 1 / (u_a ** 2) * x_norm + 1 / x_norm
    n = torch.norm(f, dim=1, keepdim=True)
    inside = (n > l_a) & (n < u_a)
    per = ce_per_sample(output, y) + o["lambda_g"] * g[:, 0]
    return per, [sel.gather(1, y.view(-1, 1)), inside], st


def adaface(f, y, W, st, o):
    """mk-minchul/AdaFace head.py (the backbone's output = x/‖x‖ and its norm)."""
    m, h, s, t_alpha, eps = o["m"], o["h"], o["s"], o["t_alpha"], 1e-3
    norms = torch.norm(f, 2, 1, True)
    emb = torch.div(f, norms)
    kernel_norm = F.normalize(W.t(), dim=0)
    raw_cos = torch.mm(emb, kernel_norm)
    cosine = raw_cos.clamp(-1 + eps, 1 - eps)
    safe_norms = torch.clip(norms, min=0.001, max=100).clone().detach()
    with torch.no_grad():
        mean = safe_norms.mean().detach()
        std = safe_norms.std().detach()
        batch_mean = mean * t_alpha + (1 - t_alpha) * st["mu"]
        batch_std = std * t_alpha + (1 - t_alpha) * st["sd"]
    raw = (safe_norms - batch_mean) / (batch_std + eps) * h
    margin_scaler = torch.clip(raw, -1, 1)
    m_arc = torch.zeros(y.size()[0], cosine.size()[1])
    m_arc.scatter_(1, y.reshape(-1, 1), 1.0)
    g_angular = m * margin_scaler * -1
    m_arc = m_arc * g_angular
    theta = cosine.acos()
    theta_m = torch.clip(theta + m_arc, min=eps, max=math.pi - eps)
    clipped = (theta + m_arc > eps) & (theta + m_arc < math.pi - eps)
    cosine = theta_m.cos()
    m_cos = torch.zeros(y.size()[0], cosine.size()[1])
    m_cos.scatter_(1, y.reshape(-1, 1), 1.0)
    g_add = m + (m * margin_scaler)
    cosine = cosine - m_cos * g_add
    inner = (raw > -1) & (raw < 1)
    return ce_per_sample(cosine * s, y), [clipped, inner, raw_cos.abs() < 1 - eps], {"mu": float(batch_mean), "sd": float(batch_std)}


LOSSES = {"mv_softmax": mv_softmax, "curricularface": curricularface, "subcenter_arcface": subcenter_arcface,
          "elasticface": elasticface, "adacos": adacos, "magface": magface, "adaface": adaface}
STATE_NAMES = {"curricularface": ["t"], "adacos": ["s"], "adaface": ["mu", "sd"]}


def case(name, t, opts, N=8, d=5, C=4, K=1, steps=1, fscale=1.0, state=None, near=1.2, want=None):
    return dict(name=name, type=t, opts=opts, N=N, d=d, C=C, K=K, steps=steps, fscale=fscale,
                state=state or {}, near=near, want=want)


# What a case must exercise, on the masks its loss returns (checked with the seed).
def mixed(k):
    """mask k has both values (hard and easy negatives; both target branches; …)."""
    return lambda ms: bool(ms[k].any()) and not bool(ms[k].all())


def all_of(k):
    return lambda ms: bool(ms[k].all())


def both(*fs):
    return lambda ms: all(f(ms) for f in fs)


CASES = [
    case("mv_softmax_am", "mv_softmax", {"variant": "am", "m": 0.35, "t": 1.12, "s": 8}, near=0.5,
         want=both(mixed(0), mixed(1))),
    case("mv_softmax_arc", "mv_softmax", {"variant": "arc", "m": 0.5, "t": 1.2, "s": 8}, near=0.5,
         want=both(mixed(0), mixed(1))),
    case("curricularface_two_steps", "curricularface", {"m": 0.5, "s": 10}, steps=2, near=0.6, want=mixed(0)),
    case("curricularface_t03", "curricularface", {"m": 1.2, "s": 10}, state={"t": 0.3}, near=0.2,
         want=both(mixed(0), mixed(1))),
    case("subcenter_arcface_k3", "subcenter_arcface", {"K": 3, "m": 0.5, "s": 10}, K=3),
    case("subcenter_arcface_k2_fallback", "subcenter_arcface", {"K": 2, "m": 1.4, "s": 10}, K=2, near=0.3,
         want=mixed(0)),
    case("elasticface_arc", "elasticface", {"variant": "arc", "m": 0.5, "sigma": 0.05, "plus": 0, "s": 10}),
    case("elasticface_cos_plus", "elasticface", {"variant": "cos", "m": 0.35, "sigma": 0.05, "plus": 1, "s": 10}),
    case("elasticface_arc_plus", "elasticface", {"variant": "arc", "m": 0.5, "sigma": 0.1, "plus": 1, "s": 10}),
    case("adacos_fixed", "adacos", {"dynamic": 0}, C=6, state={"s": math.sqrt(2) * math.log(5)}),
    case("adacos_dynamic_two_steps", "adacos", {"dynamic": 1}, C=6, steps=2, state={"s": math.sqrt(2) * math.log(5)}),
    case("magface_easy", "magface", {"l_a": 1, "u_a": 6, "l_m": 0.45, "u_m": 0.8, "lambda_g": 2, "s": 10,
                                     "easy_margin": 1}, fscale=1.0, near=0.5, want=both(mixed(0), all_of(1))),
    case("magface_fallback", "magface", {"l_a": 1, "u_a": 6, "l_m": 1.2, "u_m": 1.8, "lambda_g": 3, "s": 10,
                                         "easy_margin": 0}, fscale=1.0, near=0.2, want=both(mixed(0), all_of(1))),
    case("adaface_two_steps", "adaface", {"m": 0.4, "h": 0.333, "s": 10, "t_alpha": 0.5}, steps=2,
         state={"mu": 3.0, "sd": 1.0}),
    case("adaface_h1", "adaface", {"m": 0.4, "h": 1.0, "s": 10, "t_alpha": 0.01}, state={"mu": 2.0, "sd": 0.8},
         want=mixed(1)),
]


def make_inputs(c, seed):
    rng = random.Random(1000 * seed + sum(map(ord, c["name"])))
    N, d, C, K = c["N"], c["d"], c["C"], c["K"]
    y = torch.tensor([i % C if i < C else rng.randrange(C) for i in range(N)])
    proto = normal_matrix(rng, C, d)
    f = c["fscale"] * (c["near"] * proto[y] + normal_matrix(rng, N, d, 0.9))
    W = (proto[:, None, :] + normal_matrix(rng, C * K, d, 0.6).view(C, K, d)).reshape(C * K, d)
    margins = None
    if c["type"] == "elasticface":
        margins = c["opts"]["m"] + c["opts"]["sigma"] * normal_matrix(rng, 1, N)[0]
    return f, y, W, margins, rng


def run(c, f, y, W, margins, grad=True):
    o = dict(c["opts"], C=c["C"], K=c["K"])
    # the references' initial buffers: t 0, batch_mean 20, batch_std 100, scale sqrt(2) log(C − 1)
    st = {"t": 0.0, "mu": 20.0, "sd": 100.0, "s": math.sqrt(2) * math.log(c["C"] - 1)}
    st.update(c["state"])
    if margins is not None:
        st["margins"] = margins
    fn = LOSSES[c["type"]]
    for step in range(c["steps"]):
        fg = f.clone().requires_grad_(True)
        Wg = W.clone().requires_grad_(True)
        per, masks, new = fn(fg, y, Wg, st, o)
        st.update(new)
    L = per.mean()
    if grad:
        L.backward()
    return L, per, fg, Wg, masks, st


def kink_free(c, f, y, W, margins, rng):
    """The same branches at 40 perturbations of size 1e-3 of f and W (each step's masks)."""
    _, _, _, _, m0, _ = run(c, f, y, W, margins, grad=False)
    if c["want"] and not c["want"](m0):
        return False
    for _ in range(40):
        df = 1e-3 * normal_matrix(rng, *f.shape)
        dW = 1e-3 * normal_matrix(rng, *W.shape)
        _, _, _, _, m1, _ = run(c, f + df, y, W + dW, margins, grad=False)
        for a, b in zip(m0, m1):
            if not torch.equal(a, b):
                return False
    return True


def fmt(x):
    return "%.17g" % x


def vec(t):
    return " ".join(fmt(v) for v in t.detach().reshape(-1).tolist())


def emit(out, c, seed, f, y, W, margins, r):
    L, per, fg, Wg, _, st = r
    w = out.write
    w("\n# generator seed %d\ncase %s\ntype %s\n" % (seed, c["name"], c["type"]))
    for k, v in c["opts"].items():
        w("opt %s %s\n" % (k, v if isinstance(v, str) else fmt(v)))
    w("dims %d %d %d %d\nsteps %d\n" % (c["N"], c["d"], c["C"], c["K"], c["steps"]))
    w("feat %s\n" % vec(f))
    w("labels %s\n" % " ".join(str(v) for v in y.tolist()))
    w("W %s\n" % vec(W))
    names = STATE_NAMES.get(c["type"], [])
    for k, nm in enumerate(names):
        if nm in c["state"]:
            w("state %d %s\n" % (k, fmt(c["state"][nm])))
    if margins is not None:
        w("margins %s\n" % vec(margins))
    w("loss %s\n" % fmt(float(L)))
    w("per_sample %s\n" % vec(per))
    w("dfeat %s\n" % vec(fg.grad))
    w("dW %s\n" % vec(Wg.grad))
    for k, nm in enumerate(names):
        w("state_after %d %s\n" % (k, fmt(st[nm])))
    w("end\n")


HEADER = """\
# golden_losses_margin.txt — golden values for the margin losses of docs/losses.md §1b, computed by
# tools/golden_losses_margin.py in PyTorch float64 with autograd from the authors' reference code,
# independently of lib/loss/; read by tests/test_loss_golden_margin.c. Do not edit by hand.
# Regenerate with
#     /usr/bin/python3 tools/golden_losses_margin.py > tests/fixtures/golden_losses_margin.txt
# Format: the script's docstring.
"""


def main():
    out = sys.stdout
    out.write(HEADER)
    out.write("format normbench-golden-margin 1\ncases %d\n" % len(CASES))
    names = set()
    for c in CASES:
        assert c["name"] not in names
        names.add(c["name"])
        for seed in range(1, 500):
            f, y, W, margins, rng = make_inputs(c, seed)
            if kink_free(c, f, y, W, margins, rng):
                break
        else:
            raise SystemExit("no seed in 1..499 keeps case %s away from its kinks" % c["name"])
        emit(out, c, seed, f, y, W, margins, run(c, f, y, W, margins))
    out.write("\neof\n")


if __name__ == "__main__":
    main()
