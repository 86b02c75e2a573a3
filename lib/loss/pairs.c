/* pairs.c — the pair-based baselines on normalised features, which need P×K batches (docs/losses.md §1):
 *   contrastive (Hadsell, Chopra, LeCun 2006, "Dimensionality Reduction by Learning an Invariant
 *     Mapping"): over all pairs i < j, D = ‖f̂_i − f̂_j‖, same class D²/2, different class
 *     max(0, m − D)²/2; L = mean over the B(B−1)/2 pairs.
 *   triplet (Schroff, Kalenichenko, Philbin 2015, "FaceNet", arXiv 1503.03832):
 *     ℓ_apn = max(0, ‖f̂_a − f̂_p‖² − ‖f̂_a − f̂_n‖² + m), p ≠ a of a's class, n of another class;
 *     batch_all: L = mean over the triplets with ℓ > 0 (0 if none);
 *     batch_hard (Hermans, Beyer, Leibe 2017, "In Defense of the Triplet Loss", arXiv 1703.07737):
 *     per anchor the hardest positive (largest distance) and hardest negative (smallest), L = mean
 *     of ℓ over the anchors that have both (ties go to the lowest index).
 * No parameters. per_sample convention: the loss is attributed to samples so that the mean of
 * per_sample over the batch equals the returned loss — contrastive: per_sample[i] = mean of ℓ over
 * the B−1 pairs containing i; batch_all: per_sample[a] = B · (Σ of a's positive triplet losses) / T,
 * T the number of positive triplets; batch_hard: per_sample[a] = ℓ_a · B / V, V the number of valid
 * anchors (= ℓ_a when every anchor is valid, as with P×K batches), 0 for anchors without a positive
 * or a negative.
 *
 * Distances are computed directly as Σ_k (f̂_ik − f̂_jk)² in double (no Gram-matrix cancellation at
 * small D, which the contrastive negative term divides by). With H_ij = ∂L/∂D²_ij (pair (i, j), any
 * order), ∂L/∂f̂_i += 2 H_ij (f̂_i − f̂_j) and ∂L/∂f̂_j −= the same. For the contrastive negative term
 * ∂/∂D² [max(0, m − D)²/2] = −(m − D)/(2D), whose direction is undefined at D = 0: below
 * D = NB_PAIR_DMIN the gradient is taken as 0 (the loss value m²/2 is still counted). */
#include <math.h>

#include "loss/pairs.h"
#include "loss/rowops.h"

#define NB_PAIR_DMIN 1e-9

/* D2 (B,B) = ‖f̂_i − f̂_j‖², summed in double; pa (B) zeroed. */
static void pair_distances(real *D2, real *pa, const real *fhat, int B, int d)
{
    for (int i = 0; i < B; i++) {
        D2[(size_t)i * B + i] = 0;
        pa[i] = 0;
        for (int j = i + 1; j < B; j++) {
            double s = 0;
            for (int k = 0; k < d; k++) {
                const double t = (double)fhat[(size_t)i * d + k] - fhat[(size_t)j * d + k];
                s += t * t;
            }
            D2[(size_t)i * B + j] = D2[(size_t)j * B + i] = (real)s;
        }
    }
}

/* Contrastive: H (B,B) = ∂L/∂D² of each pair i < j, pa (B) the per-sample losses; returns L. */
static double contrastive_terms(real *H, real *pa, const real *D2, const int *labels, int B, double m)
{
    const double P = 0.5 * B * (B - 1);
    double total = 0;
    for (int i = 0; i < B; i++)
        for (int j = i + 1; j < B; j++) {
            const double d2 = D2[(size_t)i * B + j];
            double li, h;
            if (labels[i] == labels[j]) {
                /* D²/2 */
                li = 0.5 * d2;
                h = 0.5;
            } else {
                /* max(0, m − D)²/2;  ∂/∂D² = −(m − D)/(2D) */
                const double D = sqrt(d2);
                if (D < m) {
                    li = 0.5 * (m - D) * (m - D);
                    h = D > NB_PAIR_DMIN ? -(m - D) / (2 * D) : 0;
                } else {
                    li = 0;
                    h = 0;
                }
            }
            total += li;
            H[(size_t)i * B + j] = (real)(h / P);
            pa[i] += (real)(li / (B - 1));
            pa[j] += (real)(li / (B - 1));
        }
    return P > 0 ? total / P : 0;
}

/* Triplet, batch_all: ℓ_apn = max(0, D²_ap − D²_an + m) over all valid triplets; mean over those
 * with ℓ > 0. H, pa as contrastive_terms; returns L. */
static double batch_all_terms(real *H, real *pa, const real *D2, const int *labels, int B, double m)
{
    const size_t bb = (size_t)B * B;
    double total = 0;
    long T = 0;
    for (int a = 0; a < B; a++)
        for (int p = 0; p < B; p++) {
            if (p == a || labels[p] != labels[a])
                continue;
            const double dap = D2[(size_t)a * B + p];
            for (int n = 0; n < B; n++) {
                if (labels[n] == labels[a])
                    continue;
                const double h = dap - D2[(size_t)a * B + n] + m;
                if (h > 0) {
                    total += h;
                    T++;
                    pa[a] += (real)h;
                    H[(size_t)a * B + p] += 1;
                    H[(size_t)a * B + n] -= 1;
                }
            }
        }
    for (size_t k = 0; k < bb && T > 0; k++)
        H[k] = (real)(H[k] / (double)T);
    for (int a = 0; a < B; a++)
        pa[a] = T > 0 ? (real)(pa[a] * (double)B / (double)T) : 0;
    return T > 0 ? total / (double)T : 0;
}

/* Triplet, batch_hard: ℓ_a = max(0, max_p D²_ap − min_n D²_an + m); mean over anchors with both
 * (ties to the lowest index). H, pa as contrastive_terms; returns L. */
static double batch_hard_terms(real *H, real *pa, const real *D2, const int *labels, int B, double m)
{
    const size_t bb = (size_t)B * B;
    double total = 0;
    int V = 0;
    for (int a = 0; a < B; a++) {
        int p = -1, n = -1;
        for (int j = 0; j < B; j++) {
            if (j == a)
                continue;
            const real dj = D2[(size_t)a * B + j];
            if (labels[j] == labels[a]) {
                if (p < 0 || dj > D2[(size_t)a * B + p])
                    p = j;
            } else if (n < 0 || dj < D2[(size_t)a * B + n]) {
                n = j;
            }
        }
        if (p < 0 || n < 0)
            continue;
        V++;
        const double h = (double)D2[(size_t)a * B + p] - D2[(size_t)a * B + n] + m;
        if (h > 0) {
            total += h;
            pa[a] = (real)h;
            H[(size_t)a * B + p] += 1;
            H[(size_t)a * B + n] -= 1;
        }
    }
    for (size_t k = 0; k < bb && V > 0; k++)
        H[k] = (real)(H[k] / V);
    for (int a = 0; a < B; a++)
        pa[a] = V > 0 ? (real)(pa[a] * (double)B / V) : 0;
    return V > 0 ? total / V : 0;
}

/* dfhat (B,d) = ∂L/∂f̂_i = 2 Σ_j (H_ij + H_ji)(f̂_i − f̂_j). */
static void pairs_fhat_grad(real *dfhat, const real *H, const real *fhat, int B, int d)
{
    for (int i = 0; i < B; i++) {
        for (int k = 0; k < d; k++)
            dfhat[(size_t)i * d + k] = 0;
        for (int j = 0; j < B; j++) {
            const double h = (double)H[(size_t)i * B + j] + H[(size_t)j * B + i];
            if (h == 0 || j == i)
                continue;
            for (int k = 0; k < d; k++)
                dfhat[(size_t)i * d + k] +=
                    (real)(2.0 * h * ((double)fhat[(size_t)i * d + k] - fhat[(size_t)j * d + k]));
        }
    }
}

double loss_pairs_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B)
{
    const int d = l->dim;
    const loss_config *cfg = &l->cfg;
    const size_t bb = (size_t)B * B;
    real *fhat = l->scratch;                /* (B,d) */
    real *fnorm = fhat + (size_t)B * d;     /* (B) */
    real *D2 = fnorm + B;                   /* (B,B) squared distances */
    real *H = D2 + bb;                      /* (B,B) ∂L/∂D² */
    real *dfhat = H + bb;                   /* (B,d) */
    real *pa = dfhat + (size_t)B * d;       /* (B) per-anchor loss */

    loss_l2_normalize_rows(fhat, fnorm, feat, B, d);
    pair_distances(D2, pa, fhat, B, d);
    for (size_t k = 0; k < bb; k++)
        H[k] = 0;
    double L;
    if (cfg->type == LOSS_CONTRASTIVE)
        L = contrastive_terms(H, pa, D2, labels, B, cfg->m);
    else if (cfg->mining == MINING_BATCH_ALL)
        L = batch_all_terms(H, pa, D2, labels, B, cfg->m);
    else
        L = batch_hard_terms(H, pa, D2, labels, B, cfg->m);
    if (per_sample)
        for (int i = 0; i < B; i++)
            per_sample[i] = pa[i];
    if (dfeat) {
        pairs_fhat_grad(dfhat, H, fhat, B, d);
        loss_l2_normalize_backward(dfeat, dfhat, fhat, fnorm, B, d);
    }
    return L;
}
