/* test_net_grad.c — each whole backbone of lib/nn/net.h (convnet-small, lenetpp, resnet-mini)
 * against central finite differences, in double: the wiring of the network, which
 * tests/test_layers.c (every layer alone) cannot see.
 *
 * For a tiny batch (3 samples of 1×12×12, 1×16×16 for lenetpp so that its last max-pool sees
 * more than one window; width 2–3; 4 features) the objective is
 * L = Σ r · net_forward(x) with a fixed random r, so net_backward is called with dfeat = r. For
 * every parameter tensor of the paramset, ∂L/∂p from net_backward is compared entry by entry with
 * (L(p + h) − L(p − h))/2h, scored as in tests/numgrad.h (relative error with a small absolute
 * floor, the tolerances of tests/test_layers.c). Batch-norm runs in train mode, so the batch
 * statistics are differentiated through. ReLU/PReLU signs and max-pool arg-maxes make L piecewise
 * smooth: after each perturbed forward pass the test compares those "kink signatures" with the
 * unperturbed ones; a ±h step that crossed a kink is retried with a smaller h, and a coordinate
 * where every step crosses one is skipped (and counted; a few are allowed, not many). Finally a
 * second net_backward on the same gradients must double them (backward accumulates into the
 * paramset). Every tensor's gradient must be non-zero somewhere, so no check is vacuous. */
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
#include "nn/net.h"
#include "nn/paramset.h"
#include "numgrad.h"

/* Steps tried in turn: the first that crosses no kink is used. 1e-5 keeps the rounding noise of a
 * deep forward pass (~1e-16·|L|/h) well under FD_ATOL; 1e-6 (tests/test_layers.c's step) is the
 * fallback where a batch-norm γ/β step of 1e-5 moves some ReLU input across 0. */
static const double FD_H[] = {1e-5, 1e-6};
#define FD_TRIES 2
#define FD_RTOL 1e-6
#define FD_ATOL 1e-8
/* Entries checked per tensor at most (all of them in the sizes below); more are sampled evenly. */
#define MAX_PER_TENSOR 4096
/* At most this fraction of the checked coordinates may be skipped for crossing a kink. */
#define MAX_SKIP_FRACTION 0.02

typedef struct {
    net n;
    paramset ps;
    int B;
    size_t n_x, n_feat;
    real *x, *r;
    int *sig, *sig_now; /* kink signature: ReLU/PReLU input signs, max-pool arg-maxes */
    size_t sig_len;
} net_case;

static size_t node_elems(const net_node *d, int B) { return (size_t)B * d->c * d->h * d->w; }

/* Writes the kink signature of the last forward pass into sig (sig_len entries). */
static void signature(const net_case *c, int *sig)
{
    size_t k = 0;
    for (int i = 0; i < c->n.n; i++) {
        const net_node *d = &c->n.nodes[i];
        const size_t m = node_elems(d, c->B);
        if (d->type == NODE_RELU || d->type == NODE_PRELU) {
            const real *inp = d->in >= 0 ? c->n.nodes[d->in].out : c->n.input;
            for (size_t j = 0; j < m; j++)
                sig[k++] = inp[j] > 0;
        } else if (d->type == NODE_MAXPOOL) {
            for (size_t j = 0; j < m; j++)
                sig[k++] = d->argmax[j];
        }
    }
    assert_int_equal(k, c->sig_len);
}

static size_t signature_len(const net_case *c)
{
    size_t k = 0;
    for (int i = 0; i < c->n.n; i++) {
        const net_node *d = &c->n.nodes[i];
        if (d->type == NODE_RELU || d->type == NODE_PRELU || d->type == NODE_MAXPOOL)
            k += node_elems(d, c->B);
    }
    return k;
}

/* L = Σ r · f(x), forward in train mode; the kink signature goes to sig. */
static double objective(net_case *c, int *sig)
{
    const real *f = net_forward(&c->n, c->x, c->B, 1);
    if (sig)
        signature(c, sig);
    return numgrad_dot(c->r, f, c->n_feat);
}

static void case_init(net_case *c, backbone_type bb, int width, int feature_dim, int B, int H, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    nb_error err = {0};
    c->B = B;
    if (net_build(&c->n, bb, width, feature_dim, 1, H, H, B, &c->ps, &err) != 0)
        fail_msg("net_build: %s", err.msg);
    paramset_alloc(&c->ps);
    rng_t rng;
    rng_seed(&rng, seed);
    net_bind(&c->n, &rng);
    /* Move the parameters that start at constants (biases 0, PReLU slopes 0.25, BN γ 1 and β 0)
     * to generic values, so that no gradient is checked only at a symmetric point. */
    for (int t = 0; t < c->ps.count; t++) {
        const param_tensor *pt = &c->ps.t[t];
        real *p = paramset_data(&c->ps, t);
        for (size_t i = 0; i < pt->n; i++)
            if (pt->group == PARAM_BIAS || pt->group == PARAM_BN)
                p[i] += (real)(0.2 * rng_normal(&rng));
            else if (pt->group == PARAM_PRELU)
                p[i] += (real)(0.1 * rng_normal(&rng));
    }
    c->n_x = (size_t)B * H * H;
    c->n_feat = (size_t)B * feature_dim;
    c->x = nb_malloc(c->n_x * sizeof(real));
    c->r = nb_malloc(c->n_feat * sizeof(real));
    numgrad_fill_normal(&rng, c->x, c->n_x, 1.0);
    numgrad_fill_normal(&rng, c->r, c->n_feat, 1.0);
    c->sig_len = signature_len(c);
    c->sig = nb_malloc((c->sig_len ? c->sig_len : 1) * sizeof(int));
    c->sig_now = nb_malloc((c->sig_len ? c->sig_len : 1) * sizeof(int));
}

static void case_free(net_case *c)
{
    net_free(&c->n);
    paramset_free(&c->ps);
    free(c->x);
    free(c->r);
    free(c->sig);
    free(c->sig_now);
}

/* The whole check for one backbone. */
static void check_backbone(const char *label, backbone_type bb, int width, int feature_dim, int B, int H,
                           uint64_t seed)
{
    nb_set_threads(1);
    net_case c;
    case_init(&c, bb, width, feature_dim, B, H, seed);

    /* Analytic gradient at the base point, kept aside (ana) for the FD loop. */
    paramset_zero_grad(&c.ps);
    objective(&c, c.sig);
    net_backward(&c.n, c.r, c.B);
    const size_t total = c.ps.total;
    real *ana = nb_malloc(total * sizeof(real));
    memcpy(ana, c.ps.grad, total * sizeof(real));

    size_t checked_all = 0, skipped_all = 0, smaller_h_all = 0;
    for (int t = 0; t < c.ps.count; t++) {
        const param_tensor *pt = &c.ps.t[t];
        real *p = paramset_data(&c.ps, t);
        const real *g = ana + pt->off;
        double gmax = 0;
        for (size_t i = 0; i < pt->n; i++)
            gmax = fmax(gmax, fabs(g[i]));
        if (gmax < 1e-6)
            fail_msg("%s %s: gradient is identically ~0 (max %g), the check would be vacuous", label, pt->name,
                     gmax);
        const size_t stride = pt->n > MAX_PER_TENSOR ? (pt->n + MAX_PER_TENSOR - 1) / MAX_PER_TENSOR : 1;
        numgrad_result res = {0, 0, 0, 0};
        size_t checked = 0, skipped = 0, smaller_h = 0;
        for (size_t i = (size_t)(rng_mix64(seed + (uint64_t)t) % stride); i < pt->n; i += stride) {
            double num = 0;
            int k = 0;
            for (; k < FD_TRIES; k++) {
                const double h = FD_H[k];
                const real saved = p[i];
                const real up = (real)(saved + h), down = (real)(saved - h);
                p[i] = up;
                const double lp = objective(&c, c.sig_now);
                int crossed = memcmp(c.sig_now, c.sig, c.sig_len * sizeof(int)) != 0;
                p[i] = down;
                const double lm = objective(&c, c.sig_now);
                crossed |= memcmp(c.sig_now, c.sig, c.sig_len * sizeof(int)) != 0;
                p[i] = saved;
                /* divide by the step actually taken, which rounding makes differ slightly from 2h */
                num = (lp - lm) / ((double)up - (double)down);
                if (!crossed)
                    break;
            }
            if (k == FD_TRIES) {
                skipped++;
                continue;
            }
            smaller_h += k > 0;
            double err = fabs(g[i] - num) / (FD_ATOL + FD_RTOL * fmax(fabs(g[i]), fabs(num)));
            if (isnan(err)) /* a NaN on either side is a failure, never a pass */
                err = INFINITY;
            if (err > res.worst || checked == 0) {
                res.worst = err;
                res.index = i;
                res.analytic = g[i];
                res.numeric = num;
            }
            checked++;
        }
        char name[96];
        snprintf(name, sizeof name, "%s %s", label, pt->name);
        numgrad_print(name, res);
        if (checked == 0)
            fail_msg("%s: every coordinate crossed a kink; nothing was checked", name);
        if (!(res.worst <= 1.0))
            fail_msg("%s: FD mismatch at [%zu]: analytic %.12g numeric %.12g", name, res.index, res.analytic,
                     res.numeric);
        checked_all += checked;
        skipped_all += skipped;
        smaller_h_all += smaller_h;
    }
    printf("  %s: %d tensors, %zu coordinates checked (%zu with the smaller step), %zu skipped at a kink\n",
           label, c.ps.count, checked_all, smaller_h_all, skipped_all);
    if ((double)skipped_all > MAX_SKIP_FRACTION * (double)(checked_all + skipped_all))
        fail_msg("%s: %zu of %zu coordinates crossed a kink: too many for the check to mean much", label,
                 skipped_all, checked_all + skipped_all);

    /* Backward accumulates: a second call without zeroing doubles every parameter gradient. */
    objective(&c, NULL);
    net_backward(&c.n, c.r, c.B);
    for (size_t i = 0; i < total; i++) {
        const double want = 2.0 * ana[i], got = c.ps.grad[i];
        if (!(fabs(got - want) <= 1e-12 * fabs(want) + 1e-15))
            fail_msg("%s: second backward gave %.17g at [%zu], want 2·%.17g (not accumulating?)", label, got, i,
                     ana[i]);
    }
    free(ana);
    case_free(&c);
}

static void test_convnet_small(void **state)
{
    (void)state;
    check_backbone("convnet-small", BACKBONE_CONVNET_SMALL, 3, 4, 3, 12, 101);
}

static void test_lenetpp(void **state)
{
    (void)state;
    check_backbone("lenetpp", BACKBONE_LENETPP, 2, 4, 3, 16, 102);
}

static void test_resnet_mini(void **state)
{
    (void)state;
    check_backbone("resnet-mini", BACKBONE_RESNET_MINI, 2, 4, 3, 12, 103);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convnet_small),
        cmocka_unit_test(test_lenetpp),
        cmocka_unit_test(test_resnet_mini),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
