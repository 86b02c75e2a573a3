/* proxy.c — two metric-learning losses on normalised features (docs/losses.md, "Circle and
 * Proxy-Anchor"):
 *   circle (Sun et al. 2020, "Circle Loss: A Unified Perspective of Pair Similarity Optimization",
 *     CVPR; pytorch-metric-learning losses/circle_loss.py): with s_ij = f̂_iᵀ f̂_j, for each anchor a
 *     over its positives p ≠ a and negatives n in the batch,
 *       ℓ_a = log(1 + Σ_n exp(γ α_n (s_an − m)) · Σ_p exp(−γ α_p (s_ap − 1 + m))),
 *       α_p = [1 + m − s_ap]₊, α_n = [s_an + m]₊ held constant (no gradient), as the paper and PML;
 *     L = mean of ℓ_a over the anchors with ℓ_a > 0, which are the anchors with at least one
 *     positive and one negative (PML's AvgNonZeroReducer); needs P×K batches.
 *   proxy_anchor (Kim et al. 2020, "Proxy Anchor Loss for Deep Metric Learning", CVPR;
 *     pytorch-metric-learning losses/proxy_anchor_loss.py): one learnable proxy w_c per class,
 *     S_ic = f̂_iᵀ ŵ_c,
 *       L = (1/|P⁺|) Σ_{c∈P⁺} log(1 + Σ_{i: y_i = c} exp(−α(S_ic − δ)))
 *         + (1/C) Σ_c log(1 + Σ_{i: y_i ≠ c} exp(α(S_ic + δ))),
 *     P⁺ the classes present in the batch.
 * log(1 + Σ eˣ) is computed as a log-sum-exp with 0 among its terms (max subtracted). per_sample:
 * circle per_sample[a] = ℓ_a · B / V (V the anchors counted; 0 for the others); proxy_anchor, whose
 * terms belong to proxies rather than samples, per_sample[i] = L for every i. Both means equal L.
 *
 * Backward: with G = ∂L/∂S, circle's ∂L/∂F̂ = (G + Gᵀ) F̂ (s_ij depends on both rows);
 * proxy_anchor's ∂L/∂F̂ = G Ŵ and ∂L/∂Ŵ = Gᵀ F̂; then the exact normalisation backward. */
#include "loss/proxy.h"

#include <math.h>

#include "core/gemm.h"
#include "loss/rowops.h"

/* log(1 + eˣ) and 1/(1 + e^(−x)) without overflow. */
static double softplus(double x) { return (x > 0 ? x : 0) + log1p(exp(-fabs(x))); }

static double logistic(double x)
{
    if (x >= 0)
        return 1 / (1 + exp(-x));
    const double e = exp(x);
    return e / (1 + e);
}

/* Circle loss of anchor a on row S_a (B) of the similarities: returns ℓ_a (0 with *valid = 0 when a
 * has no positive or no negative) and writes G_a = ∂ℓ_a/∂S_a (B) (unscaled). */
static double circle_anchor(const loss_config *cfg, const real *Sa, real *Ga, const int *labels, int a, int B,
                            int *valid)
{
    const double m = cfg->m, gam = cfg->gamma;
    double mp = -INFINITY, mn = -INFINITY;
    for (int j = 0; j < B; j++) {
        Ga[j] = 0;
        if (j == a)
            continue;
        const double s = Sa[j];
        if (labels[j] == labels[a]) {
            const double ap = 1 + m - s > 0 ? 1 + m - s : 0, z = -gam * ap * (s - 1 + m);
            Ga[j] = (real)z;
            mp = z > mp ? z : mp;
        } else {
            const double an = s + m > 0 ? s + m : 0, z = gam * an * (s - m);
            Ga[j] = (real)z;
            mn = z > mn ? z : mn;
        }
    }
    *valid = mp > -INFINITY && mn > -INFINITY;
    if (!*valid) {
        for (int j = 0; j < B; j++)
            Ga[j] = 0;
        return 0;
    }
    /* the logits sit in Ga; LSE over positives and negatives separately */
    double sp = 0, sn = 0;
    for (int j = 0; j < B; j++) {
        if (j == a)
            continue;
        if (labels[j] == labels[a])
            sp += exp(Ga[j] - mp);
        else
            sn += exp(Ga[j] - mn);
    }
    const double lp = mp + log(sp), ln = mn + log(sn), x = lp + ln, w = logistic(x);
    for (int j = 0; j < B; j++) {
        if (j == a)
            continue;
        const double s = Sa[j];
        if (labels[j] == labels[a]) {
            const double ap = 1 + m - s > 0 ? 1 + m - s : 0;
            Ga[j] = (real)(w * exp(Ga[j] - lp) * (-gam * ap));
        } else {
            const double an = s + m > 0 ? s + m : 0;
            Ga[j] = (real)(w * exp(Ga[j] - ln) * (gam * an));
        }
    }
    return softplus(x);
}

static double circle_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B)
{
    const int d = l->dim;
    real *fhat = l->scratch, *fnorm = fhat + (size_t)B * d; /* (B,d), (B) */
    real *S = fnorm + B, *G = S + (size_t)B * B;             /* (B,B) each */
    real *dfhat = G + (size_t)B * B, *la = dfhat + (size_t)B * d; /* (B,d), (B) */
    loss_l2_normalize_rows(fhat, fnorm, feat, B, d);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) {
            double s = 0;
            for (int k = 0; k < d; k++)
                s += (double)fhat[(size_t)i * d + k] * fhat[(size_t)j * d + k];
            S[(size_t)i * B + j] = (real)s;
        }
    int V = 0;
    double total = 0;
    for (int a = 0; a < B; a++) {
        int valid;
        const double li = circle_anchor(&l->cfg, S + (size_t)a * B, G + (size_t)a * B, labels, a, B, &valid);
        la[a] = (real)li;
        if (valid && li > 0) {
            V++;
            total += li;
        } else {
            la[a] = 0;
            for (int j = 0; j < B; j++)
                G[(size_t)a * B + j] = 0;
        }
    }
    const double inv = V ? 1.0 / V : 0;
    if (per_sample)
        for (int a = 0; a < B; a++)
            per_sample[a] = (real)(la[a] * B * inv);
    if (dfeat) {
        /* ∂L/∂F̂ = (G + Gᵀ) F̂ / V; G + Gᵀ overwrites S */
        for (int i = 0; i < B; i++)
            for (int j = 0; j < B; j++)
                S[(size_t)i * B + j] = (real)(((double)G[(size_t)i * B + j] + G[(size_t)j * B + i]) * inv);
        gemm(0, 0, B, d, B, 1, S, B, fhat, d, 0, dfhat, d);
        loss_l2_normalize_backward(dfeat, dfhat, fhat, fnorm, B, d);
    }
    return total * inv;
}

/* One proxy's term over the batch column S_{·c}: pos, over the rows of class c with
 * x_i = −α(S_ic − δ); else over the other rows with x_i = α(S_ic + δ). Returns log(1 + Σ_i e^(x_i))
 * and adds w·∂/∂S_ic of it to column c of G (stride C). */
static double proxy_term(const real *S, real *G, const int *labels, int B, int C, int c, int pos, double alpha,
                         double delta, double w)
{
    double mx = 0; /* the 1 of log(1 + Σ) is e⁰ */
    for (int i = 0; i < B; i++)
        if ((labels[i] == c) == pos) {
            const double s = S[(size_t)i * C + c], x = pos ? -alpha * (s - delta) : alpha * (s + delta);
            mx = x > mx ? x : mx;
        }
    double sum = exp(-mx);
    for (int i = 0; i < B; i++)
        if ((labels[i] == c) == pos) {
            const double s = S[(size_t)i * C + c], x = pos ? -alpha * (s - delta) : alpha * (s + delta);
            sum += exp(x - mx);
        }
    const double lse = mx + log(sum);
    for (int i = 0; i < B; i++)
        if ((labels[i] == c) == pos) {
            const double s = S[(size_t)i * C + c], x = pos ? -alpha * (s - delta) : alpha * (s + delta);
            G[(size_t)i * C + c] += (real)(w * exp(x - lse) * (pos ? -alpha : alpha));
        }
    return lse;
}

static double proxy_anchor_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B)
{
    const int d = l->dim, C = l->num_classes;
    real *S = l->scratch;                /* (B,C) */
    real *fhat = S + (size_t)B * C;      /* (B,d) */
    real *fnorm = fhat + (size_t)B * d;  /* (B) */
    real *what = fnorm + B;              /* (C,d) */
    real *wnorm = what + (size_t)C * d;  /* (C) */
    real *dfhat = wnorm + C;             /* (B,d) */
    real *dwhat = dfhat + (size_t)B * d; /* (C,d) */
    real *Gm = dwhat + (size_t)C * d;    /* (B,C) ∂L/∂S (loss.c's scratch_size adds it for this type) */
    loss_l2_normalize_rows(fhat, fnorm, feat, B, d);
    loss_l2_normalize_rows(what, wnorm, l->W, C, d);
    gemm(0, 1, B, C, d, 1, fhat, d, what, d, 0, S, C);
    for (size_t k = 0; k < (size_t)B * C; k++)
        Gm[k] = 0;
    int npos = 0;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < B; i++)
            if (labels[i] == c) {
                npos++;
                break;
            }
    const double alpha = l->cfg.alpha, delta = l->cfg.delta;
    double pos = 0, neg = 0;
    for (int c = 0; c < C; c++) {
        int has = 0;
        for (int i = 0; i < B && !has; i++)
            has = labels[i] == c;
        if (has)
            pos += proxy_term(S, Gm, labels, B, C, c, 1, alpha, delta, 1.0 / npos);
        neg += proxy_term(S, Gm, labels, B, C, c, 0, alpha, delta, 1.0 / C);
    }
    const double L = pos / npos + neg / C;
    if (per_sample)
        for (int i = 0; i < B; i++)
            per_sample[i] = (real)L;
    gemm(1, 0, C, d, B, 1, Gm, C, fhat, d, 0, dwhat, d);
    loss_l2_normalize_backward(l->dW, dwhat, what, wnorm, C, d);
    if (dfeat) {
        gemm(0, 0, B, d, C, 1, Gm, C, what, d, 0, dfhat, d);
        loss_l2_normalize_backward(dfeat, dfhat, fhat, fnorm, B, d);
    }
    return L;
}

double loss_proxy_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B)
{
    return l->cfg.type == LOSS_CIRCLE ? circle_fb(l, dfeat, per_sample, feat, labels, B)
                                      : proxy_anchor_fb(l, dfeat, per_sample, feat, labels, B);
}
