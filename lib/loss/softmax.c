/* softmax.c — the two un-normalised-weight classification losses: plain softmax
 * cross-entropy on z = W f + b (the baseline) and L2-softmax (Ranjan, Castillo, Chellappa 2017,
 * "L2-constrained Softmax Loss for Discriminative Face Verification", arXiv 1703.09507), which
 * normalises the feature and rescales it by α before the same linear classifier:
 * z = W (α f̂) + b, W not normalised, bias kept (cfg.bias), α fixed, auto (α_low, set in loss_init)
 * or learned (learn_alpha, ∂L/∂α = Σ_i ⟨g_i, f̂_i⟩ with g_i = ∂L/∂(α f̂_i), docs/losses.md §1). */
#include <math.h>

#include "core/gemm.h"
#include "loss/rowops.h"
#include "loss/softmax.h"

/* The α in use: the learned value if any, else the configured (or auto) one. */
static double l2_alpha(const loss *l) { return l->scale ? (double)l->scale[0] : l->cfg.alpha; }

/* Fills logits (B,C) for feat (B,d); for l2softmax also f̂ (B,d) and ‖f‖ (B). */
static void softmax_logits(const loss *l, real *logits, real *fhat, real *fnorm, const real *feat, int B)
{
    const int d = l->dim, C = l->num_classes;
    const real *x = feat;
    real a = 1;
    if (l->cfg.type == LOSS_L2SOFTMAX) {
        loss_l2_normalize_rows(fhat, fnorm, feat, B, d);
        x = fhat;
        a = (real)l2_alpha(l);
    }
    /* z = a · x Wᵀ + b, x = f (softmax) or f̂ (l2softmax, a = α) */
    gemm(0, 1, B, C, d, a, x, d, l->W, d, 0, logits, C);
    if (l->b)
        for (int i = 0; i < B; i++)
            for (int j = 0; j < C; j++)
                logits[(size_t)i * C + j] += l->b[j];
}

double loss_softmax_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B)
{
    const int d = l->dim, C = l->num_classes;
    const int l2 = l->cfg.type == LOSS_L2SOFTMAX;
    real *z = l->scratch;                            /* (B,C): logits, then ∂L/∂z */
    real *fhat = l2 ? z + (size_t)B * C : NULL;      /* (B,d), l2softmax only */
    real *fnorm = l2 ? fhat + (size_t)B * d : NULL;  /* (B) */
    real *g = l2 ? fnorm + B : NULL;                 /* (B,d): ∂L/∂(α f̂) */
    softmax_logits(l, z, fhat, fnorm, feat, B);

    /* L = (1/B) Σ_i CE(z_i, y_i); z now holds ∂L/∂z = (p − onehot)/B */
    double total = 0;
    for (int i = 0; i < B; i++) {
        const double ce = loss_ce_row(z + (size_t)i * C, C, labels[i], 1.0 / B, NULL);
        total += ce;
        if (per_sample)
            per_sample[i] = (real)ce;
    }

    /* ∂L/∂b_j = Σ_i ∂L/∂z_ij */
    if (l->db)
        for (int j = 0; j < C; j++) {
            double s = 0;
            for (int i = 0; i < B; i++)
                s += z[(size_t)i * C + j];
            l->db[j] += (real)s;
        }

    if (!l2) {
        /* ∂L/∂W += (∂L/∂z)ᵀ f;  ∂L/∂f += (∂L/∂z) W */
        gemm(1, 0, C, d, B, 1, z, C, feat, d, 1, l->dW, d);
        if (dfeat)
            gemm(0, 0, B, d, C, 1, z, C, l->W, d, 1, dfeat, d);
        return total / B;
    }

    /* l2softmax, y = α f̂: ∂L/∂W += α (∂L/∂z)ᵀ f̂;  g = ∂L/∂y = (∂L/∂z) W;  ∂L/∂α = Σ_i ⟨g_i, f̂_i⟩;
     * ∂L/∂f̂ = α g, then through the normalisation. */
    const double alpha = l2_alpha(l);
    gemm(1, 0, C, d, B, (real)alpha, z, C, fhat, d, 1, l->dW, d);
    if (!dfeat && !l->dscale)
        return total / B;
    gemm(0, 0, B, d, C, 1, z, C, l->W, d, 0, g, d);
    if (l->dscale) {
        double s = 0;
        for (size_t k = 0; k < (size_t)B * d; k++)
            s += (double)g[k] * fhat[k];
        l->dscale[0] += (real)s;
    }
    if (dfeat) {
        for (size_t k = 0; k < (size_t)B * d; k++)
            g[k] = (real)(alpha * g[k]);
        loss_l2_normalize_backward(dfeat, g, fhat, fnorm, B, d);
    }
    return total / B;
}

void loss_softmax_predict(const loss *l, int *pred, const real *feat, int B)
{
    const int d = l->dim, C = l->num_classes;
    const int l2 = l->cfg.type == LOSS_L2SOFTMAX;
    real *z = l->scratch, *fhat = l2 ? z + (size_t)B * C : NULL, *fnorm = l2 ? fhat + (size_t)B * d : NULL;
    softmax_logits(l, z, fhat, fnorm, feat, B);
    loss_argmax_rows(pred, z, B, C);
}
