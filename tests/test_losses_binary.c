/* test_losses_binary.c — sphereface2, uniface (lib/loss/binary.c, head_binary.c), circle and
 * proxy_anchor (lib/loss/proxy.c), in double (docs/losses.md, "Binary losses", "Circle and
 * Proxy-Anchor"); the golden values are test_loss_golden's (tests/fixtures/golden_losses_binary.txt):
 * (1) central finite differences of the loss w.r.t. the features and every parameter (W or the
 *     proxies, the scalar b) for each loss and option with an exact gradient, on inputs redrawn
 *     while any point lies within 1e-3 of a clamp or kink (uniface's ±s, sphereface2's angle clamps,
 *     circle's α_n = 0); for sphereface2's detached gradient (the default) only ∂L/∂b, which it
 *     does not change; for circle, whose α_p, α_n carry no gradient by definition, of the loss with
 *     the α of the base point frozen (equal to the library's loss there);
 * (2) the blocked head equals the plain path to 1e-10 (loss, per-sample, ∂L/∂f, ∂L/∂W, ∂L/∂b and the
 *     training predictions) for several C and block sizes and on 2 threads; uniface through the
 *     sampler at r = 1 equals the full loss, and its sampled loss (r < 1) passes finite differences;
 *     a bf16 head equals a float head holding the rounded weights;
 * (3) identities: sphereface2 with t = 1 has equal detached and exact gradients; sphereface2 with
 *     t = 1, m = 0, r = s, lw = s/λ and bias b equals uniface with m = 0, λ_u = (1 − λ)/λ and bias −b
 *     (no clamp active); circle and proxy_anchor on features equal to orthogonal class directions
 *     equal their closed forms; the initial b is the reference's;
 * (4) config: keys, defaults, a key of another loss is an error naming it, range errors, and
 *     sphereface2 refuses Partial FC;
 * (5) training: 15 SGD steps on one batch of tests/fixtures/tiny_train.yaml lower each loss, and
 *     move the learned b of sphereface2 and uniface. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/bf16.h"
#include "loss/binary.h"
#include "loss/head.h"
#include "loss/loss.h"
#include "nn/paramset.h"
#include "numgrad.h"
#include "test_util.h"
#include "train/train.h"

#ifdef _OPENMP
#include <omp.h>
#endif

enum { NMAX = 16, DMAX = 8, CMAX = 40 };
#define REL 1e-10
#define FD_H 1e-6
#define FD_RTOL 1e-5
#define FD_ATOL 1e-8
#define KINK 1e-3

typedef struct {
    loss l;
    paramset ps;
    int N, d, C;
    real feat[NMAX * DMAX];
    int labels[NMAX];
    real dfeat[NMAX * DMAX];
    real per[NMAX];
} fx_t;

/* labels: NULL for random ones; W random N(0, 1) rows; b keeps its initial value plus `db`. */
static void fx_init(fx_t *fx, const loss_config *cfg, int N, int d, int C, uint64_t seed, const int *labels)
{
    memset(fx, 0, sizeof *fx);
    fx->N = N;
    fx->d = d;
    fx->C = C;
    rng_t r;
    loss_fixture_init(&fx->l, &fx->ps, cfg, N, d, C, seed, &r);
    numgrad_fill_normal(&r, fx->feat, (size_t)N * d, 1.5);
    for (int i = 0; i < N; i++)
        fx->labels[i] = labels ? labels[i] : (int)rng_below(&r, (uint64_t)C);
    if (fx->l.W)
        numgrad_fill_normal(&r, fx->l.W, (size_t)C * d, 1.0);
    if (fx->l.bin_b)
        fx->l.bin_b[0] += (real)(0.5 * rng_normal(&r));
}

static void fx_free(fx_t *fx) { loss_fixture_free(&fx->l, &fx->ps); }

static double fx_run(fx_t *fx)
{
    paramset_zero_grad(&fx->ps);
    memset(fx->dfeat, 0, sizeof fx->dfeat);
    return loss_forward_backward(&fx->l, fx->dfeat, fx->per, fx->feat, fx->labels, fx->N, 0);
}

static double fx_loss(void *ctx)
{
    fx_t *fx = ctx;
    return loss_forward_backward(&fx->l, NULL, NULL, fx->feat, fx->labels, fx->N, 0);
}

/* cos θ_ij between f̂_i and row j of M (n rows), computed here (not by the library). */
static double cosine(const real *f, const real *w, int d)
{
    double fw = 0, ff = 0, ww = 0;
    for (int k = 0; k < d; k++) {
        fw += (double)f[k] * w[k];
        ff += (double)f[k] * f[k];
        ww += (double)w[k] * w[k];
    }
    return fw / sqrt(ff * ww);
}

/* The distance of the inputs from the nearest clamp or kink of the loss (in the variable it
 * clamps), or a large value when it has none. */
static double kink_distance(const fx_t *fx)
{
    const loss_config *c = &fx->l.cfg;
    const int d = fx->d;
    double best = 1e9;
    for (int i = 0; i < fx->N; i++) {
        const real *f = fx->feat + (size_t)i * d;
        if (c->type == LOSS_CIRCLE) {
            for (int j = 0; j < fx->N; j++)
                if (fx->labels[j] != fx->labels[i])
                    best = fmin(best, fabs(cosine(f, fx->feat + (size_t)j * d, d) + c->m));
            continue;
        }
        if (!fx->l.W)
            continue;
        for (int j = 0; j < fx->C; j++) {
            const double cs = cosine(f, fx->l.W + (size_t)j * d, d);
            const int pos = j == fx->labels[i];
            if (c->type == LOSS_UNIFACE) {
                const double z = pos ? c->s * (cs - c->m) - fx->l.bin_b[0] : c->s * cs - fx->l.bin_b[0];
                best = fmin(best, fabs(fabs(z) - c->s) / c->s);
            } else if (c->type == LOSS_SPHEREFACE2 && c->variant != VARIANT_C && pos) {
                const double th = acos(cs), tm = c->variant == VARIANT_A ? th + c->m : c->m * th;
                best = fmin(best, fmin(fabs(tm - 1e-5), fabs(tm - 3.14159)));
            }
        }
    }
    return best;
}

/* fx_init with the seeds seed, seed + 1, … until the inputs keep KINK from every kink. */
static void fx_init_safe(fx_t *fx, const loss_config *cfg, int N, int d, int C, uint64_t seed, const int *labels)
{
    for (int k = 0; k < 100; k++) {
        fx_init(fx, cfg, N, d, C, seed + k, labels);
        if (kink_distance(fx) > KINK)
            return;
        fx_free(fx);
    }
    fail_msg("no seed in 100 keeps the inputs away from the kinks");
}

static void check_fd(const char *name, fx_t *fx, int params_too)
{
    fx_run(fx);
    real *pg = malloc(sizeof(real) * fx->ps.total);
    assert_non_null(pg);
    memcpy(pg, fx->ps.grad, sizeof(real) * fx->ps.total); /* the FD evaluations accumulate into grad */
    numgrad_result r;
    if (params_too) {
        r = numgrad_check(fx_loss, fx, fx->feat, fx->dfeat, (size_t)fx->N * fx->d, FD_H, FD_RTOL, FD_ATOL);
        if (r.worst > 1) {
            print_error("%s: dfeat[%zu] analytic %.10g numeric %.10g\n", name, r.index, r.analytic, r.numeric);
            fail();
        }
        r = numgrad_check(fx_loss, fx, fx->ps.data, pg, fx->ps.total, FD_H, FD_RTOL, FD_ATOL);
        if (r.worst > 1) {
            print_error("%s: param grad[%zu] analytic %.10g numeric %.10g\n", name, r.index, r.analytic, r.numeric);
            fail();
        }
    }
    if (fx->l.bin_b) {
        const size_t off = fx->ps.t[fx->l.bin_b_idx].off;
        r = numgrad_check(fx_loss, fx, fx->ps.data + off, pg + off, 1, FD_H, FD_RTOL, FD_ATOL);
        if (r.worst > 1) {
            print_error("%s: db analytic %.10g numeric %.10g\n", name, r.analytic, r.numeric);
            fail();
        }
        assert_true(fabs(pg[off]) > 1e-6); /* a gradient that is there */
    }
    free(pg);
}

/* circle's gradient holds α_p, α_n constant (the paper's and PML's detach): finite differences of
 * the loss with the α of the base point frozen, computed here from the formula; at the base point
 * its value is the library's (checked). */
typedef struct {
    fx_t *fx;
    double alpha[NMAX * NMAX];
} circle_frozen;

static double circle_frozen_loss(void *ctx)
{
    circle_frozen *cf = ctx;
    const fx_t *fx = cf->fx;
    const int N = fx->N, d = fx->d;
    const double m = fx->l.cfg.m, g = fx->l.cfg.gamma;
    double total = 0;
    int V = 0;
    for (int a = 0; a < N; a++) {
        /* log Σ e^x over positives and negatives, with the max out (γ = 256 overflows exp) */
        double xs[NMAX], mp = -INFINITY, mn = -INFINITY, sp = 0, sn = 0;
        for (int j = 0; j < N; j++) {
            if (j == a)
                continue;
            const double s = cosine(fx->feat + (size_t)a * d, fx->feat + (size_t)j * d, d), al = cf->alpha[a * N + j];
            const int pos = fx->labels[j] == fx->labels[a];
            xs[j] = pos ? -g * al * (s - 1 + m) : g * al * (s - m);
            if (pos)
                mp = fmax(mp, xs[j]);
            else
                mn = fmax(mn, xs[j]);
        }
        if (mp == -INFINITY || mn == -INFINITY)
            continue;
        for (int j = 0; j < N; j++) {
            if (j == a)
                continue;
            if (fx->labels[j] == fx->labels[a])
                sp += exp(xs[j] - mp);
            else
                sn += exp(xs[j] - mn);
        }
        const double x = mp + log(sp) + mn + log(sn);
        total += x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
        V++;
    }
    return total / V;
}

static void check_fd_circle(fx_t *fx)
{
    const int N = fx->N, d = fx->d;
    circle_frozen cf = {.fx = fx};
    for (int a = 0; a < N; a++)
        for (int j = 0; j < N; j++) {
            const double s = cosine(fx->feat + (size_t)a * d, fx->feat + (size_t)j * d, d), m = fx->l.cfg.m;
            const double al = fx->labels[j] == fx->labels[a] ? 1 + m - s : s + m;
            cf.alpha[a * N + j] = al > 0 ? al : 0;
        }
    const double L = fx_run(fx);
    assert_true(fabs(L - circle_frozen_loss(&cf)) <= 1e-12 * fabs(L));
    numgrad_result r =
        numgrad_check(circle_frozen_loss, &cf, fx->feat, fx->dfeat, (size_t)N * d, FD_H, FD_RTOL, FD_ATOL);
    if (r.worst > 1) {
        print_error("circle: dfeat[%zu] analytic %.10g numeric %.10g\n", r.index, r.analytic, r.numeric);
        fail();
    }
}

typedef struct {
    const char *name;
    loss_config cfg;
} case_t;

/* The classification configurations (sphereface2, uniface). */
static int binary_cases(case_t *cs)
{
    int n = 0;
#define ADD(label, type, ...)                                                                                      \
    do {                                                                                                           \
        cs[n].name = label;                                                                                        \
        loss_config_defaults(&cs[n].cfg, type);                                                                    \
        loss_config *c = &cs[n].cfg;                                                                               \
        (void)c;                                                                                                   \
        __VA_ARGS__;                                                                                               \
        n++;                                                                                                       \
    } while (0)
    ADD("sphereface2 default (c, detached)", LOSS_SPHEREFACE2, );
    ADD("sphereface2 c exact", LOSS_SPHEREFACE2, c->detach_margin = 0);
    ADD("sphereface2 c exact r 8 t 2 lambda 0.4", LOSS_SPHEREFACE2, c->detach_margin = 0; c->bin_r = 8;
        c->t = 2; c->bin_lambda = 0.4);
    ADD("sphereface2 a exact", LOSS_SPHEREFACE2, c->detach_margin = 0; c->variant = VARIANT_A; c->m = 0.6;
        c->bin_r = 10);
    ADD("sphereface2 a large m (clamped)", LOSS_SPHEREFACE2, c->detach_margin = 0; c->variant = VARIANT_A;
        c->m = 2.5; c->bin_r = 10);
    ADD("sphereface2 m exact", LOSS_SPHEREFACE2, c->detach_margin = 0; c->variant = VARIANT_M; c->m = 1.7;
        c->bin_r = 10);
    ADD("sphereface2 m detached", LOSS_SPHEREFACE2, c->variant = VARIANT_M; c->m = 1.7; c->bin_r = 10);
    ADD("uniface default", LOSS_UNIFACE, );
    ADD("uniface s 4 (clamps active)", LOSS_UNIFACE, c->s = 4);
    ADD("uniface lambda 0.5 r 3 m 0.2 s 12", LOSS_UNIFACE, c->bin_lambda = 0.5; c->bin_r = 3; c->m = 0.2; c->s = 12);
#undef ADD
    return n;
}

/* ---- (1) finite differences ---- */

static void test_fd_binary(void **state)
{
    (void)state;
    case_t cs[16];
    const int n = binary_cases(cs);
    for (int k = 0; k < n; k++) {
        fx_t fx;
        fx_init_safe(&fx, &cs[k].cfg, 6, 5, 4, 300 + 10 * k, NULL);
        check_fd(cs[k].name, &fx, !cs[k].cfg.detach_margin);
        fx_free(&fx);
    }
}

static void test_fd_circle_proxy(void **state)
{
    (void)state;
    static const int pk[9] = {0, 0, 0, 1, 1, 1, 2, 2, 2};
    const double ms[] = {0.25, 0.4, 0.1}, gs[] = {256, 80, 32};
    for (int k = 0; k < 3; k++) {
        loss_config c;
        loss_config_defaults(&c, LOSS_CIRCLE);
        c.m = ms[k];
        c.gamma = gs[k];
        fx_t fx;
        fx_init_safe(&fx, &c, 9, 5, 3, 40 + 10 * k, pk);
        check_fd_circle(&fx);
        fx_free(&fx);
    }
    const double ds[] = {0.1, 0.3, 0}, as[] = {32, 8, 16};
    for (int k = 0; k < 3; k++) {
        loss_config c;
        loss_config_defaults(&c, LOSS_PROXY_ANCHOR);
        c.delta = ds[k];
        c.alpha = as[k];
        fx_t fx;
        fx_init_safe(&fx, &c, 7, 5, 6, 70 + 10 * k, NULL); /* 6 classes, 7 samples: some absent */
        check_fd("proxy_anchor", &fx, 1);
        fx_free(&fx);
    }
}

/* ---- (2) the blocked head ---- */

static int close_rel(double a, double b, double rel) { return fabs(a - b) <= rel * (fabs(a) + fabs(b)) + 1e-14; }

static void assert_close_arrays(const real *a, const real *b, size_t n, const char *what, const char *name)
{
    for (size_t k = 0; k < n; k++)
        if (!close_rel(a[k], b[k], REL)) {
            print_error("%s: %s[%zu] %.17g vs %.17g\n", name, what, k, (double)a[k], (double)b[k]);
            fail();
        }
}

static void set_threads(int t)
{
#ifdef _OPENMP
    omp_set_num_threads(t);
#else
    (void)t;
#endif
}

static void compare_paths(const case_t *c, int C, int block, int threads, int through_sampler, uint64_t seed)
{
    char name[200];
    snprintf(name, sizeof name, "%s (C %d, block %d, %d threads%s)", c->name, C, block, threads,
             through_sampler ? ", sampler r = 1" : "");
    const int N = 10, d = 5;
    fx_t a, b;
    fx_init(&a, &c->cfg, N, d, C, seed, NULL);
    fx_init(&b, &c->cfg, N, d, C, seed, NULL);
    assert_false(a.l.head->use);
    loss_head_configure(&b.l, block, 1);
    int pa[NMAX], pb[NMAX];
    const double La = fx_run(&a);
    loss_predict(&a.l, pa, a.feat, N);
    set_threads(threads);
    paramset_zero_grad(&b.ps);
    memset(b.dfeat, 0, sizeof b.dfeat);
    if (through_sampler)
        assert_int_equal(loss_head_sample(&b.l, b.labels, N), C);
    const double Lb = loss_head_binary_fb(&b.l, b.dfeat, b.per, pb, b.feat, b.labels, N);
    set_threads(1);
    if (!close_rel(La, Lb, REL)) {
        print_error("%s: loss %.17g vs %.17g\n", name, La, Lb);
        fail();
    }
    assert_close_arrays(a.per, b.per, (size_t)N, "per_sample", name);
    assert_close_arrays(a.dfeat, b.dfeat, (size_t)N * d, "dfeat", name);
    assert_int_equal(a.ps.total, b.ps.total);
    assert_close_arrays(a.ps.grad, b.ps.grad, a.ps.total, "param grad", name);
    for (int i = 0; i < N; i++)
        assert_int_equal(pa[i], pb[i]);
    loss_predict(&b.l, pb, b.feat, N); /* the head's own blocked prediction */
    for (int i = 0; i < N; i++)
        assert_int_equal(pa[i], pb[i]);
    fx_free(&a);
    fx_free(&b);
}

static void test_blocked_equals_plain(void **state)
{
    (void)state;
    case_t cs[16];
    const int n = binary_cases(cs);
    const int Cs[] = {2, 5, 13, 32}, blocks[] = {1, 3, 8, 64};
    for (int k = 0; k < n; k++)
        for (int ci = 0; ci < 4; ci++)
            for (int bi = 0; bi < 4; bi++)
                compare_paths(&cs[k], Cs[ci], blocks[bi], 1 + (bi & 1), 0, 900 + 13 * k + 4 * ci + bi);
    for (int k = 0; k < n; k++)
        if (cs[k].cfg.type == LOSS_UNIFACE)
            compare_paths(&cs[k], 13, 4, 2, 1, 950 + k);
}

static double fx_sampled_loss(void *ctx)
{
    fx_t *fx = ctx;
    fx->l.head->sampled = 1; /* the same class set as the analytic gradient */
    return loss_head_binary_fb(&fx->l, NULL, NULL, NULL, fx->feat, fx->labels, fx->N);
}

/* uniface over a sampled class set: the loss sums the sampled classes; FD w.r.t. f, W and b with
 * the set held fixed; rows outside the set get no gradient. */
static void test_uniface_sampled(void **state)
{
    (void)state;
    loss_config c;
    loss_config_defaults(&c, LOSS_UNIFACE);
    c.sample_rate = 0.5;
    c.s = 8;
    fx_t fx;
    fx_init_safe(&fx, &c, 5, 4, 12, 1234, NULL);
    assert_true(fx.l.head->use);
    paramset_zero_grad(&fx.ps);
    memset(fx.dfeat, 0, sizeof fx.dfeat);
    const int ns = loss_head_sample(&fx.l, fx.labels, fx.N);
    assert_true(ns >= 6 && ns < 12);
    loss_head_binary_fb(&fx.l, fx.dfeat, NULL, NULL, fx.feat, fx.labels, fx.N);
    real *pg = malloc(sizeof(real) * fx.ps.total);
    memcpy(pg, fx.ps.grad, sizeof(real) * fx.ps.total);
    numgrad_result r = numgrad_check(fx_sampled_loss, &fx, fx.feat, fx.dfeat, (size_t)fx.N * fx.d, FD_H, FD_RTOL,
                                     FD_ATOL);
    assert_true(r.worst <= 1);
    r = numgrad_check(fx_sampled_loss, &fx, fx.ps.data, pg, fx.ps.total, FD_H, FD_RTOL, FD_ATOL);
    if (r.worst > 1) {
        print_error("sampled uniface: param grad[%zu] analytic %.10g numeric %.10g\n", r.index, r.analytic,
                    r.numeric);
        fail();
    }
    int nc;
    const int *set = loss_head_classes(&fx.l, &nc);
    for (int cl = 0; cl < 12; cl++) {
        int in = 0;
        for (int q = 0; q < nc; q++)
            in |= set[q] == cl;
        for (int q = 0; q < 4 && !in; q++)
            assert_true(pg[fx.ps.t[fx.l.w_idx].off + (size_t)cl * 4 + q] == 0);
    }
    free(pg);
    fx_free(&fx);
}

static void test_bf16_head(void **state)
{
    (void)state;
    const loss_type types[] = {LOSS_SPHEREFACE2, LOSS_UNIFACE};
    for (int ti = 0; ti < 2; ti++) {
        loss_config c32, c16;
        loss_config_defaults(&c32, types[ti]);
        c16 = c32;
        c16.head_dtype = HEAD_BF16;
        fx_t a, b;
        fx_init(&a, &c32, 8, 5, 11, 77, NULL);
        fx_init(&b, &c16, 8, 5, 11, 77, NULL);
        assert_null(b.l.W);
        assert_true(b.l.head->use);
        memcpy(b.feat, a.feat, sizeof a.feat);
        memcpy(b.labels, a.labels, sizeof a.labels);
        b.l.bin_b[0] = a.l.bin_b[0];
        for (int k = 0; k < 11 * 5; k++) {
            b.l.W16[k] = bf16_from_float((float)a.l.W[k]);
            a.l.W[k] = bf16_to_float(b.l.W16[k]);
        }
        const double La = fx_run(&a), Lb = fx_run(&b);
        assert_true(close_rel(La, Lb, REL));
        assert_close_arrays(a.dfeat, b.dfeat, 8 * 5, "dfeat", "bf16");
        assert_true(close_rel(a.l.dbin_b[0], b.l.dbin_b[0], REL));
        for (int k = 0; k < 11 * 5; k++) {
            const double g32 = a.l.dW[k], g16 = bf16_to_float(b.l.dW16[k]);
            assert_true(fabs(g16 - g32) <= fabs(g32) / 256 + 1e-30);
        }
        fx_free(&a);
        fx_free(&b);
    }
}

/* ---- (3) identities ---- */

/* sphereface2 with t = 1: g is the identity, so the detached and exact gradients coincide. */
static void test_sf2_t1_detach_equals_exact(void **state)
{
    (void)state;
    loss_config c;
    loss_config_defaults(&c, LOSS_SPHEREFACE2);
    c.t = 1;
    fx_t a, b;
    fx_init(&a, &c, 6, 5, 4, 5, NULL);
    c.detach_margin = 0;
    fx_init(&b, &c, 6, 5, 4, 5, NULL);
    assert_true(close_rel(fx_run(&a), fx_run(&b), REL));
    assert_close_arrays(a.dfeat, b.dfeat, 30, "dfeat", "t = 1");
    assert_close_arrays(a.ps.grad, b.ps.grad, a.ps.total, "param grad", "t = 1");
    fx_free(&a);
    fx_free(&b);
    /* and with t = 3 they differ (the test above can fail) */
    loss_config_defaults(&c, LOSS_SPHEREFACE2);
    fx_init(&a, &c, 6, 5, 4, 5, NULL);
    c.detach_margin = 0;
    fx_init(&b, &c, 6, 5, 4, 5, NULL);
    assert_true(close_rel(fx_run(&a), fx_run(&b), REL));
    assert_false(close_rel(a.dfeat[0], b.dfeat[0], 1e-3));
    fx_free(&a);
    fx_free(&b);
}

/* sphereface2(t 1, m 0, r = s, lw = s/λ, b) = uniface(m 0, s, λ_u = (1 − λ)/λ, −b) while every
 * uniface logit stays inside ±s. */
static void test_sf2_equals_uniface(void **state)
{
    (void)state;
    const double s = 10, lam = 0.7, b = 0.3;
    loss_config c2, cu;
    loss_config_defaults(&c2, LOSS_SPHEREFACE2);
    c2.t = 1;
    c2.m = 0;
    c2.bin_r = s;
    c2.bin_lw = s / lam;
    c2.bin_lambda = lam;
    loss_config_defaults(&cu, LOSS_UNIFACE);
    cu.m = 0;
    cu.s = s;
    cu.bin_lambda = (1 - lam) / lam;
    fx_t a, u;
    fx_init(&a, &c2, 8, 5, 6, 21, NULL);
    fx_init(&u, &cu, 8, 5, 6, 21, NULL);
    a.l.bin_b[0] = (real)b;
    u.l.bin_b[0] = (real)-b;
    assert_true(kink_distance(&u) > 0.01);
    const double La = fx_run(&a), Lu = fx_run(&u);
    assert_true(close_rel(La, Lu, REL));
    assert_close_arrays(a.per, u.per, 8, "per_sample", "sf2 = uniface");
    assert_close_arrays(a.dfeat, u.dfeat, 40, "dfeat", "sf2 = uniface");
    assert_close_arrays(a.l.dW, u.l.dW, 30, "dW", "sf2 = uniface");
    assert_true(close_rel(a.l.dbin_b[0], -u.l.dbin_b[0], REL));
    fx_free(&a);
    fx_free(&u);
}

/* Features on orthogonal class directions e_0, e_1 (two per class for circle): circle's anchors all
 * have s_p = 1 and s_n = 0, so ℓ = log(1 + 2 e^(−2γm²)) (α_p = α_n = m, two negatives); proxy-anchor
 * with proxies e_0, e_1 and one sample on each: log(1 + e^(−α(1−δ))) + log(1 + e^(αδ)). */
static void test_closed_forms(void **state)
{
    (void)state;
    loss_config c;
    loss_config_defaults(&c, LOSS_CIRCLE);
    c.m = 0.3;
    c.gamma = 4;
    static const int pk[4] = {0, 0, 1, 1};
    fx_t fx;
    fx_init(&fx, &c, 4, 3, 2, 1, pk);
    memset(fx.feat, 0, sizeof fx.feat);
    fx.feat[0] = fx.feat[3] = 2;     /* samples 0, 1 along e_0 */
    fx.feat[7] = fx.feat[10] = 0.5;  /* samples 2, 3 along e_1 */
    const double want = log1p(2 * exp(-2 * c.gamma * c.m * c.m));
    assert_true(close_rel(fx_run(&fx), want, 1e-12));
    for (int i = 0; i < 4; i++)
        assert_true(close_rel(fx.per[i], want, 1e-12));
    fx_free(&fx);

    loss_config_defaults(&c, LOSS_PROXY_ANCHOR);
    c.alpha = 8;
    c.delta = 0.2;
    static const int two[2] = {0, 1};
    fx_init(&fx, &c, 2, 3, 2, 1, two);
    memset(fx.feat, 0, sizeof fx.feat);
    memset(fx.l.W, 0, 6 * sizeof(real));
    fx.feat[0] = 3;
    fx.feat[4] = 0.7;
    fx.l.W[0] = 1.5;
    fx.l.W[4] = 0.2;
    const double pa = log1p(exp(-c.alpha * (1 - c.delta))) + log1p(exp(c.alpha * c.delta));
    assert_true(close_rel(fx_run(&fx), pa, 1e-12));
    fx_free(&fx);
}

/* The initial b: uniface log(C·r·10); sphereface2's balances its two terms at cos θ = 0 (variant c):
 * λ σ(−(r(g(0) − m) + b)) = (1 − λ)(C − 1) σ(r(g(0) + m) + b), the stationarity of the initial
 * loss in b when every cosine is 0. */
static void test_initial_b(void **state)
{
    (void)state;
    loss_config c;
    loss_config_defaults(&c, LOSS_UNIFACE);
    assert_true(close_rel(loss_binary_initial_b(&c, 1000), log(1000 * 1.0 * 10), 1e-14));
    loss_config_defaults(&c, LOSS_SPHEREFACE2);
    const int Cs[] = {2, 10, 10000};
    for (int k = 0; k < 3; k++) {
        const double b = loss_binary_initial_b(&c, Cs[k]), g0 = 2 * pow(0.5, c.t) - 1;
        const double zp = c.bin_r * (g0 - c.m) + b, zn = c.bin_r * (g0 + c.m) + b;
        const double lhs = c.bin_lambda / (1 + exp(zp)), rhs = (1 - c.bin_lambda) * (Cs[k] - 1) / (1 + exp(-zn));
        assert_true(close_rel(lhs, rhs, 1e-9));
    }
}

/* ---- (4) config ---- */

static int resolve(const char *type, const char *key, const char *value, nb_config *c, nb_error *err)
{
    config_entries over = {0};
    config_entries_add(&over, "loss.type", type, 0, 0);
    if (key)
        config_entries_add(&over, key, value, 0, 0);
    const int rc = config_resolve(c, NULL, &over, 0, err);
    config_entries_free(&over);
    return rc;
}

static void expect_error(const char *type, const char *key, const char *value, const char *needle)
{
    nb_config c;
    nb_error err;
    assert_int_equal(resolve(type, key, value, &c, &err), -1);
    if (!strstr(err.msg, needle)) {
        print_error("%s %s=%s: '%s' lacks '%s'\n", type, key, value, err.msg, needle);
        fail();
    }
}

static void test_config(void **state)
{
    (void)state;
    nb_config c;
    nb_error err;
    assert_int_equal(resolve("sphereface2", NULL, NULL, &c, &err), 0);
    assert_true(c.loss.bin_lambda == 0.7 && c.loss.bin_r == 40 && c.loss.m == 0.4 && c.loss.t == 3 &&
                c.loss.bin_lw == 50 && c.loss.variant == VARIANT_C && c.loss.detach_margin == 1);
    assert_int_equal(resolve("sphereface2", "loss.variant", "a", &c, &err), 0);
    assert_int_equal(c.loss.variant, VARIANT_A);
    assert_int_equal(resolve("uniface", NULL, NULL, &c, &err), 0);
    assert_true(c.loss.m == 0.4 && c.loss.s == 64 && c.loss.bin_lambda == 1 && c.loss.bin_r == 1);
    assert_int_equal(resolve("uniface", "loss.sample_rate", "0.1", &c, &err), 0);
    assert_int_equal(resolve("circle", NULL, NULL, &c, &err), -1); /* needs sampler: pk */
    assert_non_null(strstr(err.msg, "train.sampler"));
    assert_int_equal(resolve("proxy_anchor", NULL, NULL, &c, &err), 0);
    assert_true(c.loss.alpha == 32 && c.loss.delta == 0.1 && c.loss.proxy_lr_mult == 1);
    assert_int_equal(resolve("proxy_anchor", "loss.proxy_lr_mult", "100", &c, &err), 0);
    expect_error("proxy_anchor", "loss.proxy_lr_mult", "0", "loss.proxy_lr_mult");
    expect_error("arcface", "loss.proxy_lr_mult", "10", "does not apply");
    expect_error("sphereface2", "loss.gamma", "3", "does not apply");
    expect_error("uniface", "loss.t", "2", "does not apply");
    expect_error("uniface", "loss.variant", "a", "does not apply");
    expect_error("circle", "loss.delta", "0.1", "does not apply");
    expect_error("proxy_anchor", "loss.s", "3", "does not apply");
    expect_error("sphereface2", "loss.sample_rate", "0.5", "loss.sample_rate");
    expect_error("sphereface2", "loss.lambda", "1", "loss.lambda");
    expect_error("sphereface2", "loss.variant", "x", "loss.variant");
    expect_error("sphereface2", "loss.t", "0.5", "loss.t");
    expect_error("uniface", "loss.s", "0", "loss.s");
    expect_error("proxy_anchor", "loss.alpha", "auto", "loss.alpha");
    expect_error("proxy_anchor", "loss.delta", "-1", "loss.delta");
    nb_config pk;
    config_entries over = {0};
    config_entries_add(&over, "loss.type", "circle", 0, 0);
    config_entries_add(&over, "train.sampler", "pk", 0, 0);
    config_entries_add(&over, "loss.gamma", "-2", 0, 0);
    assert_int_equal(config_resolve(&pk, NULL, &over, 0, &err), -1);
    assert_non_null(strstr(err.msg, "loss.gamma"));
    config_entries_free(&over);
    assert_true(loss_has_classifier(LOSS_PROXY_ANCHOR) && !loss_has_classifier(LOSS_CIRCLE));
    assert_true(loss_needs_pk(LOSS_CIRCLE) && !loss_needs_pk(LOSS_PROXY_ANCHOR));
    assert_true(loss_is_classification(LOSS_UNIFACE) && !loss_is_classification(LOSS_PROXY_ANCHOR));
}

/* ---- (5) training steps ---- */

static void few_steps(const char *type, double gamma, double lr)
{
    nb_config cfg;
    nb_error err = {0};
    assert_int_equal(config_load(&cfg, "tests/fixtures/tiny_train.yaml", &err), 0);
    loss_config_defaults(&cfg.loss, (loss_type)loss_type_from_name(type));
    if (gamma > 0)
        cfg.loss.gamma = gamma;
    dataset tr = {0}, te = {0};
    pair_list pl;
    if (data_load(&cfg, &tr, &te, &pl, &err)) {
        nb_error_print(&err, stderr);
        fail();
    }
    const int B = 32;
    model m;
    rng_t rng;
    rng_seed(&rng, 5);
    assert_int_equal(model_init(&m, &cfg, tr.c, tr.h, tr.w, tr.num_classes, B, &rng, &err), 0);
    int idx[32];
    for (int i = 0; i < B; i++)
        idx[i] = i;
    dataset_gather(&tr, m.x, m.y, idx, B);
    const double b0 = loss_learned_bias(&m.loss);
    step_stats st;
    double first = 0, last = 0;
    for (int s = 0; s < 15; s++) {
        model_train_step(&m, &cfg, B, lr, s, &st);
        if (s == 0)
            first = st.loss;
        last = st.loss;
    }
    const double b1 = loss_learned_bias(&m.loss);
    printf("%s: loss %.4f -> %.4f, b %.6g -> %.6g\n", type, first, last, b0, b1);
    assert_true(last < 0.9 * first);
    if (loss_is_binary(m.loss.cfg.type))
        assert_true(isfinite(b1) && b1 != b0);
    else
        assert_true(isnan(b0) && isnan(b1));
    model_free(&m);
    dataset_free(&tr);
    dataset_free(&te);
}

static void test_training_steps(void **state)
{
    (void)state;
    few_steps("sphereface2", 0, 0.02);
    few_steps("uniface", 0, 0.02);
    few_steps("proxy_anchor", 0, 0.02);
    /* the batch of 32 of 10 classes has positives for most anchors */
    few_steps("circle", 0, 0.002);
    few_steps("circle", 32, 0.02);
}

int main(void)
{
    set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_binary),
        cmocka_unit_test(test_fd_circle_proxy),
        cmocka_unit_test(test_blocked_equals_plain),
        cmocka_unit_test(test_uniface_sampled),
        cmocka_unit_test(test_bf16_head),
        cmocka_unit_test(test_sf2_t1_detach_equals_exact),
        cmocka_unit_test(test_sf2_equals_uniface),
        cmocka_unit_test(test_closed_forms),
        cmocka_unit_test(test_initial_b),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_training_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
