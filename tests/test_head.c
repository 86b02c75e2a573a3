/* test_head.c — the classification head at large C (lib/loss/head.c, docs/losses.md §1), in double:
 * (1) the blocked path equals the plain path (softmax.c, normface.c) to ~1e-10 relative
 *     for every classification loss and option, for several C and block sizes (C < block, C not a
 *     multiple of the block), in the loss, per-sample losses, ∂L/∂f, ∂L/∂W, ∂L/∂b, ∂L/∂s|α and
 *     the predictions;
 * (2) sampled softmax (Partial FC): r = 1 through the sampled code path equals the full loss; with
 *     r < 1 the class set holds every positive, has size max(ceil(rC), #positives), is sorted and
 *     deterministic for a seed, and an SGD step changes only the sampled rows of W, b and their
 *     momentum (the others bit-identical); central finite differences of the sampled loss w.r.t.
 *     the features, W (sampled rows; the others have zero gradient) and b / s / α;
 * (3) bf16: round-to-nearest-even on known values, the exact round trip of every bf16 value, and
 *     a bf16 head equal to a float head holding the bf16-rounded weights;
 * (4) the config keys loss.sample_rate and loss.head_dtype;
 * (5) the training predictions of the head's forward pass (loss_forward_backward_predict): at r = 1
 *     equal to loss_predict's for every type, with exact ties (duplicate weight rows, the lowest
 *     class wins) and on 1 and 2 threads; at r < 1 the argmax among the step's sampled classes
 *     (checked by brute force); the loss and every gradient bit-identical with and without them. */
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
#include "core/gemm.h"
#include "core/rng.h"
#include "loss/head.h"
#include "loss/loss.h"
#include "nn/optim.h"
#include "nn/paramset.h"
#include "numgrad.h"
#include "test_util.h"

#ifdef _OPENMP
#include <omp.h>
#endif

enum { NMAX = 24, DMAX = 8, CMAX = 64 };
#define REL 1e-10
#define FD_H 1e-6
#define FD_RTOL 1e-5
#define FD_ATOL 1e-7

typedef struct {
    loss l;
    paramset ps;
    int N, d, C;
    long iter;
    real feat[NMAX * DMAX];
    int labels[NMAX];
    real dfeat[NMAX * DMAX];
    real per[NMAX];
} fx_t;

/* A loss over N samples, d dims, C classes; features, labels, W (and b) random from seed. */
static void fx_init(fx_t *fx, const loss_config *cfg, int N, int d, int C, uint64_t seed)
{
    memset(fx, 0, sizeof *fx);
    fx->N = N;
    fx->d = d;
    fx->C = C;
    rng_t r;
    loss_fixture_init(&fx->l, &fx->ps, cfg, N, d, C, seed, &r);
    numgrad_fill_normal(&r, fx->feat, (size_t)N * d, 1.5);
    for (int i = 0; i < N; i++)
        fx->labels[i] = (int)rng_below(&r, (uint64_t)C);
    if (fx->l.W)
        numgrad_fill_normal(&r, fx->l.W, (size_t)C * d, 1.0);
    if (fx->l.b)
        numgrad_fill_normal(&r, fx->l.b, (size_t)C, 0.5);
}

static void fx_free(fx_t *fx) { loss_fixture_free(&fx->l, &fx->ps); }

static double fx_run(fx_t *fx)
{
    paramset_zero_grad(&fx->ps);
    memset(fx->dfeat, 0, sizeof fx->dfeat);
    return loss_forward_backward(&fx->l, fx->dfeat, fx->per, fx->feat, fx->labels, fx->N, fx->iter);
}

static int close_rel(double a, double b, double rel) { return fabs(a - b) <= rel * (fabs(a) + fabs(b)) + 1e-14; }

static void assert_close_arrays(const real *a, const real *b, size_t n, const char *what, const char *name)
{
    for (size_t k = 0; k < n; k++)
        if (!close_rel(a[k], b[k], REL)) {
            print_error("%s: %s[%zu] %.17g vs %.17g\n", name, what, k, (double)a[k], (double)b[k]);
            fail();
        }
}

/* The configurations every equality test runs: each classification type and its options. */
typedef struct {
    const char *name;
    loss_config cfg;
    long iter;
} case_t;

static int make_cases(case_t *cs)
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
    ADD("softmax", LOSS_SOFTMAX, );
    ADD("softmax no bias", LOSS_SOFTMAX, c->bias = 0);
    ADD("l2softmax", LOSS_L2SOFTMAX, c->alpha = 5);
    ADD("l2softmax no bias, learned alpha", LOSS_L2SOFTMAX, c->bias = 0; c->learn_alpha = 1; c->alpha = 3);
    ADD("normface", LOSS_NORMFACE, c->s = 8);
    ADD("normface learned s", LOSS_NORMFACE, c->learn_s = 1; c->s = 6);
    ADD("cosface", LOSS_COSFACE, c->s = 10; c->m = 0.35);
    ADD("arcface", LOSS_ARCFACE, c->s = 10; c->m = 0.5);
    ADD("arcface easy_margin", LOSS_ARCFACE, c->s = 10; c->m = 0.5; c->easy_margin = 1);
    ADD("arcface detach_margin", LOSS_ARCFACE, c->s = 10; c->m = 0.5; c->detach_margin = 1);
    ADD("arcface large m", LOSS_ARCFACE, c->s = 12; c->m = 1.2);
    ADD("combined", LOSS_COMBINED, c->s = 10; c->m1 = 1.1; c->m2 = 0.3; c->m3 = 0.1);
    ADD("combined easy_margin", LOSS_COMBINED, c->s = 10; c->easy_margin = 1);
    ADD("combined detach_margin", LOSS_COMBINED, c->s = 10; c->detach_margin = 1);
    ADD("sphereface", LOSS_SPHEREFACE, c->m = 4);
    ADD("sphereface detach_margin, late", LOSS_SPHEREFACE, c->m = 3; c->detach_margin = 1; cs[n].iter = 5000);
#undef ADD
    return n;
}

static void compare_paths(const case_t *c, int N, int d, int C, int block, uint64_t seed, int through_sampler)
{
    char name[160];
    snprintf(name, sizeof name, "%s (C %d, block %d, %s)", c->name, C, block,
             through_sampler ? "sampled r=1" : "blocked");
    fx_t a, b;
    fx_init(&a, &c->cfg, N, d, C, seed);
    fx_init(&b, &c->cfg, N, d, C, seed);
    a.iter = b.iter = c->iter;
    assert_false(a.l.head->use); /* small C: plain path */
    loss_head_configure(&b.l, block, 1);
    const double La = fx_run(&a);
    double Lb;
    if (through_sampler) {
        paramset_zero_grad(&b.ps);
        memset(b.dfeat, 0, sizeof b.dfeat);
        assert_int_equal(loss_head_sample(&b.l, b.labels, N), C);
        Lb = loss_head_forward_backward(&b.l, b.dfeat, b.per, NULL, b.feat, b.labels, N, b.iter);
    } else {
        Lb = fx_run(&b);
    }
    if (!close_rel(La, Lb, REL)) {
        print_error("%s: loss %.17g vs %.17g\n", name, La, Lb);
        fail();
    }
    assert_close_arrays(a.per, b.per, (size_t)N, "per_sample", name);
    assert_close_arrays(a.dfeat, b.dfeat, (size_t)N * d, "dfeat", name);
    assert_int_equal(a.ps.total, b.ps.total);
    assert_close_arrays(a.ps.grad, b.ps.grad, a.ps.total, "param grad", name);
    if (c->cfg.type == LOSS_SPHEREFACE)
        assert_true(a.l.lambda == b.l.lambda);
    int pa[NMAX], pb[NMAX];
    loss_predict(&a.l, pa, a.feat, N);
    loss_predict(&b.l, pb, b.feat, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(pa[i], pb[i]);
    fx_free(&a);
    fx_free(&b);
}

static void test_blocked_equals_plain(void **state)
{
    (void)state;
    case_t cs[32];
    const int n = make_cases(cs);
    const int Cs[] = {2, 5, 7, 13, 32};
    const int blocks[] = {1, 3, 4, 8, 64};
    for (int k = 0; k < n; k++)
        for (int ci = 0; ci < 5; ci++)
            for (int bi = 0; bi < 5; bi++) {
                compare_paths(&cs[k], 12, 5, Cs[ci], blocks[bi], 100 + 7 * ci + bi, 0); /* B > d: G recomputed */
                compare_paths(&cs[k], 6, 8, Cs[ci], blocks[bi], 600 + 7 * ci + bi, 0);  /* B < d: G stashed */
                compare_paths(&cs[k], 8, 8, Cs[ci], blocks[bi], 900 + 7 * ci + bi, 0);  /* B = d */
            }
}

/* The stash (head_pass.c): with B ≤ d and ∂L/∂W zero on entry every block's G is kept in its own
 * rows of ∂L/∂W between the passes, with B > d none; a block whose stash values are not zero (a
 * gradient accumulated over two calls) recomputes its G, and the accumulated gradient still
 * equals the plain path's. */
static void run_accumulating(fx_t *fx, const real *g0)
{
    memcpy(fx->ps.grad, g0, sizeof(real) * fx->ps.total);
    memset(fx->dfeat, 0, sizeof fx->dfeat);
    loss_forward_backward(&fx->l, fx->dfeat, fx->per, fx->feat, fx->labels, fx->N, fx->iter);
}

static void test_stash(void **state)
{
    (void)state;
    case_t cs[32];
    const int n = make_cases(cs);
    enum { C = 13, BLOCK = 4, NBLK = 4 };
    for (int k = 0; k < n; k++) {
        fx_t b;
        fx_init(&b, &cs[k].cfg, 6, 8, C, 40 + k);
        b.iter = cs[k].iter;
        loss_head_configure(&b.l, BLOCK, 1);
        fx_run(&b);
        assert_int_equal(b.l.head->stashed_blocks, NBLK);
        for (int q = 0; q < NBLK; q++)
            assert_int_equal(b.l.head->stashed[q], 0); /* every stash taken out */
        fx_free(&b);
        fx_init(&b, &cs[k].cfg, 12, 5, C, 40 + k);
        loss_head_configure(&b.l, BLOCK, 1);
        fx_run(&b);
        assert_int_equal(b.l.head->stashed_blocks, 0);
        fx_free(&b);

        /* a gradient already in ∂L/∂W: everywhere, then in block 1's stash rows only */
        for (int part = 0; part < 2; part++) {
            fx_t a;
            fx_init(&a, &cs[k].cfg, 6, 8, C, 70 + k);
            fx_init(&b, &cs[k].cfg, 6, 8, C, 70 + k);
            a.iter = b.iter = cs[k].iter;
            loss_head_configure(&b.l, BLOCK, 1);
            real *g0 = calloc(a.ps.total, sizeof(real));
            rng_t r;
            rng_seed(&r, 5 + (uint64_t)k);
            if (part == 0)
                numgrad_fill_normal(&r, g0, a.ps.total, 0.3);
            else
                g0[a.ps.t[a.l.w_idx].off + (size_t)BLOCK * 8 + 3] = 0.25; /* class 4, inside block 1's G */
            run_accumulating(&a, g0);
            run_accumulating(&b, g0);
            assert_int_equal(b.l.head->stashed_blocks, part == 0 ? 0 : NBLK - 1);
            char name[160];
            snprintf(name, sizeof name, "%s (accumulating, part %d)", cs[k].name, part);
            assert_close_arrays(a.ps.grad, b.ps.grad, a.ps.total, "param grad", name);
            assert_close_arrays(a.dfeat, b.dfeat, (size_t)6 * 8, "dfeat", name);
            free(g0);
            fx_free(&a);
            fx_free(&b);
        }
    }
}

static void test_sampled_r1_equals_full(void **state)
{
    (void)state;
    case_t cs[32];
    const int n = make_cases(cs);
    for (int k = 0; k < n; k++) {
        compare_paths(&cs[k], 12, 5, 13, 4, 300 + k, 1);
        compare_paths(&cs[k], 10, 6, 9, 16, 400 + k, 1);
    }
}

/* Large C selects the blocked path and no (B, C) buffer. */
static void test_large_c_is_blocked(void **state)
{
    (void)state;
    loss_config cfg;
    loss_config_defaults(&cfg, LOSS_ARCFACE);
    loss l;
    paramset ps = {0};
    const int C = LOSS_HEAD_PLAIN_MAX_C + 1;
    loss_init(&l, &cfg, 4, C, 8, &ps);
    assert_true(l.head->use);
    assert_int_equal(l.scratch_n, 0);
    assert_true(ps.t[l.w_idx].row_len == 4);
    paramset_alloc(&ps);
    rng_t r;
    rng_seed(&r, 1);
    loss_bind(&l, &ps, &r);
    assert_true(loss_head_memory(&l) >= 3 * (size_t)C * 4 * sizeof(real));
    loss_free(&l);
    paramset_free(&ps);
}

static int in_set(const int *s, int n, int c)
{
    for (int k = 0; k < n; k++)
        if (s[k] == c)
            return 1;
    return 0;
}

static void test_sample_set(void **state)
{
    (void)state;
    loss_config cfg;
    loss_config_defaults(&cfg, LOSS_ARCFACE);
    cfg.sample_rate = 0.3;
    const int C = 50, N = 8;
    fx_t a, b, c;
    fx_init(&a, &cfg, N, 4, C, 7);
    fx_init(&b, &cfg, N, 4, C, 7);
    fx_init(&c, &cfg, N, 4, C, 8);
    assert_true(a.l.head->use);
    int differs = 0;
    for (int step = 0; step < 4; step++) {
        for (int i = 0; i < N; i++)
            a.labels[i] = b.labels[i] = c.labels[i] = (7 * i + 3 * step) % C;
        a.labels[1] = a.labels[0]; /* a repeated positive */
        b.labels[1] = b.labels[0];
        c.labels[1] = c.labels[0];
        const int na = loss_head_sample(&a.l, a.labels, N), nb = loss_head_sample(&b.l, b.labels, N);
        loss_head_sample(&c.l, c.labels, N);
        assert_int_equal(na, 15); /* ceil(0.3 · 50) */
        assert_int_equal(nb, na);
        int n1, n2, n3;
        const int *s1 = loss_head_classes(&a.l, &n1), *s2 = loss_head_classes(&b.l, &n2),
                  *s3 = loss_head_classes(&c.l, &n3);
        assert_int_equal(n1, 15);
        assert_memory_equal(s1, s2, (size_t)n1 * sizeof(int)); /* deterministic for a seed */
        differs |= memcmp(s1, s3, (size_t)n1 * sizeof(int)) != 0;
        for (int k = 1; k < n1; k++)
            assert_true(s1[k] > s1[k - 1]); /* sorted, distinct */
        for (int i = 0; i < N; i++)
            assert_true(in_set(s1, n1, a.labels[i]));
        /* the row list the optimizer will use is this set */
        assert_ptr_equal(a.ps.t[a.l.w_idx].rows, s1);
        assert_int_equal(a.ps.t[a.l.w_idx].n_rows, 15);
    }
    assert_true(differs); /* another seed, other negatives */
    /* more distinct positives than ceil(rC): just the positives */
    cfg.sample_rate = 0.1;
    fx_t e;
    fx_init(&e, &cfg, 20, 4, C, 9);
    for (int i = 0; i < 20; i++)
        e.labels[i] = 2 * i + 1;
    assert_int_equal(loss_head_sample(&e.l, e.labels, 20), 20);
    int ne;
    const int *se = loss_head_classes(&e.l, &ne);
    for (int k = 0; k < ne; k++)
        assert_int_equal(se[k], 2 * k + 1);
    fx_free(&a);
    fx_free(&b);
    fx_free(&c);
    fx_free(&e);
}

/* Two training steps with sampling: untouched rows of W, b and momentum stay bit-identical. */
static void check_sparse_step(loss_type t, head_dtype dt)
{
    loss_config cfg;
    loss_config_defaults(&cfg, t);
    cfg.sample_rate = 0.25;
    cfg.head_dtype = dt;
    const int C = 40, d = 6, N = 6;
    fx_t fx;
    fx_init(&fx, &cfg, N, d, C, 21);
    const param_tensor *tw = &fx.ps.t[fx.l.w_idx];
    const size_t esz = dt == HEAD_BF16 ? sizeof(uint16_t) : sizeof(real);
    char *W = dt == HEAD_BF16 ? (char *)(fx.ps.data16 + tw->off) : (char *)(fx.ps.data + tw->off);
    char *M = dt == HEAD_BF16 ? (char *)(fx.ps.mom16 + tw->off) : (char *)(fx.ps.mom + tw->off);
    char *G = dt == HEAD_BF16 ? (char *)(fx.ps.grad16 + tw->off) : (char *)(fx.ps.grad + tw->off);
    const size_t rowb = (size_t)d * esz;
    char *W0 = malloc((size_t)C * rowb), *M0 = malloc((size_t)C * rowb);
    real b0[64], bm0[64];
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < N; i++)
            fx.labels[i] = (5 * i + 11 * step) % C;
        memcpy(W0, W, (size_t)C * rowb);
        memcpy(M0, M, (size_t)C * rowb);
        if (fx.l.b) {
            memcpy(b0, fx.l.b, (size_t)C * sizeof(real));
            memcpy(bm0, fx.ps.mom + fx.ps.t[fx.l.b_idx].off, (size_t)C * sizeof(real));
        }
        fx_run(&fx);
        sgd_step(&fx.ps, 0.1, 0.9, 5e-4, 0);
        int n;
        const int *s = loss_head_classes(&fx.l, &n);
        assert_int_equal(n, 10);
        int changed = 0;
        for (int c = 0; c < C; c++) {
            const size_t o = (size_t)c * rowb;
            if (in_set(s, n, c)) {
                changed += memcmp(W + o, W0 + o, rowb) != 0;
                continue;
            }
            assert_memory_equal(W + o, W0 + o, rowb);
            assert_memory_equal(M + o, M0 + o, rowb);
            for (size_t k = 0; k < rowb; k++) /* gradient rows outside the set are zero */
                assert_int_equal(G[o + k], 0);
            if (fx.l.b) {
                assert_true(fx.l.b[c] == b0[c]);
                assert_true(fx.ps.mom[fx.ps.t[fx.l.b_idx].off + c] == bm0[c]);
            }
        }
        assert_true(changed >= n - 1); /* the sampled rows do move */
    }
    free(W0);
    free(M0);
    fx_free(&fx);
}

static void test_sampled_sgd_rows(void **state)
{
    (void)state;
    check_sparse_step(LOSS_SOFTMAX, HEAD_FLOAT32);
    check_sparse_step(LOSS_ARCFACE, HEAD_FLOAT32);
    check_sparse_step(LOSS_L2SOFTMAX, HEAD_BF16);
    check_sparse_step(LOSS_COSFACE, HEAD_BF16);
}

/* ---- finite differences of the sampled loss (the class set held fixed) ---- */

static double fx_sampled_loss(void *ctx)
{
    fx_t *fx = ctx;
    fx->l.head->sampled = 1; /* the same set as the analytic gradient */
    return loss_head_forward_backward(&fx->l, NULL, NULL, NULL, fx->feat, fx->labels, fx->N, fx->iter);
}

static void test_sampled_fd(void **state)
{
    (void)state;
    case_t cs[32];
    const int n = make_cases(cs);
    for (int k = 0; k < n; k++) {
        /* a detached margin's gradient is not the loss's (straight-through by design); the
         * equality tests cover it against the plain path, which test_losses checks */
        if (cs[k].cfg.detach_margin)
            continue;
        loss_config cfg = cs[k].cfg;
        cfg.sample_rate = 0.5;
        fx_t fx;
        fx_init(&fx, &cfg, 5, 4, 12, 500 + k);
        fx.iter = cs[k].iter;
        paramset_zero_grad(&fx.ps);
        memset(fx.dfeat, 0, sizeof fx.dfeat);
        const int ns = loss_head_sample(&fx.l, fx.labels, fx.N);
        assert_true(ns >= 6 && ns < 12);
        loss_head_forward_backward(&fx.l, fx.dfeat, NULL, NULL, fx.feat, fx.labels, fx.N, fx.iter);
        /* the FD evaluations accumulate into the paramset's gradients too: keep the analytic ones */
        real *pg = malloc(sizeof(real) * fx.ps.total);
        memcpy(pg, fx.ps.grad, sizeof(real) * fx.ps.total);
        numgrad_result r = numgrad_check(fx_sampled_loss, &fx, fx.feat, fx.dfeat, (size_t)fx.N * fx.d, FD_H, FD_RTOL,
                                         FD_ATOL);
        if (r.worst > 1) {
            print_error("%s: dfeat[%zu] analytic %.10g numeric %.10g\n", cs[k].name, r.index, r.analytic, r.numeric);
            fail();
        }
        r = numgrad_check(fx_sampled_loss, &fx, fx.ps.data, pg, fx.ps.total, FD_H, FD_RTOL, FD_ATOL);
        if (r.worst > 1) {
            print_error("%s: param grad[%zu] analytic %.10g numeric %.10g\n", cs[k].name, r.index, r.analytic,
                        r.numeric);
            fail();
        }
        /* rows outside the set: exactly zero gradient */
        int nc;
        const int *s = loss_head_classes(&fx.l, &nc);
        for (int c = 0; c < 12; c++)
            if (!in_set(s, nc, c))
                for (int q = 0; q < 4; q++)
                    assert_true(pg[fx.ps.t[fx.l.w_idx].off + (size_t)c * 4 + q] == 0);
        free(pg);
        fx_free(&fx);
    }
}

/* ---- training predictions from the forward pass (loss_forward_backward_predict) ---- */

static double fx_run_pred(fx_t *fx, int *pred)
{
    paramset_zero_grad(&fx->ps);
    memset(fx->dfeat, 0, sizeof fx->dfeat);
    return loss_forward_backward_predict(&fx->l, fx->dfeat, fx->per, pred, fx->feat, fx->labels, fx->N, fx->iter);
}

/* The head's thread count (OpenMP's) for the duration of a test; restored by threads_restore. */
static int threads_saved(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Class c2's weights (and bias) become class c's, scaled by 4, and feature `row` is set to w_c: c
 * and c2 tie exactly, and are that row's best score for the angular losses (cos θ = 1) and usually
 * for the softmax family (the caller counts). bf16 weights: the scaling by 4 is exact. */
static void make_tie(fx_t *fx, int c, int c2, int row)
{
    const int d = fx->d;
    for (int k = 0; k < d; k++) {
        if (fx->l.W) {
            fx->l.W[(size_t)c * d + k] *= 4;
            fx->l.W[(size_t)c2 * d + k] = fx->l.W[(size_t)c * d + k];
            fx->feat[(size_t)row * d + k] = fx->l.W[(size_t)c * d + k];
        } else {
            const uint16_t w4 = bf16_from_float(4 * bf16_to_float(fx->l.W16[(size_t)c * d + k]));
            fx->l.W16[(size_t)c * d + k] = fx->l.W16[(size_t)c2 * d + k] = w4;
            fx->feat[(size_t)row * d + k] = bf16_to_float(w4);
        }
    }
    if (fx->l.b)
        fx->l.b[c2] = fx->l.b[c];
}

/* r = 1: the fused predictions equal loss_predict's, on 1 and 2 threads, for C = 13 in blocks of
 * 1, 4 and 64. Ties {5, 9}, {1, 2}, {3, 11}, {0, 12} (rows 0–3) put the tied classes in one block,
 * in two blocks of one thread and in blocks of different threads (blocks of 4: thread 0 holds
 * classes 0–3 and 8–11, thread 1 holds 4–7 and 12); where a tied pair is predicted the lower class
 * must win, and each pair must have decided some prediction in blocks of 4 on 2 threads. */
static void test_fused_predict_full(void **state)
{
    (void)state;
    const int saved = threads_saved();
    case_t cs[32];
    const int n = make_cases(cs);
    const int ties[4][2] = {{5, 9}, {1, 2}, {3, 11}, {0, 12}}, blocks[] = {1, 4, 64};
    enum { N = 12, D = 5, C = 13 };
    int decided[4] = {0};
    for (int k = 0; k < n; k++)
        for (int bf = 0; bf < 2; bf++) {
            if (bf && k % 4) /* bf16 storage for a few of the types */
                continue;
            loss_config cfg = cs[k].cfg;
            cfg.head_dtype = bf ? HEAD_BF16 : HEAD_FLOAT32;
            for (int seed = 0; seed < 2; seed++)
                for (int bi = 0; bi < 3; bi++) {
                    fx_t fx;
                    fx_init(&fx, &cfg, N, D, C, 600 + 10 * k + 3 * seed + bi);
                    fx.iter = cs[k].iter;
                    loss_head_configure(&fx.l, blocks[bi], 1);
                    if (seed == 1)
                        for (int t = 0; t < 4; t++)
                            make_tie(&fx, ties[t][0], ties[t][1], t);
                    int ref[N], fused[N], again[N];
                    nb_set_threads(1);
                    loss_predict(&fx.l, ref, fx.feat, N);
                    for (int th = 1; th <= 2; th++) {
                        nb_set_threads(th);
                        fx_run_pred(&fx, fused);
                        loss_predict(&fx.l, again, fx.feat, N);
                        for (int i = 0; i < N; i++)
                            if (fused[i] != ref[i] || again[i] != ref[i]) {
                                print_error("%s%s (block %d, seed %d, %d threads): row %d fused %d, loss_predict %d "
                                            "(1 thread) and %d\n",
                                            cs[k].name, bf ? " bf16" : "", blocks[bi], seed, th, i, fused[i], ref[i],
                                            again[i]);
                                fail();
                            }
                        for (int t = 0; seed == 1 && t < 4; t++) {
                            if (fused[t] == ties[t][1]) {
                                print_error("%s: tie {%d, %d} (block %d, %d threads) predicted %d\n", cs[k].name,
                                            ties[t][0], ties[t][1], blocks[bi], th, fused[t]);
                                fail();
                            }
                            decided[t] += fused[t] == ties[t][0] && blocks[bi] == 4 && th == 2;
                        }
                    }
                    fx_free(&fx);
                }
        }
    for (int t = 0; t < 4; t++)
        assert_true(decided[t] > 0);
    nb_set_threads(saved);
}

/* The head's score of class c for feature i (loss_head_predict's, in double): the logit
 * a x_i·w_c + b_c (softmax family, x = f or f̂), or cos θ_ic. */
static double brute_score(const fx_t *fx, int i, int c)
{
    const loss *l = &fx->l;
    const int d = fx->d;
    const real *f = fx->feat + (size_t)i * d;
    double ff = 0, fw = 0, ww = 0;
    for (int k = 0; k < d; k++) {
        const double w = l->W ? l->W[(size_t)c * d + k] : bf16_to_float(l->W16[(size_t)c * d + k]);
        ff += (double)f[k] * f[k];
        fw += (double)f[k] * w;
        ww += w * w;
    }
    switch (l->cfg.type) {
    case LOSS_SOFTMAX: return fw + (l->b ? l->b[c] : 0);
    case LOSS_L2SOFTMAX:
        return (l->scale ? l->scale[0] : l->cfg.alpha) * fw / sqrt(ff + 1e-12) + (l->b ? l->b[c] : 0);
    default: return fw / sqrt(ff + 1e-12) / sqrt(ww + 1e-12);
    }
}

/* r < 1: each fused prediction is a sampled class and the argmax over the sampled classes (brute
 * force, ties to the lowest class; a near tie within 1e-9 may go either way), the same on 1 and 2
 * threads; row 0 ties its own class with row 1's (both sampled, as labels). Across the cases some
 * predictions must differ from loss_predict's argmax over every class — sampling does change them. */
static void test_fused_predict_sampled(void **state)
{
    (void)state;
    const int saved = threads_saved();
    case_t cs[32];
    const int n = make_cases(cs);
    enum { N = 12, D = 5, C = 40 };
    int differ = 0, checked = 0;
    for (int k = 0; k < n; k++) {
        loss_config cfg = cs[k].cfg;
        cfg.sample_rate = 0.3;
        cfg.head_dtype = k % 5 == 2 ? HEAD_BF16 : HEAD_FLOAT32;
        fx_t a, b;
        fx_init(&a, &cfg, N, D, C, 700 + k);
        fx_init(&b, &cfg, N, D, C, 700 + k);
        a.iter = b.iter = cs[k].iter;
        loss_head_configure(&a.l, 4, 1);
        loss_head_configure(&b.l, 4, 1);
        for (int step = 0; step < 3; step++) {
            for (int i = 0; i < N; i++)
                a.labels[i] = b.labels[i] = (7 * i + 13 * step + k) % C;
            if (step == 2) {
                make_tie(&a, a.labels[0], a.labels[1], 0);
                make_tie(&b, b.labels[0], b.labels[1], 0);
            }
            int pa[N], pb[N], full[N];
            nb_set_threads(1);
            fx_run_pred(&a, pa);
            nb_set_threads(2);
            fx_run_pred(&b, pb);
            nb_set_threads(1);
            loss_predict(&a.l, full, a.feat, N);
            int ns;
            const int *s = loss_head_classes(&a.l, &ns);
            assert_int_equal(ns, 12); /* ceil(0.3 · 40) */
            for (int i = 0; i < N; i++) {
                assert_int_equal(pa[i], pb[i]);
                if (!in_set(s, ns, pa[i])) {
                    print_error("%s step %d: row %d predicted %d, not a sampled class\n", cs[k].name, step, i, pa[i]);
                    fail();
                }
                int best = s[0];
                for (int q = 1; q < ns; q++)
                    if (brute_score(&a, i, s[q]) > brute_score(&a, i, best))
                        best = s[q];
                const double sb = brute_score(&a, i, best), sp = brute_score(&a, i, pa[i]);
                if (pa[i] != best && !(sp >= sb - 1e-9 * (1 + fabs(sb)))) {
                    print_error("%s step %d: row %d predicted %d (score %.17g), argmax over the sample is %d (%.17g)\n",
                                cs[k].name, step, i, pa[i], sp, best, sb);
                    fail();
                }
                differ += pa[i] != full[i];
                checked++;
            }
            if (step == 2)
                assert_int_equal(pa[0], a.labels[0] < a.labels[1] ? a.labels[0] : a.labels[1]);
        }
        fx_free(&a);
        fx_free(&b);
    }
    assert_true(differ > 0 && differ < checked);
    nb_set_threads(saved);
}

/* Asking for predictions changes nothing else: loss, per-sample losses, ∂L/∂f and every parameter
 * gradient bit-identical, for the blocked head (every class and sampled, float and bf16) on 1 and 2
 * threads, and for the plain path; there the predictions are loss_predict's. */
static void test_fused_predict_no_side_effects(void **state)
{
    (void)state;
    const int saved = threads_saved();
    case_t cs[32];
    const int n = make_cases(cs);
    enum { N = 10, D = 6, C = 17 };
    for (int k = 0; k < n + 2; k++)
        for (int mode = 0; mode < 4; mode++) /* plain, blocked, sampled, sampled bf16 */
            for (int th = 1; th <= 2; th++) {
                loss_config cfg;
                if (k < n) {
                    cfg = cs[k].cfg;
                } else {
                    loss_config_defaults(&cfg, k == n ? LOSS_C_CONTRASTIVE : LOSS_C_TRIPLET);
                    if (mode)
                        continue;
                }
                cfg.sample_rate = mode >= 2 ? 0.4 : 1;
                cfg.head_dtype = mode == 3 ? HEAD_BF16 : HEAD_FLOAT32;
                nb_set_threads(th);
                fx_t a, b;
                fx_init(&a, &cfg, N, D, C, 800 + k);
                fx_init(&b, &cfg, N, D, C, 800 + k);
                a.iter = b.iter = k < n ? cs[k].iter : 0;
                if (mode) {
                    loss_head_configure(&a.l, 3, 1);
                    loss_head_configure(&b.l, 3, 1);
                }
                for (int step = 0; step < 2; step++) {
                    for (int i = 0; i < N; i++)
                        a.labels[i] = b.labels[i] = (3 * i + 5 * step) % C;
                    int pb[N], ref[N];
                    const double La = fx_run(&a), Lb = fx_run_pred(&b, pb);
                    assert_memory_equal(&La, &Lb, sizeof La);
                    assert_memory_equal(a.per, b.per, sizeof a.per);
                    assert_memory_equal(a.dfeat, b.dfeat, sizeof a.dfeat);
                    assert_int_equal(a.ps.total, b.ps.total);
                    assert_memory_equal(a.ps.grad, b.ps.grad, a.ps.total * sizeof(real));
                    if (a.ps.total16)
                        assert_memory_equal(a.ps.grad16, b.ps.grad16, a.ps.total16 * sizeof(uint16_t));
                    if (mode == 0) {
                        loss_predict(&a.l, ref, a.feat, N);
                        assert_memory_equal(ref, pb, sizeof ref);
                    }
                }
                fx_free(&a);
                fx_free(&b);
            }
    nb_set_threads(saved);
}

/* ---- bf16 ---- */

static float f_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void test_bf16_rounding(void **state)
{
    (void)state;
    assert_int_equal(bf16_from_float(1.0f), 0x3f80);
    assert_int_equal(bf16_from_float(-2.0f), 0xc000);
    assert_int_equal(bf16_from_float(0.0f), 0x0000);
    assert_int_equal(bf16_from_float(-0.0f), 0x8000);
    assert_int_equal(bf16_from_float(f_of(0x40490fdbu)), 0x4049);   /* π → 3.140625 (down) */
    assert_int_equal(bf16_from_float(f_of(0x3f808000u)), 0x3f80);   /* 1 + 2^-8: tie, even stays */
    assert_int_equal(bf16_from_float(f_of(0x3f818000u)), 0x3f82);   /* 1 + 3·2^-8: tie, odd rounds up */
    assert_int_equal(bf16_from_float(f_of(0x3f808001u)), 0x3f81);   /* just above the tie */
    assert_int_equal(bf16_from_float(f_of(0x3f807fffu)), 0x3f80);   /* just below */
    assert_int_equal(bf16_from_float(f_of(0xbf818000u)), 0xbf82);   /* sign symmetric */
    assert_int_equal(bf16_from_float(f_of(0x7f800000u)), 0x7f80);   /* +Inf */
    assert_int_equal(bf16_from_float(f_of(0x7f7fffffu)), 0x7f80);   /* FLT_MAX overflows to Inf */
    assert_int_equal(bf16_from_float(f_of(0x00008000u)), 0x0000);   /* subnormal tie to even 0 */
    assert_int_equal(bf16_from_float(f_of(0x00018000u)), 0x0002);   /* subnormal tie, odd up */
    assert_true(isnan(bf16_to_float(bf16_from_float(f_of(0x7f800001u))))); /* sNaN stays NaN */
    assert_true(isnan(bf16_to_float(bf16_from_float(NAN))));
    assert_true(bf16_to_float(0x4049) == 3.140625f);
    assert_true(bf16_to_float(0x3f81) == 1.0078125f);
    assert_true(bf16_to_float(0x3f82) == 1.015625f);
    /* every bf16 value survives the round trip */
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = bf16_to_float((uint16_t)h);
        if (isnan(f))
            assert_true(isnan(bf16_to_float(bf16_from_float(f))));
        else
            assert_int_equal(bf16_from_float(f), h);
    }
}

/* A bf16 head is a float head with bf16-rounded weights (forward to ~1e-10 in double; its
 * gradient to bf16's resolution). */
static void test_bf16_head(void **state)
{
    (void)state;
    const loss_type types[] = {LOSS_SOFTMAX, LOSS_ARCFACE, LOSS_SPHEREFACE};
    for (int ti = 0; ti < 3; ti++) {
        loss_config c32, c16;
        loss_config_defaults(&c32, types[ti]);
        c16 = c32;
        c16.head_dtype = HEAD_BF16;
        fx_t a, b;
        fx_init(&a, &c32, 8, 5, 11, 77);
        fx_init(&b, &c16, 8, 5, 11, 77);
        assert_null(b.l.W);
        assert_non_null(b.l.W16);
        assert_true(b.l.head->use);
        memcpy(b.feat, a.feat, sizeof a.feat);
        memcpy(b.labels, a.labels, sizeof a.labels);
        if (a.l.b)
            memcpy(b.l.b, a.l.b, 11 * sizeof(real));
        for (int k = 0; k < 11 * 5; k++) {
            b.l.W16[k] = bf16_from_float((float)a.l.W[k]);
            a.l.W[k] = bf16_to_float(b.l.W16[k]);
        }
        const double La = fx_run(&a), Lb = fx_run(&b);
        assert_true(close_rel(La, Lb, REL));
        assert_close_arrays(a.dfeat, b.dfeat, 8 * 5, "dfeat", "bf16");
        for (int k = 0; k < 11 * 5; k++) {
            const double g32 = a.l.dW[k], g16 = bf16_to_float(b.l.dW16[k]);
            assert_true(fabs(g16 - g32) <= fabs(g32) / 256 + 1e-30);
        }
        fx_free(&a);
        fx_free(&b);
    }
}

/* ---- config ---- */

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

static void test_config_keys(void **state)
{
    (void)state;
    nb_config c;
    nb_error err;
    assert_int_equal(resolve("arcface", NULL, NULL, &c, &err), 0);
    assert_true(c.loss.sample_rate == 1);
    assert_int_equal(c.loss.head_dtype, HEAD_FLOAT32);
    assert_int_equal(resolve("arcface", "loss.sample_rate", "0.1", &c, &err), 0);
    assert_true(c.loss.sample_rate == 0.1);
    assert_int_equal(resolve("softmax", "loss.head_dtype", "bf16", &c, &err), 0);
    assert_int_equal(c.loss.head_dtype, HEAD_BF16);
    assert_int_equal(resolve("arcface", "loss.sample_rate", "0", &c, &err), -1);
    assert_non_null(strstr(err.msg, "loss.sample_rate"));
    assert_int_equal(resolve("arcface", "loss.sample_rate", "1.5", &c, &err), -1);
    assert_int_equal(resolve("softmax", "loss.head_dtype", "fp16", &c, &err), -1);
    assert_int_equal(resolve("triplet", "loss.sample_rate", "0.5", &c, &err), -1);
    assert_non_null(strstr(err.msg, "does not apply"));
    for (int t = 0; t < LOSS_TYPE_COUNT; t++)
        assert_int_equal(loss_uses_key((loss_type)t, "sample_rate"),
                         t <= LOSS_COMBINED || t == LOSS_SPHEREFACE2 || t == LOSS_UNIFACE || t >= LOSS_MV_SOFTMAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocked_equals_plain),
        cmocka_unit_test(test_stash), cmocka_unit_test(test_sampled_r1_equals_full),
        cmocka_unit_test(test_large_c_is_blocked),   cmocka_unit_test(test_sample_set),
        cmocka_unit_test(test_sampled_sgd_rows),     cmocka_unit_test(test_sampled_fd),
        cmocka_unit_test(test_bf16_rounding),        cmocka_unit_test(test_bf16_head),
        cmocka_unit_test(test_config_keys),          cmocka_unit_test(test_fused_predict_full),
        cmocka_unit_test(test_fused_predict_sampled), cmocka_unit_test(test_fused_predict_no_side_effects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
