/* test_losses_margin.c — the margin losses after NormFace (lib/loss/margin.c, docs/losses.md §1b)
 * in the double build:
 * (1) central finite differences of the batch loss w.r.t. the features and W for every type and
 *     option, at a fixed state (the references compute t, μ, σ, the adacos s and the thresholds
 *     under no_grad), with inputs redrawn until every point is away from a branch or clamp
 *     (target-branch thresholds, hard-negative thresholds, sub-centre ties, magface's norm clamp,
 *     adaface's clips) and, where the loss has hard negatives, some negatives on each side;
 * (2) the degenerate identities: mv_softmax t = 1 equals its base (arc: arcface easy_margin; am:
 *     cosface where cos θ_y > m), curricularface without hard negatives equals arcface,
 *     subcenter_arcface K = 1 equals arcface, elasticface σ = 0 equals arcface / cosface,
 *     magface l_m = u_m, λ_g = 0 equals arcface (both margin rules), adaface h = 0 equals cosface,
 *     adacos fixed equals normface at s = sqrt(2) log(C − 1), dynamic adacos's s and loss equal a
 *     brute-force computation; and the converse, that each loss differs from its base when its
 *     parameter is not degenerate;
 * (3) Partial FC: finite differences of the sampled loss, zero gradient outside the class set;
 *     bf16 storage equal to float storage of the rounded weights;
 * (3') the blocked head (lib/loss/head_pass.c) equals the plain path to 1e-10 relative in the
 *     loss, per-sample losses, ∂L/∂f, ∂L/∂W, the state after the step and the predictions, for
 *     several C and block sizes, through the sampler at r = 1 and over two steps; above
 *     LOSS_HEAD_PLAIN_MAX_C every margin loss is blocked (subcenter_arcface with C rows of K·d);
 * (4) the state: curricularface's t and adaface's μ, σ follow their EMAs; a loss restored from a
 *     saved state continues exactly as the original; elasticface's draws are deterministic for a
 *     seed, N(m, σ) distributed, and sorted against the target cosines with plus;
 * (5) the config: defaults, ranges, keys that do not apply, and the resolved config (the run
 *     folder's config.yaml) naming every option;
 * (6) training runs through the binary: the state columns of metrics.csv (loss_t, loss_mu,
 *     loss_sd, loss_s) and two runs of one config identical apart from the seconds column. */
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
#include "core/rng.h"
#include "loss/head.h"
#include "loss/loss.h"
#include "loss/margin.h"
#include "nn/paramset.h"
#include "numgrad.h"
#include "test_util.h"

enum { NMAX = 16, DMAX = 6, CMAX = 40, KMAX = 3 };
#define REL 1e-10
#define FD_H 1e-6
#define FD_RTOL 1e-5
#define FD_ATOL 1e-8
#define SAFE 1e-3

typedef struct {
    loss l;
    paramset ps;
    int N, d, C, R;
    real feat[NMAX * DMAX];
    int labels[NMAX];
    real dfeat[NMAX * DMAX];
    real per[NMAX];
    double state[2];
    double mi[NMAX];
} fx_t;

static void fx_init(fx_t *fx, const loss_config *cfg, int N, int d, int C, uint64_t seed, double fscale)
{
    memset(fx, 0, sizeof *fx);
    fx->N = N;
    fx->d = d;
    fx->C = C;
    fx->R = C * loss_margin_rows_per_class(cfg);
    rng_t r;
    loss_fixture_init(&fx->l, &fx->ps, cfg, N, d, C, seed, &r);
    numgrad_fill_normal(&r, fx->feat, (size_t)N * d, fscale);
    for (int i = 0; i < N; i++)
        fx->labels[i] = (int)rng_below(&r, (uint64_t)C);
    if (fx->l.W)
        numgrad_fill_normal(&r, fx->l.W, (size_t)fx->R * d, 1.0);
    else /* bf16 storage */
        for (size_t k = 0; k < (size_t)fx->R * d; k++)
            fx->l.W16[k] = bf16_from_float((float)rng_normal(&r));
}

/* Features near their class weight (cos θ_y large), for the identities that need it. */
static void fx_near_class(fx_t *fx, uint64_t seed)
{
    rng_t r;
    rng_seed(&r, seed);
    const int K = fx->R / fx->C;
    for (int i = 0; i < fx->N; i++)
        for (int k = 0; k < fx->d; k++)
            fx->feat[i * fx->d + k] =
                (real)(2 * fx->l.W[(size_t)fx->labels[i] * K * fx->d + k] + 0.15 * rng_normal(&r));
}

static void fx_free(fx_t *fx) { loss_fixture_free(&fx->l, &fx->ps); }

static double fx_run(fx_t *fx)
{
    paramset_zero_grad(&fx->ps);
    memset(fx->dfeat, 0, sizeof fx->dfeat);
    memset(fx->per, 0, sizeof fx->per);
    return loss_forward_backward(&fx->l, fx->dfeat, fx->per, fx->feat, fx->labels, fx->N, 0);
}

static int close_rel(double a, double b, double rel) { return fabs(a - b) <= rel * (fabs(a) + fabs(b)) + 1e-14; }

static void assert_close_arrays(const real *a, const real *b, size_t n, double rel, const char *what,
                                const char *name)
{
    for (size_t k = 0; k < n; k++)
        if (!close_rel(a[k], b[k], rel)) {
            print_error("%s: %s[%zu] %.17g vs %.17g\n", name, what, k, (double)a[k], (double)b[k]);
            fail();
        }
}

/* ---- the cases ---- */

typedef struct {
    const char *name;
    loss_config cfg;
    double fscale; /* feature scale (magface's norms must fall inside (l_a, u_a)) */
} case_t;

static int make_cases(case_t *cs)
{
    int n = 0;
#define ADD(label, type, ...)                                                                                      \
    do {                                                                                                           \
        cs[n].name = label;                                                                                        \
        cs[n].fscale = 1.5;                                                                                        \
        loss_config_defaults(&cs[n].cfg, type);                                                                    \
        loss_config *c = &cs[n].cfg;                                                                               \
        (void)c;                                                                                                   \
        __VA_ARGS__;                                                                                               \
        n++;                                                                                                       \
    } while (0)
    ADD("mv_softmax am", LOSS_MV_SOFTMAX, c->s = 8);
    ADD("mv_softmax arc", LOSS_MV_SOFTMAX, c->s = 8; c->variant = VARIANT_ARC; c->m = 0.5; c->t = 1.3);
    ADD("curricularface", LOSS_CURRICULARFACE, c->s = 10);
    ADD("curricularface large m", LOSS_CURRICULARFACE, c->s = 10; c->m = 1.2);
    ADD("subcenter_arcface", LOSS_SUBCENTER_ARCFACE, c->s = 10);
    ADD("subcenter_arcface K=2 large m", LOSS_SUBCENTER_ARCFACE, c->s = 10; c->K = 2; c->m = 1.3);
    ADD("elasticface arc", LOSS_ELASTICFACE, c->s = 10; c->sigma = 0.1);
    ADD("elasticface cos plus", LOSS_ELASTICFACE, c->s = 10; c->variant = VARIANT_COS; c->m = 0.35;
        c->plus = 1);
    ADD("elasticface arc plus", LOSS_ELASTICFACE, c->s = 10; c->plus = 1);
    ADD("adacos dynamic", LOSS_ADACOS, );
    ADD("adacos fixed", LOSS_ADACOS, c->dynamic = 0);
    ADD("magface", LOSS_MAGFACE, c->s = 10; c->l_a = 1; c->u_a = 6; c->lambda_g = 2; cs[n].fscale = 1.3);
    ADD("magface no easy_margin", LOSS_MAGFACE, c->s = 10; c->l_a = 1; c->u_a = 6; c->lambda_g = 2;
        c->easy_margin = 0; c->l_m = 0.9; c->u_m = 1.6; cs[n].fscale = 1.3);
    ADD("adaface", LOSS_ADAFACE, c->s = 10; c->h = 0.8; c->t_alpha = 0.5);
#undef ADD
    return n;
}

/* ---- distance of the inputs from every branch and clamp ---- */

static double cosine(const real *a, const real *b, int d)
{
    double ab = 0, aa = 0, bb = 0;
    for (int k = 0; k < d; k++) {
        ab += (double)a[k] * b[k];
        aa += (double)a[k] * a[k];
        bb += (double)b[k] * b[k];
    }
    return ab / sqrt(aa * bb);
}

static double norm_of(const real *a, int d)
{
    double s = 0;
    for (int k = 0; k < d; k++)
        s += (double)a[k] * a[k];
    return sqrt(s);
}

/* Class cosine of sample i and class j (max over sub-centres), and the gap to the runner-up. */
static double class_cos(const fx_t *fx, int i, int j, double *gap)
{
    const int K = fx->R / fx->C, d = fx->d;
    double best = -2, second = -2;
    for (int k = 0; k < K; k++) {
        const double c = cosine(fx->feat + i * d, fx->l.W + ((size_t)j * K + k) * d, d);
        if (c > best) {
            second = best;
            best = c;
        } else if (c > second) {
            second = c;
        }
    }
    *gap = K > 1 ? best - second : 1;
    return best;
}

/* Smallest distance of row i from a branch of its own type; *hard / *soft count the negatives
 * above / below the hard threshold (after a forward pass has filled the rows). */
static double row_distance(const fx_t *fx, int i, int *hard, int *soft)
{
    const loss_config *c = &fx->l.cfg;
    const margin_row *r = &fx->l.margin->rows[i];
    const loss_margin *g = fx->l.margin;
    double gap, dist = 1;
    const int y = fx->labels[i];
    const double cy = class_cos(fx, i, y, &gap), n = norm_of(fx->feat + i * fx->d, fx->d);
    dist = fmin(dist, gap);
    for (int j = 0; j < fx->C; j++) {
        const double cj = class_cos(fx, i, j, &gap);
        dist = fmin(dist, gap);
        if (c->type == LOSS_ADAFACE)
            dist = fmin(dist, fabs(fabs(cj) - (1 - 1e-3)));
        if (j != y && isfinite(r->thr)) {
            dist = fmin(dist, fabs(cj - r->thr));
            *hard += cj > r->thr;
            *soft += cj <= r->thr;
        }
    }
    switch (c->type) {
    case LOSS_MV_SOFTMAX: dist = fmin(dist, fabs(cy - (c->variant == VARIANT_AM ? c->m : 0))); break;
    case LOSS_CURRICULARFACE:
    case LOSS_SUBCENTER_ARCFACE: dist = fmin(dist, fabs(cy - cos(M_PI - c->m))); break;
    case LOSS_MAGFACE: {
        dist = fmin(dist, fmin(fabs(n - c->l_a), fabs(n - c->u_a)));
        const double a = fmin(fmax(n, c->l_a), c->u_a);
        const double m = c->l_m + (c->u_m - c->l_m) * (a - c->l_a) / (c->u_a - c->l_a);
        dist = fmin(dist, fabs(cy - (c->easy_margin ? 0 : cos(M_PI - m))));
        break;
    }
    case LOSS_ADAFACE: {
        const double z = c->h * (n - g->mu) / (g->sd + 1e-3), zh = fmin(fmax(z, -1), 1);
        const double tm = acos(cy) - c->m * zh;
        dist = fmin(dist, fmin(fabs(fabs(z) - 1), fmin(fabs(tm - 1e-3), fabs(tm - (M_PI - 1e-3)))));
        break;
    }
    default: break;
    }
    return dist;
}

static double kink_distance(const fx_t *fx, int need_both)
{
    double dist = 1;
    int hard = 0, soft = 0;
    for (int i = 0; i < fx->N; i++)
        dist = fmin(dist, row_distance(fx, i, &hard, &soft));
    if (need_both && isfinite(fx->l.margin->rows[0].thr) && (hard == 0 || soft == 0))
        return 0;
    return dist;
}

/* ---- (1) finite differences ---- */

static double fd_loss(void *ctx)
{
    fx_t *fx = ctx;
    return loss_forward_backward(&fx->l, NULL, NULL, fx->feat, fx->labels, fx->N, 0);
}

static void check_fd(const case_t *c)
{
    fx_t fx;
    int ok = 0;
    for (uint64_t seed = 1; seed < 200 && !ok; seed++) {
        fx_init(&fx, &c->cfg, 8, 5, 4, seed, c->fscale);
        if (c->cfg.type == LOSS_ADAFACE) { /* a state where ẑ spreads over (−1, 1) */
            loss_margin_state_set(&fx.l, 0, 3.0);
            loss_margin_state_set(&fx.l, 1, 1.5);
        }
        fx_run(&fx); /* updates the state, fills the rows */
        if (kink_distance(&fx, 1) > SAFE) {
            ok = 1;
            break;
        }
        fx_free(&fx);
    }
    if (!ok)
        fail_msg("%s: no seed keeps the inputs away from every branch", c->name);
    /* the state the first pass left is the state the gradient is for: hold it */
    fx.l.margin->freeze = 1;
    const double L0 = fx_run(&fx);
    assert_true(isfinite(L0));
    real *dW = paramset_grad(&fx.ps, fx.l.w_idx);
    real gW[CMAX * KMAX * DMAX], gf[NMAX * DMAX];
    memcpy(gW, dW, (size_t)fx.R * fx.d * sizeof(real));
    memcpy(gf, fx.dfeat, (size_t)fx.N * fx.d * sizeof(real));
    numgrad_result rf = numgrad_check(fd_loss, &fx, fx.feat, gf, (size_t)fx.N * fx.d, FD_H, FD_RTOL, FD_ATOL);
    numgrad_result rw = numgrad_check(fd_loss, &fx, fx.l.W, gW, (size_t)fx.R * fx.d, FD_H, FD_RTOL, FD_ATOL);
    if (rf.worst > 1 || rw.worst > 1) {
        printf("%s:\n", c->name);
        numgrad_print("feat", rf);
        numgrad_print("W", rw);
        fail();
    }
    fx_free(&fx);
}

static void test_fd(void **state)
{
    (void)state;
    case_t cs[32];
    const int n = make_cases(cs);
    for (int k = 0; k < n; k++)
        check_fd(&cs[k]);
}

/* ---- (2) identities ---- */

/* Runs a and b on the same inputs (b's W laid out as a's: K = 1) and compares everything. */
static void compare_losses(const loss_config *ca, const loss_config *cb, int near, double rel, int expect_equal,
                           const char *name)
{
    fx_t a, b;
    fx_init(&a, ca, 8, 5, 4, 11, 1.5);
    fx_init(&b, cb, 8, 5, 4, 11, 1.5);
    if (near)
        fx_near_class(&a, 5);
    memcpy(b.feat, a.feat, sizeof a.feat);
    memcpy(b.labels, a.labels, sizeof a.labels);
    memcpy(b.l.W, a.l.W, (size_t)a.R * a.d * sizeof(real));
    const double La = fx_run(&a), Lb = fx_run(&b);
    if (!expect_equal) {
        if (close_rel(La, Lb, 1e-6))
            fail_msg("%s: loss %.17g equals its base %.17g though the parameter is not degenerate", name, La, Lb);
    } else {
        if (!close_rel(La, Lb, rel))
            fail_msg("%s: loss %.17g vs %.17g", name, La, Lb);
        assert_close_arrays(a.per, b.per, (size_t)a.N, rel, "per_sample", name);
        assert_close_arrays(a.dfeat, b.dfeat, (size_t)a.N * a.d, rel, "dfeat", name);
        assert_close_arrays(paramset_grad(&a.ps, a.l.w_idx), paramset_grad(&b.ps, b.l.w_idx), (size_t)a.R * a.d, rel,
                            "dW", name);
    }
    fx_free(&a);
    fx_free(&b);
}

static loss_config cfg_of(loss_type t, double s, double m)
{
    loss_config c;
    loss_config_defaults(&c, t);
    c.s = s;
    c.m = m;
    return c;
}

static void test_identities(void **state)
{
    (void)state;
    loss_config a, b;
    a = cfg_of(LOSS_MV_SOFTMAX, 9, 0.5); a.variant = VARIANT_ARC; a.t = 1;
    b = cfg_of(LOSS_ARCFACE, 9, 0.5); b.easy_margin = 1;
    compare_losses(&a, &b, 0, 1e-12, 1, "mv_softmax arc t=1 vs arcface easy_margin");
    a.t = 1.2;
    compare_losses(&a, &b, 0, 0, 0, "mv_softmax arc t=1.2 vs arcface easy_margin");
    a = cfg_of(LOSS_MV_SOFTMAX, 9, 0.35); a.t = 1;
    b = cfg_of(LOSS_COSFACE, 9, 0.35);
    compare_losses(&a, &b, 1, 1e-12, 1, "mv_softmax am t=1 vs cosface (cos > m)");
    a.t = 1.12;
    compare_losses(&a, &b, 0, 0, 0, "mv_softmax am t=1.12 vs cosface");
    /* near-class features and a small margin: no non-target above cos(θ_y + m) */
    a = cfg_of(LOSS_CURRICULARFACE, 9, 0.2);
    b = cfg_of(LOSS_ARCFACE, 9, 0.2);
    compare_losses(&a, &b, 1, 1e-12, 1, "curricularface without hard negatives vs arcface");
    compare_losses(&a, &b, 0, 0, 0, "curricularface with hard negatives vs arcface");
    a = cfg_of(LOSS_SUBCENTER_ARCFACE, 9, 0.5); a.K = 1;
    b = cfg_of(LOSS_ARCFACE, 9, 0.5);
    compare_losses(&a, &b, 0, 1e-12, 1, "subcenter_arcface K=1 vs arcface");
    a = cfg_of(LOSS_ELASTICFACE, 9, 0.5); a.sigma = 0;
    compare_losses(&a, &b, 1, 1e-12, 1, "elasticface arc sigma=0 vs arcface");
    a.sigma = 0.1;
    compare_losses(&a, &b, 1, 0, 0, "elasticface arc sigma=0.1 vs arcface");
    a = cfg_of(LOSS_ELASTICFACE, 9, 0.35); a.variant = VARIANT_COS; a.sigma = 0;
    b = cfg_of(LOSS_COSFACE, 9, 0.35);
    compare_losses(&a, &b, 0, 1e-12, 1, "elasticface cos sigma=0 vs cosface");
    for (int easy = 0; easy < 2; easy++) {
        a = cfg_of(LOSS_MAGFACE, 9, 0); a.l_m = a.u_m = 0.5; a.lambda_g = 0; a.easy_margin = easy;
        a.l_a = 1; a.u_a = 6;
        b = cfg_of(LOSS_ARCFACE, 9, 0.5); b.easy_margin = easy;
        compare_losses(&a, &b, 0, 1e-12, 1, easy ? "magface l_m=u_m easy vs arcface easy" : "magface l_m=u_m vs arcface");
        a.u_m = 0.8;
        compare_losses(&a, &b, 0, 0, 0, "magface l_m<u_m vs arcface");
    }
    a = cfg_of(LOSS_ADAFACE, 9, 0.4); a.h = 0;
    b = cfg_of(LOSS_COSFACE, 9, 0.4);
    compare_losses(&a, &b, 0, 1e-12, 1, "adaface h=0 vs cosface");
    a.h = 0.333;
    compare_losses(&a, &b, 0, 0, 0, "adaface h=0.333 vs cosface");
    a = cfg_of(LOSS_ADACOS, 0, 0); a.dynamic = 0;
    b = cfg_of(LOSS_NORMFACE, sqrt(2.0) * log(3.0), 0);
    compare_losses(&a, &b, 0, 1e-12, 1, "adacos fixed vs normface s = sqrt(2) log(C-1)");
}

/* Dynamic adacos: the s of the step and the loss, by brute force from the definition. */
static void test_adacos_dynamic(void **state)
{
    (void)state;
    loss_config c = cfg_of(LOSS_ADACOS, 0, 0);
    fx_t fx;
    fx_init(&fx, &c, 7, 5, 6, 3, 1.5);
    const double s0 = sqrt(2.0) * log(5.0);
    assert_true(close_rel(loss_learned_scale(&fx.l), s0, 1e-15));
    double bsum = 0, th[NMAX];
    for (int i = 0; i < fx.N; i++) {
        double gap;
        for (int j = 0; j < fx.C; j++)
            if (j != fx.labels[i])
                bsum += exp(s0 * class_cos(&fx, i, j, &gap));
        th[i] = acos(class_cos(&fx, i, fx.labels[i], &gap));
    }
    /* lower median of 7 values: the 4th smallest */
    for (int i = 0; i < fx.N; i++)
        for (int k = i + 1; k < fx.N; k++)
            if (th[k] < th[i]) {
                const double t = th[i];
                th[i] = th[k];
                th[k] = t;
            }
    const double s1 = log(bsum / fx.N) / cos(fmin(M_PI / 4, th[3]));
    const double L = fx_run(&fx);
    if (!close_rel(loss_learned_scale(&fx.l), s1, 1e-12))
        fail_msg("adacos s %.17g, expected %.17g", loss_learned_scale(&fx.l), s1);
    double want = 0;
    for (int i = 0; i < fx.N; i++) {
        double gap, lse = -INFINITY, zs[CMAX];
        for (int j = 0; j < fx.C; j++) {
            zs[j] = s1 * class_cos(&fx, i, j, &gap);
            lse = fmax(lse, zs[j]);
        }
        double sum = 0;
        for (int j = 0; j < fx.C; j++)
            sum += exp(zs[j] - lse);
        want += lse + log(sum) - zs[fx.labels[i]];
    }
    assert_true(close_rel(L, want / fx.N, 1e-12));
    fx_free(&fx);
}

/* ---- (3) blocked head == plain path ---- */

/* N samples in d dimensions: N > d recomputes each block's G in pass 2, N ≤ d takes it from the
 * stash (head_pass.c), as do dynamic adacos's two first passes. */
static void compare_paths(const case_t *c, int N, int d, int C, int block, uint64_t seed, int through_sampler)
{
    char name[200];
    snprintf(name, sizeof name, "%s (N %d, d %d, C %d, block %d, %s)", c->name, N, d, C, block,
             through_sampler ? "sampled r=1" : "blocked");
    fx_t a, b;
    fx_init(&a, &c->cfg, N, d, C, seed, c->fscale);
    fx_init(&b, &c->cfg, N, d, C, seed, c->fscale);
    assert_false(a.l.head->use);
    loss_head_configure(&b.l, block, 1);
    for (int step = 0; step < 2; step++) { /* the second step starts from the first's state */
        const double La = fx_run(&a);
        double Lb;
        if (through_sampler) {
            paramset_zero_grad(&b.ps);
            memset(b.dfeat, 0, sizeof b.dfeat);
            assert_int_equal(loss_head_sample(&b.l, b.labels, N), C);
            Lb = loss_head_forward_backward(&b.l, b.dfeat, b.per, NULL, b.feat, b.labels, N, 0);
        } else {
            Lb = fx_run(&b);
            const int nblk = (C + block - 1) / block;
            assert_int_equal(b.l.head->stashed_blocks, N <= d ? nblk : 0);
        }
        if (!close_rel(La, Lb, REL))
            fail_msg("%s: loss %.17g vs %.17g", name, La, Lb);
        assert_close_arrays(a.per, b.per, (size_t)N, REL, "per_sample", name);
        assert_close_arrays(a.dfeat, b.dfeat, (size_t)N * d, REL, "dfeat", name);
        assert_close_arrays(a.ps.grad, b.ps.grad, a.ps.total, REL, "param grad", name);
        for (int k = 0; k < loss_margin_state_count(c->cfg.type); k++)
            if (!close_rel(loss_margin_state_get(&a.l, k), loss_margin_state_get(&b.l, k), REL))
                fail_msg("%s: state %d %.17g vs %.17g", name, k, loss_margin_state_get(&a.l, k),
                         loss_margin_state_get(&b.l, k));
        int pa[NMAX], pb[NMAX];
        loss_predict(&a.l, pa, a.feat, N);
        loss_predict(&b.l, pb, b.feat, N);
        for (int i = 0; i < N; i++)
            assert_int_equal(pa[i], pb[i]);
        for (int k = 0; k < N * d; k++) /* move the features a little for the second step */
            a.feat[k] = b.feat[k] = (real)(a.feat[k] * 0.9 + 0.05);
    }
    fx_free(&a);
    fx_free(&b);
}

static void test_blocked_equals_plain(void **state)
{
    (void)state;
    case_t cs[32];
    const int n = make_cases(cs);
    const int Cs[] = {3, 5, 7, 13, 32};
    const int blocks[] = {1, 3, 4, 64};
    for (int k = 0; k < n; k++) {
        for (int ci = 0; ci < 5; ci++) {
            for (int bi = 0; bi < 4; bi++) {
                compare_paths(&cs[k], 12, 5, Cs[ci], blocks[bi], 200 + 7 * ci + bi, 0);
                compare_paths(&cs[k], 5, 6, Cs[ci], blocks[bi], 500 + 7 * ci + bi, 0);
                compare_paths(&cs[k], 6, 6, Cs[ci], blocks[bi], 800 + 7 * ci + bi, 0);
            }
            compare_paths(&cs[k], 12, 5, Cs[ci], 4, 300 + ci, 1);
        }
    }
}

/* Partial FC (sample_rate 0.5): central differences of the sampled loss (class set and state
 * held) w.r.t. the features and W; the rows of W outside the set get exactly zero gradient. */
static double fd_sampled_loss(void *ctx)
{
    fx_t *fx = ctx;
    fx->l.head->sampled = 1; /* the same set as the analytic gradient */
    return loss_head_forward_backward(&fx->l, NULL, NULL, NULL, fx->feat, fx->labels, fx->N, 0);
}

static void test_sampled_fd(void **state)
{
    (void)state;
    case_t cs[32];
    const int n = make_cases(cs);
    enum { N = 5, C = 12 };
    for (int k = 0; k < n; k++) {
        loss_config cfg = cs[k].cfg;
        cfg.sample_rate = 0.5;
        fx_t fx;
        int ok = 0, ns = 0;
        for (uint64_t seed = 1; seed < 300 && !ok; seed++) {
            fx_init(&fx, &cfg, N, 4, C, 500 + seed, cs[k].fscale);
            if (cfg.type == LOSS_ADAFACE) {
                loss_margin_state_set(&fx.l, 0, 3.0);
                loss_margin_state_set(&fx.l, 1, 1.5);
            }
            paramset_zero_grad(&fx.ps);
            memset(fx.dfeat, 0, sizeof fx.dfeat);
            ns = loss_head_sample(&fx.l, fx.labels, N);
            loss_head_forward_backward(&fx.l, fx.dfeat, NULL, NULL, fx.feat, fx.labels, N, 0);
            if (kink_distance(&fx, 0) > SAFE)
                ok = 1;
            else
                fx_free(&fx);
        }
        if (!ok)
            fail_msg("%s: no seed keeps the inputs away from every branch", cs[k].name);
        assert_true(ns >= 6 && ns < C);
        fx.l.margin->freeze = 1;
        real *pg = malloc(sizeof(real) * fx.ps.total);
        memcpy(pg, fx.ps.grad, sizeof(real) * fx.ps.total);
        numgrad_result r = numgrad_check(fd_sampled_loss, &fx, fx.feat, fx.dfeat, (size_t)N * fx.d, FD_H, FD_RTOL,
                                         FD_ATOL);
        numgrad_result rw = numgrad_check(fd_sampled_loss, &fx, fx.ps.data, pg, fx.ps.total, FD_H, FD_RTOL, FD_ATOL);
        if (r.worst > 1 || rw.worst > 1) {
            printf("%s (sampled):\n", cs[k].name);
            numgrad_print("feat", r);
            numgrad_print("params", rw);
            fail();
        }
        int nc;
        const int *set = loss_head_classes(&fx.l, &nc);
        const int K = fx.R / C;
        for (int c = 0; c < C; c++) {
            int in = 0;
            for (int q = 0; q < nc; q++)
                in |= set[q] == c;
            for (int q = 0; !in && q < K * fx.d; q++)
                assert_true(pg[fx.ps.t[fx.l.w_idx].off + (size_t)c * K * fx.d + q] == 0);
        }
        free(pg);
        fx_free(&fx);
    }
}

/* bf16 storage: the head on bf16 weights equals the plain path on the same (rounded) weights,
 * ∂L/∂W to bf16 rounding. */
static void test_bf16_head(void **state)
{
    (void)state;
    case_t cs[32];
    const int n = make_cases(cs);
    for (int k = 0; k < n; k++) {
        loss_config c16 = cs[k].cfg;
        c16.head_dtype = HEAD_BF16;
        fx_t a, b;
        fx_init(&a, &cs[k].cfg, 8, 5, 11, 77, cs[k].fscale);
        fx_init(&b, &c16, 8, 5, 11, 77, cs[k].fscale);
        assert_null(b.l.W);
        assert_true(b.l.head->use);
        memcpy(b.feat, a.feat, sizeof a.feat);
        memcpy(b.labels, a.labels, sizeof a.labels);
        for (int q = 0; q < a.R * 5; q++) {
            b.l.W16[q] = bf16_from_float((float)a.l.W[q]);
            a.l.W[q] = bf16_to_float(b.l.W16[q]);
        }
        const double La = fx_run(&a), Lb = fx_run(&b);
        if (!close_rel(La, Lb, REL))
            fail_msg("%s bf16: loss %.17g vs %.17g", cs[k].name, La, Lb);
        assert_close_arrays(a.dfeat, b.dfeat, 8 * 5, REL, "dfeat", cs[k].name);
        for (int q = 0; q < a.R * 5; q++) {
            const double g32 = a.l.dW[q], g16 = bf16_to_float(b.l.dW16[q]);
            assert_true(fabs(g16 - g32) <= fabs(g32) / 256 + 1e-30);
        }
        fx_free(&a);
        fx_free(&b);
    }
}

/* Above LOSS_HEAD_PLAIN_MAX_C the margin losses take the blocked head; subcenter_arcface's W is C
 * rows of K·d (its sub-centres), so Partial FC updates whole classes. */
static void test_large_c_blocked(void **state)
{
    (void)state;
    for (int t = LOSS_MV_SOFTMAX; t <= LOSS_ADAFACE; t++) {
        loss_config c;
        loss_config_defaults(&c, (loss_type)t);
        loss l;
        paramset ps = {0};
        loss_init(&l, &c, 4, LOSS_HEAD_PLAIN_MAX_C + 10, 2, &ps);
        assert_true(l.head && l.head->use);
        const size_t K = t == LOSS_SUBCENTER_ARCFACE ? 3 : 1;
        assert_int_equal(ps.t[l.w_idx].n, (size_t)(LOSS_HEAD_PLAIN_MAX_C + 10) * K * 4);
        assert_int_equal(ps.t[l.w_idx].row_len, K * 4);
        loss_free(&l);
        paramset_free(&ps);
    }
}

/* ---- (4) state ---- */

static void test_state_ema(void **state)
{
    (void)state;
    loss_config c = cfg_of(LOSS_CURRICULARFACE, 10, 0.5);
    fx_t fx;
    fx_init(&fx, &c, 8, 5, 4, 9, 1.5);
    assert_true(loss_margin_state_count(LOSS_CURRICULARFACE) == 1);
    assert_string_equal(loss_margin_state_name(LOSS_CURRICULARFACE, 0), "t");
    double t = 0;
    for (int step = 0; step < 3; step++) {
        double mean = 0, gap;
        for (int i = 0; i < fx.N; i++)
            mean += class_cos(&fx, i, fx.labels[i], &gap);
        t = 0.01 * mean / fx.N + 0.99 * t;
        fx_run(&fx);
        assert_true(close_rel(loss_margin_state_get(&fx.l, 0), t, 1e-13));
    }
    fx_free(&fx);

    c = cfg_of(LOSS_ADAFACE, 10, 0.4);
    c.t_alpha = 0.3;
    fx_init(&fx, &c, 8, 5, 4, 9, 1.5);
    double mu = 20, sd = 100;
    for (int step = 0; step < 2; step++) {
        double mean = 0, ss = 0;
        for (int i = 0; i < fx.N; i++)
            mean += norm_of(fx.feat + i * fx.d, fx.d);
        mean /= fx.N;
        for (int i = 0; i < fx.N; i++)
            ss += pow(norm_of(fx.feat + i * fx.d, fx.d) - mean, 2);
        mu = 0.3 * mean + 0.7 * mu;
        sd = 0.3 * sqrt(ss / (fx.N - 1)) + 0.7 * sd;
        fx_run(&fx);
        assert_true(close_rel(loss_margin_state_get(&fx.l, 0), mu, 1e-13));
        assert_true(close_rel(loss_margin_state_get(&fx.l, 1), sd, 1e-13));
    }
    fx_free(&fx);
}

/* A loss built afresh and given the saved state continues exactly like the original (what a
 * resumed run does); without the state it does not. */
static void test_state_resume(void **state)
{
    (void)state;
    const loss_type types[] = {LOSS_CURRICULARFACE, LOSS_ADAFACE, LOSS_ADACOS};
    for (size_t k = 0; k < 3; k++) {
        loss_config c = cfg_of(types[k], 10, types[k] == LOSS_ADAFACE ? 0.4 : 0.5);
        fx_t a, b, fresh;
        fx_init(&a, &c, 8, 5, 4, 21, 1.5);
        fx_init(&b, &c, 8, 5, 4, 21, 1.5);
        fx_init(&fresh, &c, 8, 5, 4, 21, 1.5);
        for (int s = 0; s < 3; s++)
            fx_run(&a);
        for (int q = 0; q < loss_margin_state_count(c.type); q++)
            loss_margin_state_set(&b.l, q, loss_margin_state_get(&a.l, q));
        const double La = fx_run(&a), Lb = fx_run(&b), Lf = fx_run(&fresh);
        assert_true(La == Lb);
        assert_close_arrays(a.dfeat, b.dfeat, (size_t)a.N * a.d, 0, "dfeat", loss_type_name(c.type));
        assert_false(La == Lf);
        fx_free(&a);
        fx_free(&b);
        fx_free(&fresh);
    }
}

static void test_elastic_draws(void **state)
{
    (void)state;
    loss_config c = cfg_of(LOSS_ELASTICFACE, 10, 0.5);
    c.sigma = 0.05;
    enum { N = 16 };
    fx_t a, b;
    fx_init(&a, &c, N, 5, 4, 4, 1.5);
    fx_init(&b, &c, N, 5, 4, 4, 1.5);
    double sum = 0, ss = 0;
    const int steps = 400;
    for (int s = 0; s < steps; s++) {
        fx_run(&a);
        fx_run(&b);
        for (int i = 0; i < N; i++) {
            assert_true(a.l.margin->mi[i] == b.l.margin->mi[i]);
            sum += a.l.margin->mi[i];
            ss += pow(a.l.margin->mi[i] - 0.5, 2);
        }
    }
    const double mean = sum / (steps * N), sd = sqrt(ss / (steps * N));
    if (fabs(mean - 0.5) > 0.004 || fabs(sd - 0.05) > 0.004)
        fail_msg("elasticface margins: mean %g sd %g, expected N(0.5, 0.05)", mean, sd);
    fx_free(&a);
    fx_free(&b);
    /* plus: the larger the target cosine, the smaller the margin */
    c.plus = 1;
    fx_init(&a, &c, N, 5, 4, 4, 1.5);
    fx_run(&a);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < N; k++) {
            double gi, gk;
            const double ci = class_cos(&a, i, a.labels[i], &gi), ck = class_cos(&a, k, a.labels[k], &gk);
            if (ci > ck)
                assert_true(a.l.margin->mi[i] <= a.l.margin->mi[k]);
        }
    fx_free(&a);
}

/* ---- (5) config ---- */

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

static void written_has(const nb_config *c, const char *want)
{
    char buf[8192] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    assert_non_null(f);
    assert_int_equal(config_write(c, f), 0);
    fclose(f);
    if (!strstr(buf, want))
        fail_msg("resolved config lacks '%s':\n%s", want, buf);
}

static void test_config(void **state)
{
    (void)state;
    nb_config c;
    nb_error err;
    assert_int_equal(resolve("mv_softmax", NULL, NULL, &c, &err), 0);
    assert_true(c.loss.variant == VARIANT_AM && c.loss.m == 0.35 && c.loss.t == 1.12 && c.loss.s == 32);
    written_has(&c, "  variant: am\n");
    written_has(&c, "  t: 1.12");
    assert_int_equal(resolve("mv_softmax", "loss.variant", "arc", &c, &err), 0);
    assert_int_equal(c.loss.variant, VARIANT_ARC);
    assert_int_equal(resolve("mv_softmax", "loss.variant", "cos", &c, &err), -1);
    assert_non_null(strstr(err.msg, "loss.variant"));
    assert_int_equal(resolve("mv_softmax", "loss.t", "0.5", &c, &err), -1);
    assert_non_null(strstr(err.msg, "loss.t"));
    assert_int_equal(resolve("curricularface", NULL, NULL, &c, &err), 0);
    assert_true(c.loss.m == 0.5 && c.loss.s == 64);
    assert_int_equal(resolve("curricularface", "loss.t", "1.1", &c, &err), -1);
    assert_non_null(strstr(err.msg, "does not apply"));
    assert_int_equal(resolve("subcenter_arcface", NULL, NULL, &c, &err), 0);
    assert_true(c.loss.K == 3 && c.loss.m == 0.5 && c.loss.s == 64);
    written_has(&c, "  K: 3\n");
    assert_int_equal(resolve("subcenter_arcface", "loss.K", "0", &c, &err), -1);
    assert_int_equal(resolve("subcenter_arcface", "loss.t", "1.1", &c, &err), -1);
    assert_non_null(strstr(err.msg, "does not apply"));
    assert_int_equal(resolve("elasticface", NULL, NULL, &c, &err), 0);
    assert_true(c.loss.variant == VARIANT_ARC && c.loss.m == 0.5 && c.loss.sigma == 0.05 && !c.loss.plus);
    written_has(&c, "  sigma: 0.05");
    written_has(&c, "  plus: false\n");
    assert_int_equal(resolve("elasticface", "loss.variant", "am", &c, &err), -1);
    assert_non_null(strstr(err.msg, "loss.variant"));
    assert_int_equal(resolve("elasticface", "loss.sigma", "-0.1", &c, &err), -1);
    assert_non_null(strstr(err.msg, "loss.sigma"));
    assert_int_equal(resolve("adacos", NULL, NULL, &c, &err), 0);
    assert_true(c.loss.dynamic == 1);
    written_has(&c, "  dynamic: true\n");
    assert_int_equal(resolve("adacos", "loss.s", "30", &c, &err), -1);
    assert_non_null(strstr(err.msg, "does not apply"));
    assert_int_equal(resolve("magface", NULL, NULL, &c, &err), 0);
    assert_true(c.loss.l_a == 10 && c.loss.u_a == 110 && c.loss.l_m == 0.45 && c.loss.u_m == 0.8 &&
                c.loss.lambda_g == 35 && c.loss.s == 64 && c.loss.easy_margin);
    written_has(&c, "  lambda_g: 35\n");
    assert_int_equal(resolve("magface", "loss.u_a", "5", &c, &err), -1);
    assert_non_null(strstr(err.msg, "loss.u_a"));
    assert_int_equal(resolve("magface", "loss.m", "0.5", &c, &err), -1);
    assert_non_null(strstr(err.msg, "does not apply"));
    assert_int_equal(resolve("adaface", NULL, NULL, &c, &err), 0);
    assert_true(c.loss.m == 0.4 && c.loss.h == 0.333 && c.loss.s == 64 && c.loss.t_alpha == 0.01);
    written_has(&c, "  t_alpha: 0.01");
    assert_int_equal(resolve("adaface", "loss.t_alpha", "2", &c, &err), -1);
    assert_non_null(strstr(err.msg, "loss.t_alpha"));
    char msg[256];
    loss_config lc = cfg_of(LOSS_ADACOS, 1, 0);
    assert_int_equal(loss_config_check(&lc, 2, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "adacos"));
}

/* A training run through the binary logs the carried state in metrics.csv, and two runs of a
 * config are identical (elasticface's draws and curricularface's t included), seconds aside. */
static char *metrics_without_seconds(const char *dir, const char *run)
{
    char path[600];
    snprintf(path, sizeof path, "%s/tiny/%s/metrics.csv", dir, run);
    char *m = slurp(path);
    assert_non_null(m);
    /* drop the seconds column, the 11th field of every line */
    char *out = calloc(strlen(m) + 1, 1), *o = out;
    int field = 0;
    for (const char *c = m; *c; c++) {
        if (*c == '\n')
            field = 0;
        else if (*c == ',')
            field++;
        if (field != 10 || *c == '\n')
            *o++ = *c;
    }
    free(m);
    m = out;
    return m;
}

static void test_training_state_columns(void **state)
{
    (void)state;
    char dir[64];
    assert_int_equal(make_tmpdir(dir, sizeof dir, "/tmp/nb_test_margin.XXXXXX"), 0);
    const struct {
        const char *type, *want;
    } runs[] = {
        {"curricularface", "learned_scale,learned_bias,loss_t\n"},
        {"adaface", "learned_scale,learned_bias,loss_mu,loss_sd\n"},
        {"adacos", "learned_scale,learned_bias,loss_s\n"},
        {"elasticface", "learned_scale,learned_bias\n"},
    };
    for (size_t k = 0; k < 4; k++) {
        char *first = NULL;
        for (int rep = 0; rep < 2; rep++) {
            char cmd[1024];
            snprintf(cmd, sizeof cmd,
                     "bin/normbench train tests/fixtures/tiny_train.yaml --quiet --results %s --set loss.type=%s "
                     "--set run_id=%s_r%d > /dev/null",
                     dir, runs[k].type, runs[k].type, rep);
            assert_int_equal(sh(cmd), 0);
            char run[64]; /* one folder per loss and repeat: train refuses to reuse a finished run's */
            snprintf(run, sizeof run, "%s_r%d", runs[k].type, rep);
            char *m = metrics_without_seconds(dir, run);
            if (!strstr(m, runs[k].want))
                fail_msg("%s: metrics.csv lacks '%s':\n%s", runs[k].type, runs[k].want, m);
            if (rep == 0) {
                first = m;
            } else {
                assert_string_equal(first, m);
                free(first);
                free(m);
            }
        }
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(sh(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd),
        cmocka_unit_test(test_identities),
        cmocka_unit_test(test_adacos_dynamic),
        cmocka_unit_test(test_blocked_equals_plain),
        cmocka_unit_test(test_large_c_blocked),
        cmocka_unit_test(test_sampled_fd),
        cmocka_unit_test(test_bf16_head),
        cmocka_unit_test(test_state_ema),
        cmocka_unit_test(test_state_resume),
        cmocka_unit_test(test_elastic_draws),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_training_state_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
