/* binary.c — the per-class binary losses: every class is a separate binary problem "is this sample
 * of class j?" on c_ij = cos θ_ij = ŵ_jᵀ f̂_i, with one learned scalar bias b shared by all classes
 * and no softmax competition between them (docs/losses.md, "Binary losses"):
 *   sphereface2 (Wen et al. 2022, "SphereFace2: Binary Classification is All You Need for Deep Face
 *     Recognition", ICLR; OpenSphere's model/head/sphereface2.py):
 *       ℓ_i = (lw/r) [ λ σ⁺(−(r u_iy + b)) + (1 − λ) Σ_{j≠y} σ⁺(r u_ij + b) ],   σ⁺(x) = log(1 + eˣ),
 *       variant c: u_iy = g(c_iy) − m, u_ij = g(c_ij) + m;
 *       variant a: u_iy = g(cos(min(θ_iy + m, π'))), u_ij = g(c_ij);
 *       variant m: u_iy = g(cos(min(m θ_iy, π'))),   u_ij = g(c_ij);
 *       g(z) = 2((z + 1)/2)^t − 1, with OpenSphere's clamps: for a and m the cosine is clamped to
 *       [−1 + 1e-5, 1 − 1e-5] before acos and the margined angle to [1e-5, 3.14159] (π' = 3.14159);
 *       for c the cosine is clamped to [−1, 1] (only against rounding: (z+1)/2 must stay ≥ 0).
 *       detach_margin (the default, OpenSphere's gradient): the logit is r (c + stop(u − c)) + b, so
 *       ∂logit/∂c = r; with detach_margin 0 the exact r·du/dc (zero where a clamp is active).
 *   uniface (Zhou et al. 2023, "UniFace: Unified Cross-Entropy Loss for Deep Face Recognition",
 *     ICCV; CVI-SZU/UniFace head.py, Unified_Cross_Entropy_Loss):
 *       ℓ_i = σ⁺(−[s(c_iy − m) − b]_s) + λ Σ_{j≠y} σ⁺([s c_ij − b]_s),  [x]_s = clamp(x, −s, s),
 *       whose gradient is 0 where the clamp is active (as torch's clamp).
 * The batch loss is the mean of ℓ_i. σ⁺ is computed as max(x, 0) + log1p(e^(−|x|)) and its
 * derivative as the logistic function, both without overflow. The backward from ∂L/∂cos is the
 * angular family's (normface.c): ∂L/∂f̂ = (∂L/∂cos) Ŵ, ∂L/∂Ŵ = (∂L/∂cos)ᵀ F̂ and the exact
 * normalisation backward; ∂L/∂b = Σ_ij ∂ℓ_ij/∂b / B. */
#include "loss/binary.h"

#include <math.h>

#include "core/gemm.h"
#include "loss/head_rows.h"
#include "loss/rowops.h"

#define SF2_COS_CLAMP 1e-5   /* OpenSphere: cos clamped to [−1 + 1e-5, 1 − 1e-5] before acos */
#define SF2_THETA_MIN 1e-5   /* OpenSphere: margined angle clamped to [1e-5, 3.14159] */
#define SF2_THETA_MAX 3.14159

int loss_is_binary(loss_type t) { return t == LOSS_SPHEREFACE2 || t == LOSS_UNIFACE; }

/* log(1 + eˣ), and in *sig its derivative 1/(1 + e^(−x)); one exp, stable for any x. */
static double softplus(double x, double *sig)
{
    const double e = exp(-fabs(x));
    *sig = x >= 0 ? 1 / (1 + e) : e / (1 + e);
    return (x > 0 ? x : 0) + log1p(e);
}

/* h^k for a small integer k ≥ 0 by multiplication (pow is the row kernel's cost otherwise). */
static double ipow(double h, int k)
{
    double p = 1;
    for (; k > 0; k--)
        p *= h;
    return p;
}

/* g(z) = 2((z + 1)/2)^t − 1 and g'(z) = t((z + 1)/2)^(t − 1), z in [−1, 1]. */
static double sf2_g(double z, double t, double *dg)
{
    const double h = (z + 1) / 2;
    const double p = t == floor(t) ? ipow(h, (int)t - 1) : (h > 0 ? pow(h, t - 1) : 0);
    *dg = t * p;
    return 2 * h * p - 1;
}

/* SphereFace2's u(c) of a target (pos) or non-target and du/dc (exact, with the clamps). */
static double sf2_u(const loss_config *cfg, double c, int pos, double *du)
{
    double dg;
    if (cfg->variant == VARIANT_C) {
        const double cc = c < -1 ? -1 : (c > 1 ? 1 : c);
        const double g = sf2_g(cc, cfg->t, &dg);
        *du = cc == c ? dg : 0;
        return pos ? g - cfg->m : g + cfg->m;
    }
    const double lo = -1 + SF2_COS_CLAMP, hi = 1 - SF2_COS_CLAMP;
    const double cc = c < lo ? lo : (c > hi ? hi : c);
    const int c_free = cc == c;
    if (!pos) {
        const double g = sf2_g(cc, cfg->t, &dg);
        *du = c_free ? dg : 0;
        return g;
    }
    /* θ' = θ + m (a) or m θ (m), clamped; u = g(cos θ'), du/dc = g'(cos θ') sin θ' k / sin θ with
     * k = dθ'/dθ (1 or m, 0 when clamped) */
    const double th = acos(cc);
    const double k = cfg->variant == VARIANT_A ? 1 : cfg->m;
    double tm = cfg->variant == VARIANT_A ? th + cfg->m : cfg->m * th;
    int t_free = 1;
    if (tm < SF2_THETA_MIN || tm > SF2_THETA_MAX) {
        tm = tm < SF2_THETA_MIN ? SF2_THETA_MIN : SF2_THETA_MAX;
        t_free = 0;
    }
    const double g = sf2_g(cos(tm), cfg->t, &dg);
    *du = c_free && t_free ? dg * sin(tm) * k / sqrt(1 - cc * cc) : 0;
    return g;
}

/* One class term of sphereface2: returns ℓ, writes ∂ℓ/∂c and ∂ℓ/∂b. */
static double sf2_term(const loss_config *cfg, double c, int pos, double b, double *dc, double *db)
{
    double du;
    const double u = sf2_u(cfg, c, pos, &du);
    const double r = cfg->bin_r, w = cfg->bin_lw / r;
    const double z = r * u + b;
    double l, dz, sig;
    if (pos) {
        l = w * cfg->bin_lambda * softplus(-z, &sig);
        dz = -w * cfg->bin_lambda * sig;
    } else {
        l = w * (1 - cfg->bin_lambda) * softplus(z, &sig);
        dz = w * (1 - cfg->bin_lambda) * sig;
    }
    *dc = dz * r * (cfg->detach_margin ? 1.0 : du);
    *db = dz;
    return l;
}

/* One class term of uniface, as sf2_term. */
static double uniface_term(const loss_config *cfg, double c, int pos, double b, double *dc, double *db)
{
    const double s = cfg->s;
    const double z = pos ? s * (c - cfg->m) - b : s * c - b;
    const int free_ = z >= -s && z <= s;
    const double q = z < -s ? -s : (z > s ? s : z);
    double l, dq, sig;
    if (pos) {
        l = softplus(-q, &sig);
        dq = -sig;
    } else {
        l = cfg->bin_lambda * softplus(q, &sig);
        dq = cfg->bin_lambda * sig;
    }
    *dc = free_ ? dq * s : 0;
    *db = free_ ? -dq : 0;
    return l;
}

double loss_binary_row(const loss *l, real *cos, int n, int yl, double g, double *db)
{
    const loss_config *cfg = &l->cfg;
    const double b = (double)l->bin_b[0];
    const int sf2 = cfg->type == LOSS_SPHEREFACE2;
    double total = 0, dbs = 0;
    for (int j = 0; j < n; j++) {
        double dc, dbj;
        const double c = cos[j];
        total += sf2 ? sf2_term(cfg, c, j == yl, b, &dc, &dbj) : uniface_term(cfg, c, j == yl, b, &dc, &dbj);
        cos[j] = (real)(g * dc);
        dbs += dbj;
    }
    *db += g * dbs;
    return total;
}

/* The non-target term as head_rows.h's vectorised kernel takes it, and the sign of ∂z/∂b; 0 when
 * the kernel does not apply (sphereface2 with a t that is not an integer). */
static int binary_neg(const loss_config *cfg, double b, head_bin *p, double *bsign)
{
    if (cfg->type == LOSS_UNIFACE) {
        *p = (head_bin){.t = 0, .detach = 1, .lo = -INFINITY, .hi = INFINITY, .r = (real)cfg->s,
                        .z0 = (real)(-b), .qlo = (real)(-cfg->s), .qhi = (real)cfg->s, .w = (real)cfg->bin_lambda};
        *bsign = -1;
        return 1;
    }
    if (cfg->t != floor(cfg->t))
        return 0;
    const int vc = cfg->variant == VARIANT_C;
    const double lo = vc ? -1 : -1 + SF2_COS_CLAMP, hi = vc ? 1 : 1 - SF2_COS_CLAMP;
    *p = (head_bin){.t = (int)cfg->t, .detach = cfg->detach_margin, .lo = (real)lo, .hi = (real)hi,
                    .r = (real)cfg->bin_r, .z0 = (real)(b + (vc ? cfg->bin_r * cfg->m : 0)), .qlo = -INFINITY,
                    .qhi = INFINITY, .w = (real)(cfg->bin_lw / cfg->bin_r * (1 - cfg->bin_lambda))};
    *bsign = 1;
    return 1;
}

double loss_binary_row_scaled(const loss *l, real *row, const real *cs, int n, int yl, double g, double *db)
{
    const loss_config *cfg = &l->cfg;
    const double b = (double)l->bin_b[0];
    head_bin p;
    double bsign;
    if (!binary_neg(cfg, b, &p, &bsign)) {
        for (int j = 0; j < n; j++)
            row[j] *= cs[j];
        const double total = loss_binary_row(l, row, n, yl, g, db);
        for (int j = 0; j < n; j++)
            row[j] *= cs[j];
        return total;
    }
    double dz = 0, total = 0;
    if (yl < 0) {
        total = head_row_binary(row, 0, n, cs, &p, (real)g, &dz);
    } else {
        const double c = (double)(real)(row[yl] * cs[yl]);
        total = head_row_binary(row, 0, yl, cs, &p, (real)g, &dz) + head_row_binary(row, yl + 1, n, cs, &p, (real)g, &dz);
        double dc, dbj;
        total += cfg->type == LOSS_SPHEREFACE2 ? sf2_term(cfg, c, 1, b, &dc, &dbj) : uniface_term(cfg, c, 1, b, &dc, &dbj);
        row[yl] = (real)(g * dc) * cs[yl];
        *db += g * dbj;
    }
    *db += g * bsign * dz;
    return total;
}

/* OpenSphere: z = λ/((1 − λ)(C − 1)), a_y and a_i the target and non-target logits without b at
 * cos θ = 0 (a and m: at θ_y = π/2 + m, m π/2), b = log(2z) − a_i − log(1 − z + sqrt((1 − z)² +
 * 4 z e^(a_y − a_i))), computed without its cancellation for z > 1. UniFace: b = log(C·r·10). */
double loss_binary_initial_b(const loss_config *cfg, int num_classes)
{
    if (cfg->type == LOSS_UNIFACE)
        return log((double)num_classes * cfg->bin_r * 10);
    const double lam = cfg->bin_lambda, r = cfg->bin_r, t = cfg->t, m = cfg->m;
    const double z = lam / ((1 - lam) * (num_classes - 1.0));
    double ay, ai;
    if (cfg->variant == VARIANT_C) {
        ay = r * (2 * pow(0.5, t) - 1 - m);
        ai = r * (2 * pow(0.5, t) - 1 + m);
    } else {
        double ty = cfg->variant == VARIANT_A ? M_PI / 2 + m : m * M_PI / 2;
        if (ty > M_PI)
            ty = M_PI;
        ay = r * (2 * pow((cos(ty) + 1) / 2, t) - 1);
        ai = r * (2 * pow(0.5, t) - 1);
    }
    /* e^(b + a_i) = u, the positive root of e^(a_y − a_i) u² + (1 − z) u − z = 0 (the stationary
     * point of the initial loss in b); the reference's form 2z / (1 − z + √T) cancels when z > 1
     * (C − 1 < λ/(1 − λ)), where the equal (√T − (1 − z)) / (2 e^(a_y − a_i)) does not */
    const double tmp = (1 - z) * (1 - z) + 4 * z * exp(ay - ai);
    if (z <= 1)
        return log(2 * z) - ai - log(1 - z + sqrt(tmp));
    return log(sqrt(tmp) - (1 - z)) - log(2.0) - (ay - ai) - ai;
}

double loss_binary_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B)
{
    const int d = l->dim, C = l->num_classes;
    real *cs = l->scratch;               /* (B,C): cos θ, then ∂L/∂cos */
    real *fhat = cs + (size_t)B * C;     /* (B,d) */
    real *fnorm = fhat + (size_t)B * d;  /* (B) */
    real *what = fnorm + B;              /* (C,d) */
    real *wnorm = what + (size_t)C * d;  /* (C) */
    real *dfhat = wnorm + C;             /* (B,d) */
    real *dwhat = dfhat + (size_t)B * d; /* (C,d) */

    loss_l2_normalize_rows(fhat, fnorm, feat, B, d);
    loss_l2_normalize_rows(what, wnorm, l->W, C, d);
    gemm(0, 1, B, C, d, 1, fhat, d, what, d, 0, cs, C);
    double total = 0, db = 0;
    for (int i = 0; i < B; i++) {
        const double li = loss_binary_row(l, cs + (size_t)i * C, C, labels[i], 1.0 / B, &db);
        total += li;
        if (per_sample)
            per_sample[i] = (real)li;
    }
    l->dbin_b[0] += (real)db;
    gemm(1, 0, C, d, B, 1, cs, C, fhat, d, 0, dwhat, d);
    loss_l2_normalize_backward(l->dW, dwhat, what, wnorm, C, d);
    if (dfeat) {
        gemm(0, 0, B, d, C, 1, cs, C, what, d, 0, dfhat, d);
        loss_l2_normalize_backward(dfeat, dfhat, fhat, fnorm, B, d);
    }
    return total / B;
}
