/* test_layers.c — every layer of lib/nn/layers.h against central finite differences, in double.
 *
 * For each layer the objective is L = Σ r_i · out_i with a fixed random r, so ∂L/∂out = r and the
 * backward is called with dout = r. The analytic gradient w.r.t. the input and every parameter is
 * compared with (L(p + h) − L(p − h))/2h, h = 1e-6 (tests/numgrad.h), and a second backward call
 * must double it (backward accumulates). Forward passes are also checked against naive
 * references (direct convolution, window scans, the batch-norm formulas), and the OpenMP paths
 * against a single thread. Inputs come from lib/core/rng.h; kinks (ReLU/PReLU at 0, max-pool ties)
 * are kept away from the perturbation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/gemm.h"
#include "core/rng.h"
#include "nn/layers.h"
#include "numgrad.h"

#define FD_H 1e-6
#define FD_RTOL 1e-6
#define FD_ATOL 1e-8

/* ---- small allocation helpers: every buffer of a test is freed by free_all() ---- */
static void *g_allocs[256];
static int g_nallocs;

static real *alloc_zero(size_t n)
{
    assert_true(g_nallocs < 256);
    real *p = nb_calloc(n ? n : 1, sizeof(real));
    g_allocs[g_nallocs++] = p;
    return p;
}

static real *alloc_normal(rng_t *rng, size_t n, double scale)
{
    real *p = alloc_zero(n);
    numgrad_fill_normal(rng, p, n, scale);
    return p;
}

static real *alloc_copy(const real *src, size_t n)
{
    real *p = alloc_zero(n);
    memcpy(p, src, n * sizeof(real));
    return p;
}

static void free_all(void)
{
    for (int i = 0; i < g_nallocs; i++)
        free(g_allocs[i]);
    g_nallocs = 0;
}

/* Normal values pushed at least 0.05 away from 0, for ReLU/PReLU inputs. */
static real *alloc_away_from_zero(rng_t *rng, size_t n)
{
    real *p = alloc_normal(rng, n, 1.0);
    for (size_t i = 0; i < n; i++)
        if (fabs(p[i]) < 0.05)
            p[i] += p[i] >= 0 ? 0.1 : -0.1;
    return p;
}

/* ---- the generic check: FD for each tensor, then accumulation ---- */
typedef struct {
    const char *name;
    real *p; /* values perturbed by the FD check */
    real *g; /* gradient buffer the backward accumulates into */
    size_t n;
} grad_ref;

/* loss(ctx) runs the forward and returns Σ r·out; backward(ctx) runs the forward (to refresh
 * caches) then the backward with dout = r. */
static void check_grads(numgrad_loss_fn loss, void (*backward)(void *), void *ctx, grad_ref *refs, int nref)
{
    for (int k = 0; k < nref; k++)
        memset(refs[k].g, 0, refs[k].n * sizeof(real));
    backward(ctx);
    real *first[8];
    assert_true(nref <= 8);
    for (int k = 0; k < nref; k++) {
        first[k] = alloc_copy(refs[k].g, refs[k].n);
        double gmax = 0;
        for (size_t i = 0; i < refs[k].n; i++)
            gmax = fmax(gmax, fabs(refs[k].g[i]));
        if (gmax < 1e-6)
            fail_msg("%s: gradient is identically ~0 (max %g), the check would be vacuous", refs[k].name, gmax);
    }
    for (int k = 0; k < nref; k++) {
        numgrad_result r = numgrad_check(loss, ctx, refs[k].p, first[k], refs[k].n, FD_H, FD_RTOL, FD_ATOL);
        numgrad_print(refs[k].name, r);
        if (!(r.worst <= 1.0))
            fail_msg("%s: FD mismatch at [%zu]: analytic %.12g numeric %.12g", refs[k].name, r.index,
                     r.analytic, r.numeric);
    }
    /* Backward accumulates: a second call on the same buffers doubles every gradient. */
    backward(ctx);
    for (int k = 0; k < nref; k++) {
        for (size_t i = 0; i < refs[k].n; i++) {
            const double want = 2.0 * first[k][i], got = refs[k].g[i];
            if (!(fabs(got - want) <= 1e-12 * fabs(want) + 1e-15))
                fail_msg("%s: second backward gave %.17g at [%zu], want 2·%.17g (not accumulating?)",
                         refs[k].name, got, i, first[k][i]);
        }
    }
}

static void assert_close_arrays(const char *what, const real *got, const real *want, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i]))))
            fail_msg("%s: [%zu] = %.15g, want %.15g", what, i, got[i], want[i]);
}

/* ================================ conv2d ================================ */
typedef struct {
    int B, C, H, W, OC, K, S, pad, OH, OW;
    size_t col_cap, n_out;
    real *inp, *w, *b, *out, *col, *r, *dinp, *dw, *db;
} conv_ctx;

static double conv_loss(void *v)
{
    conv_ctx *c = v;
    conv2d_forward(c->out, c->col, c->col_cap, c->inp, c->w, c->b, c->B, c->C, c->H, c->W, c->OC, c->K, c->S,
                   c->pad);
    return numgrad_dot(c->r, c->out, c->n_out);
}

static void conv_back(void *v)
{
    conv_ctx *c = v;
    conv2d_backward(c->dinp, c->dw, c->db, c->col, c->col_cap, c->r, c->inp, c->w, c->B, c->C, c->H, c->W, c->OC,
                    c->K, c->S, c->pad);
}

/* Direct convolution on the channel-major layout: the independent reference for the forward. */
static void conv_naive(real *out, const conv_ctx *c)
{
    for (int oc = 0; oc < c->OC; oc++)
        for (int b = 0; b < c->B; b++)
            for (int oh = 0; oh < c->OH; oh++)
                for (int ow = 0; ow < c->OW; ow++) {
                    double s = c->b ? c->b[oc] : 0;
                    for (int ci = 0; ci < c->C; ci++)
                        for (int kh = 0; kh < c->K; kh++)
                            for (int kw = 0; kw < c->K; kw++) {
                                int ih = oh * c->S - c->pad + kh, iw = ow * c->S - c->pad + kw;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W)
                                    continue;
                                s += c->w[((size_t)oc * c->C + ci) * c->K * c->K + kh * c->K + kw] *
                                     c->inp[(((size_t)ci * c->B + b) * c->H + ih) * c->W + iw];
                            }
                    out[(((size_t)oc * c->B + b) * c->OH + oh) * c->OW + ow] = (real)s;
                }
}

/* chunk_samples: samples per im2col chunk (0 = the whole batch). */
static void conv_case(int B, int C, int H, int W, int OC, int K, int S, int pad, int chunk_samples, int bias,
                      uint64_t seed)
{
    rng_t rng;
    rng_seed(&rng, seed);
    conv_ctx c = {.B = B, .C = C, .H = H, .W = W, .OC = OC, .K = K, .S = S, .pad = pad};
    c.OH = conv_out_size(H, K, S, pad);
    c.OW = conv_out_size(W, K, S, pad);
    const size_t per = (size_t)C * K * K * c.OH * c.OW;
    c.col_cap = chunk_samples ? per * chunk_samples + per / 2 : per * B;
    c.n_out = (size_t)OC * B * c.OH * c.OW;
    const size_t n_in = (size_t)C * B * H * W, n_w = (size_t)OC * C * K * K;
    c.inp = alloc_normal(&rng, n_in, 1.0);
    c.w = alloc_normal(&rng, n_w, 0.5);
    c.b = bias ? alloc_normal(&rng, OC, 0.5) : NULL;
    c.r = alloc_normal(&rng, c.n_out, 1.0);
    c.out = alloc_zero(c.n_out);
    c.col = alloc_zero(c.col_cap);
    c.dinp = alloc_zero(n_in);
    c.dw = alloc_zero(n_w);
    c.db = alloc_zero(OC);

    /* forward against the direct convolution; out is fully overwritten (start from garbage) */
    for (size_t i = 0; i < c.n_out; i++)
        c.out[i] = 1e30;
    conv_loss(&c);
    real *ref = alloc_zero(c.n_out);
    conv_naive(ref, &c);
    assert_close_arrays("conv2d forward vs direct", c.out, ref, c.n_out, 1e-12);

    grad_ref refs[3] = {{"conv dinp", c.inp, c.dinp, n_in}, {"conv dw", c.w, c.dw, n_w}, {"conv db", c.b, c.db, OC}};
    check_grads(conv_loss, conv_back, &c, refs, bias ? 3 : 2);

    /* With dinp = NULL and db = NULL only dw is produced, and it is the same. */
    real *dw_full = alloc_copy(c.dw, n_w);
    memset(c.dw, 0, n_w * sizeof(real));
    conv2d_backward(NULL, c.dw, NULL, c.col, c.col_cap, c.r, c.inp, c.w, B, C, H, W, OC, K, S, pad);
    for (size_t i = 0; i < n_w; i++)
        dw_full[i] *= 0.5; /* two backward calls were accumulated above */
    assert_close_arrays("conv2d dw with dinp = NULL", c.dw, dw_full, n_w, 1e-12);
    free_all();
}

static void test_conv2d_stride1_pad(void **state)
{
    (void)state;
    conv_case(3, 2, 7, 6, 3, 3, 1, 1, 0, 1, 11);
}

static void test_conv2d_stride1_nopad(void **state)
{
    (void)state;
    conv_case(2, 3, 6, 7, 2, 3, 1, 0, 0, 1, 12);
}

static void test_conv2d_stride2_pad(void **state)
{
    (void)state;
    conv_case(2, 2, 7, 8, 3, 5, 2, 2, 0, 1, 13);
}

static void test_conv2d_stride2_nopad(void **state)
{
    (void)state;
    conv_case(3, 2, 7, 7, 2, 3, 2, 0, 0, 0, 14);
}

/* Padding wider than the kernel: whole output rows/columns read only zeros. */
static void test_conv2d_wide_pad(void **state)
{
    (void)state;
    conv_case(2, 2, 5, 4, 2, 2, 1, 3, 0, 1, 15);
    conv_case(2, 2, 5, 6, 2, 3, 3, 4, 0, 1, 16);
}

/* col_cap for 2 samples (chunks 2, 2, 1) and for exactly 1 sample (5 chunks). */
static void test_conv2d_chunks(void **state)
{
    (void)state;
    conv_case(5, 2, 6, 5, 3, 3, 1, 1, 2, 1, 17);
    conv_case(5, 3, 7, 7, 2, 3, 2, 1, 1, 1, 18);
}

/* ================================ linear ================================ */
typedef struct {
    int B, IN, OUT;
    real *inp, *w, *b, *out, *r, *dinp, *dw, *db;
} linear_ctx;

static double linear_loss(void *v)
{
    linear_ctx *c = v;
    linear_forward(c->out, c->inp, c->w, c->b, c->B, c->IN, c->OUT);
    return numgrad_dot(c->r, c->out, (size_t)c->B * c->OUT);
}

static void linear_back(void *v)
{
    linear_ctx *c = v;
    linear_backward(c->dinp, c->dw, c->db, c->r, c->inp, c->w, c->B, c->IN, c->OUT);
}

static void test_linear(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 21);
    linear_ctx c = {.B = 4, .IN = 5, .OUT = 3};
    c.inp = alloc_normal(&rng, 20, 1);
    c.w = alloc_normal(&rng, 15, 1);
    c.b = alloc_normal(&rng, 3, 1);
    c.r = alloc_normal(&rng, 12, 1);
    c.out = alloc_zero(12);
    c.dinp = alloc_zero(20);
    c.dw = alloc_zero(15);
    c.db = alloc_zero(3);
    linear_loss(&c);
    for (int i = 0; i < c.B; i++)
        for (int j = 0; j < c.OUT; j++) {
            double s = c.b[j];
            for (int k = 0; k < c.IN; k++)
                s += c.inp[i * c.IN + k] * c.w[j * c.IN + k];
            assert_true(fabs(c.out[i * c.OUT + j] - s) < 1e-12);
        }
    grad_ref refs[] = {{"linear dinp", c.inp, c.dinp, 20}, {"linear dw", c.w, c.dw, 15}, {"linear db", c.b, c.db, 3}};
    check_grads(linear_loss, linear_back, &c, refs, 3);
    free_all();
}

/* ================================ ReLU ================================ */
typedef struct {
    size_t n;
    real *inp, *out, *r, *dinp;
} relu_ctx;

static double relu_loss(void *v)
{
    relu_ctx *c = v;
    relu_forward(c->out, c->inp, c->n);
    return numgrad_dot(c->r, c->out, c->n);
}

static void relu_back(void *v)
{
    relu_ctx *c = v;
    relu_forward(c->out, c->inp, c->n);
    relu_backward(c->dinp, c->r, c->out, c->n);
}

static void test_relu(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 31);
    relu_ctx c = {.n = 60};
    c.inp = alloc_away_from_zero(&rng, c.n);
    c.r = alloc_normal(&rng, c.n, 1);
    c.out = alloc_zero(c.n);
    c.dinp = alloc_zero(c.n);
    relu_loss(&c);
    int neg = 0;
    for (size_t i = 0; i < c.n; i++) {
        assert_true(c.out[i] == (c.inp[i] > 0 ? c.inp[i] : 0));
        neg += c.inp[i] < 0;
    }
    assert_true(neg > 10 && neg < 50);
    grad_ref refs[] = {{"relu dinp", c.inp, c.dinp, c.n}};
    check_grads(relu_loss, relu_back, &c, refs, 1);
    free_all();
}

/* ================================ PReLU ================================ */
typedef struct {
    int outer, C, inner;
    real *inp, *a, *out, *r, *dinp, *da;
} prelu_ctx;

static double prelu_loss(void *v)
{
    prelu_ctx *c = v;
    prelu_forward(c->out, c->inp, c->a, c->outer, c->C, c->inner);
    return numgrad_dot(c->r, c->out, (size_t)c->outer * c->C * c->inner);
}

static void prelu_back(void *v)
{
    prelu_ctx *c = v;
    prelu_backward(c->dinp, c->da, c->r, c->inp, c->a, c->outer, c->C, c->inner);
}

static void prelu_case(int outer, int C, int inner, uint64_t seed)
{
    rng_t rng;
    rng_seed(&rng, seed);
    prelu_ctx c = {.outer = outer, .C = C, .inner = inner};
    const size_t n = (size_t)outer * C * inner;
    c.inp = alloc_away_from_zero(&rng, n);
    c.a = alloc_zero(C);
    for (int k = 0; k < C; k++)
        c.a[k] = (real)(0.1 + 0.3 * rng_uniform(&rng));
    c.r = alloc_normal(&rng, n, 1);
    c.out = alloc_zero(n);
    c.dinp = alloc_zero(n);
    c.da = alloc_zero(C);
    prelu_loss(&c);
    for (int o = 0; o < outer; o++)
        for (int k = 0; k < C; k++)
            for (int i = 0; i < inner; i++) {
                size_t j = ((size_t)o * C + k) * inner + i;
                assert_true(c.out[j] == (c.inp[j] > 0 ? c.inp[j] : c.a[k] * c.inp[j]));
            }
    grad_ref refs[] = {{"prelu dinp", c.inp, c.dinp, n}, {"prelu da", c.a, c.da, C}};
    check_grads(prelu_loss, prelu_back, &c, refs, 2);
    free_all();
}

static void test_prelu_image(void **state) /* (1, C, B·H·W) */
{
    (void)state;
    prelu_case(1, 3, 2 * 4 * 4, 41);
}

static void test_prelu_vector(void **state) /* (B, C, 1) */
{
    (void)state;
    prelu_case(6, 5, 1, 42);
    prelu_case(2, 3, 4, 43);
}

/* ================================ max-pool ================================ */
typedef struct {
    int P, H, W, K, S;
    size_t n_in, n_out;
    real *inp, *out, *r, *dinp;
    int *argmax;
} pool_ctx;

static double pool_loss(void *v)
{
    pool_ctx *c = v;
    maxpool_forward(c->out, c->argmax, c->inp, c->P, c->H, c->W, c->K, c->S);
    return numgrad_dot(c->r, c->out, c->n_out);
}

static void pool_back(void *v)
{
    pool_ctx *c = v;
    maxpool_forward(c->out, c->argmax, c->inp, c->P, c->H, c->W, c->K, c->S);
    maxpool_backward(c->dinp, c->r, c->argmax, c->P, c->H, c->W, c->K, c->S);
}

static void pool_case(int P, int H, int W, int K, int S, int OH_want, int OW_want, uint64_t seed)
{
    rng_t rng;
    rng_seed(&rng, seed);
    pool_ctx c = {.P = P, .H = H, .W = W, .K = K, .S = S};
    const int OH = conv_out_size(H, K, S, 0), OW = conv_out_size(W, K, S, 0);
    assert_int_equal(OH, OH_want);
    assert_int_equal(OW, OW_want);
    c.n_in = (size_t)P * H * W;
    c.n_out = (size_t)P * OH * OW;
    /* distinct values 0.01 apart (a shuffled ramp): no ties within ±h */
    int *perm = nb_malloc(c.n_in * sizeof(int));
    for (size_t i = 0; i < c.n_in; i++)
        perm[i] = (int)i;
    rng_shuffle_int(&rng, perm, (int)c.n_in);
    c.inp = alloc_zero(c.n_in);
    for (size_t i = 0; i < c.n_in; i++)
        c.inp[i] = (real)(0.01 * perm[i] - 0.005 * c.n_in);
    free(perm);
    c.r = alloc_normal(&rng, c.n_out, 1);
    c.out = alloc_zero(c.n_out);
    c.dinp = alloc_zero(c.n_in);
    c.argmax = nb_malloc(c.n_out * sizeof(int));
    pool_loss(&c);
    for (int p = 0; p < P; p++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                const real *x = c.inp + (size_t)p * H * W;
                int best = -1;
                for (int kh = 0; kh < K; kh++)
                    for (int kw = 0; kw < K; kw++) {
                        int j = (oh * S + kh) * W + ow * S + kw;
                        if (best < 0 || x[j] > x[best])
                            best = j;
                    }
                size_t o = ((size_t)p * OH + oh) * OW + ow;
                assert_int_equal(c.argmax[o], best);
                assert_true(c.out[o] == x[best]);
            }
    grad_ref refs[] = {{"maxpool dinp", c.inp, c.dinp, c.n_in}};
    check_grads(pool_loss, pool_back, &c, refs, 1);
    free(c.argmax);
    free_all();
}

static void test_maxpool_2x2(void **state)
{
    (void)state;
    pool_case(4, 4, 6, 2, 2, 2, 3, 51);
}

static void test_maxpool_7x7_to_3x3(void **state)
{
    (void)state;
    pool_case(3, 7, 7, 2, 2, 3, 3, 52); /* floor: last row and column dropped */
    pool_case(2, 7, 7, 3, 2, 3, 3, 53); /* overlapping windows */
}

/* Ties go to the first maximum in row-major window order. */
static void test_maxpool_ties(void **state)
{
    (void)state;
    real x[16] = {1, 1, 0, 2, /**/ 1, 1, 2, 2, /**/ 5, 3, 4, 4, /**/ 3, 5, 4, 4};
    real out[4];
    int am[4];
    maxpool_forward(out, am, x, 1, 4, 4, 2, 2);
    assert_int_equal(am[0], 0);
    assert_int_equal(am[1], 3);
    assert_int_equal(am[2], 8);
    assert_int_equal(am[3], 10);
    assert_true(out[0] == 1 && out[1] == 2 && out[2] == 5 && out[3] == 4);
}

/* ================================ batch-norm ================================ */
typedef struct {
    int outer, C, inner;
    size_t n;
    real eps, momentum;
    real *inp, *gamma, *beta, *out, *xhat, *mean, *invstd, *rmean, *rvar, *r, *dinp, *dgamma, *dbeta;
} bn_ctx;

static double bn_loss(void *v)
{
    bn_ctx *c = v;
    batchnorm_forward(c->out, c->xhat, c->mean, c->invstd, c->rmean, c->rvar, c->inp, c->gamma, c->beta, c->outer,
                      c->C, c->inner, 1, c->momentum, c->eps);
    return numgrad_dot(c->r, c->out, c->n);
}

static void bn_back(void *v)
{
    bn_ctx *c = v;
    bn_loss(c);
    batchnorm_backward(c->dinp, c->dgamma, c->dbeta, c->r, c->xhat, c->invstd, c->gamma, c->outer, c->C, c->inner);
}

static void bn_setup(bn_ctx *c, rng_t *rng, int outer, int C, int inner)
{
    c->outer = outer;
    c->C = C;
    c->inner = inner;
    c->n = (size_t)outer * C * inner;
    c->eps = 1e-5;
    c->momentum = 0.1;
    c->inp = alloc_normal(rng, c->n, 1.5);
    for (size_t i = 0; i < c->n; i++)
        c->inp[i] += 0.7; /* a nonzero mean */
    c->gamma = alloc_normal(rng, C, 1);
    c->beta = alloc_normal(rng, C, 1);
    c->r = alloc_normal(rng, c->n, 1);
    c->out = alloc_zero(c->n);
    c->xhat = alloc_zero(c->n);
    c->mean = alloc_zero(C);
    c->invstd = alloc_zero(C);
    c->rmean = alloc_zero(C);
    c->rvar = alloc_zero(C);
    for (int k = 0; k < C; k++)
        c->rvar[k] = 1;
    c->dinp = alloc_zero(c->n);
    c->dgamma = alloc_zero(C);
    c->dbeta = alloc_zero(C);
}

/* Per-channel batch mean and biased/unbiased variance, computed naively. */
static void bn_stats(const bn_ctx *c, int k, double *mean, double *var_b, double *var_u)
{
    const double M = (double)c->outer * c->inner;
    double s = 0, ss = 0;
    for (int o = 0; o < c->outer; o++)
        for (int i = 0; i < c->inner; i++)
            s += c->inp[((size_t)o * c->C + k) * c->inner + i];
    *mean = s / M;
    for (int o = 0; o < c->outer; o++)
        for (int i = 0; i < c->inner; i++) {
            double d = c->inp[((size_t)o * c->C + k) * c->inner + i] - *mean;
            ss += d * d;
        }
    *var_b = ss / M;
    *var_u = ss / (M - 1);
}

static void bn_train_case(int outer, int C, int inner, uint64_t seed)
{
    rng_t rng;
    rng_seed(&rng, seed);
    bn_ctx c;
    bn_setup(&c, &rng, outer, C, inner);
    bn_loss(&c);
    for (int k = 0; k < C; k++) {
        double mu, vb, vu;
        bn_stats(&c, k, &mu, &vb, &vu);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++) {
                size_t j = ((size_t)o * C + k) * inner + i;
                double want = c.gamma[k] * (c.inp[j] - mu) / sqrt(vb + c.eps) + c.beta[k];
                assert_true(fabs(c.out[j] - want) < 1e-12);
            }
    }
    grad_ref refs[] = {{"batchnorm dinp", c.inp, c.dinp, c.n},
                       {"batchnorm dgamma", c.gamma, c.dgamma, C},
                       {"batchnorm dbeta", c.beta, c.dbeta, C}};
    check_grads(bn_loss, bn_back, &c, refs, 3);
    free_all();
}

static void test_batchnorm_image(void **state) /* (1, C, B·H·W) */
{
    (void)state;
    bn_train_case(1, 3, 2 * 3 * 3, 61);
}

static void test_batchnorm_vector(void **state) /* (B, C, 1), and a general (outer, C, inner) */
{
    (void)state;
    bn_train_case(6, 4, 1, 62);
    bn_train_case(2, 3, 5, 63);
}

/* Running statistics: r ← (1 − m)·r + m·stat with the unbiased variance, per training call;
 * eval mode normalises with them and leaves them alone. */
static void test_batchnorm_running_stats(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 64);
    bn_ctx c;
    bn_setup(&c, &rng, 2, 3, 4);
    c.momentum = 0.25;
    real rm0[3] = {0.5, -1.0, 2.0}, rv0[3] = {1.5, 0.3, 4.0};
    memcpy(c.rmean, rm0, sizeof rm0);
    memcpy(c.rvar, rv0, sizeof rv0);
    bn_loss(&c);
    for (int k = 0; k < 3; k++) {
        double mu, vb, vu;
        bn_stats(&c, k, &mu, &vb, &vu);
        assert_true(fabs(c.rmean[k] - (0.75 * rm0[k] + 0.25 * mu)) < 1e-14);
        assert_true(fabs(c.rvar[k] - (0.75 * rv0[k] + 0.25 * vu)) < 1e-14);
        assert_true(fabs(c.mean[k] - mu) < 1e-14);
        assert_true(fabs(c.invstd[k] - 1 / sqrt(vb + c.eps)) < 1e-12);
    }
    /* eval mode with chosen running stats */
    real rm[3] = {0.3, -0.2, 1.1}, rv[3] = {0.8, 2.5, 0.05};
    memcpy(c.rmean, rm, sizeof rm);
    memcpy(c.rvar, rv, sizeof rv);
    batchnorm_forward(c.out, c.xhat, c.mean, c.invstd, c.rmean, c.rvar, c.inp, c.gamma, c.beta, c.outer, c.C,
                      c.inner, 0, c.momentum, c.eps);
    for (int k = 0; k < 3; k++) {
        assert_true(c.rmean[k] == rm[k] && c.rvar[k] == rv[k]);
        for (int o = 0; o < c.outer; o++)
            for (int i = 0; i < c.inner; i++) {
                size_t j = ((size_t)o * c.C + k) * c.inner + i;
                double want = c.gamma[k] * (c.inp[j] - rm[k]) / sqrt(rv[k] + c.eps) + c.beta[k];
                assert_true(fabs(c.out[j] - want) < 1e-12);
            }
    }
    free_all();
}

/* ================================ L2 norm ================================ */
typedef struct {
    int B, D;
    real eps;
    real *inp, *out, *norm, *r, *dinp;
} l2_ctx;

static double l2_loss(void *v)
{
    l2_ctx *c = v;
    l2norm_forward(c->out, c->norm, c->inp, c->B, c->D, c->eps);
    return numgrad_dot(c->r, c->out, (size_t)c->B * c->D);
}

static void l2_back(void *v)
{
    l2_ctx *c = v;
    l2_loss(c);
    l2norm_backward(c->dinp, c->r, c->out, c->norm, c->B, c->D);
}

static void l2_case(real eps, uint64_t seed)
{
    rng_t rng;
    rng_seed(&rng, seed);
    l2_ctx c = {.B = 4, .D = 6, .eps = eps};
    const size_t n = (size_t)c.B * c.D;
    c.inp = alloc_normal(&rng, n, 1.0);
    for (int j = 0; j < c.D; j++)
        c.inp[c.D + j] *= 20; /* one row with a large norm, one small */
    for (int j = 0; j < c.D; j++)
        c.inp[2 * c.D + j] *= 0.1;
    c.r = alloc_normal(&rng, n, 1);
    c.out = alloc_zero(n);
    c.norm = alloc_zero(c.B);
    c.dinp = alloc_zero(n);
    l2_loss(&c);
    for (int b = 0; b < c.B; b++) {
        double s = 0, so = 0;
        for (int j = 0; j < c.D; j++) {
            s += c.inp[b * c.D + j] * c.inp[b * c.D + j];
            so += c.out[b * c.D + j] * c.out[b * c.D + j];
        }
        assert_true(fabs(c.norm[b] - sqrt(s + eps)) < 1e-14 * sqrt(s));
        /* ‖y‖² = s/(s + eps) */
        assert_true(fabs(so - s / (s + eps)) < 1e-14);
        if (eps < 1e-10) /* unit norm up to eps/‖x‖² ≤ 2e-11 here */
            assert_true(fabs(sqrt(so) - 1) < 1e-10);
    }
    grad_ref refs[] = {{"l2norm dinp", c.inp, c.dinp, n}};
    check_grads(l2_loss, l2_back, &c, refs, 1);
    /* ⟨dinp, x⟩ = ⟨x, g⟩·eps/‖x‖²: zero up to eps (NormFace Prop. 1). */
    memset(c.dinp, 0, n * sizeof(real));
    l2_back(&c);
    for (int b = 0; b < c.B; b++) {
        double dx = 0, nd = 0, nx = 0, xg = 0;
        for (int j = 0; j < c.D; j++) {
            dx += c.dinp[b * c.D + j] * c.inp[b * c.D + j];
            nd += c.dinp[b * c.D + j] * c.dinp[b * c.D + j];
            nx += c.inp[b * c.D + j] * c.inp[b * c.D + j];
            xg += c.inp[b * c.D + j] * c.r[b * c.D + j];
        }
        const double want = xg * eps / (nx + eps) / c.norm[b];
        assert_true(fabs(dx - want) <= 1e-12 * sqrt(nd * nx));
        if (eps < 1e-10) /* orthogonal to x up to eps/‖x‖² */
            assert_true(fabs(dx) <= 1e-10 * sqrt(nd * nx));
    }
    free_all();
}

static void test_l2norm(void **state)
{
    (void)state;
    l2_case(1e-12, 71);
    l2_case(1e-2, 72); /* eps inside the norm, and still the exact Jacobian */
}

/* ================================ flatten, add ================================ */
typedef struct {
    int B, C, HW;
    real *inp, *out, *r, *dinp;
} flat_ctx;

static double flat_loss(void *v)
{
    flat_ctx *c = v;
    flatten_forward(c->out, c->inp, c->B, c->C, c->HW);
    return numgrad_dot(c->r, c->out, (size_t)c->B * c->C * c->HW);
}

static void flat_back(void *v)
{
    flat_ctx *c = v;
    flatten_backward(c->dinp, c->r, c->B, c->C, c->HW);
}

static void test_flatten(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 81);
    flat_ctx c = {.B = 3, .C = 4, .HW = 5};
    const size_t n = 60;
    c.inp = alloc_normal(&rng, n, 1);
    c.r = alloc_normal(&rng, n, 1);
    c.out = alloc_zero(n);
    c.dinp = alloc_zero(n);
    flat_loss(&c);
    for (int b = 0; b < c.B; b++)
        for (int k = 0; k < c.C; k++)
            for (int i = 0; i < c.HW; i++)
                assert_true(c.out[(b * c.C + k) * c.HW + i] == c.inp[(k * c.B + b) * c.HW + i]);
    /* round trip: backward of the flattened values restores the image layout exactly */
    real *back = alloc_zero(n);
    flatten_backward(back, c.out, c.B, c.C, c.HW);
    assert_memory_equal(back, c.inp, n * sizeof(real));
    grad_ref refs[] = {{"flatten dinp", c.inp, c.dinp, n}};
    check_grads(flat_loss, flat_back, &c, refs, 1);
    free_all();
}

typedef struct {
    size_t n;
    real *a, *b, *out, *r, *da, *db;
} add_ctx;

static double add_loss(void *v)
{
    add_ctx *c = v;
    add_forward(c->out, c->a, c->b, c->n);
    return numgrad_dot(c->r, c->out, c->n);
}

static void add_back(void *v)
{
    add_ctx *c = v;
    add_backward(c->da, c->db, c->r, c->n);
}

static void test_add(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 82);
    add_ctx c = {.n = 17};
    c.a = alloc_normal(&rng, c.n, 1);
    c.b = alloc_normal(&rng, c.n, 1);
    c.r = alloc_normal(&rng, c.n, 1);
    c.out = alloc_zero(c.n);
    c.da = alloc_zero(c.n);
    c.db = alloc_zero(c.n);
    add_loss(&c);
    for (size_t i = 0; i < c.n; i++)
        assert_true(c.out[i] == c.a[i] + c.b[i]);
    grad_ref refs[] = {{"add da", c.a, c.da, c.n}, {"add db", c.b, c.db, c.n}};
    check_grads(add_loss, add_back, &c, refs, 2);
    free_all();
}

/* ================================ threads ================================ */
/* The OpenMP paths (sizes above the serial cut-offs) give the same bits on repeated runs at 2
 * threads, and the same bits as 1 thread for the loops that involve no BLAS; conv involves the
 * BLAS, so across thread counts it is compared to 1e-12. */
static void test_threads_deterministic(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 91);
    const int B = 16, C = 8, H = 12, W = 12, OC = 16, K = 5, pad = 2;
    const size_t n_in = (size_t)C * B * H * W, n_out = (size_t)OC * B * H * W, n_w = (size_t)OC * C * K * K;
    const size_t cap = (size_t)C * K * K * H * W * 3; /* chunks of 3, …, 3, 1 */
    real *inp = alloc_normal(&rng, n_in, 1), *w = alloc_normal(&rng, n_w, 0.1), *b = alloc_normal(&rng, OC, 1);
    real *x = alloc_normal(&rng, n_out, 1); /* input of the non-BLAS layers */
    real *dout = alloc_normal(&rng, n_out, 1), *col = alloc_zero(cap), *a = alloc_normal(&rng, OC, 0.2);
    real *gam = alloc_normal(&rng, OC, 1), *bet = alloc_normal(&rng, OC, 1);
    enum { CONV_OUT, CONV_DINP, CONV_DW, CONV_DB, RELU, DRELU, PRELU, DPRELU, PSMALL, BN, XHAT, DBN, POOL, DPOOL,
           FLAT, DFLAT, NRES };
    real *res[3][NRES];
    for (int run = 0; run < 3; run++) {
        nb_set_threads(run == 0 ? 1 : 2);
        real **o = res[run];
        for (int k = 0; k < NRES; k++)
            o[k] = alloc_zero(n_out);
        real rm[16] = {0}, rv[16] = {0}, mean[16], istd[16];
        int *am = nb_malloc(n_out * sizeof(int));
        conv2d_forward(o[CONV_OUT], col, cap, inp, w, b, B, C, H, W, OC, K, 1, pad);
        conv2d_backward(o[CONV_DINP], o[CONV_DW], o[CONV_DB], col, cap, dout, inp, w, B, C, H, W, OC, K, 1, pad);
        relu_forward(o[RELU], x, n_out);
        relu_backward(o[DRELU], dout, o[RELU], n_out);
        prelu_forward(o[PRELU], x, a, 1, OC, B * H * W);
        prelu_backward(o[DPRELU], o[PSMALL], dout, x, a, 1, OC, B * H * W);
        batchnorm_forward(o[BN], o[XHAT], mean, istd, rm, rv, x, gam, bet, 1, OC, B * H * W, 1, 0.1, 1e-5);
        batchnorm_backward(o[DBN], o[PSMALL] + OC, o[PSMALL] + 2 * OC, dout, o[XHAT], istd, gam, 1, OC, B * H * W);
        memcpy(o[PSMALL] + 3 * OC, mean, sizeof mean);
        memcpy(o[PSMALL] + 4 * OC, istd, sizeof istd);
        maxpool_forward(o[POOL], am, x, OC * B, H, W, 2, 2);
        maxpool_backward(o[DPOOL], dout, am, OC * B, H, W, 2, 2);
        flatten_forward(o[FLAT], x, B, OC, H * W);
        flatten_backward(o[DFLAT], dout, B, OC, H * W);
        free(am);
    }
    nb_set_threads(2);
    for (int k = 0; k < NRES; k++) {
        assert_memory_equal(res[1][k], res[2][k], n_out * sizeof(real)); /* repeated run, 2 threads */
        if (k <= CONV_DB)
            assert_close_arrays("conv, 1 vs 2 threads", res[0][k], res[1][k], n_out, 1e-12);
        else
            assert_memory_equal(res[0][k], res[1][k], n_out * sizeof(real));
    }
    free_all();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_stride1_pad),
        cmocka_unit_test(test_conv2d_stride1_nopad),
        cmocka_unit_test(test_conv2d_stride2_pad),
        cmocka_unit_test(test_conv2d_stride2_nopad),
        cmocka_unit_test(test_conv2d_wide_pad),
        cmocka_unit_test(test_conv2d_chunks),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_relu),
        cmocka_unit_test(test_prelu_image),
        cmocka_unit_test(test_prelu_vector),
        cmocka_unit_test(test_maxpool_2x2),
        cmocka_unit_test(test_maxpool_7x7_to_3x3),
        cmocka_unit_test(test_maxpool_ties),
        cmocka_unit_test(test_batchnorm_image),
        cmocka_unit_test(test_batchnorm_vector),
        cmocka_unit_test(test_batchnorm_running_stats),
        cmocka_unit_test(test_l2norm),
        cmocka_unit_test(test_flatten),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_threads_deterministic),
    };
    nb_set_threads(2);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
