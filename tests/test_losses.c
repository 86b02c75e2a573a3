/* test_losses.c — every loss of docs/losses.md §1 checked against (1) central finite differences in double,
 * w.r.t. the features and every learnable parameter, for each option; (2) an independent forward
 * written here from the formulas (acos / cos(θ + m) / cos(mθ) instead of the library's Chebyshev and
 * algebraic forms); (3) the degenerate identities of docs/losses.md §1; plus the docs/theory.md §2 bounds, config checks,
 * key tables, predictions, center loss, learned-scale clamping and NaN-freedom at cos = ±1.
 *
 * Inputs are random (N = 6, d = 5, C = 4, several seeds per case). Points within KINK_EPS of a
 * non-smooth point (a hinge, an arcface/combined fallback threshold, a ψ branch point, a tie in a
 * min/argmax, cos = ±1) are redrawn rather than checked, since central differences straddling a
 * kink measure nothing useful. detach_margin is checked against finite differences of the detached
 * surrogate a·(cos θ_y + Δ) with Δ frozen at the base point, computed here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/rng.h"
#include "loss/loss.h"
#include "nn/paramset.h"
#include "numgrad.h"
#include "test_util.h"

enum { NMAX = 16, DMAX = 8, CMAX = 8 };
#define FD_H 1e-6
#define FD_RTOL 1e-5
#define FD_ATOL 1e-7
#define KINK_EPS 1e-3
#define SEEDS 4

typedef struct {
    loss l;
    paramset ps;
    int N, d, C;
    long iter;
    real feat[NMAX * DMAX];
    int labels[NMAX];
    /* detach surrogate: Δ_i frozen */
    double delta[NMAX];
} fx_t;

static void fx_init(fx_t *fx, const loss_config *cfg, int N, int d, int C, uint64_t seed)
{
    memset(fx, 0, sizeof *fx);
    fx->N = N;
    fx->d = d;
    fx->C = C;
    loss_fixture_init(&fx->l, &fx->ps, cfg, N, d, C, seed, NULL);
}

static void fx_free(fx_t *fx) { loss_fixture_free(&fx->l, &fx->ps); }

/* Random features (scale fs), labels, W ~ N(0,1), b ~ N(0, 0.5²). Labels: class i % C for the first
 * C samples so every class occurs, the rest random. */
static void fx_random(fx_t *fx, rng_t *r, double fs)
{
    numgrad_fill_normal(r, fx->feat, (size_t)fx->N * fx->d, fs);
    for (int i = 0; i < fx->N; i++)
        fx->labels[i] = i < fx->C ? i : (int)rng_below(r, (uint64_t)fx->C);
    if (fx->l.W)
        numgrad_fill_normal(r, fx->l.W, (size_t)fx->C * fx->d, 1.0);
    if (fx->l.b)
        numgrad_fill_normal(r, fx->l.b, (size_t)fx->C, 0.5);
    if (fx->l.centers)
        numgrad_fill_normal(r, fx->l.centers, (size_t)fx->C * fx->d, 0.7);
}

static double fx_loss(void *ctx)
{
    fx_t *fx = ctx;
    return loss_forward_backward(&fx->l, NULL, NULL, fx->feat, fx->labels, fx->N, fx->iter);
}

/* Zeroes gradients, runs forward/backward, leaves ∂L/∂feat in dfeat. */
static double fx_grad(fx_t *fx, real *dfeat, real *per_sample)
{
    paramset_zero_grad(&fx->ps);
    memset(dfeat, 0, sizeof(real) * (size_t)fx->N * fx->d);
    return loss_forward_backward(&fx->l, dfeat, per_sample, fx->feat, fx->labels, fx->N, fx->iter);
}

/* ---- independent reference (double, straight from docs/losses.md §1) ---- */

static double vnorm(const real *x, int d)
{
    double s = 0;
    for (int k = 0; k < d; k++)
        s += (double)x[k] * x[k];
    return sqrt(s + 1e-12);
}

static double cosang(const real *a, const real *b, int d)
{
    double s = 0;
    for (int k = 0; k < d; k++)
        s += (double)a[k] * b[k];
    return s / (vnorm(a, d) * vnorm(b, d));
}

/* ‖â − b̂‖² */
static double ndist2(const real *a, const real *b, int d)
{
    const double na = vnorm(a, d), nb = vnorm(b, d);
    double s = 0;
    for (int k = 0; k < d; k++) {
        const double t = a[k] / na - b[k] / nb;
        s += t * t;
    }
    return s;
}

static double ce(const double *z, int C, int y)
{
    double mx = z[0], s = 0;
    for (int j = 1; j < C; j++)
        mx = fmax(mx, z[j]);
    for (int j = 0; j < C; j++)
        s += exp(z[j] - mx);
    return mx + log(s) - z[y];
}

static double ref_lambda(const loss_config *c, long iter)
{
    return fmax(c->lambda_min, c->lambda_base * pow(1 + c->lambda_gamma * iter, -c->lambda_power));
}

/* Target "cosine" φ(c) of the margin losses, from acos and cos directly. */
static double ref_phi(const loss_config *c, double cs, double lambda)
{
    const double th = acos(fmin(1, fmax(-1, cs)));
    switch (c->type) {
    case LOSS_COSFACE: return cs - c->m;
    case LOSS_ARCFACE:
        if (c->easy_margin)
            return cs > 0 ? cos(th + c->m) : cs;
        return cs > cos(M_PI - c->m) ? cos(th + c->m) : cs - c->m * sin(c->m);
    case LOSS_COMBINED:
        if (c->easy_margin)
            return cs > 0 ? cos(c->m1 * th + c->m2) - c->m3 : cs;
        return c->m1 * th + c->m2 < M_PI ? cos(c->m1 * th + c->m2) - c->m3 : cs - c->m3 - c->m2 * sin(c->m2);
    case LOSS_SPHEREFACE: {
        const int m = (int)c->m;
        int k = (int)floor(m * th / M_PI);
        if (k > m - 1)
            k = m - 1;
        const double psi = ((k % 2) ? -1 : 1) * cos(m * th) - 2 * k;
        return (lambda * cs + psi) / (1 + lambda);
    }
    default: return cs;
    }
}

static double ref_loss(const fx_t *fx)
{
    const loss *l = &fx->l;
    const loss_config *c = &l->cfg;
    const int N = fx->N, d = fx->d, C = fx->C;
    const real *F = fx->feat, *W = l->W;
    double total = 0;
    if (c->type == LOSS_CONTRASTIVE) {
        double s = 0;
        int P = 0;
        for (int i = 0; i < N; i++)
            for (int j = i + 1; j < N; j++, P++) {
                const double D = sqrt(ndist2(F + i * d, F + j * d, d));
                s += fx->labels[i] == fx->labels[j] ? D * D / 2 : pow(fmax(0, c->m - D), 2) / 2;
            }
        total = N * s / P;
    } else if (c->type == LOSS_TRIPLET) {
        double s = 0;
        int T = 0;
        for (int a = 0; a < N; a++) {
            double hp = -1, hn = 1e9;
            for (int p = 0; p < N; p++) {
                if (p == a || fx->labels[p] != fx->labels[a])
                    continue;
                hp = fmax(hp, ndist2(F + a * d, F + p * d, d));
                for (int n = 0; n < N; n++) {
                    if (fx->labels[n] == fx->labels[a])
                        continue;
                    hn = fmin(hn, ndist2(F + a * d, F + n * d, d));
                    const double h = ndist2(F + a * d, F + p * d, d) - ndist2(F + a * d, F + n * d, d) + c->m;
                    if (c->mining == MINING_BATCH_ALL && h > 0) {
                        s += h;
                        T++;
                    }
                }
            }
            if (c->mining == MINING_BATCH_HARD && hp >= 0 && hn < 1e9) {
                s += fmax(0, hp - hn + c->m);
                T++;
            }
        }
        total = T ? N * s / T : 0;
    } else {
        for (int i = 0; i < N; i++) {
            const real *f = F + i * d;
            const int y = fx->labels[i];
            double z[CMAX];
            double li = 0;
            if (c->type == LOSS_SOFTMAX || c->type == LOSS_L2SOFTMAX) {
                const double a = c->type == LOSS_L2SOFTMAX ? (l->scale ? l->scale[0] : c->alpha) / vnorm(f, d) : 1;
                for (int j = 0; j < C; j++) {
                    double s = l->b ? l->b[j] : 0;
                    for (int k = 0; k < d; k++)
                        s += W[j * d + k] * a * f[k];
                    z[j] = s;
                }
                li = ce(z, C, y);
            } else if (c->type == LOSS_C_CONTRASTIVE) {
                for (int j = 0; j < C; j++) {
                    const double dij = ndist2(f, W + j * d, d);
                    li += j == y ? fmax(0, dij - c->m_pos) : fmax(0, c->m_neg - dij);
                }
            } else if (c->type == LOSS_C_TRIPLET) {
                double dn = 1e9;
                for (int j = 0; j < C; j++)
                    if (j != y)
                        dn = fmin(dn, ndist2(f, W + j * d, d));
                const double dy = ndist2(f, W + y * d, d);
                li = fmax(0, dy + c->m - dn) + (c->pull_positive ? dy : 0);
            } else {
                const double lam = ref_lambda(c, fx->iter);
                const double a = c->type == LOSS_SPHEREFACE ? vnorm(f, d) : (l->scale ? l->scale[0] : c->s);
                for (int j = 0; j < C; j++)
                    z[j] = a * cosang(f, W + j * d, d);
                z[y] = a * ref_phi(c, cosang(f, W + y * d, d), c->type == LOSS_SPHEREFACE ? lam : 0);
                li = ce(z, C, y);
            }
            total += li;
        }
    }
    if (c->center_weight > 0)
        for (int i = 0; i < N; i++) {
            double s = 0;
            for (int k = 0; k < d; k++) {
                const double t = F[i * d + k] - l->centers[fx->labels[i] * d + k];
                s += t * t;
            }
            total += c->center_weight / 2 * s;
        }
    return total / N;
}

/* Smallest distance of the current point to a non-smooth point of its loss (see file comment). */
static double kink_distance(const fx_t *fx)
{
    const loss_config *c = &fx->l.cfg;
    const int N = fx->N, d = fx->d, C = fx->C;
    const real *F = fx->feat, *W = fx->l.W;
    double md = 1e9;
    for (int i = 0; i < N && W; i++) {
        const int y = fx->labels[i];
        const double cy = cosang(F + i * d, W + y * d, d), th = acos(cy);
        md = fmin(md, 1 - fabs(cy));
        switch (c->type) {
        case LOSS_ARCFACE: md = fmin(md, fabs(cy - (c->easy_margin ? 0 : cos(M_PI - c->m)))); break;
        case LOSS_COMBINED:
            md = fmin(md, c->easy_margin ? fabs(cy) : fabs(c->m1 * th + c->m2 - M_PI));
            break;
        case LOSS_SPHEREFACE: {
            const double t = c->m * th / M_PI;
            md = fmin(md, fabs(t - round(t)));
            break;
        }
        case LOSS_C_CONTRASTIVE:
            for (int j = 0; j < C; j++) {
                const double dij = ndist2(F + i * d, W + j * d, d);
                md = fmin(md, fabs(dij - (j == y ? c->m_pos : c->m_neg)));
            }
            break;
        case LOSS_C_TRIPLET: {
            double d1 = 1e9, d2 = 1e9;
            for (int j = 0; j < C; j++) {
                if (j == y)
                    continue;
                const double dij = ndist2(F + i * d, W + j * d, d);
                if (dij < d1) {
                    d2 = d1;
                    d1 = dij;
                } else if (dij < d2) {
                    d2 = dij;
                }
            }
            md = fmin(md, fabs(ndist2(F + i * d, W + y * d, d) + c->m - d1));
            if (d2 < 1e9)
                md = fmin(md, d2 - d1);
            break;
        }
        default: break;
        }
    }
    if (c->type == LOSS_CONTRASTIVE)
        for (int i = 0; i < N; i++)
            for (int j = i + 1; j < N; j++)
                if (fx->labels[i] != fx->labels[j])
                    md = fmin(md, fabs(sqrt(ndist2(F + i * d, F + j * d, d)) - c->m));
    if (c->type == LOSS_TRIPLET)
        for (int a = 0; a < N; a++) {
            double p1 = -1, p2 = -1, n1 = 1e9, n2 = 1e9;
            for (int j = 0; j < N; j++) {
                if (j == a)
                    continue;
                const double dj = ndist2(F + a * d, F + j * d, d);
                if (fx->labels[j] == fx->labels[a]) {
                    if (dj > p1) {
                        p2 = p1;
                        p1 = dj;
                    } else if (dj > p2) {
                        p2 = dj;
                    }
                    for (int n = 0; n < N; n++)
                        if (fx->labels[n] != fx->labels[a] && c->mining == MINING_BATCH_ALL)
                            md = fmin(md, fabs(dj - ndist2(F + a * d, F + n * d, d) + c->m));
                } else {
                    if (dj < n1) {
                        n2 = n1;
                        n1 = dj;
                    } else if (dj < n2) {
                        n2 = dj;
                    }
                }
            }
            if (c->mining == MINING_BATCH_HARD && p1 >= 0 && n1 < 1e9) {
                md = fmin(md, fabs(p1 - n1 + c->m));
                if (p2 >= 0)
                    md = fmin(md, p1 - p2);
                if (n2 < 1e9)
                    md = fmin(md, n2 - n1);
            }
        }
    return md;
}

/* Draws random points (redrawing those near kinks) and checks, for each: the forward against
 * ref_loss, per_sample's mean, and central differences w.r.t. features and all parameters. */
static void check_fd_cfg(const loss_config *cfg, const char *name, double fs, int N, uint64_t seed0)
{
    for (int s = 0; s < SEEDS; s++) {
        fx_t fx;
        fx_init(&fx, cfg, N, 5, 4, seed0 + (uint64_t)s);
        if (cfg->type == LOSS_SPHEREFACE)
            fx.iter = 3 + s * 500; /* λ from 735 down to 5 */
        rng_t r;
        rng_seed(&r, 1000 + seed0 * 7 + (uint64_t)s);
        int tries = 0;
        do {
            fx_random(&fx, &r, fs);
            assert_true(++tries < 200);
        } while (kink_distance(&fx) < KINK_EPS);

        real dfeat[NMAX * DMAX], ps_out[NMAX];
        const double L = fx_grad(&fx, dfeat, ps_out);
        real *pgrad = malloc(sizeof(real) * (fx.ps.total ? fx.ps.total : 1));
        memcpy(pgrad, fx.ps.grad, sizeof(real) * fx.ps.total);

        const double R = ref_loss(&fx);
        if (fabs(L - R) > 1e-9 * (1 + fabs(R)))
            fail_msg("%s seed %d: loss %.15g, reference %.15g", name, s, L, R);
        double m = 0;
        for (int i = 0; i < N; i++)
            m += ps_out[i];
        if (fabs(m / N - L) > 1e-12 * (1 + fabs(L)))
            fail_msg("%s seed %d: mean(per_sample) %.15g != loss %.15g", name, s, m / N, L);

        numgrad_result r1 = numgrad_check(fx_loss, &fx, fx.feat, dfeat, (size_t)N * fx.d, FD_H, FD_RTOL, FD_ATOL);
        if (r1.worst > 1) {
            numgrad_print(name, r1);
            fail_msg("%s seed %d: d/dfeat mismatch", name, s);
        }
        if (fx.ps.total) {
            numgrad_result r2 = numgrad_check(fx_loss, &fx, fx.ps.data, pgrad, fx.ps.total, FD_H, FD_RTOL, FD_ATOL);
            if (r2.worst > 1) {
                numgrad_print(name, r2);
                fail_msg("%s seed %d: d/dparams mismatch (param entry %zu)", name, s, r2.index);
            }
        }
        free(pgrad);
        fx_free(&fx);
    }
}

static loss_config cfg_of(loss_type t)
{
    loss_config c;
    loss_config_defaults(&c, t);
    return c;
}

/* ---- finite differences, one test per family ---- */

static void test_fd_softmax(void **state)
{
    (void)state;
    loss_config c = cfg_of(LOSS_SOFTMAX);
    check_fd_cfg(&c, "softmax bias", 1.5, 6, 10);
    c.bias = 0;
    check_fd_cfg(&c, "softmax nobias", 1.5, 6, 20);
    c.center_weight = 0.3;
    check_fd_cfg(&c, "softmax+center", 1.5, 6, 30);
}

static void test_fd_l2softmax(void **state)
{
    (void)state;
    loss_config c = cfg_of(LOSS_L2SOFTMAX);
    c.alpha = 3;
    check_fd_cfg(&c, "l2softmax", 1.5, 6, 40);
    c.bias = 0;
    check_fd_cfg(&c, "l2softmax nobias", 1.5, 6, 50);
    c.bias = 1;
    c.learn_alpha = 1;
    check_fd_cfg(&c, "l2softmax learn_alpha", 1.5, 6, 60);
    c.bias = 0;
    check_fd_cfg(&c, "l2softmax learn_alpha nobias", 1.5, 6, 70);
    c = cfg_of(LOSS_L2SOFTMAX);
    c.alpha_auto = 1;
    check_fd_cfg(&c, "l2softmax auto", 1.5, 6, 80);
}

static void test_fd_normface_cosface(void **state)
{
    (void)state;
    loss_config c = cfg_of(LOSS_NORMFACE);
    c.s = 5;
    check_fd_cfg(&c, "normface", 1.5, 6, 90);
    c.learn_s = 1;
    check_fd_cfg(&c, "normface learn_s", 1.5, 6, 100);
    c = cfg_of(LOSS_COSFACE);
    c.s = 8;
    check_fd_cfg(&c, "cosface", 1.5, 6, 110);
    c = cfg_of(LOSS_COSFACE);
    check_fd_cfg(&c, "cosface defaults", 1.5, 6, 115);
}

static void test_fd_arcface(void **state)
{
    (void)state;
    loss_config c = cfg_of(LOSS_ARCFACE);
    c.s = 8;
    check_fd_cfg(&c, "arcface", 1.5, 6, 120);
    c.m = 1.5; /* threshold cos(π − 1.5) ≈ −0.07: about half the samples in the fallback */
    check_fd_cfg(&c, "arcface fallback", 1.5, 6, 130);
    c.easy_margin = 1;
    check_fd_cfg(&c, "arcface easy_margin", 1.5, 6, 140);
    c = cfg_of(LOSS_ARCFACE);
    check_fd_cfg(&c, "arcface defaults", 1.5, 6, 145);
    c.center_weight = 0.5;
    check_fd_cfg(&c, "arcface+center", 1.5, 6, 147);
}

/* A sample with θ_y + m > π at the default m = 0.5: f = −w_y + noise. The fallback must be hit and
 * the gradient must still match finite differences there. */
static void test_fd_arcface_fallback_constructed(void **state)
{
    (void)state;
    loss_config c = cfg_of(LOSS_ARCFACE);
    c.s = 8;
    fx_t fx;
    fx_init(&fx, &c, 6, 5, 4, 7);
    rng_t r;
    rng_seed(&r, 77);
    do {
        fx_random(&fx, &r, 1.0);
        for (int k = 0; k < fx.d; k++)
            fx.feat[k] = (real)(-fx.l.W[fx.labels[0] * fx.d + k] + 0.1 * rng_normal(&r));
    } while (kink_distance(&fx) < KINK_EPS);
    const double th = acos(cosang(fx.feat, fx.l.W + fx.labels[0] * fx.d, fx.d));
    assert_true(th + c.m > M_PI);
    real dfeat[NMAX * DMAX];
    const double L = fx_grad(&fx, dfeat, NULL);
    assert_true(fabs(L - ref_loss(&fx)) < 1e-10 * (1 + L));
    real *pgrad = malloc(sizeof(real) * fx.ps.total);
    memcpy(pgrad, fx.ps.grad, sizeof(real) * fx.ps.total);
    numgrad_result r1 = numgrad_check(fx_loss, &fx, fx.feat, dfeat, 30, FD_H, FD_RTOL, FD_ATOL);
    numgrad_result r2 = numgrad_check(fx_loss, &fx, fx.ps.data, pgrad, fx.ps.total, FD_H, FD_RTOL, FD_ATOL);
    numgrad_print("arcface θ+m>π feat", r1);
    assert_true(r1.worst <= 1 && r2.worst <= 1);
    free(pgrad);
    fx_free(&fx);
}

static void test_fd_combined(void **state)
{
    (void)state;
    loss_config c = cfg_of(LOSS_COMBINED);
    c.s = 8;
    check_fd_cfg(&c, "combined", 1.5, 6, 150);
    c.m1 = 1.4; /* threshold (π − m2)/m1 ≈ 2.03 rad: fallback exercised */
    check_fd_cfg(&c, "combined m1=1.4", 1.5, 6, 160);
    c.easy_margin = 1;
    check_fd_cfg(&c, "combined easy_margin", 1.5, 6, 170);
}

static void test_fd_sphereface(void **state)
{
    (void)state;
    for (int m = 1; m <= 4; m++) {
        loss_config c = cfg_of(LOSS_SPHEREFACE);
        c.m = m;
        char name[64];
        snprintf(name, sizeof name, "sphereface m=%d", m);
        check_fd_cfg(&c, name, 1.5, 6, 180 + (uint64_t)m * 10);
        c.lambda_base = c.lambda_min = 0; /* pure ψ */
        snprintf(name, sizeof name, "sphereface m=%d λ=0", m);
        check_fd_cfg(&c, name, 1.5, 6, 230 + (uint64_t)m * 10);
    }
}

static void test_fd_agents(void **state)
{
    (void)state;
    loss_config c = cfg_of(LOSS_C_CONTRASTIVE);
    check_fd_cfg(&c, "c_contrastive", 1.5, 6, 300);
    c.m_pos = 1.5;
    c.m_neg = 2.5;
    check_fd_cfg(&c, "c_contrastive m_pos=1.5 m_neg=2.5", 1.5, 6, 310);
    c = cfg_of(LOSS_C_TRIPLET);
    check_fd_cfg(&c, "c_triplet", 1.5, 6, 320);
    c.pull_positive = 1;
    check_fd_cfg(&c, "c_triplet pull_positive", 1.5, 6, 330);
    c.center_weight = 0.2;
    check_fd_cfg(&c, "c_triplet+center", 1.5, 6, 340);
}

static void test_fd_pairs(void **state)
{
    (void)state;
    loss_config c = cfg_of(LOSS_CONTRASTIVE);
    check_fd_cfg(&c, "contrastive", 1.5, 8, 400);
    c.m = 1.6;
    check_fd_cfg(&c, "contrastive m=1.6", 1.5, 8, 410);
    c = cfg_of(LOSS_TRIPLET);
    check_fd_cfg(&c, "triplet batch_all", 1.5, 8, 420);
    c.m = 1.0;
    check_fd_cfg(&c, "triplet batch_all m=1", 1.5, 8, 425);
    c.mining = MINING_BATCH_HARD;
    check_fd_cfg(&c, "triplet batch_hard m=1", 1.5, 8, 430);
    c.m = 0.2;
    check_fd_cfg(&c, "triplet batch_hard", 1.5, 8, 440);
    c.center_weight = 0.4;
    check_fd_cfg(&c, "triplet+center", 1.5, 8, 450);
}

/* The branch thresholds sit where docs/losses.md §1 puts them: for each, samples with cos θ_y just above and just
 * below (±0.0004 to ±0.0012) must match the reference forward (which applies the rule literally). */
static void set_target_cos(fx_t *fx, int i, double c, rng_t *r)
{
    const int d = fx->d;
    const real *w = fx->l.W + fx->labels[i] * d;
    const double nw = vnorm(w, d);
    double v[DMAX], dot = 0, nv = 0;
    for (int k = 0; k < d; k++)
        v[k] = rng_normal(r);
    for (int k = 0; k < d; k++)
        dot += v[k] * w[k] / nw;
    for (int k = 0; k < d; k++) {
        v[k] -= dot * w[k] / nw;
        nv += v[k] * v[k];
    }
    for (int k = 0; k < d; k++)
        fx->feat[i * d + k] = (real)(1.7 * (c * w[k] / nw + sqrt(1 - c * c) * v[k] / sqrt(nv)));
}

static void test_margin_thresholds(void **state)
{
    (void)state;
    struct {
        loss_type t;
        int easy;
        double m1, m2, thr;
    } cases[] = {
        {LOSS_ARCFACE, 0, 0, 0, 0}, {LOSS_ARCFACE, 1, 0, 0, 0}, {LOSS_COMBINED, 0, 1.4, 0.3, 0},
        {LOSS_COMBINED, 1, 1.4, 0.3, 0},
    };
    cases[0].thr = cos(M_PI - 0.5);
    cases[2].thr = cos((M_PI - 0.3) / 1.4);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        loss_config c = cfg_of(cases[k].t);
        c.s = 8;
        c.easy_margin = cases[k].easy;
        if (cases[k].t == LOSS_COMBINED) {
            c.m1 = cases[k].m1;
            c.m2 = cases[k].m2;
        }
        fx_t fx;
        fx_init(&fx, &c, 6, 5, 4, 13);
        rng_t r;
        rng_seed(&r, 14 + k);
        fx_random(&fx, &r, 1.0);
        for (int i = 0; i < 6; i++)
            set_target_cos(&fx, i, cases[k].thr + ((i % 2) ? -0.0004 : 0.0004) * (1 + i / 2), &r);
        const double L = loss_forward_backward(&fx.l, NULL, NULL, fx.feat, fx.labels, 6, 0);
        const double R = ref_loss(&fx);
        if (fabs(L - R) > 1e-10 * (1 + R))
            fail_msg("%s easy=%d near its threshold: loss %.15g, reference %.15g", loss_type_name(c.type), c.easy_margin,
                     L, R);
        fx_free(&fx);
    }
}

/* ---- detach_margin: gradient of the surrogate a_i (cos θ_ij + [j = y_i] Δ_i), Δ frozen ---- */

static double surrogate_loss(void *ctx)
{
    const fx_t *fx = ctx;
    const loss_config *c = &fx->l.cfg;
    double total = 0;
    for (int i = 0; i < fx->N; i++) {
        const real *f = fx->feat + i * fx->d;
        const double a = c->type == LOSS_SPHEREFACE ? vnorm(f, fx->d) : c->s;
        double z[CMAX];
        for (int j = 0; j < fx->C; j++)
            z[j] = a * (cosang(f, fx->l.W + j * fx->d, fx->d) + (j == fx->labels[i] ? fx->delta[i] : 0));
        total += ce(z, fx->C, fx->labels[i]);
    }
    return total / fx->N;
}

static void check_detach(loss_config c, const char *name, uint64_t seed)
{
    c.detach_margin = 1;
    for (int s = 0; s < SEEDS; s++) {
        fx_t fx;
        fx_init(&fx, &c, 6, 5, 4, seed + (uint64_t)s);
        fx.iter = 2000;
        rng_t r;
        rng_seed(&r, seed * 3 + (uint64_t)s);
        do
            fx_random(&fx, &r, 1.5);
        while (kink_distance(&fx) < KINK_EPS);
        const double lam = ref_lambda(&c, fx.iter);
        for (int i = 0; i < fx.N; i++) {
            const double cy = cosang(fx.feat + i * fx.d, fx.l.W + fx.labels[i] * fx.d, fx.d);
            fx.delta[i] = ref_phi(&c, cy, lam) - cy;
        }
        real dfeat[NMAX * DMAX];
        const double L = fx_grad(&fx, dfeat, NULL);
        assert_true(fabs(L - surrogate_loss(&fx)) < 1e-10 * (1 + L));
        real *pgrad = malloc(sizeof(real) * fx.ps.total);
        memcpy(pgrad, fx.ps.grad, sizeof(real) * fx.ps.total);
        numgrad_result r1 = numgrad_check(surrogate_loss, &fx, fx.feat, dfeat, 30, FD_H, FD_RTOL, FD_ATOL);
        numgrad_result r2 = numgrad_check(surrogate_loss, &fx, fx.ps.data, pgrad, fx.ps.total, FD_H, FD_RTOL, FD_ATOL);
        if (r1.worst > 1 || r2.worst > 1) {
            numgrad_print(name, r1.worst > 1 ? r1 : r2);
            fail_msg("%s seed %d: detached gradient differs from the surrogate's", name, s);
        }
        /* and it is not the exact gradient (the option does something) */
        fx.l.cfg.detach_margin = 0;
        real dexact[NMAX * DMAX];
        fx_grad(&fx, dexact, NULL);
        double diff = 0;
        for (int k = 0; k < 30; k++)
            diff = fmax(diff, fabs(dexact[k] - dfeat[k]));
        assert_true(diff > 1e-6);
        free(pgrad);
        fx_free(&fx);
    }
}

static void test_detach_margin(void **state)
{
    (void)state;
    loss_config c = cfg_of(LOSS_ARCFACE);
    c.s = 8;
    check_detach(c, "arcface detach", 500);
    c.m = 1.5;
    check_detach(c, "arcface detach fallback", 510);
    c = cfg_of(LOSS_COMBINED);
    c.s = 8;
    c.m1 = 1.2;
    check_detach(c, "combined detach", 520);
    for (int m = 2; m <= 4; m++) {
        c = cfg_of(LOSS_SPHEREFACE);
        c.m = m;
        check_detach(c, "sphereface detach", 530 + (uint64_t)m);
    }
}

/* ---- degenerate identities (docs/losses.md §1, 2) ---- */

typedef struct {
    double L;
    real dfeat[NMAX * DMAX];
    real dW[CMAX * DMAX];
} run_t;

/* Runs a loss of config c on the given features/labels with W (and b) copied in. */
static run_t run_with(const loss_config *c, const real *feat, const int *labels, const real *W, const real *b,
                      double scale_set, int N, int d, int C)
{
    fx_t fx;
    fx_init(&fx, c, N, d, C, 1);
    memcpy(fx.feat, feat, sizeof(real) * (size_t)N * d);
    memcpy(fx.labels, labels, sizeof(int) * (size_t)N);
    memcpy(fx.l.W, W, sizeof(real) * (size_t)C * d);
    if (fx.l.b)
        memcpy(fx.l.b, b, sizeof(real) * (size_t)C);
    if (fx.l.scale && scale_set > 0)
        fx.l.scale[0] = (real)scale_set;
    run_t out;
    memset(&out, 0, sizeof out);
    out.L = fx_grad(&fx, out.dfeat, NULL);
    memcpy(out.dW, fx.l.dW, sizeof(real) * (size_t)C * d);
    fx_free(&fx);
    return out;
}

static void assert_runs_equal(const run_t *a, const run_t *b, int nf, int nw, double tol, const char *what)
{
    if (fabs(a->L - b->L) > tol)
        fail_msg("%s: loss %.15g vs %.15g", what, a->L, b->L);
    for (int k = 0; k < nf; k++)
        if (fabs(a->dfeat[k] - b->dfeat[k]) > tol)
            fail_msg("%s: dfeat[%d] %.15g vs %.15g", what, k, a->dfeat[k], b->dfeat[k]);
    for (int k = 0; k < nw; k++)
        if (fabs(a->dW[k] - b->dW[k]) > tol)
            fail_msg("%s: dW[%d] %.15g vs %.15g", what, k, a->dW[k], b->dW[k]);
}

static void random_problem(rng_t *r, real *feat, int *labels, real *W, real *b, int N, int d, int C)
{
    numgrad_fill_normal(r, feat, (size_t)N * d, 1.5);
    numgrad_fill_normal(r, W, (size_t)C * d, 1.0);
    numgrad_fill_normal(r, b, (size_t)C, 0.5);
    for (int i = 0; i < N; i++)
        labels[i] = (int)rng_below(r, (uint64_t)C);
}

static void test_identity_margins_zero(void **state)
{
    (void)state;
    const int N = 6, d = 5, C = 4;
    rng_t r;
    rng_seed(&r, 900);
    for (int s = 0; s < SEEDS; s++) {
        real feat[NMAX * DMAX], W[CMAX * DMAX], b[CMAX];
        int labels[NMAX];
        random_problem(&r, feat, labels, W, b, N, d, C);
        loss_config nf = cfg_of(LOSS_NORMFACE), cf = cfg_of(LOSS_COSFACE), af = cfg_of(LOSS_ARCFACE),
                    cb = cfg_of(LOSS_COMBINED);
        nf.s = cf.s = af.s = cb.s = 12;
        cf.m = af.m = 0;
        cb.m1 = 1;
        cb.m2 = cb.m3 = 0;
        const run_t rn = run_with(&nf, feat, labels, W, b, 0, N, d, C);
        const run_t rc = run_with(&cf, feat, labels, W, b, 0, N, d, C);
        const run_t ra = run_with(&af, feat, labels, W, b, 0, N, d, C);
        const run_t rb = run_with(&cb, feat, labels, W, b, 0, N, d, C);
        assert_runs_equal(&rn, &rc, N * d, C * d, 1e-12, "cosface m=0 vs normface");
        assert_runs_equal(&rn, &ra, N * d, C * d, 1e-9, "arcface m=0 vs normface");
        assert_runs_equal(&rn, &rb, N * d, C * d, 1e-9, "combined(1,0,0) vs normface");
        /* combined(1, m, 0) is arcface(m), fallback included */
        af.m = cb.m2 = 1.2;
        const run_t ra2 = run_with(&af, feat, labels, W, b, 0, N, d, C);
        const run_t rb2 = run_with(&cb, feat, labels, W, b, 0, N, d, C);
        assert_runs_equal(&ra2, &rb2, N * d, C * d, 1e-9, "combined(1,m,0) vs arcface(m)");
    }
}

/* l2softmax with α, W' = W/α and the same b equals softmax on unit-norm features (same logits):
 * same loss and db, dW' = α dW (∂z/∂W' = α f̂ = α f), and dfeat is softmax's projected onto the tangent space. */
static void test_identity_l2softmax_softmax(void **state)
{
    (void)state;
    const int N = 6, d = 5, C = 4;
    const double alpha = 3.0;
    rng_t r;
    rng_seed(&r, 910);
    for (int s = 0; s < SEEDS; s++) {
        real feat[NMAX * DMAX], W[CMAX * DMAX], W2[CMAX * DMAX], b[CMAX];
        int labels[NMAX];
        random_problem(&r, feat, labels, W, b, N, d, C);
        for (int i = 0; i < N; i++) {
            const double n = sqrt(numgrad_dot(feat + i * d, feat + i * d, (size_t)d));
            for (int k = 0; k < d; k++)
                feat[i * d + k] = (real)(feat[i * d + k] / n);
        }
        for (int k = 0; k < C * d; k++)
            W2[k] = (real)(W[k] / alpha);
        loss_config sm = cfg_of(LOSS_SOFTMAX), l2 = cfg_of(LOSS_L2SOFTMAX);
        l2.alpha = alpha;
        run_t a = run_with(&sm, feat, labels, W, b, 0, N, d, C);
        const run_t bb = run_with(&l2, feat, labels, W2, b, 0, N, d, C);
        for (int k = 0; k < C * d; k++)
            a.dW[k] = (real)(a.dW[k] * alpha);
        for (int i = 0; i < N; i++) {
            const double dot = numgrad_dot(feat + i * d, a.dfeat + i * d, (size_t)d);
            for (int k = 0; k < d; k++)
                a.dfeat[i * d + k] = (real)(a.dfeat[i * d + k] - feat[i * d + k] * dot);
        }
        assert_runs_equal(&a, &bb, N * d, C * d, 1e-9, "l2softmax vs softmax on unit features");
    }
}

/* sphereface m = 1, λ = 0 is softmax with logits ŵ_jᵀ f = ‖f‖ cos θ_j: compare with softmax (no bias)
 * on Ŵ; with unit-norm rows in W, sphereface's dW is softmax's projected onto each row's tangent. */
static void test_identity_sphereface_m1(void **state)
{
    (void)state;
    const int N = 6, d = 5, C = 4;
    rng_t r;
    rng_seed(&r, 920);
    for (int s = 0; s < SEEDS; s++) {
        real feat[NMAX * DMAX], W[CMAX * DMAX], b[CMAX];
        int labels[NMAX];
        random_problem(&r, feat, labels, W, b, N, d, C);
        for (int j = 0; j < C; j++) {
            const double n = sqrt(numgrad_dot(W + j * d, W + j * d, (size_t)d));
            for (int k = 0; k < d; k++)
                W[j * d + k] = (real)(W[j * d + k] / n);
        }
        loss_config sf = cfg_of(LOSS_SPHEREFACE), sm = cfg_of(LOSS_SOFTMAX);
        sf.m = 1;
        sf.lambda_base = sf.lambda_min = 0;
        sm.bias = 0;
        run_t a = run_with(&sm, feat, labels, W, b, 0, N, d, C);
        const run_t bb = run_with(&sf, feat, labels, W, b, 0, N, d, C);
        for (int j = 0; j < C; j++) {
            const double dot = numgrad_dot(W + j * d, a.dW + j * d, (size_t)d);
            for (int k = 0; k < d; k++)
                a.dW[j * d + k] = (real)(a.dW[j * d + k] - W[j * d + k] * dot);
        }
        assert_runs_equal(&a, &bb, N * d, C * d, 1e-9, "sphereface m=1 λ=0 vs normalised-weight softmax");
    }
}

/* ---- docs/theory.md §2 ---- */

static void test_bounds(void **state)
{
    (void)state;
    assert_float_equal(l2softmax_alpha_low(10, 0.9), 4.28, 0.005);
    assert_float_equal(l2softmax_alpha_low(100, 0.9), 6.78, 0.005);
    assert_float_equal(l2softmax_alpha_low(1000, 0.9), 9.10, 0.005);
    assert_float_equal(l2softmax_alpha_low(10575, 0.9), 11.46, 0.005);
    assert_true(isnan(l2softmax_alpha_low(2, 0.9)));
    assert_true(isnan(l2softmax_alpha_low(10, 1.0)));
    assert_float_equal(normface_loss_bound(10, 1), 1.377, 0.0005);
    assert_float_equal(normface_loss_bound(10, 4), 0.100, 0.0005);
    assert_float_equal(normface_loss_bound(10, 8), 1.24e-3, 0.005e-3);
    /* log1p keeps precision far below 1e-16 */
    const double tiny = normface_loss_bound(10, 64);
    assert_true(tiny > 0 && fabs(tiny / (9 * exp(-64.0 * 10 / 9)) - 1) < 1e-12);
}

/* NormFace Prop. 2 is attained: n = 3 weights on a regular simplex in d = 2, each feature equal to
 * its class weight → normface's loss equals the bound. */
static void test_normface_bound_attained(void **state)
{
    (void)state;
    const int N = 3, d = 2, C = 3;
    real W[6], feat[6], b[3] = {0, 0, 0};
    int labels[3] = {0, 1, 2};
    for (int j = 0; j < 3; j++) {
        W[j * 2] = (real)cos(2 * M_PI * j / 3);
        W[j * 2 + 1] = (real)sin(2 * M_PI * j / 3);
        feat[j * 2] = (real)(2 * W[j * 2]);
        feat[j * 2 + 1] = (real)(2 * W[j * 2 + 1]);
    }
    for (double s = 1; s <= 16; s *= 2) {
        loss_config c = cfg_of(LOSS_NORMFACE);
        c.s = s;
        const run_t r = run_with(&c, feat, labels, W, b, 0, N, d, C);
        assert_float_equal(r.L, normface_loss_bound(3, s), 1e-12);
    }
}

/* ---- config ---- */

static void expect_reject(loss_config c, int C, const char *key)
{
    char msg[256];
    if (loss_config_check(&c, C, msg, sizeof msg) != -1)
        fail_msg("%s: accepted a bad value of %s", loss_type_name(c.type), key);
    if (strncmp(msg, key, strlen(key)) != 0 || !strstr(msg, "got"))
        fail_msg("%s: message '%s' should start with '%s' and say what it got", loss_type_name(c.type), msg, key);
}

static void test_config_check(void **state)
{
    (void)state;
    char msg[256];
    for (int t = 0; t < LOSS_TYPE_COUNT; t++) {
        loss_config c = cfg_of((loss_type)t);
        if (loss_config_check(&c, 10, msg, sizeof msg) != 0)
            fail_msg("defaults of %s rejected: %s", loss_type_name((loss_type)t), msg);
    }
    loss_config c;
    c = cfg_of(LOSS_NORMFACE); c.s = 0; expect_reject(c, 10, "loss.s: ");
    c = cfg_of(LOSS_ARCFACE); c.s = -1; expect_reject(c, 10, "loss.s: ");
    c = cfg_of(LOSS_COSFACE); c.m = -0.1; expect_reject(c, 10, "loss.m: ");
    c = cfg_of(LOSS_ARCFACE); c.m = M_PI; expect_reject(c, 10, "loss.m: ");
    c = cfg_of(LOSS_ARCFACE); c.m = 3.5; expect_reject(c, 10, "loss.m: ");
    c = cfg_of(LOSS_ARCFACE); c.m = -0.2; expect_reject(c, 10, "loss.m: ");
    c = cfg_of(LOSS_SPHEREFACE); c.m = 2.5; expect_reject(c, 10, "loss.m: ");
    c = cfg_of(LOSS_SPHEREFACE); c.m = 0; expect_reject(c, 10, "loss.m: ");
    c = cfg_of(LOSS_SPHEREFACE); c.lambda_min = -1; expect_reject(c, 10, "loss.lambda_min: ");
    c = cfg_of(LOSS_COMBINED); c.m1 = 0; expect_reject(c, 10, "loss.m1: ");
    c = cfg_of(LOSS_COMBINED); c.m2 = -0.1; expect_reject(c, 10, "loss.m2: ");
    c = cfg_of(LOSS_COMBINED); c.m3 = -0.1; expect_reject(c, 10, "loss.m3: ");
    c = cfg_of(LOSS_L2SOFTMAX); c.alpha = 0; expect_reject(c, 10, "loss.alpha: ");
    c = cfg_of(LOSS_L2SOFTMAX); c.alpha_auto = 1; c.alpha_p = 1.0; expect_reject(c, 10, "loss.alpha_p: ");
    c = cfg_of(LOSS_L2SOFTMAX); c.alpha_auto = 1; c.alpha_p = 0; expect_reject(c, 10, "loss.alpha_p: ");
    c = cfg_of(LOSS_L2SOFTMAX); c.alpha_auto = 1; expect_reject(c, 2, "loss.alpha: ");
    c = cfg_of(LOSS_L2SOFTMAX); c.alpha_auto = 1; c.alpha_p = 0.5; expect_reject(c, 3, "loss.alpha: ");
    c = cfg_of(LOSS_L2SOFTMAX); c.learn_alpha = 1; c.scale_min = 0; expect_reject(c, 10, "loss.scale_min: ");
    c = cfg_of(LOSS_NORMFACE); c.learn_s = 1; c.scale_lr_mult = -1; expect_reject(c, 10, "loss.scale_lr_mult: ");
    c = cfg_of(LOSS_C_CONTRASTIVE); c.m_neg = 0; expect_reject(c, 10, "loss.m_neg: ");
    c = cfg_of(LOSS_C_CONTRASTIVE); c.m_pos = -1; expect_reject(c, 10, "loss.m_pos: ");
    c = cfg_of(LOSS_C_TRIPLET); c.m = -0.5; expect_reject(c, 10, "loss.m: ");
    c = cfg_of(LOSS_CONTRASTIVE); c.m = -1; expect_reject(c, 10, "loss.m: ");
    c = cfg_of(LOSS_TRIPLET); c.m = NAN; expect_reject(c, 10, "loss.m: ");
    c = cfg_of(LOSS_SOFTMAX); c.center_weight = -1; expect_reject(c, 10, "loss.center_weight: ");
    c = cfg_of(LOSS_SOFTMAX); c.center_rate = 2; expect_reject(c, 10, "loss.center_rate: ");
    /* an auto α that is fine */
    c = cfg_of(LOSS_L2SOFTMAX);
    c.alpha_auto = 1;
    assert_int_equal(loss_config_check(&c, 10, msg, sizeof msg), 0);
}

static void test_defaults(void **state)
{
    (void)state;
    loss_config c;
    c = cfg_of(LOSS_COSFACE); assert_true(c.m == 0.35 && c.s == 30);
    c = cfg_of(LOSS_ARCFACE); assert_true(c.m == 0.5 && c.s == 64 && !c.easy_margin && !c.detach_margin);
    c = cfg_of(LOSS_COMBINED); assert_true(c.m1 == 1 && c.m2 == 0.3 && c.m3 == 0.2 && c.s == 64);
    c = cfg_of(LOSS_NORMFACE); assert_true(c.s == 16 && !c.learn_s && c.scale_min == 0.01 && c.scale_lr_mult == 1);
    c = cfg_of(LOSS_SPHEREFACE);
    assert_true(c.m == 4 && c.lambda_base == 1000 && c.lambda_gamma == 0.12 && c.lambda_power == 1 && c.lambda_min == 5);
    c = cfg_of(LOSS_L2SOFTMAX); assert_true(c.alpha == 16 && c.alpha_p == 0.9 && c.bias == 1);
    c = cfg_of(LOSS_SOFTMAX); assert_true(c.bias == 1 && c.center_weight == 0 && c.center_rate == 0.5);
    c = cfg_of(LOSS_C_CONTRASTIVE); assert_true(c.m_pos == 0 && c.m_neg == 1);
    c = cfg_of(LOSS_C_TRIPLET); assert_true(c.m == 0.8 && !c.pull_positive);
    c = cfg_of(LOSS_CONTRASTIVE); assert_true(c.m == 1);
    c = cfg_of(LOSS_TRIPLET); assert_true(c.m == 0.2 && c.mining == MINING_BATCH_ALL);
}

/* The traits of the loss table (table.c), type by type. */
static void test_type_traits(void **state)
{
    (void)state;
    for (int t = 0; t < LOSS_TYPE_COUNT; t++) {
        const loss_type lt = (loss_type)t;
        const int pairs = lt == LOSS_CONTRASTIVE || lt == LOSS_TRIPLET || lt == LOSS_CIRCLE;
        const int agents = lt == LOSS_C_CONTRASTIVE || lt == LOSS_C_TRIPLET || lt == LOSS_PROXY_ANCHOR; /* or proxies */
        const int norm_read = lt == LOSS_SOFTMAX || lt == LOSS_SPHEREFACE || lt == LOSS_MAGFACE || lt == LOSS_ADAFACE;
        assert_int_equal(loss_needs_pk(lt), pairs);
        assert_int_equal(loss_has_classifier(lt), !pairs);
        assert_int_equal(loss_is_classification(lt), !pairs && !agents);
        assert_int_equal(loss_normalizes_features(lt), !norm_read);
        assert_int_equal(loss_uses_key(lt, "sample_rate"), !pairs && !agents);
        assert_int_equal(loss_uses_key(lt, "head_dtype"), !pairs && !agents);
    }
    assert_string_equal(loss_type_name(LOSS_TYPE_COUNT), "?");
    assert_false(loss_uses_key(LOSS_TYPE_COUNT, "type"));
    assert_false(loss_has_classifier(LOSS_TYPE_COUNT));
}

static void test_uses_key_and_names(void **state)
{
    (void)state;
    for (int t = 0; t < LOSS_TYPE_COUNT; t++) {
        assert_int_equal(loss_type_from_name(loss_type_name((loss_type)t)), t);
        assert_true(loss_uses_key((loss_type)t, "type"));
        assert_true(loss_uses_key((loss_type)t, "center_weight"));
        assert_true(loss_uses_key((loss_type)t, "center_rate"));
        assert_false(loss_uses_key((loss_type)t, "nonsense"));
    }
    assert_int_equal(loss_type_from_name("arcfase"), -1);
    assert_true(loss_uses_key(LOSS_ARCFACE, "m"));
    assert_true(loss_uses_key(LOSS_ARCFACE, "easy_margin"));
    assert_true(loss_uses_key(LOSS_ARCFACE, "detach_margin"));
    assert_false(loss_uses_key(LOSS_ARCFACE, "alpha"));
    assert_false(loss_uses_key(LOSS_ARCFACE, "learn_s"));
    assert_true(loss_uses_key(LOSS_SOFTMAX, "bias"));
    assert_false(loss_uses_key(LOSS_SOFTMAX, "s"));
    assert_true(loss_uses_key(LOSS_L2SOFTMAX, "alpha"));
    assert_true(loss_uses_key(LOSS_L2SOFTMAX, "alpha_p"));
    assert_true(loss_uses_key(LOSS_L2SOFTMAX, "learn_alpha"));
    assert_false(loss_uses_key(LOSS_L2SOFTMAX, "m"));
    assert_true(loss_uses_key(LOSS_NORMFACE, "learn_s"));
    assert_false(loss_uses_key(LOSS_NORMFACE, "m"));
    assert_false(loss_uses_key(LOSS_NORMFACE, "bias"));
    assert_true(loss_uses_key(LOSS_COMBINED, "m1"));
    assert_false(loss_uses_key(LOSS_COMBINED, "m"));
    assert_true(loss_uses_key(LOSS_SPHEREFACE, "lambda_base"));
    assert_false(loss_uses_key(LOSS_SPHEREFACE, "s"));
    assert_true(loss_uses_key(LOSS_C_CONTRASTIVE, "m_neg"));
    assert_false(loss_uses_key(LOSS_C_CONTRASTIVE, "m"));
    assert_true(loss_uses_key(LOSS_C_TRIPLET, "pull_positive"));
    assert_true(loss_uses_key(LOSS_TRIPLET, "mining"));
    assert_false(loss_uses_key(LOSS_CONTRASTIVE, "mining"));
    assert_true(loss_has_classifier(LOSS_C_TRIPLET) && !loss_has_classifier(LOSS_TRIPLET));
    assert_true(loss_needs_pk(LOSS_CONTRASTIVE) && !loss_needs_pk(LOSS_ARCFACE));
}

/* ---- parameters, state, predictions ---- */

static void test_params_registered(void **state)
{
    (void)state;
    struct {
        loss_type t;
        int bias, learn;
        int nw, nb, ns;
    } cases[] = {
        {LOSS_SOFTMAX, 1, 0, 1, 1, 0},       {LOSS_SOFTMAX, 0, 0, 1, 0, 0},     {LOSS_L2SOFTMAX, 1, 1, 1, 1, 1},
        {LOSS_NORMFACE, 0, 1, 1, 0, 1},      {LOSS_ARCFACE, 0, 0, 1, 0, 0},     {LOSS_C_TRIPLET, 0, 0, 1, 0, 0},
        {LOSS_TRIPLET, 0, 0, 0, 0, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        loss_config c = cfg_of(cases[k].t);
        c.bias = cases[k].bias;
        c.learn_s = c.learn_alpha = cases[k].learn;
        c.scale_lr_mult = 7;
        fx_t fx;
        fx_init(&fx, &c, 6, 5, 4, 3);
        assert_int_equal(fx.l.w_idx >= 0, cases[k].nw);
        assert_int_equal(fx.l.b_idx >= 0, cases[k].nb);
        assert_int_equal(fx.l.scale_idx >= 0, cases[k].ns);
        if (fx.l.w_idx >= 0) {
            assert_int_equal(fx.ps.t[fx.l.w_idx].group, PARAM_HEAD);
            assert_string_equal(fx.ps.t[fx.l.w_idx].name, "loss.W");
            assert_int_equal(fx.ps.t[fx.l.w_idx].n, 20);
        }
        if (fx.l.b_idx >= 0) {
            assert_int_equal(fx.ps.t[fx.l.b_idx].group, PARAM_HEAD);
            for (int j = 0; j < 4; j++)
                assert_true(fx.l.b[j] == 0);
        }
        if (fx.l.scale_idx >= 0) {
            assert_int_equal(fx.ps.t[fx.l.scale_idx].group, PARAM_SCALE);
            assert_true(fx.ps.t[fx.l.scale_idx].lr_mult == 7);
            assert_true(loss_learned_scale(&fx.l) == (c.type == LOSS_L2SOFTMAX ? c.alpha : c.s));
        } else {
            assert_true(isnan(loss_learned_scale(&fx.l)));
        }
        fx_free(&fx);
    }
    /* W initialised non-trivially */
    loss_config c = cfg_of(LOSS_SOFTMAX);
    fx_t fx;
    fx_init(&fx, &c, 6, 5, 4, 3);
    double ss = numgrad_dot(fx.l.W, fx.l.W, 20);
    assert_true(ss > 0.1 * 20 * 2.0 / 9 && ss < 10 * 20 * 2.0 / 9);
    fx_free(&fx);
}

/* Gradients accumulate: a second call adds the same amount again. */
static void test_accumulates(void **state)
{
    (void)state;
    const loss_type types[] = {LOSS_SOFTMAX, LOSS_L2SOFTMAX, LOSS_NORMFACE, LOSS_ARCFACE, LOSS_SPHEREFACE,
                               LOSS_C_CONTRASTIVE, LOSS_TRIPLET};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        loss_config c = cfg_of(types[k]);
        c.learn_alpha = c.learn_s = 1;
        c.center_weight = 0.1;
        fx_t fx;
        fx_init(&fx, &c, 6, 5, 4, 4);
        rng_t r;
        rng_seed(&r, 5);
        fx_random(&fx, &r, 1.0);
        real d1[NMAX * DMAX], d2[NMAX * DMAX];
        fx_grad(&fx, d1, NULL);
        real *g1 = malloc(sizeof(real) * (fx.ps.total + 1));
        memcpy(g1, fx.ps.grad, sizeof(real) * fx.ps.total);
        memcpy(d2, d1, sizeof d1);
        loss_forward_backward(&fx.l, d2, NULL, fx.feat, fx.labels, fx.N, 0);
        for (int i = 0; i < 30; i++)
            assert_float_equal(d2[i], 2 * d1[i], 1e-12);
        for (size_t i = 0; i < fx.ps.total; i++)
            assert_float_equal(fx.ps.grad[i], 2 * g1[i], 1e-12);
        free(g1);
        fx_free(&fx);
    }
}

static void test_sphereface_lambda(void **state)
{
    (void)state;
    loss_config c = cfg_of(LOSS_SPHEREFACE);
    fx_t fx;
    fx_init(&fx, &c, 6, 5, 4, 4);
    rng_t r;
    rng_seed(&r, 6);
    fx_random(&fx, &r, 1.0);
    const long iters[] = {0, 100, 1000, 100000};
    for (int k = 0; k < 4; k++) {
        loss_forward_backward(&fx.l, NULL, NULL, fx.feat, fx.labels, fx.N, iters[k]);
        assert_float_equal(fx.l.lambda, fmax(5, 1000 / (1 + 0.12 * iters[k])), 1e-9);
    }
    fx_free(&fx);
}

static void test_after_step(void **state)
{
    (void)state;
    /* learned s clamped at scale_min */
    loss_config c = cfg_of(LOSS_NORMFACE);
    c.learn_s = 1;
    fx_t fx;
    fx_init(&fx, &c, 6, 5, 4, 4);
    fx.l.scale[0] = (real)0.001;
    loss_after_step(&fx.l, fx.feat, fx.labels, 6);
    assert_float_equal(loss_learned_scale(&fx.l), 0.01, 1e-15);
    fx.l.scale[0] = 3;
    loss_after_step(&fx.l, fx.feat, fx.labels, 6);
    assert_float_equal(loss_learned_scale(&fx.l), 3, 1e-15);
    fx_free(&fx);

    /* centres: Δc_j = Σ_{i: y_i = j} (c_j − f_i)/(1 + n_j), c_j ← c_j − rate Δc_j; start at 0 */
    c = cfg_of(LOSS_SOFTMAX);
    c.center_weight = 1;
    c.center_rate = 0.5;
    fx_init(&fx, &c, 6, 5, 4, 4);
    for (int k = 0; k < 20; k++)
        assert_true(fx.l.centers[k] == 0);
    rng_t r;
    rng_seed(&r, 8);
    numgrad_fill_normal(&r, fx.feat, 30, 1.0);
    const int labels[6] = {0, 1, 0, 2, 0, 1};
    real before[20], expect[20];
    numgrad_fill_normal(&r, fx.l.centers, 20, 1.0);
    memcpy(before, fx.l.centers, sizeof before);
    for (int j = 0; j < 4; j++)
        for (int k = 0; k < 5; k++) {
            double dsum = 0;
            int n = 0;
            for (int i = 0; i < 6; i++)
                if (labels[i] == j) {
                    dsum += before[j * 5 + k] - fx.feat[i * 5 + k];
                    n++;
                }
            expect[j * 5 + k] = (real)(before[j * 5 + k] - 0.5 * dsum / (1 + n));
        }
    loss_after_step(&fx.l, fx.feat, labels, 6);
    for (int k = 0; k < 20; k++)
        assert_float_equal(fx.l.centers[k], expect[k], 1e-14);
    assert_true(fx.l.centers[15] == before[15]); /* class 3 absent: unchanged */
    fx_free(&fx);
}

static void test_predict(void **state)
{
    (void)state;
    for (int t = 0; t < LOSS_TYPE_COUNT; t++) {
        loss_config c = cfg_of((loss_type)t);
        fx_t fx;
        fx_init(&fx, &c, 6, 5, 4, 9);
        rng_t r;
        rng_seed(&r, 10 + (uint64_t)t);
        fx_random(&fx, &r, 1.0);
        int pred[NMAX];
        loss_predict(&fx.l, pred, fx.feat, 6);
        for (int i = 0; i < 6; i++) {
            const real *f = fx.feat + i * 5;
            int best = -1;
            if (t == LOSS_SOFTMAX || t == LOSS_L2SOFTMAX) {
                double bz = -1e300;
                for (int j = 0; j < 4; j++) {
                    const double z = numgrad_dot(fx.l.W + j * 5, f, 5) *
                                         (t == LOSS_L2SOFTMAX ? c.alpha / vnorm(f, 5) : 1) +
                                     fx.l.b[j];
                    if (z > bz) {
                        bz = z;
                        best = j;
                    }
                }
            } else if (loss_has_classifier((loss_type)t)) {
                /* K rows of W per class (subcenter_arcface's sub-centres; 1 otherwise) */
                const int K = (int)(fx.ps.t[fx.l.w_idx].n / 20);
                double bc = -2;
                for (int j = 0; j < 4 * K; j++)
                    if (cosang(f, fx.l.W + j * 5, 5) > bc) {
                        bc = cosang(f, fx.l.W + j * 5, 5);
                        best = j / K;
                    }
            }
            assert_int_equal(pred[i], best);
        }
        fx_free(&fx);
    }
}

/* No NaN/Inf at cos θ_y = ±1: a feature exactly equal to its class weight and one exactly opposite. */
static void test_no_nan_at_pm1(void **state)
{
    (void)state;
    for (int t = 0; t < LOSS_TYPE_COUNT; t++)
        for (int opt = 0; opt < 3; opt++) {
            loss_config c = cfg_of((loss_type)t);
            c.easy_margin = opt == 1;
            c.detach_margin = opt == 2;
            c.learn_s = c.learn_alpha = 1;
            fx_t fx;
            fx_init(&fx, &c, 6, 5, 4, 11);
            rng_t r;
            rng_seed(&r, 12);
            fx_random(&fx, &r, 1.0);
            for (int i = 0; i < 6; i++) {
                const int y = fx.labels[i];
                const double sign = (i % 2) ? -1 : 1;
                for (int k = 0; k < 5; k++)
                    fx.feat[i * 5 + k] = fx.l.W ? (real)(sign * 2 * fx.l.W[y * 5 + k]) : fx.feat[k] * (real)sign;
            }
            real dfeat[NMAX * DMAX], ps_out[NMAX];
            const double L = fx_grad(&fx, dfeat, ps_out);
            assert_true(isfinite(L));
            for (int k = 0; k < 30; k++)
                assert_true(isfinite(dfeat[k]));
            for (size_t k = 0; k < fx.ps.total; k++)
                assert_true(isfinite(fx.ps.grad[k]));
            for (int i = 0; i < 6; i++)
                assert_true(isfinite(ps_out[i]));
            fx_free(&fx);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_softmax),
        cmocka_unit_test(test_fd_l2softmax),
        cmocka_unit_test(test_fd_normface_cosface),
        cmocka_unit_test(test_fd_arcface),
        cmocka_unit_test(test_fd_arcface_fallback_constructed),
        cmocka_unit_test(test_fd_combined),
        cmocka_unit_test(test_fd_sphereface),
        cmocka_unit_test(test_fd_agents),
        cmocka_unit_test(test_fd_pairs),
        cmocka_unit_test(test_margin_thresholds),
        cmocka_unit_test(test_detach_margin),
        cmocka_unit_test(test_identity_margins_zero),
        cmocka_unit_test(test_identity_l2softmax_softmax),
        cmocka_unit_test(test_identity_sphereface_m1),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_normface_bound_attained),
        cmocka_unit_test(test_config_check),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_type_traits),
        cmocka_unit_test(test_uses_key_and_names),
        cmocka_unit_test(test_params_registered),
        cmocka_unit_test(test_accumulates),
        cmocka_unit_test(test_sphereface_lambda),
        cmocka_unit_test(test_after_step),
        cmocka_unit_test(test_predict),
        cmocka_unit_test(test_no_nan_at_pm1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
