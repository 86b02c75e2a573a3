/* test_synthetic.c — synthetic identities (lib/data/synthetic.c, docs/data.md §3): shapes and labels of the
 * streamed train/test sets; every sample a pure function of (seed, identity, sample) — the same
 * pixels rendered twice, in reverse order, from several threads, or through dataset_gather;
 * different seeds differ; train and test identities disjoint; every quality level present and
 * higher levels measurably blurrier (lower high-frequency energy without noise) and noisier
 * (higher energy without blur), and harder to classify; identities separable far above chance
 * by a nearest-class-mean classifier on raw pixels; option ranges checked with the option named;
 * the 100,000-identity maximum. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "data/dataset.h"
#include "data/synthetic.h"

static void make_ok(dataset *train, dataset *test, const synthetic_options *o)
{
    nb_error err = {0};
    int rc = synthetic_make(train, test, o, &err);
    if (rc)
        nb_error_print(&err, stderr);
    assert_int_equal(rc, 0);
}

static double sqdist(const float *a, const float *b, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += (double)(a[i] - b[i]) * (a[i] - b[i]);
    return s;
}

/* Mean squared difference between horizontal and vertical neighbours. */
static double hf_energy(const float *x, int h, int w)
{
    double s = 0.0;
    for (int y = 0; y < h; y++)
        for (int xx = 0; xx < w; xx++) {
            const float *p = x + y * w + xx;
            if (xx + 1 < w)
                s += (p[1] - p[0]) * (p[1] - p[0]);
            if (y + 1 < h)
                s += (p[w] - p[0]) * (p[w] - p[0]);
        }
    return s / (2.0 * h * w - h - w);
}

/* Renders every sample of d into a new (n, per) buffer. */
static float *render_all(const dataset *d)
{
    size_t per = (size_t)d->c * d->h * d->w;
    float *x = malloc((size_t)d->n * per * sizeof *x);
    for (int i = 0; i < d->n; i++)
        d->render(d, i, x + i * per);
    return x;
}

static void test_shapes(void **state)
{
    (void)state;
    synthetic_options o;
    synthetic_defaults(&o);
    dataset tr, te;
    make_ok(&tr, &te, &o);
    assert_int_equal(tr.n, 100 * 20);
    assert_int_equal(te.n, 100 * 10);
    assert_int_equal(tr.num_classes, 100);
    assert_int_equal(te.num_classes, 100);
    assert_int_equal(tr.c, 1);
    assert_int_equal(tr.h, 32);
    assert_int_equal(tr.w, 32);
    assert_null(tr.images);
    assert_non_null(tr.render);
    assert_non_null(tr.quality);
    for (int i = 0; i < tr.n; i++) {
        assert_int_equal(tr.labels[i], i / 20);
        assert_int_equal(tr.quality[i], synthetic_quality(&o, i / 20, i % 20));
        assert_true(tr.quality[i] < 4);
    }
    for (int i = 0; i < te.n; i++) {
        assert_int_equal(te.labels[i], i / 10);
        assert_int_equal(te.quality[i], synthetic_quality(&o, 100 + i / 10, i % 10));
    }
    /* pixel values stay around [0, 1] */
    double mean, sd;
    dataset_pixel_stats(&tr, &mean, &sd);
    assert_true(mean > 0.3 && mean < 0.7);
    assert_true(sd > 0.05 && sd < 0.4);
    dataset_free(&tr);
    dataset_free(&te);
    dataset_free(&tr); /* twice, and on a zeroed struct */
    dataset z = {0};
    dataset_free(&z);
}

static void test_deterministic(void **state)
{
    (void)state;
    synthetic_options o;
    synthetic_defaults(&o);
    o.identities = 30;
    o.images_per_identity = 8;
    o.seed = 1234;
    dataset a, b;
    make_ok(&a, NULL, &o);
    make_ok(&b, NULL, &o);
    size_t per = 32 * 32;
    float *fwd = render_all(&a);
    float *rev = malloc((size_t)b.n * per * sizeof *rev);
    for (int i = b.n - 1; i >= 0; i--)
        b.render(&b, i, rev + i * per);
    assert_memory_equal(fwd, rev, (size_t)a.n * per * sizeof *fwd);
    /* twice in a row, and through the public per-sample function */
    float one[32 * 32], two[32 * 32];
    a.render(&a, 57, one);
    a.render(&a, 57, two);
    assert_memory_equal(one, two, sizeof one);
    synthetic_render(two, &o, 57 / 8, 57 % 8);
    assert_memory_equal(one, two, sizeof one);
    /* from several threads in any order */
    float *par = malloc((size_t)a.n * per * sizeof *par);
#pragma omp parallel for schedule(dynamic, 3) num_threads(4)
    for (int i = 0; i < a.n; i++)
        a.render(&a, a.n - 1 - i, par + (size_t)(a.n - 1 - i) * per);
    assert_memory_equal(fwd, par, (size_t)a.n * per * sizeof *fwd);
    /* dataset_gather renders the same pixels, normalised */
    dataset_normalize(&a, 0.5, 0.25);
    real x[2 * 32 * 32];
    int idx[2] = {200, 3}, y[2];
    dataset_gather(&a, x, y, idx, 2);
    assert_int_equal(y[0], 25);
    assert_int_equal(y[1], 0);
    for (size_t p = 0; p < per; p++)
        assert_true(fabs(x[per + p] - (fwd[3 * per + p] - 0.5) / 0.25) < 1e-5);
    free(fwd);
    free(rev);
    free(par);
    dataset_free(&a);
    dataset_free(&b);
}

static void test_seeds_differ(void **state)
{
    (void)state;
    synthetic_options o1, o2;
    synthetic_defaults(&o1);
    o1.identities = 10;
    o1.images_per_identity = 5;
    o2 = o1;
    o2.seed = o1.seed + 1;
    dataset a, b;
    make_ok(&a, NULL, &o1);
    make_ok(&b, NULL, &o2);
    float *xa = render_all(&a), *xb = render_all(&b);
    for (int i = 0; i < a.n; i++)
        assert_true(sqdist(xa + i * 1024, xb + i * 1024, 1024) / 1024 > 1e-3);
    float pa[1024], pb[1024];
    synthetic_prototype(pa, &o1, 0);
    synthetic_prototype(pb, &o2, 0);
    assert_true(sqdist(pa, pb, 1024) / 1024 > 1e-3);
    free(xa);
    free(xb);
    dataset_free(&a);
    dataset_free(&b);
}

static void test_disjoint_identities(void **state)
{
    (void)state;
    synthetic_options o;
    synthetic_defaults(&o);
    o.identities = 40;
    o.test_identities = 25;
    dataset tr, te;
    make_ok(&tr, &te, &o);
    char *used = calloc(65, 1);
    for (int i = 0; i < tr.n; i++) {
        assert_true(tr.labels[i] >= 0 && tr.labels[i] < tr.num_classes);
        int k = synthetic_identity(&o, 0, tr.labels[i]);
        assert_true(k >= 0 && k < 65);
        used[k] |= 1;
    }
    for (int i = 0; i < te.n; i++) {
        assert_true(te.labels[i] >= 0 && te.labels[i] < te.num_classes);
        int k = synthetic_identity(&o, 1, te.labels[i]);
        assert_true(k >= 0 && k < 65);
        assert_false(used[k] & 1); /* never a training identity */
        used[k] |= 2;
    }
    int ntrain = 0, ntest = 0;
    for (int k = 0; k < 65; k++) {
        ntrain += used[k] == 1;
        ntest += used[k] == 2;
    }
    assert_int_equal(ntrain, 40);
    assert_int_equal(ntest, 25);
    /* the test samples are renderings of test identities, not of a training prototype */
    float *xte = render_all(&te);
    float proto[1024];
    synthetic_render(proto, &o, 40 + 3, 0);
    assert_memory_equal(proto, xte + (size_t)3 * 10 * 1024, sizeof proto);
    for (int k = 0; k < 40; k++) {
        synthetic_render(proto, &o, k, 0);
        assert_true(memcmp(proto, xte + (size_t)3 * 10 * 1024, sizeof proto) != 0);
    }
    free(xte);
    free(used);
    dataset_free(&tr);
    dataset_free(&te);
}

/* Mean high-frequency energy per quality level over d's samples (Q ≤ 8). */
static void hf_by_quality(const dataset *d, int Q, double *hf, int *count)
{
    float x[32 * 32];
    for (int q = 0; q < Q; q++) {
        hf[q] = 0.0;
        count[q] = 0;
    }
    for (int i = 0; i < d->n; i++) {
        d->render(d, i, x);
        int q = dataset_quality(d, i);
        hf[q] += hf_energy(x, 32, 32);
        count[q]++;
    }
    for (int q = 0; q < Q; q++)
        hf[q] /= count[q] ? count[q] : 1;
}

static void test_quality_levels(void **state)
{
    (void)state;
    synthetic_options o;
    synthetic_defaults(&o);
    o.identities = 50;
    o.images_per_identity = 40;
    double hf[8];
    int count[8];
    dataset d;

    /* blur only: higher q → smoother */
    o.noise = 0.0;
    o.quality_noise = 0.0;
    make_ok(&d, NULL, &o);
    hf_by_quality(&d, 4, hf, count);
    print_message("blur only: hf energy by quality %.3g %.3g %.3g %.3g\n", hf[0], hf[1], hf[2], hf[3]);
    for (int q = 0; q < 4; q++)
        assert_true(count[q] > d.n / 8); /* every level appears, roughly uniformly */
    for (int q = 0; q + 1 < 4; q++)
        if (!(hf[q + 1] < 0.9 * hf[q]))
            fail_msg("blur: hf energy at q=%d is %g, at q=%d %g", q + 1, hf[q + 1], q, hf[q]);
    assert_true(hf[3] < 0.5 * hf[0]);
    dataset_free(&d);

    /* noise only: higher q → noisier */
    synthetic_defaults(&o);
    o.identities = 50;
    o.images_per_identity = 40;
    o.quality_blur = 0.0;
    make_ok(&d, NULL, &o);
    hf_by_quality(&d, 4, hf, count);
    print_message("noise only: hf energy by quality %.3g %.3g %.3g %.3g\n", hf[0], hf[1], hf[2], hf[3]);
    for (int q = 0; q + 1 < 4; q++)
        if (!(hf[q + 1] > 1.5 * hf[q]))
            fail_msg("noise: hf energy at q=%d is %g, at q=%d %g", q + 1, hf[q + 1], q, hf[q]);
    dataset_free(&d);

    /* Q = 1: everything clean */
    synthetic_defaults(&o);
    o.quality_levels = 1;
    make_ok(&d, NULL, &o);
    for (int i = 0; i < d.n; i++)
        assert_int_equal(d.quality[i], 0);
    dataset_free(&d);
}

/* Nearest class mean: means from samples j < fit of each identity, accuracy on the others;
 * optionally per quality level. */
static double ncm_accuracy(const dataset *d, int per_id, int fit, double *acc_q, int Q)
{
    int K = d->num_classes;
    float *x = render_all(d);
    float *mean = calloc((size_t)K * 1024, sizeof *mean);
    for (int i = 0; i < d->n; i++)
        if (i % per_id < fit)
            for (int p = 0; p < 1024; p++)
                mean[d->labels[i] * 1024 + p] += x[(size_t)i * 1024 + p] / fit;
    int right = 0, total = 0, rq[256] = {0}, tq[256] = {0};
    for (int i = 0; i < d->n; i++) {
        if (i % per_id < fit)
            continue;
        int best = -1;
        double bd = INFINITY;
        for (int k = 0; k < K; k++) {
            double dist = sqdist(x + (size_t)i * 1024, mean + k * 1024, 1024);
            if (dist < bd) {
                bd = dist;
                best = k;
            }
        }
        int q = dataset_quality(d, i);
        right += best == d->labels[i];
        rq[q] += best == d->labels[i];
        tq[q]++;
        total++;
    }
    for (int q = 0; q < Q; q++)
        acc_q[q] = tq[q] ? (double)rq[q] / tq[q] : 0.0;
    free(x);
    free(mean);
    return (double)right / total;
}

static void test_separable(void **state)
{
    (void)state;
    synthetic_options o;
    synthetic_defaults(&o);
    o.identities = 20;
    o.images_per_identity = 30;
    o.test_identities = 20;
    o.test_images_per_identity = 30;
    dataset tr, te;
    make_ok(&tr, &te, &o);
    double acc_q[4];
    double acc = ncm_accuracy(&tr, 30, 10, acc_q, 4);
    print_message("nearest class mean, 20 train identities: %.3f (chance 0.05); by quality %.2f %.2f %.2f %.2f\n",
                  acc, acc_q[0], acc_q[1], acc_q[2], acc_q[3]);
    assert_true(acc > 0.6);
    assert_true(acc_q[0] > acc_q[3]); /* the hardest level is harder */
    double acc_te = ncm_accuracy(&te, 30, 10, acc_q, 4);
    print_message("nearest class mean, 20 test identities: %.3f\n", acc_te);
    assert_true(acc_te > 0.6);

    /* nearest clean prototype of the 20 training identities */
    float proto[20 * 1024], x[1024];
    for (int k = 0; k < 20; k++)
        synthetic_prototype(proto + k * 1024, &o, k);
    int right = 0;
    for (int i = 0; i < tr.n; i++) {
        tr.render(&tr, i, x);
        int best = 0;
        for (int k = 1; k < 20; k++)
            if (sqdist(x, proto + k * 1024, 1024) < sqdist(x, proto + best * 1024, 1024))
                best = k;
        right += best == tr.labels[i];
    }
    print_message("nearest prototype: %.3f\n", (double)right / tr.n);
    assert_true(right > 0.5 * tr.n);
    dataset_free(&tr);
    dataset_free(&te);
}

static void expect_error(const synthetic_options *o, const char *needle)
{
    dataset tr, te;
    nb_error err = {0};
    assert_int_equal(synthetic_make(&tr, &te, o, &err), -1);
    if (!strstr(err.msg, needle))
        fail_msg("error '%s' does not mention '%s'", err.msg, needle);
    assert_null(tr.labels);
    assert_null(te.source);
    dataset_free(&tr);
    dataset_free(&te);
}

static void test_option_errors(void **state)
{
    (void)state;
    synthetic_options o;
#define BAD(field, value, needle)                                                                  \
    do {                                                                                           \
        synthetic_defaults(&o);                                                                    \
        o.field = value;                                                                           \
        expect_error(&o, needle);                                                                  \
    } while (0)
    BAD(identities, 5, "'identities' = 5 is out of range [10, 100000]");
    BAD(identities, 100001, "'identities' = 100001");
    BAD(test_identities, 1, "'test_identities' = 1");
    BAD(images_per_identity, 0, "'images_per_identity' = 0");
    BAD(test_images_per_identity, -3, "'test_images_per_identity' = -3");
    BAD(size, 4, "'size' = 4");
    BAD(size, 1000, "'size' = 1000");
    BAD(quality_levels, 0, "'quality_levels' = 0");
    BAD(quality_levels, 256, "'quality_levels'");
    BAD(noise, -0.1, "'noise' = -0.1");
    BAD(noise, NAN, "'noise'");
    BAD(shift, 17, "'shift' = 17");
    BAD(rotation, 181, "'rotation'");
    BAD(illumination, 1.0, "'illumination' = 1 is out of range [0, 1)");
    BAD(quality_blur, -1, "'quality_blur'");
    BAD(quality_noise, INFINITY, "'quality_noise'");
#undef BAD
    synthetic_defaults(&o);
    o.identities = 100000;
    o.images_per_identity = 100000;
    expect_error(&o, "exceeds 2^31");
}

static void test_max_identities(void **state)
{
    (void)state;
    synthetic_options o;
    synthetic_defaults(&o);
    o.identities = 100000;
    o.images_per_identity = 4;
    o.test_identities = 100000;
    o.test_images_per_identity = 4;
    dataset tr, te;
    make_ok(&tr, &te, &o);
    assert_int_equal(tr.n, 400000);
    assert_int_equal(tr.num_classes, 100000);
    assert_int_equal(tr.labels[tr.n - 1], 99999);
    float a[1024], b[1024];
    tr.render(&tr, tr.n - 1, a);
    synthetic_render(b, &o, 99999, 3);
    assert_memory_equal(a, b, sizeof a);
    te.render(&te, te.n - 1, a);
    synthetic_render(b, &o, 199999, 3);
    assert_memory_equal(a, b, sizeof a);
    for (int p = 0; p < 1024; p++)
        assert_true(isfinite(a[p]));
    dataset_free(&tr);
    dataset_free(&te);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_seeds_differ),
        cmocka_unit_test(test_disjoint_identities),
        cmocka_unit_test(test_quality_levels),
        cmocka_unit_test(test_separable),
        cmocka_unit_test(test_option_errors),
        cmocka_unit_test(test_max_identities),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
