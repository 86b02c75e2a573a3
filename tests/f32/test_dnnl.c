/* test_dnnl.c — the oneDNN backend (lib/nn/dnnl_net.h) against the OpenBLAS layer functions, in
 * the float build (build/libnormbench.a; the double build has no oneDNN backend).
 *
 * For convnet-small, lenetpp and resnet-mini, two nets are built from the same seed (the same
 * parameters), one left on NET_BACKEND_BLAS and one switched to NET_BACKEND_DNNL, and fed the same
 * batch: a full batch (B = max_batch) and a partial one (B < max_batch, the last batch of an
 * epoch, which gets its own cached primitives). Compared, each within float tolerance relative to
 * the largest magnitude of the reference tensor: the features of a training forward pass; every
 * parameter gradient after one backward pass and again after a second one without zeroing
 * (backward accumulates into the paramset); the same after a parameter update (the same on both
 * nets); batch-norm's running statistics; and the features
 * of an eval-mode forward pass (batch-norm with the running statistics). Layer by layer, every
 * node's output and ∂L/∂output (dnnl_net_node_tensor, in net.c's layout) against net.c's node
 * buffers — all of them but the outputs of convolutions whose ReLU oneDNN computes fused.
 * The lenetpp input (28×28) makes its last max-pool drop a row and a column (7×7 → 3×3).
 * Determinism: two oneDNN nets at the same thread count give bitwise identical gradients. */
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
#include "nn/dnnl_net.h"
#include "nn/net.h"
#include "nn/paramset.h"

/* Forward values (features, node outputs, running statistics) are continuous in the inputs, so
 * they must agree everywhere: max |dnnl − blas| ≤ TOL · max |blas| (float rounding over different
 * summation orders). Gradients are not: where a ReLU/PReLU input or a max-pool tie sits within
 * rounding of its kink, the two orders may take different branches, and that element's gradient
 * (and what flows from it) differs by O(1). So a gradient tensor must agree in norm,
 * ‖dnnl − blas‖₂ ≤ TOL · ‖blas‖₂, and elementwise within GRAD_EL_TOL · max |blas| on all but a
 * few elements (GRAD_OUTLIERS + n/500); after a kink was crossed (KINK_TOL), in norm only. Each break tried on the backend (no accumulation, a wrong
 * running-variance update) fails these by orders of magnitude or more than 2×. */
#define TOL 1e-4
#define GRAD_EL_TOL 1e-3
#define GRAD_OUTLIERS 2
/* The 2-norm tolerance for the gradients of a step where some ReLU/PReLU input has a different
 * sign in the two backends, or a max-pool window sent its gradient to another input: that element
 * took the other branch, and the first layers' weight gradients, sums over everything behind
 * them, move by up to ~1e-3 (seen: 5e-4, lenetpp, 3 samples, one PReLU input at ±6e-7). */
#define KINK_TOL 1e-2

typedef struct {
    net n;
    paramset ps;
} model;

static void model_init(model *m, backbone_type bb, int width, int dim, int H, int max_batch, uint64_t seed,
                       int backend)
{
    memset(m, 0, sizeof *m);
    nb_error err = {0};
    if (net_build(&m->n, bb, width, dim, 1, H, H, max_batch, &m->ps, &err) != 0)
        fail_msg("net_build: %s", err.msg);
    paramset_alloc(&m->ps);
    rng_t rng;
    rng_seed(&rng, seed);
    net_bind(&m->n, &rng);
    /* generic values for the parameters that start at constants (as tests/test_net_grad.c) */
    for (int t = 0; t < m->ps.count; t++) {
        const param_tensor *pt = &m->ps.t[t];
        real *p = paramset_data(&m->ps, t);
        for (size_t i = 0; i < pt->n; i++)
            if (pt->group == PARAM_BIAS || pt->group == PARAM_BN)
                p[i] += (real)(0.2 * rng_normal(&rng));
            else if (pt->group == PARAM_PRELU)
                p[i] += (real)(0.1 * rng_normal(&rng));
    }
    if (backend != NET_BACKEND_BLAS && net_set_backend(&m->n, backend, &err) != 0)
        fail_msg("net_set_backend: %s", err.msg);
}

static void model_free(model *m)
{
    net_free(&m->n);
    paramset_free(&m->ps);
}

static void fill(real *p, size_t n, uint64_t seed)
{
    rng_t rng;
    rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        p[i] = (real)rng_normal(&rng);
}

/* Fails unless got ≈ want (forward values: grad = 0; gradients: grad = 1, see TOL above).
 * Returns the relative error (max-norm for values, 2-norm for gradients). */
static double expect_close(const char *what, const real *got, const real *want, size_t n, int grad, double gtol)
{
    double scale = 0, diff = 0, ss_d = 0, ss_w = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double a = fabs((double)want[i]), e = fabs((double)got[i] - (double)want[i]);
        if (a > scale)
            scale = a;
        if (!(e <= diff)) {
            diff = e;
            at = i;
        }
        ss_d += e * e;
        ss_w += a * a;
    }
    if (scale == 0)
        fail_msg("%s: the reference is all zero (a vacuous check)", what);
    double rel = diff / scale;
    if (!grad) {
        if (!(rel <= TOL))
            fail_msg("%s: max |dnnl - blas| = %g at %zu (dnnl %g, blas %g), %g of max |blas| %g", what, diff, at,
                     (double)got[at], (double)want[at], rel, scale);
        return rel;
    }
    size_t outliers = 0;
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - (double)want[i]) <= GRAD_EL_TOL * scale))
            outliers++;
    double rel2 = sqrt(ss_d / ss_w);
    if (!(rel2 <= gtol) || (gtol <= TOL && outliers > GRAD_OUTLIERS + n / 500))
        fail_msg("%s: |dnnl - blas|_2 = %g of |blas|_2; %zu of %zu elements off by more than %g of max |blas| %g "
                 "(worst at %zu: dnnl %g, blas %g)",
                 what, rel2, outliers, n, GRAD_EL_TOL, scale, at, (double)got[at], (double)want[at]);
    return rel2;
}

static void compare_grads(const char *label, const model *blas, const model *dnnl, int pass, double gtol)
{
    double worst = 0;
    for (int t = 0; t < blas->ps.count; t++) {
        char what[192];
        snprintf(what, sizeof what, "%s: gradient of %s after backward #%d", label, blas->ps.t[t].name, pass);
        double r = expect_close(what, paramset_grad(&dnnl->ps, t), paramset_grad(&blas->ps, t), blas->ps.t[t].n, 1, gtol);
        if (r > worst)
            worst = r;
    }
    print_message("%s: %d gradient tensors after backward #%d, worst relative 2-norm error %.2g\n", label, blas->ps.count,
                  pass, worst);
}

/* Elements where the two backends took different branches of a kink (see KINK_TOL), after a
 * forward and a backward pass: ReLU/PReLU inputs of different signs, and max-pool windows whose
 * gradient went to different inputs (the nonzero pattern of the pool's ∂L/∂input, which only
 * the pool writes). */
static int kinks_crossed(const model *blas, model *dnnl, int B)
{
    int k = 0;
    for (int i = 0; i < blas->n.n; i++) {
        const net_node *d = &blas->n.nodes[i];
        if ((d->type != NODE_RELU && d->type != NODE_PRELU && d->type != NODE_MAXPOOL) || d->in < 0)
            continue;
        const net_node *pr = &blas->n.nodes[d->in];
        size_t len = (size_t)B * pr->c * pr->h * pr->w;
        real *t = nb_malloc(len * sizeof(real));
        /* ReLU: the sign of the input from its own output (the input is not kept when fused) */
        int pool = d->type == NODE_MAXPOOL, use_out = d->type == NODE_RELU;
        if (dnnl_net_node_tensor(dnnl->n.backend_state, &dnnl->n, use_out ? i : d->in, pool, t) != 0)
            fail_msg("node %d: no oneDNN tensor", use_out ? i : d->in);
        const real *ref = pool ? pr->dout : use_out ? d->out : pr->out;
        for (size_t j = 0; j < len; j++)
            k += pool ? (t[j] != 0) != (ref[j] != 0) : (t[j] > 0) != (ref[j] > 0);
        free(t);
    }
    return k;
}

/* Layer by layer: every node's output (after a forward pass) or ∂L/∂output (after a backward
 * pass) that the oneDNN backend keeps, against net.c's node buffers. Returns how many were
 * compared. */
static int compare_nodes(const char *label, const model *blas, model *dnnl, int B, int dout, double gtol)
{
    int compared = 0;
    for (int i = 0; i < blas->n.n; i++) {
        const net_node *d = &blas->n.nodes[i];
        size_t len = (size_t)B * d->c * d->h * d->w;
        real *t = nb_malloc(len * sizeof(real));
        if (dnnl_net_node_tensor(dnnl->n.backend_state, &dnnl->n, i, dout, t) == 0) {
            char what[160];
            snprintf(what, sizeof what, "%s: node %d (type %d) %s", label, i, (int)d->type, dout ? "dout" : "out");
            expect_close(what, t, dout ? d->dout : d->out, len, dout, gtol);
            compared++;
        }
        free(t);
    }
    return compared;
}

static void check_backbone(const char *name, backbone_type bb, int width, int H, int max_batch, int B)
{
    const int dim = 8;
    char label[64];
    snprintf(label, sizeof label, "%s B=%d/%d", name, B, max_batch);
    model blas, dnnl;
    model_init(&blas, bb, width, dim, H, max_batch, 7, NET_BACKEND_BLAS);
    model_init(&dnnl, bb, width, dim, H, max_batch, 7, NET_BACKEND_DNNL);
    assert_int_equal(blas.ps.total, dnnl.ps.total);
    assert_memory_equal(blas.ps.data, dnnl.ps.data, blas.ps.total * sizeof(real));
    size_t nx = (size_t)B * H * H, nf = (size_t)B * dim;
    real *x = nb_malloc(nx * sizeof(real)), *r = nb_malloc(nf * sizeof(real));
    fill(x, nx, 11);
    fill(r, nf, 13);
    char what[160];
    for (int step = 0; step < 2; step++) { /* the second step sees updated parameters and running statistics */
        const real *fb = net_forward(&blas.n, x, B, 1);
        const real *fd = net_forward(&dnnl.n, x, B, 1);
        snprintf(what, sizeof what, "%s: train features, step %d", label, step);
        expect_close(what, fd, fb, nf, 0, TOL);
        int outs = compare_nodes(label, &blas, &dnnl, B, 0, TOL);
        paramset_zero_grad(&blas.ps);
        paramset_zero_grad(&dnnl.ps);
        double gtol = TOL;
        for (int pass = 1; pass <= 2; pass++) {
            net_backward(&blas.n, r, B);
            net_backward(&dnnl.n, r, B);
            int kinks = pass == 1 ? kinks_crossed(&blas, &dnnl, B) : 0;
            if (kinks) {
                gtol = KINK_TOL;
                print_message("%s: step %d: the backends took different branches at %d kinks (ReLU/PReLU sign, "
                              "max-pool arg-max): gradients checked to %g\n", label, step, kinks, gtol);
            }
            compare_grads(label, &blas, &dnnl, pass, gtol);
        }
        int douts = compare_nodes(label, &blas, &dnnl, B, 1, gtol);
        /* An SGD-like step with the OpenBLAS gradients on both, so the parameters stay equal and
         * the next step checks that oneDNN reads the updated values (it reorders them each step). */
        for (size_t k = 0; k < blas.ps.total; k++) {
            blas.ps.data[k] -= (real)1e-3 * blas.ps.grad[k];
            dnnl.ps.data[k] = blas.ps.data[k];
        }
        if (step == 0)
            print_message("%s: %d node outputs and %d node gradients of %d nodes compared\n", label, outs, douts,
                          blas.n.n);
        assert_true(outs >= blas.n.n - 2 && douts == blas.n.n);
    }
    for (int i = 0; i < blas.n.n; i++) {
        const net_node *a = &blas.n.nodes[i], *b = &dnnl.n.nodes[i];
        if (a->type != NODE_BATCHNORM)
            continue;
        snprintf(what, sizeof what, "%s: node %d running mean", label, i);
        expect_close(what, b->run_mean, a->run_mean, (size_t)a->c, 0, TOL);
        snprintf(what, sizeof what, "%s: node %d running variance", label, i);
        expect_close(what, b->run_var, a->run_var, (size_t)a->c, 0, TOL);
    }
    const real *eb = net_forward(&blas.n, x, B, 0);
    const real *ed = net_forward(&dnnl.n, x, B, 0);
    snprintf(what, sizeof what, "%s: eval features", label);
    expect_close(what, ed, eb, nf, 0, TOL);
    free(x);
    free(r);
    model_free(&blas);
    model_free(&dnnl);
}

static void test_convnet_small(void **state)
{
    (void)state;
    check_backbone("convnet-small", BACKBONE_CONVNET_SMALL, 8, 28, 16, 16);
    check_backbone("convnet-small", BACKBONE_CONVNET_SMALL, 8, 28, 16, 5);
    check_backbone("convnet-small w32", BACKBONE_CONVNET_SMALL, 32, 28, 8, 3);
}

static void test_lenetpp(void **state)
{
    (void)state;
    check_backbone("lenetpp", BACKBONE_LENETPP, 4, 28, 12, 12);
    check_backbone("lenetpp", BACKBONE_LENETPP, 4, 28, 12, 7);
    check_backbone("lenetpp w32", BACKBONE_LENETPP, 32, 28, 4, 3);
}

static void test_resnet_mini(void **state)
{
    (void)state;
    check_backbone("resnet-mini", BACKBONE_RESNET_MINI, 4, 16, 8, 8);
    check_backbone("resnet-mini", BACKBONE_RESNET_MINI, 4, 16, 8, 3);
    check_backbone("resnet-mini w16", BACKBONE_RESNET_MINI, 16, 16, 6, 4);
}

/* Two oneDNN nets, one batch, one backward each: bitwise the same gradients and features. */
static void check_deterministic(backbone_type bb, int width, int H, int B, int threads)
{
    nb_set_threads(threads);
    model a, b;
    model_init(&a, bb, width, 8, H, B, 3, NET_BACKEND_DNNL);
    model_init(&b, bb, width, 8, H, B, 3, NET_BACKEND_DNNL);
    size_t nx = (size_t)B * H * H, nf = (size_t)B * 8;
    real *x = nb_malloc(nx * sizeof(real)), *r = nb_malloc(nf * sizeof(real));
    fill(x, nx, 5);
    fill(r, nf, 6);
    paramset_zero_grad(&a.ps);
    paramset_zero_grad(&b.ps);
    const real *fa = net_forward(&a.n, x, B, 1);
    real *fa_copy = nb_malloc(nf * sizeof(real));
    memcpy(fa_copy, fa, nf * sizeof(real));
    const real *fb = net_forward(&b.n, x, B, 1);
    assert_memory_equal(fa_copy, fb, nf * sizeof(real));
    net_backward(&a.n, r, B);
    net_backward(&b.n, r, B);
    assert_memory_equal(a.ps.grad, b.ps.grad, a.ps.total * sizeof(real));
    free(fa_copy);
    free(x);
    free(r);
    model_free(&a);
    model_free(&b);
    nb_set_threads(1);
}

static void test_deterministic(void **state)
{
    (void)state;
    for (int t = 1; t <= 2; t++) {
        check_deterministic(BACKBONE_CONVNET_SMALL, 16, 28, 32, t);
        check_deterministic(BACKBONE_LENETPP, 8, 28, 32, t);
        check_deterministic(BACKBONE_RESNET_MINI, 8, 16, 16, t);
    }
}

/* No convolution, inner product or pooling step runs oneDNN's reference kernel (plain C, ~1000x
 * slower than its JIT kernels): at small widths a blocked layout of fewer channels than the block
 * has only that kernel, and the backend must pick another layout (docs/backends.md). */
static void check_no_reference(backbone_type bb, int width, int H, int B)
{
    model m;
    model_init(&m, bb, width, 8, H, B, 4, NET_BACKEND_DNNL);
    size_t nx = (size_t)B * H * H, nf = (size_t)B * 8;
    real *x = nb_malloc(nx * sizeof(real)), *r = nb_malloc(nf * sizeof(real));
    fill(x, nx, 1);
    fill(r, nf, 2);
    paramset_zero_grad(&m.ps);
    net_forward(&m.n, x, B, 1);
    net_backward(&m.n, r, B);
    net_forward(&m.n, x, B, 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    dnnl_net_describe(m.n.backend_state, f);
    fclose(f);
    int steps = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strstr(line, "conv") && !strstr(line, "inner product") && !strstr(line, "maxpool"))
            continue;
        steps++;
        if (strstr(line, " ref:"))
            fail_msg("backbone %d width %d: a reference kernel: %s", (int)bb, width, line);
    }
    assert_true(steps >= 6);
    free(text);
    free(x);
    free(r);
    model_free(&m);
}

static void test_no_reference_kernels(void **state)
{
    (void)state;
    static const int widths[] = {4, 8, 12, 16, 32};
    for (int k = 0; k < 5; k++) {
        check_no_reference(BACKBONE_CONVNET_SMALL, widths[k], 28, 8);
        check_no_reference(BACKBONE_LENETPP, widths[k], 28, 8);
        check_no_reference(BACKBONE_RESNET_MINI, widths[k], 16, 8);
    }
}

/* The default backend is untouched by the existence of another: BLAS results are bitwise those of
 * a net that never heard of oneDNN, and switching back to BLAS gives them again. */
static void test_switch_back(void **state)
{
    (void)state;
    const int B = 6, H = 28;
    model a, b;
    model_init(&a, BACKBONE_CONVNET_SMALL, 8, 8, H, B, 9, NET_BACKEND_BLAS);
    model_init(&b, BACKBONE_CONVNET_SMALL, 8, 8, H, B, 9, NET_BACKEND_DNNL);
    nb_error err = {0};
    assert_int_equal(net_set_backend(&b.n, NET_BACKEND_BLAS, &err), 0);
    assert_int_equal(net_set_backend(&b.n, 7, &err), -1);
    real *x = nb_malloc((size_t)B * H * H * sizeof(real));
    fill(x, (size_t)B * H * H, 2);
    const real *fa = net_forward(&a.n, x, B, 1);
    const real *fb = net_forward(&b.n, x, B, 1);
    assert_memory_equal(fa, fb, (size_t)B * 8 * sizeof(real));
    free(x);
    model_free(&a);
    model_free(&b);
}

int main(void)
{
    nb_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convnet_small), cmocka_unit_test(test_lenetpp),
        cmocka_unit_test(test_resnet_mini),   cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_switch_back),   cmocka_unit_test(test_no_reference_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
