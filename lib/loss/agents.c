/* agents.c — NormFace's "classification versions" of the metric-learning losses (Wang et al.
 * 2017, "NormFace: L2 Hypersphere Embedding for Face Verification", arXiv 1704.06369, §4): every
 * class has a learnable agent w_j, and a normalised feature is compared with the normalised agents
 * through d_ij = ‖f̂_i − ŵ_j‖² ∈ [0, 4]:
 *   c_contrastive  L = (1/B) Σ_i [ max(0, d_{i,y_i} − m_pos) + Σ_{j≠y_i} max(0, m_neg − d_ij) ]
 *   c_triplet      L = (1/B) Σ_i [ max(0, d_{i,y_i} + m − min_{j≠y_i} d_ij) (+ d_{i,y_i} if pull_positive) ]
 * (defaults m_pos 0, m_neg 1, m 0.8 as in the released NormFace code; pull_positive is its
 * add_center_loss). Hinges at exactly 0 get the subgradient 0; a tie in the min goes to the lowest j.
 *
 * With G_ij = ∂L/∂d_ij and ∂d_ij/∂f̂_i = 2(f̂_i − ŵ_j), ∂d_ij/∂ŵ_j = 2(ŵ_j − f̂_i):
 *   ∂L/∂f̂_i = 2 (Σ_j G_ij) f̂_i − 2 (G Ŵ)_i,   ∂L/∂ŵ_j = 2 (Σ_i G_ij) ŵ_j − 2 (Gᵀ F̂)_j,
 * then the exact normalisation backward. d_ij is computed as ‖f̂_i‖² + ‖ŵ_j‖² − 2 f̂_iᵀŵ_j, exact
 * for the ε-normalised vectors (whose squared norm is 1 − O(1e-12)). */
#include "core/gemm.h"
#include "loss/agents.h"
#include "loss/rowops.h"

/* c_contrastive on one row d (C) of sample i with label y: returns
 * ℓ_i = max(0, d_iy − m_pos) + Σ_{j≠y} max(0, m_neg − d_ij) and overwrites d with
 * G_ij = ∂L/∂d_ij (inv_b = 1/B). */
static double c_contrastive_row(real *row, int C, int y, const loss_config *cfg, double inv_b)
{
    double li = 0;
    for (int j = 0; j < C; j++) {
        const double dij = row[j];
        double gij = 0;
        if (j == y) {
            /* max(0, d_iy − m_pos) */
            if (dij > cfg->m_pos) {
                li += dij - cfg->m_pos;
                gij = inv_b;
            }
        } else if (dij < cfg->m_neg) {
            /* max(0, m_neg − d_ij) */
            li += cfg->m_neg - dij;
            gij = -inv_b;
        }
        row[j] = (real)gij;
    }
    return li;
}

/* c_triplet on one row, as c_contrastive_row: ℓ_i = max(0, d_iy + m − min_{j≠y} d_ij) (+ d_iy
 * with pull_positive). */
static double c_triplet_row(real *row, int C, int y, const loss_config *cfg, double inv_b)
{
    double li = 0;
    int jn = -1;
    for (int j = 0; j < C; j++)
        if (j != y && (jn < 0 || row[j] < row[jn]))
            jn = j;
    const double dy = row[y], dn = row[jn];
    for (int j = 0; j < C; j++)
        row[j] = 0;
    const double h = dy + cfg->m - dn;
    if (h > 0) {
        li += h;
        row[y] += (real)inv_b;
        row[jn] -= (real)inv_b;
    }
    if (cfg->pull_positive) {
        li += dy;
        row[y] += (real)inv_b;
    }
    return li;
}

double loss_agents_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B)
{
    const int d = l->dim, C = l->num_classes;
    const loss_config *cfg = &l->cfg;
    real *g = l->scratch;                   /* (B,C): f̂ᵀŵ, then G = ∂L/∂d */
    real *fhat = g + (size_t)B * C;         /* (B,d) */
    real *fnorm = fhat + (size_t)B * d;     /* (B) */
    real *what = fnorm + B;                 /* (C,d) */
    real *wnorm = what + (size_t)C * d;     /* (C) */
    real *dfhat = wnorm + C;                /* (B,d) */
    real *dwhat = dfhat + (size_t)B * d;    /* (C,d) */
    real *rowsum = dwhat + (size_t)C * d;   /* (B) */
    real *sw = rowsum + B;                  /* (C): ‖ŵ_j‖², then Σ_i G_ij */

    loss_l2_normalize_rows(fhat, fnorm, feat, B, d);
    loss_l2_normalize_rows(what, wnorm, l->W, C, d);
    gemm(0, 1, B, C, d, 1, fhat, d, what, d, 0, g, C);
    for (int j = 0; j < C; j++) {
        double s = 0;
        for (int k = 0; k < d; k++)
            s += (double)what[(size_t)j * d + k] * what[(size_t)j * d + k];
        sw[j] = (real)s;
    }

    const double inv_b = 1.0 / B;
    double total = 0;
    for (int i = 0; i < B; i++) {
        real *row = g + (size_t)i * C;
        const int y = labels[i];
        double sf = 0;
        for (int k = 0; k < d; k++)
            sf += (double)fhat[(size_t)i * d + k] * fhat[(size_t)i * d + k];
        /* row ← d_ij */
        for (int j = 0; j < C; j++)
            row[j] = (real)(sf + sw[j] - 2.0 * row[j]);
        const double li = cfg->type == LOSS_C_CONTRASTIVE ? c_contrastive_row(row, C, y, cfg, inv_b)
                                                          : c_triplet_row(row, C, y, cfg, inv_b);
        total += li;
        if (per_sample)
            per_sample[i] = (real)li;
        double rs = 0;
        for (int j = 0; j < C; j++)
            rs += row[j];
        rowsum[i] = (real)rs;
    }
    for (int j = 0; j < C; j++) {
        double cs = 0;
        for (int i = 0; i < B; i++)
            cs += g[(size_t)i * C + j];
        sw[j] = (real)cs;
    }

    /* ∂L/∂ŵ_j = 2 (Σ_i G_ij) ŵ_j − 2 (Gᵀ F̂)_j */
    gemm(1, 0, C, d, B, -2, g, C, fhat, d, 0, dwhat, d);
    for (int j = 0; j < C; j++)
        for (int k = 0; k < d; k++)
            dwhat[(size_t)j * d + k] += (real)(2.0 * sw[j] * what[(size_t)j * d + k]);
    loss_l2_normalize_backward(l->dW, dwhat, what, wnorm, C, d);
    if (dfeat) {
        /* ∂L/∂f̂_i = 2 (Σ_j G_ij) f̂_i − 2 (G Ŵ)_i */
        gemm(0, 0, B, d, C, -2, g, C, what, d, 0, dfhat, d);
        for (int i = 0; i < B; i++)
            for (int k = 0; k < d; k++)
                dfhat[(size_t)i * d + k] += (real)(2.0 * rowsum[i] * fhat[(size_t)i * d + k]);
        loss_l2_normalize_backward(dfeat, dfhat, fhat, fnorm, B, d);
    }
    return total * inv_b;
}
