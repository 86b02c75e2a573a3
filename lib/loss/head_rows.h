/* head_rows.h — the blocked head's row kernels (head_rows.c) and its exp (REXP), used by
 * head_pass.c. One row of a block: row (nb) of G = X W_Jᵀ or of logits; cs (nb) the block's
 * 1/‖w_j‖ (angular losses) and bb (nb) its biases (softmax family), either may be NULL. */
#ifndef NB_LOSS_HEAD_ROWS_H
#define NB_LOSS_HEAD_ROWS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/real.h"

/* exp of the logits. The double build (tests) uses libm's exp. The float build uses nb_expf, an
 * inlinable exp the compiler can vectorise (libm's expf is a call per element and was half the
 * head's non-GEMM time): exp(x) = 2^n exp(r), n the integer nearest x / ln 2 (rounded by adding
 * 1.5·2^23), r = x − n ln 2 with ln 2 split in two (Cody–Waite) so r is exact, exp(r) on
 * |r| ≤ ln(2)/2 by its degree-7 Taylor polynomial (truncation < 6e-9 relative), 2^n added to the
 * exponent bits. Accurate to about 1 ulp; arguments below −87 (results under float's smallest
 * normal, 1.2e-38) give 0 and above 88 are clamped — the head only takes exp of z − max ≤ 0. */
#ifdef NB_DOUBLE
#define REXP exp
#else
#define REXP nb_expf
static inline float nb_expf(float x)
{
    const float shifter = 12582912.0f; /* 1.5 · 2^23, bits 0x4b400000 */
    float xc = x > 88.0f ? 88.0f : x;
    xc = xc < -87.0f ? -87.0f : xc;
    const float t = xc * 1.44269504088896341f + shifter;
    const float nf = t - shifter;
    const float r = (xc - nf * 0.693145751953125f) - nf * 1.42860682030941723e-6f;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t tu, pu;
    memcpy(&tu, &t, sizeof tu);
    memcpy(&pu, &p, sizeof pu);
    pu += (tu - 0x4b400000u) << 23;
    float y;
    memcpy(&y, &pu, sizeof y);
    return x < -87.0f ? 0.0f : y;
}
#endif

/* log1p(e) for e in [0, 1], the softplus of the binary losses: log1p in the double build; in the
 * float build nb_log1pf_unit, inlinable so the row kernel vectorises: log(1 + e) = 2 atanh(s) with
 * s = e / (2 + e) in [0, 1/3], by its odd series to s^15 (truncation < 2e-9 relative). */
#ifdef NB_DOUBLE
#define RLOG1P_UNIT log1p
#else
#define RLOG1P_UNIT nb_log1pf_unit
static inline float nb_log1pf_unit(float e)
{
    const float s = e / (2.0f + e), s2 = s * s;
    float p = 1.0f / 15;
    p = p * s2 + 1.0f / 13;
    p = p * s2 + 1.0f / 11;
    p = p * s2 + 1.0f / 9;
    p = p * s2 + 1.0f / 7;
    p = p * s2 + 1.0f / 5;
    p = p * s2 + 1.0f / 3;
    p = p * s2 + 1.0f;
    return 2.0f * s * p;
}
#endif


/* z_j = a · G_j · cs_j (angular: cs = 1/‖w_j‖), or a · G_j + bb_j (softmax family; bb may be NULL). */
void head_row_logits(real *row, int nb, real a, const real *cs, const real *bb);
real head_row_max(const real *row, int nb);
/* Σ_j exp(z_j − mx), accumulated in double. */
double head_row_sumexp(const real *row, int nb, real mx);
/* Pass 2, every element as a non-target: z_j as head_row_logits, ∂L/∂z_j = g·exp(z_j − lse) with
 * lse = lse_hi + lse_lo (split so the subtraction stays exact in float), row ← ∂L/∂G_j
 * (a ∂L/∂z_j · cs_j, or a ∂L/∂z_j); returns Σ_j ∂L/∂z_j u_j (u_j = G_j cs_j, or G_j). */
double head_row_grad(real *row, int nb, real a, const real *cs, const real *bb, real lse_hi, real lse_lo, real g);
/* A row's largest prediction score: cos θ_j = G_j · cs_j (angular), else a·G_j + b_j in double
 * rounded to real once; NaN skipped as `>` does (−∞ when every score is NaN or −∞). */
real head_row_pred_max(const real *row, int nb, double a, const real *cs, const real *bb);
/* The margin losses' non-target logit u = ψ(c) of a cosine c and du/dc (docs/losses.md §1b), in
 * the form the row kernels vectorise: HEAD_NEG_HARD, hard negatives c > thr re-weighted as
 * u = c (k1 + k2 c) + k0, du = k1 + 2 k2 c (mv_softmax: k1 = t, k2 = 0, k0 = t − 1; curricularface:
 * k1 = t, k2 = 1, k0 = 0); HEAD_NEG_CLAMP, u = c clamped to [lo, hi], du = 1 inside, 0 outside
 * (adaface); HEAD_NEG_IDENTITY (u = c) is head_row_logits / head_row_grad's cs case. */
enum { HEAD_NEG_IDENTITY, HEAD_NEG_HARD, HEAD_NEG_CLAMP };
typedef struct {
    int kind;
    real thr, k0, k1, k2; /* HEAD_NEG_HARD */
    real lo, hi;          /* HEAD_NEG_CLAMP */
} head_neg;

static inline real head_neg_hard(const head_neg *n, real c, real *du)
{
    const int hard = c > n->thr;
    *du = hard ? n->k1 + 2 * n->k2 * c : 1;
    return hard ? c * (n->k1 + n->k2 * c) + n->k0 : c;
}

static inline real head_neg_clamp(const head_neg *n, real c, real *du)
{
    const int in = c > n->lo && c < n->hi;
    *du = in ? 1 : 0;
    return in ? c : (c <= n->lo ? n->lo : n->hi);
}

/* u(c) and du/dc of a HEAD_NEG_HARD or HEAD_NEG_CLAMP transform. */
static inline real head_neg_u(const head_neg *n, real c, real *du)
{
    return n->kind == HEAD_NEG_HARD ? head_neg_hard(n, c, du) : head_neg_clamp(n, c, du);
}

/* head_row_logits and head_row_grad for a HEAD_NEG_HARD or HEAD_NEG_CLAMP transform: every element
 * as a non-target, z_j = a u(c_j), c_j = G_j cs_j (cs required); the gradient's row ←
 * a ∂L/∂z_j du_j cs_j, returning Σ_j ∂L/∂z_j u_j. */
void head_row_margin_logits(real *row, int nb, real a, const real *cs, const head_neg *n);
double head_row_margin_grad(real *row, int nb, real a, const real *cs, const head_neg *n, real lse_hi, real lse_lo,
                            real g);

/* The binary losses' non-target term (binary.c: sphereface2, uniface) in the form the row kernel
 * vectorises. For a cosine c: with t ≥ 1, x = clamp(c, lo, hi) and u = 2((x + 1)/2)^t − 1,
 * du/dc = t((x + 1)/2)^(t−1) where x = c, else 0 (1 everywhere with detach); with t = 0, u = c and
 * du/dc = 1. Then z = r u + z0, q = clamp(z, qlo, qhi), ℓ = w σ⁺(q) and ∂ℓ/∂z = w σ(q) where
 * q = z, else 0 (σ⁺(x) = log(1 + eˣ), σ its derivative, the logistic function). */
typedef struct {
    int t, detach;
    real lo, hi, r, z0, qlo, qhi, w;
} head_bin;

/* Columns [j0, j1) of a row of G as non-targets: c_j = G_j cs_j, row_j ← g (∂ℓ/∂c_j) cs_j, i.e.
 * g ∂ℓ/∂G_j; returns Σ_j ℓ_j and adds Σ_j ∂ℓ/∂z_j to *dz (both accumulated in double). */
double head_row_binary(real *row, int j0, int j1, const real *cs, const head_bin *p, real g, double *dz);

/* ⟨a, b⟩ over d values, in double. */
double head_dot(const real *a, const real *b, int d);

#endif
