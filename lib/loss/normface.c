/* normface.c — the normalised-weight ("angular") classification losses, which all see the
 * batch through cos θ_ij = ŵ_jᵀ f̂_i and differ only in the target logit:
 *   normface   z_j = s cos θ_j                                  (Wang et al. 2017, arXiv 1704.06369)
 *   cosface    z_y = s (cos θ_y − m)                            (Wang et al. 2018, arXiv 1801.09414)
 *   arcface    z_y = s cos(θ_y + m)                             (Deng et al. 2019, arXiv 1801.07698)
 *   combined   z_y = s (cos(m1 θ_y + m2) − m3)                  (InsightFace's combined margin)
 *   sphereface z_j = ‖f‖ cos θ_j, z_y = ‖f‖ (λ cos θ_y + ψ(θ_y)) / (1 + λ),
 *              ψ(θ) = (−1)^k cos(mθ) − 2k on θ ∈ [kπ/m, (k+1)π/m]   (Liu et al. 2017, arXiv 1704.08063)
 * with non-target logits z_j = s cos θ_j (‖f‖ cos θ_j for sphereface) and softmax cross-entropy.
 *
 * Writing z_ij = a_i u_ij (a_i = s, or ‖f_i‖ for sphereface; u_ij = cos θ_ij off target, u = φ(cos θ_y)
 * on target), the backward is: ∂L/∂z from the CE; ∂L/∂cos_ij = a_i ∂L/∂z_ij, times φ'(cos θ_y) on
 * the target; ∂L/∂a_i = Σ_j ∂L/∂z_ij u_ij (gives ∂L/∂s, or the radial part of ∂L/∂f for sphereface);
 * ∂L/∂f̂ = (∂L/∂cos) Ŵ, ∂L/∂Ŵ = (∂L/∂cos)ᵀ F̂; then the exact normalisation backward for f and w.
 *
 * Clamping: where acos or sqrt(1 − c²) is needed (arcface, combined, sphereface), the target cosine
 * is clamped to [−1 + NB_COS_EPS, 1 − NB_COS_EPS] (1e-7 double, 1e-6 float, real.h) and φ and φ' are
 * evaluated at the clamped value; the clamp itself is passed straight through in the backward (its
 * derivative taken as 1), so a feature exactly opposite its class weight still gets a gradient.
 * At cos = ±1 nothing is NaN: sin θ ≥ sqrt(2 ε − ε²) > 0. SphereFace uses Chebyshev polynomials,
 * cos(mθ) = T_m(cos θ) and d cos(mθ)/d cos θ = m U_{m−1}(cos θ), so it divides by nothing.
 *
 * Beyond θ + m > π (arcface) cos(θ + m) stops decreasing. Default (InsightFace): where
 * cos θ ≤ cos(π − m) use cos θ − m sin m instead. easy_margin: apply the margin only where
 * cos θ > 0 (otherwise u = cos θ). combined does the same with the threshold m1 θ + m2 = π, i.e.
 * cos θ ≤ cos((π − m2)/m1) (only when that angle is < π), and the fallback cos θ − m3 − m2 sin m2,
 * which is arcface's rule at m1 = 1, m3 = 0 (our choice; InsightFace's combined code has no
 * fallback of its own).
 *
 * detach_margin (OpenSphere / InsightFace torch code): the target is computed as
 * a · (cos θ_y + Δ) with the margin correction Δ = φ(cos θ_y) − cos θ_y held constant, so
 * ∂z_y/∂cos θ_y = a (= s for arcface/combined/cosface, ‖f‖ for sphereface, where
 * Δ = (ψ(θ_y) − cos θ_y)/(1 + λ) and ‖f‖ keeps its exact gradient z_y/‖f‖). The loss value is the
 * same as with the exact gradient; for cosface and normface the two gradients coincide. */
#include <math.h>

#include "core/gemm.h"
#include "loss/normface.h"
#include "loss/rowops.h"

static double clamp_cos(double c)
{
    const double lo = -1.0 + NB_COS_EPS, hi = 1.0 - NB_COS_EPS;
    return c < lo ? lo : (c > hi ? hi : c);
}

/* SphereFace λ = max(λ_min, base · (1 + γ · iter)^(−power)). */
static double sphereface_lambda(const loss_config *c, long iter)
{
    const double v = c->lambda_base * pow(1.0 + c->lambda_gamma * (double)iter, -c->lambda_power);
    return v > c->lambda_min ? v : c->lambda_min;
}

/* ψ(θ) = (−1)^k cos(mθ) − 2k, k = ⌊mθ/π⌋ ∈ [0, m−1], with cos(mθ) = T_m(c); writes
 * dψ/dc = (−1)^k m U_{m−1}(c) (U_{m−1}(cos θ) = sin(mθ)/sin θ). c is already clamped. */
static double sphereface_psi(double c, int m, double *dpsi)
{
    int k = (int)floor(m * acos(c) / M_PI);
    if (k > m - 1)
        k = m - 1;
    if (k < 0)
        k = 0;
    /* T_0 = 1, T_1 = c, T_{n+1} = 2c T_n − T_{n−1};  U_0 = 1, U_1 = 2c, same recurrence */
    double t0 = 1, t1 = c, u0 = 1, u1 = 2 * c;
    for (int n = 1; n < m; n++) {
        const double t2 = 2 * c * t1 - t0, u2 = 2 * c * u1 - u0;
        t0 = t1;
        t1 = t2;
        u0 = u1;
        u1 = u2;
    }
    const double Tm = m == 0 ? 1 : t1;
    const double Um1 = u0; /* after the loop u0 = U_{m−1} */
    const double sign = (k % 2) ? -1.0 : 1.0;
    *dpsi = sign * m * Um1;
    return sign * Tm - 2.0 * k;
}

/* Target "cosine" u = φ(c) of the target logit z_y = a·u, and du/dc (exact, or 1 when detached). */
static double target_u(const loss *l, double c, double lambda, double *du)
{
    const loss_config *cfg = &l->cfg;
    double u = c, d = 1;
    switch (cfg->type) {
    case LOSS_COSFACE: u = c - cfg->m; break;
    case LOSS_ARCFACE: {
        /* cos(θ + m) = c cos m − sin θ sin m;  d/dc = cos m + c sin m / sin θ */
        const double cc = clamp_cos(c), sn = sqrt(1 - cc * cc);
        const double cm = cos(cfg->m), sm = sin(cfg->m);
        const int margin = cfg->easy_margin ? cc > 0 : cc > cos(M_PI - cfg->m);
        if (margin) {
            u = cc * cm - sn * sm;
            d = cm + cc * sm / sn;
        } else if (!cfg->easy_margin) {
            u = c - cfg->m * sm; /* fallback cos θ − m sin m */
        }
        break;
    }
    case LOSS_COMBINED: {
        /* cos(m1 θ + m2) − m3;  d/dc = m1 sin(m1 θ + m2) / sin θ */
        const double cc = clamp_cos(c), sn = sqrt(1 - cc * cc), th = acos(cc);
        const double t = cfg->m1 * th + cfg->m2;
        const int margin = cfg->easy_margin ? cc > 0 : t < M_PI;
        if (margin) {
            u = cos(t) - cfg->m3;
            d = cfg->m1 * sin(t) / sn;
        } else if (!cfg->easy_margin) {
            u = c - cfg->m3 - cfg->m2 * sin(cfg->m2);
        }
        break;
    }
    case LOSS_SPHEREFACE: {
        /* u = (λ c + ψ(θ)) / (1 + λ);  du/dc = (λ + ψ'(c)) / (1 + λ) */
        double dpsi;
        const double psi = sphereface_psi(clamp_cos(c), (int)lround(cfg->m), &dpsi);
        u = (lambda * c + psi) / (1 + lambda);
        d = (lambda + dpsi) / (1 + lambda);
        break;
    }
    default: break;
    }
    *du = cfg->detach_margin ? 1.0 : d;
    return u;
}

double loss_angular_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B,
                       long iter)
{
    const int d = l->dim, C = l->num_classes;
    const int sphere = l->cfg.type == LOSS_SPHEREFACE;
    real *cs = l->scratch;                  /* (B,C): cos θ, then logits, then ∂L/∂cos */
    real *fhat = cs + (size_t)B * C;        /* (B,d) */
    real *fnorm = fhat + (size_t)B * d;     /* (B) */
    real *what = fnorm + B;                 /* (C,d) */
    real *wnorm = what + (size_t)C * d;     /* (C) */
    real *dfhat = wnorm + C;                /* (B,d) */
    real *dwhat = dfhat + (size_t)B * d;    /* (C,d) */
    real *da = dwhat + (size_t)C * d;       /* (B): ∂L/∂‖f_i‖ (sphereface) */

    loss_l2_normalize_rows(fhat, fnorm, feat, B, d);
    loss_l2_normalize_rows(what, wnorm, l->W, C, d);
    /* cos θ (B,C) = F̂ Ŵᵀ */
    gemm(0, 1, B, C, d, 1, fhat, d, what, d, 0, cs, C);

    const double s = l->scale ? (double)l->scale[0] : l->cfg.s;
    const double lambda = sphere ? sphereface_lambda(&l->cfg, iter) : 0;
    if (sphere)
        l->lambda = lambda;
    double total = 0, ds = 0;
    for (int i = 0; i < B; i++) {
        real *row = cs + (size_t)i * C;
        const int y = labels[i];
        const double a = sphere ? (double)fnorm[i] : s;
        double du;
        const double u = target_u(l, row[y], lambda, &du);
        /* z_ij = a u_ij */
        for (int j = 0; j < C; j++)
            row[j] = (real)(a * row[j]);
        row[y] = (real)(a * u);
        double zdot;
        const double ce = loss_ce_row(row, C, y, 1.0 / B, &zdot);
        total += ce;
        if (per_sample)
            per_sample[i] = (real)ce;
        /* ∂L/∂a_i = Σ_j ∂L/∂z_ij u_ij = zdot / a;  ∂L/∂cos_ij = a ∂L/∂z_ij (· du on the target) */
        if (sphere)
            da[i] = (real)(zdot / a);
        else
            ds += zdot / a;
        for (int j = 0; j < C; j++)
            row[j] = (real)(a * row[j]);
        row[y] = (real)(row[y] * du);
    }
    if (l->dscale)
        l->dscale[0] += (real)ds;

    /* ∂L/∂Ŵ = (∂L/∂cos)ᵀ F̂, then ∂L/∂W through the row normalisation */
    gemm(1, 0, C, d, B, 1, cs, C, fhat, d, 0, dwhat, d);
    loss_l2_normalize_backward(l->dW, dwhat, what, wnorm, C, d);
    if (dfeat) {
        /* ∂L/∂F̂ = (∂L/∂cos) Ŵ;  sphereface adds ∂L/∂‖f_i‖ · f_i/‖f_i‖ */
        gemm(0, 0, B, d, C, 1, cs, C, what, d, 0, dfhat, d);
        loss_l2_normalize_backward(dfeat, dfhat, fhat, fnorm, B, d);
        if (sphere)
            for (int i = 0; i < B; i++)
                for (int k = 0; k < d; k++)
                    dfeat[(size_t)i * d + k] += (real)(da[i] * fhat[(size_t)i * d + k]);
    }
    return total / B;
}

/* argmax_j cos θ_ij (also the nearest agent for c_contrastive / c_triplet) */
void loss_angular_predict(const loss *l, int *pred, const real *feat, int B)
{
    const int d = l->dim, C = l->num_classes;
    real *cs = l->scratch, *fhat = cs + (size_t)B * C, *fnorm = fhat + (size_t)B * d, *what = fnorm + B,
         *wnorm = what + (size_t)C * d;
    loss_l2_normalize_rows(fhat, fnorm, feat, B, d);
    loss_l2_normalize_rows(what, wnorm, l->W, C, d);
    gemm(0, 1, B, C, d, 1, fhat, d, what, d, 0, cs, C);
    loss_argmax_rows(pred, cs, B, C);
}

/* For the blocked head (head.c), which fuses the same target logit into its pass. */
double loss_angular_target_u(const loss *l, double c, double lambda, double *du)
{
    return target_u(l, c, lambda, du);
}

double loss_sphereface_lambda(const loss_config *c, long iter) { return sphereface_lambda(c, iter); }
