/* test_degrade.c — the degradations of lib/data/degrade.c (docs/data.md §3): the resize filters on known
 * values; each op does what it should (blur and downscale remove high-frequency energy, noise
 * adds variance σ², occlusion writes a square of the stated side); exactly the stated fraction
 * is degraded, the levels are recorded as quality and scale the strength; results are
 * deterministic for a seed; and a streamed dataset degraded through its wrapped render callback
 * gives bit-identical pixels to an in-memory copy degraded in place. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/rng.h"
#include "data/dataset.h"
#include "data/degrade.h"

#define assert_near(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (a), b_ = (b), t_ = (tol);                                                     \
        if (!(fabs(a_ - b_) <= t_))                                                                \
            fail_msg("%s = %.9g, expected %.9g ± %.3g", #a, a_, b_, t_);                           \
    } while (0)

/* White noise in [0, 1) from (seed, i). */
static void noise_image(float *x, size_t per, uint64_t seed, int i)
{
    rng_t r;
    rng_seed(&r, seed * 1000003u + (uint64_t)i);
    for (size_t p = 0; p < per; p++)
        x[p] = (float)rng_uniform(&r);
}

/* In-memory dataset of n white-noise images (or constant `value` images when value ≥ 0). */
static void make_mem(dataset *d, int n, int c, int h, int w, double value)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->c = c;
    d->h = h;
    d->w = w;
    d->num_classes = 1;
    size_t per = (size_t)c * h * w;
    d->images = malloc((size_t)n * per * sizeof *d->images);
    d->labels = calloc((size_t)n, sizeof *d->labels);
    for (int i = 0; i < n; i++) {
        if (value >= 0)
            for (size_t p = 0; p < per; p++)
                d->images[i * per + p] = (float)value;
        else
            noise_image(d->images + i * per, per, 7, i);
    }
}

/* Mean squared difference between horizontal and vertical neighbours. */
static double hf_energy(const float *x, int c, int h, int w)
{
    double s = 0.0;
    long n = 0;
    for (int k = 0; k < c; k++)
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                const float *p = x + ((size_t)k * h + y) * w + xx;
                if (xx + 1 < w) {
                    s += (p[1] - p[0]) * (p[1] - p[0]);
                    n++;
                }
                if (y + 1 < h) {
                    s += (p[w] - p[0]) * (p[w] - p[0]);
                    n++;
                }
            }
    return s / n;
}

static void test_resize_known(void **state)
{
    (void)state;
    float in[16], out[4];
    for (int i = 0; i < 16; i++)
        in[i] = (float)i;
    image_resize_area(out, in, 1, 4, 4, 2, 2);
    /* block means of [[0,1,4,5], [2,3,6,7], [8,9,12,13], [10,11,14,15]] */
    assert_near(out[0], 2.5, 1e-6);
    assert_near(out[1], 4.5, 1e-6);
    assert_near(out[2], 10.5, 1e-6);
    assert_near(out[3], 12.5, 1e-6);
    /* 3 → 2 with fractional coverage: (0 + ½·1)/1.5, (½·1 + 2)/1.5 */
    float l3[3] = {0, 1, 2}, l2[2];
    image_resize_area(l2, l3, 1, 1, 3, 1, 2);
    assert_near(l2[0], 1.0 / 3.0, 1e-6);
    assert_near(l2[1], 5.0 / 3.0, 1e-6);
    /* bilinear 2 → 4, centres aligned: src = −¼ (clamped), ¼, ¾, 1¼ (clamped) */
    float b2[2] = {0, 1}, b4[4];
    image_resize_bilinear(b4, b2, 1, 1, 2, 1, 4);
    assert_near(b4[0], 0.0, 1e-6);
    assert_near(b4[1], 0.25, 1e-6);
    assert_near(b4[2], 0.75, 1e-6);
    assert_near(b4[3], 1.0, 1e-6);
    /* identity sizes are copies */
    float same[16];
    image_resize_bilinear(same, in, 1, 4, 4, 4, 4);
    assert_memory_equal(same, in, sizeof in);
    image_resize_area(same, in, 1, 4, 4, 4, 4);
    for (int i = 0; i < 16; i++)
        assert_near(same[i], in[i], 1e-6);
}

static void test_blur_kernel(void **state)
{
    (void)state;
    /* A centred impulse spreads symmetrically with its sum kept and variance ≈ σ² per axis. */
    enum { H = 21, W = 21 };
    float x[H * W] = {0}, tmp[H * W];
    x[10 * W + 10] = 1.0f;
    image_blur_gaussian(x, tmp, 1, H, W, 2.0);
    double sum = 0.0, var = 0.0;
    for (int y = 0; y < H; y++)
        for (int xx = 0; xx < W; xx++) {
            sum += x[y * W + xx];
            var += x[y * W + xx] * (xx - 10.0) * (xx - 10.0);
            assert_near(x[y * W + xx], x[xx * W + y], 1e-7);
            assert_near(x[y * W + xx], x[y * W + (20 - xx)], 1e-7);
        }
    assert_near(sum, 1.0, 1e-5);
    assert_near(var, 4.0, 0.05);
}

static void test_blur_reduces_hf(void **state)
{
    (void)state;
    dataset d;
    make_mem(&d, 20, 1, 32, 32, -1);
    float *orig = malloc(20 * 1024 * sizeof *orig);
    memcpy(orig, d.images, 20 * 1024 * sizeof *orig);
    degrade_options o;
    degrade_defaults(&o);
    o.fraction = 1.0;
    o.blur = 1.5;
    nb_error err = {0};
    assert_int_equal(dataset_degrade(&d, &o, 1, &err), 0);
    for (int i = 0; i < 20; i++) {
        double before = hf_energy(orig + i * 1024, 1, 32, 32), after = hf_energy(d.images + i * 1024, 1, 32, 32);
        assert_true(after < 0.1 * before);
        assert_int_equal(d.quality[i], 1);
    }
    free(orig);
    dataset_free(&d);
}

static void test_noise_variance(void **state)
{
    (void)state;
    const int n = 200;
    dataset d;
    make_mem(&d, n, 1, 32, 32, 0.5);
    degrade_options o;
    degrade_defaults(&o);
    o.fraction = 1.0;
    o.noise = 0.1;
    nb_error err = {0};
    assert_int_equal(dataset_degrade(&d, &o, 3, &err), 0);
    double s = 0, s2 = 0;
    long total = (long)n * 1024;
    for (long p = 0; p < total; p++) {
        double e = d.images[p] - 0.5;
        s += e;
        s2 += e * e;
    }
    double mean = s / total, var = s2 / total - mean * mean;
    assert_near(mean, 0.0, 0.002);
    assert_near(var, 0.01, 0.0003); /* σ² within 3% (sd of the estimate ≈ 0.3%) */
    dataset_free(&d);
}

static void test_occlusion_box(void **state)
{
    (void)state;
    const int n = 50, c = 3, h = 32, w = 40;
    dataset d;
    make_mem(&d, n, c, h, w, 0.5);
    degrade_options o;
    degrade_defaults(&o);
    o.fraction = 1.0;
    o.occlusion = 0.25; /* side = 0.25 · min(32, 40) = 8 */
    o.occlusion_value = -1.0;
    nb_error err = {0};
    assert_int_equal(dataset_degrade(&d, &o, 5, &err), 0);
    int distinct_pos = 0, first_x = -1, first_y = -1;
    for (int i = 0; i < n; i++) {
        const float *x = d.images + (size_t)i * c * h * w;
        int x0 = w, y0 = h, x1 = -1, y1 = -1, count = 0;
        for (int k = 0; k < c; k++)
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++) {
                    float v = x[((size_t)k * h + y) * w + xx];
                    if (v == -1.0f) {
                        count++;
                        x0 = xx < x0 ? xx : x0;
                        x1 = xx > x1 ? xx : x1;
                        y0 = y < y0 ? y : y0;
                        y1 = y > y1 ? y : y1;
                    } else {
                        assert_true(v == 0.5f);
                    }
                }
        assert_int_equal(count, 8 * 8 * c);
        assert_int_equal(x1 - x0 + 1, 8);
        assert_int_equal(y1 - y0 + 1, 8);
        if (i == 0) {
            first_x = x0;
            first_y = y0;
        } else if (x0 != first_x || y0 != first_y) {
            distinct_pos++;
        }
    }
    assert_true(distinct_pos > n / 2); /* positions are drawn per sample */
    dataset_free(&d);

    /* every position is reachable: a 4×4 box in 8×8 images starts at x0, y0 ∈ 0..4 */
    make_mem(&d, 200, 1, 8, 8, 0.5);
    o.occlusion = 0.5;
    assert_int_equal(dataset_degrade(&d, &o, 6, &err), 0);
    int seen_x[5] = {0}, seen_y[5] = {0};
    for (int i = 0; i < 200; i++) {
        int first = -1;
        for (int p = 0; p < 64 && first < 0; p++)
            if (d.images[i * 64 + p] == -1.0f)
                first = p;
        assert_true(first >= 0 && first % 8 <= 4 && first / 8 <= 4);
        seen_x[first % 8] = seen_y[first / 8] = 1;
    }
    for (int k = 0; k < 5; k++)
        assert_true(seen_x[k] && seen_y[k]);
    dataset_free(&d);
}

static void test_downscale_loses_detail(void **state)
{
    (void)state;
    dataset d, flat;
    make_mem(&d, 20, 1, 32, 32, -1);
    make_mem(&flat, 3, 1, 32, 32, 0.25);
    float *orig = malloc(20 * 1024 * sizeof *orig);
    memcpy(orig, d.images, 20 * 1024 * sizeof *orig);
    degrade_options o;
    degrade_defaults(&o);
    o.fraction = 1.0;
    o.downscale = 4.0;
    nb_error err = {0};
    assert_int_equal(dataset_degrade(&d, &o, 1, &err), 0);
    assert_int_equal(dataset_degrade(&flat, &o, 1, &err), 0);
    for (int i = 0; i < 20; i++) {
        const float *a = orig + i * 1024, *b = d.images + i * 1024;
        assert_true(hf_energy(b, 1, 32, 32) < 0.2 * hf_energy(a, 1, 32, 32));
        double ma = 0, mb = 0;
        for (int p = 0; p < 1024; p++) {
            ma += a[p];
            mb += b[p];
        }
        assert_near(ma / 1024, mb / 1024, 0.01); /* area filter keeps the mean */
    }
    for (int p = 0; p < 3 * 1024; p++)
        assert_near(flat.images[p], 0.25, 1e-6);
    free(orig);
    dataset_free(&d);
    dataset_free(&flat);
}

static void test_fraction_and_levels(void **state)
{
    (void)state;
    const int n = 1000;
    dataset d;
    make_mem(&d, n, 1, 16, 16, 0.5);
    degrade_options o;
    degrade_defaults(&o);
    o.fraction = 0.3;
    o.levels = 3;
    o.noise = 0.3;
    nb_error err = {0};
    assert_int_equal(dataset_degrade(&d, &o, 11, &err), 0);
    int count[4] = {0};
    double s2[4] = {0};
    for (int i = 0; i < n; i++) {
        int q = dataset_quality(&d, i), changed = 0;
        assert_true(q >= 0 && q <= 3);
        count[q]++;
        for (int p = 0; p < 256; p++) {
            double e = d.images[i * 256 + p] - 0.5;
            changed |= e != 0.0;
            s2[q] += e * e;
        }
        assert_int_equal(changed, q > 0);
    }
    assert_int_equal(count[1] + count[2] + count[3], 300); /* exactly round(0.3 · 1000) */
    for (int l = 1; l <= 3; l++) {
        assert_true(count[l] > 50);
        double sd = 0.3 * l / 3.0, var = s2[l] / (count[l] * 256.0);
        assert_near(var, sd * sd, 0.1 * sd * sd);
    }
    dataset_free(&d);
}

static void test_deterministic(void **state)
{
    (void)state;
    dataset a, b, c;
    make_mem(&a, 100, 1, 16, 16, -1);
    make_mem(&b, 100, 1, 16, 16, -1);
    make_mem(&c, 100, 1, 16, 16, -1);
    degrade_options o;
    degrade_defaults(&o);
    o.fraction = 0.5;
    o.levels = 2;
    o.blur = 1.0;
    o.noise = 0.05;
    o.downscale = 2.0;
    o.occlusion = 0.3;
    nb_error err = {0};
    assert_int_equal(dataset_degrade(&a, &o, 42, &err), 0);
    assert_int_equal(dataset_degrade(&b, &o, 42, &err), 0);
    assert_int_equal(dataset_degrade(&c, &o, 43, &err), 0);
    assert_memory_equal(a.images, b.images, 100 * 256 * sizeof(float));
    assert_memory_equal(a.quality, b.quality, 100);
    assert_true(memcmp(a.images, c.images, 100 * 256 * sizeof(float)) != 0);
    dataset_free(&a);
    dataset_free(&b);
    dataset_free(&c);
}

/* A streamed dataset: sample i is noise_image(seed 9, i); counts its source_free calls. */
typedef struct {
    int magic; /* TEST_MAGIC: the render callback sees its own source, not the wrapper's */
} test_source;
#define TEST_MAGIC 0x7e57
static int source_frees;

static void test_render(const dataset *d, int i, float *out)
{
    assert_true(d->source != NULL && ((test_source *)d->source)->magic == TEST_MAGIC);
    noise_image(out, (size_t)d->c * d->h * d->w, 9, i);
}

static void test_source_free(void *p)
{
    source_frees++;
    free(p);
}

static void make_streamed(dataset *d, int n, int c, int h, int w)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->c = c;
    d->h = h;
    d->w = w;
    d->num_classes = 1;
    d->labels = calloc((size_t)n, sizeof *d->labels);
    d->render = test_render;
    test_source *src = malloc(sizeof *src);
    src->magic = TEST_MAGIC;
    d->source = src;
    d->source_free = test_source_free;
}

static void test_streamed_equals_memory(void **state)
{
    (void)state;
    const int n = 60, c = 3, h = 20, w = 24;
    size_t per = (size_t)c * h * w;
    dataset s, m;
    make_streamed(&s, n, c, h, w);
    make_mem(&m, n, c, h, w, 0);
    for (int i = 0; i < n; i++)
        s.render(&s, i, m.images + i * per);
    degrade_options o;
    degrade_defaults(&o);
    o.fraction = 0.6;
    o.levels = 2;
    o.blur = 0.8;
    o.noise = 0.05;
    o.downscale = 1.5;
    o.occlusion = 0.2;
    nb_error err = {0};
    assert_int_equal(dataset_degrade(&s, &o, 77, &err), 0);
    assert_int_equal(dataset_degrade(&m, &o, 77, &err), 0);
    assert_null(s.images);
    assert_memory_equal(s.quality, m.quality, (size_t)n);
    float *buf = malloc(per * sizeof *buf), *clean = malloc(per * sizeof *clean);
    int degraded = 0;
    for (int i = n - 1; i >= 0; i--) { /* any order */
        s.render(&s, i, buf);
        assert_memory_equal(buf, m.images + i * per, per * sizeof *buf);
        noise_image(clean, per, 9, i);
        int changed = memcmp(buf, clean, per * sizeof *buf) != 0;
        assert_int_equal(changed, s.quality[i] > 0);
        degraded += changed;
    }
    assert_int_equal(degraded, 36);
    /* dataset_gather goes through the wrapper too */
    real *x = malloc(2 * per * sizeof *x);
    int idx[2] = {5, 17}, y[2];
    dataset_gather(&s, x, y, idx, 2);
    for (size_t p = 0; p < per; p++)
        assert_near(x[per + p], m.images[17 * per + p], 1e-6);
    free(x);
    free(buf);
    free(clean);
    source_frees = 0;
    dataset_free(&s);
    assert_int_equal(source_frees, 1); /* the wrapped source is freed through the wrapper */
    dataset_free(&s);
    dataset_free(&m);
}

static void test_existing_quality(void **state)
{
    (void)state;
    dataset d;
    make_mem(&d, 10, 1, 8, 8, 0.5);
    d.quality = malloc(10);
    for (int i = 0; i < 10; i++)
        d.quality[i] = i == 9 ? 255 : 2;
    degrade_options o;
    degrade_defaults(&o);
    o.fraction = 1.0;
    o.noise = 0.1;
    nb_error err = {0};
    assert_int_equal(dataset_degrade(&d, &o, 1, &err), 0);
    for (int i = 0; i < 9; i++)
        assert_int_equal(d.quality[i], 3);
    assert_int_equal(d.quality[9], 255); /* saturates */
    dataset_free(&d);
}

static void expect_error(dataset *d, const degrade_options *o, const char *needle)
{
    nb_error err = {0};
    assert_int_equal(dataset_degrade(d, o, 1, &err), -1);
    if (!strstr(err.msg, needle))
        fail_msg("error '%s' does not mention '%s'", err.msg, needle);
}

static void test_errors(void **state)
{
    (void)state;
    dataset d;
    make_mem(&d, 10, 1, 8, 8, 0.5);
    degrade_options o;
    degrade_defaults(&o);
    o.noise = 0.1;
    o.fraction = 1.5;
    expect_error(&d, &o, "'fraction' = 1.5");
    o.fraction = 0.5;
    o.downscale = 0.5;
    expect_error(&d, &o, "'downscale'");
    o.downscale = 1.0;
    o.levels = 0;
    expect_error(&d, &o, "'levels' = 0");
    o.levels = 1;
    o.blur = NAN;
    expect_error(&d, &o, "'blur'");
    o.blur = 0;
    o.occlusion = -0.1;
    expect_error(&d, &o, "'occlusion'");
    o.occlusion = 0;
    assert_null(d.quality); /* nothing was touched */
    dataset empty = {0};
    empty.n = 3;
    expect_error(&empty, &o, "neither images nor a render callback");

    /* every op off: no change at all */
    degrade_options off;
    degrade_defaults(&off);
    off.fraction = 1.0;
    nb_error err = {0};
    assert_int_equal(dataset_degrade(&d, &off, 1, &err), 0);
    assert_null(d.quality);
    for (int p = 0; p < 640; p++)
        assert_true(d.images[p] == 0.5f);
    dataset_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_known),
        cmocka_unit_test(test_blur_kernel),
        cmocka_unit_test(test_blur_reduces_hf),
        cmocka_unit_test(test_noise_variance),
        cmocka_unit_test(test_occlusion_box),
        cmocka_unit_test(test_downscale_loses_detail),
        cmocka_unit_test(test_fraction_and_levels),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_streamed_equals_memory),
        cmocka_unit_test(test_existing_quality),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
