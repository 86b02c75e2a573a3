/* head_rows.c — the row kernels of the blocked head (head_pass.c): one row of a (B, block) block
 * of logits at a time, written so that `omp simd` vectorises them. Each is compiled twice, for AVX2
 * and for the x86-64 baseline (SSE2), and the loader picks one for the CPU (GCC's target_clones);
 * the vector width only changes the order of the simd sums. */
/* FP exceptions are never inspected in normbench; without this GCC will not if-convert the
 * selects in nb_expf and the row kernels stay scalar. It changes no result (unlike -ffast-math,
 * which this project does not use): IEEE semantics, rounding and NaN/Inf handling are unchanged. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "loss/head_rows.h"

#include <math.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NB_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NB_SIMD_CLONES
#endif

/* z_j = a · G_j · cs_j (angular: cs = 1/‖w_j‖), or a · G_j + bb_j (softmax family; bb may be NULL). */
NB_SIMD_CLONES void head_row_logits(real *row, int nb, real a, const real *cs, const real *bb)
{
    if (cs) {
#pragma omp simd
        for (int j = 0; j < nb; j++)
            row[j] = a * (row[j] * cs[j]);
    } else if (bb) {
#pragma omp simd
        for (int j = 0; j < nb; j++)
            row[j] = a * row[j] + bb[j];
    } else {
#pragma omp simd
        for (int j = 0; j < nb; j++)
            row[j] = a * row[j];
    }
}

NB_SIMD_CLONES real head_row_max(const real *row, int nb)
{
    real m = row[0];
#pragma omp simd reduction(max : m)
    for (int j = 1; j < nb; j++)
        m = row[j] > m ? row[j] : m;
    return m;
}

/* Σ_j exp(z_j − mx), accumulated in double. */
NB_SIMD_CLONES double head_row_sumexp(const real *row, int nb, real mx)
{
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < nb; j++)
        s += (double)REXP(row[j] - mx);
    return s;
}

/* Pass 2, every element as a non-target: z_j as row_logits, ∂L/∂z_j = g·exp(z_j − lse) with
 * lse = lse_hi + lse_lo (split so the subtraction stays exact in float), row ← ∂L/∂G_j
 * (a ∂L/∂z_j · cs_j, or a ∂L/∂z_j); returns Σ_j ∂L/∂z_j u_j (u_j = G_j cs_j, or G_j). */
NB_SIMD_CLONES double head_row_grad(real *row, int nb, real a, const real *cs, const real *bb, real lse_hi, real lse_lo, real g)
{
    double zdot = 0;
    if (cs) {
#pragma omp simd reduction(+ : zdot)
        for (int j = 0; j < nb; j++) {
            const real u = row[j] * cs[j];
            const real dz = g * REXP((a * u - lse_hi) - lse_lo);
            zdot += (double)(dz * u);
            row[j] = (a * dz) * cs[j];
        }
    } else if (bb) {
#pragma omp simd reduction(+ : zdot)
        for (int j = 0; j < nb; j++) {
            const real u = row[j];
            const real dz = g * REXP(((a * u + bb[j]) - lse_hi) - lse_lo);
            zdot += (double)(dz * u);
            row[j] = a * dz;
        }
    } else {
#pragma omp simd reduction(+ : zdot)
        for (int j = 0; j < nb; j++) {
            const real u = row[j];
            const real dz = g * REXP((a * u - lse_hi) - lse_lo);
            zdot += (double)(dz * u);
            row[j] = a * dz;
        }
    }
    return zdot;
}

NB_SIMD_CLONES void head_row_margin_logits(real *row, int nb, real a, const real *cs, const head_neg *n)
{
    const head_neg m = *n;
    real du;
    if (m.kind == HEAD_NEG_HARD) {
#pragma omp simd private(du)
        for (int j = 0; j < nb; j++)
            row[j] = a * head_neg_hard(&m, row[j] * cs[j], &du);
    } else {
#pragma omp simd private(du)
        for (int j = 0; j < nb; j++)
            row[j] = a * head_neg_clamp(&m, row[j] * cs[j], &du);
    }
}

NB_SIMD_CLONES double head_row_margin_grad(real *row, int nb, real a, const real *cs, const head_neg *n, real lse_hi,
                                           real lse_lo, real g)
{
    const head_neg m = *n;
    double zdot = 0;
    if (m.kind == HEAD_NEG_HARD) {
#pragma omp simd reduction(+ : zdot)
        for (int j = 0; j < nb; j++) {
            real du;
            const real u = head_neg_hard(&m, row[j] * cs[j], &du);
            const real dz = g * REXP((a * u - lse_hi) - lse_lo);
            zdot += (double)(dz * u);
            row[j] = ((a * dz) * du) * cs[j];
        }
    } else {
#pragma omp simd reduction(+ : zdot)
        for (int j = 0; j < nb; j++) {
            real du;
            const real u = head_neg_clamp(&m, row[j] * cs[j], &du);
            const real dz = g * REXP((a * u - lse_hi) - lse_lo);
            zdot += (double)(dz * u);
            row[j] = ((a * dz) * du) * cs[j];
        }
    }
    return zdot;
}

/* The powers ((x + 1)/2)^(t−1) are taken by t − 1 multiplications over a chunk of the row (a loop
 * over k inside the element loop does not vectorise); then one simd loop does the rest. */
enum { BIN_CHUNK = 64 };

NB_SIMD_CLONES double head_row_binary(real *row, int j0, int j1, const real *cs, const head_bin *p, real g,
                                      double *dz)
{
    const head_bin b = *p;
    double ls = 0, ds = 0;
    real h[BIN_CHUNK], pw[BIN_CHUNK];
    for (int c0 = j0; c0 < j1; c0 += BIN_CHUNK) {
        const int n = j1 - c0 < BIN_CHUNK ? j1 - c0 : BIN_CHUNK;
        real *r = row + c0;
        const real *v = cs + c0;
        if (b.t > 0) {
#pragma omp simd
            for (int j = 0; j < n; j++) {
                const real c = r[j] * v[j];
                const real x = c < b.lo ? b.lo : (c > b.hi ? b.hi : c);
                h[j] = (x + 1) / 2;
                pw[j] = 1;
            }
            for (int k = 1; k < b.t; k++)
#pragma omp simd
                for (int j = 0; j < n; j++)
                    pw[j] *= h[j];
        }
#pragma omp simd reduction(+ : ls, ds)
        for (int j = 0; j < n; j++) {
            const real c = r[j] * v[j];
            real u = c, du = 1;
            if (b.t > 0) {
                const int cfree = c >= b.lo && c <= b.hi;
                u = 2 * h[j] * pw[j] - 1;
                du = b.detach ? 1 : (cfree ? b.t * pw[j] : 0);
            }
            const real z = b.r * u + b.z0;
            const int qfree = z >= b.qlo && z <= b.qhi;
            const real q = z < b.qlo ? b.qlo : (z > b.qhi ? b.qhi : z);
            const real e = REXP(-(q < 0 ? -q : q));
            const real inv = 1 / (1 + e);
            const real sig = q >= 0 ? inv : e * inv;
            ls += (double)(b.w * ((q > 0 ? q : 0) + RLOG1P_UNIT(e)));
            const real dq = qfree ? b.w * sig : 0;
            ds += (double)dq;
            r[j] = ((g * dq) * (b.r * du)) * v[j];
        }
    }
    *dz += ds;
    return ls;
}

/* Predictions (loss_head_predict, and the training predictions of pass 1): the argmax of the plain
 * path's score. For class j in a row of G = X W_Jᵀ it is cos θ_j = G_j · cs_j for the angular
 * losses (cs = 1/‖w_j‖; the same argmax as s cos θ_j), else the logit a·G_j + b_j (bb the biases,
 * may be NULL) computed in double and rounded to real once. row_pred_max returns a row's largest
 * score, skipping NaN as `>` does (−∞ when every score is NaN or −∞); a maximum is exact, so
 * vectorising it changes nothing. */
NB_SIMD_CLONES real head_row_pred_max(const real *row, int nb, double a, const real *cs, const real *bb)
{
    real m = -INFINITY;
    if (cs) {
#pragma omp simd reduction(max : m)
        for (int j = 0; j < nb; j++) {
            const real v = row[j] * cs[j];
            m = v > m ? v : m;
        }
    } else if (bb) {
#pragma omp simd reduction(max : m)
        for (int j = 0; j < nb; j++) {
            const real v = (real)(a * (double)row[j] + (double)bb[j]);
            m = v > m ? v : m;
        }
    } else {
#pragma omp simd reduction(max : m)
        for (int j = 0; j < nb; j++) {
            const real v = (real)(a * (double)row[j]);
            m = v > m ? v : m;
        }
    }
    return m;
}

/* ⟨a, b⟩ over d values, in double. */
NB_SIMD_CLONES double head_dot(const real *a, const real *b, int d)
{
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int k = 0; k < d; k++)
        s += (double)a[k] * b[k];
    return s;
}

