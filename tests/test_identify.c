/* test_identify.c — identification (lib/eval/identify.c) and geometry diagnostics (lib/eval/geometry.c):
 * the gallery/probe split, rank-1 and CMC on a constructed 2-D case with known ranks (including a
 * tie counted against the probe), CMC properties on random features, ranks of a gallery and
 * probe set larger than one tile and one block of the blocked product (with distractors and a
 * probe whose identity has no template) equal to every score compared in the test, at 1 and 2
 * threads, nearest-class-weight
 * accuracy, feature norms per quality level, the θ_y histogram, and the minimum angle between
 * class weights (also at 1e-6°, where acos of the cosine would return 0). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/gemm.h"
#include "eval/geometry.h"
#include "eval/identify.h"

/* |a − b| ≤ tol, printing both on failure (NaN fails). */
#define assert_near(a, b, tol) assert_near_at((a), (b), (tol), #a, __FILE__, __LINE__)
static void assert_near_at(double a, double b, double tol, const char *what, const char *file, int line)
{
    if (!(fabs(a - b) <= tol)) {
        print_error("%s = %.17g, expected %.17g within %g\n", what, a, b, tol);
        _fail(file, line);
    }
}

static void test_split(void **state)
{
    (void)state;
    /* identity 0: samples 0, 3, 5; identity 1: 1, 6; identity 2: 2 (single); identity 4: 4, 7, 8, 9 */
    const int y[] = {0, 1, 2, 0, 4, 0, 1, 4, 4, 4};
    gallery_split s;
    nb_error err;
    assert_int_equal(identify_split(&s, y, 10, NULL, 0, &err), 0);
    /* rng NULL: the first sample of each identity, gallery ordered by identity */
    assert_int_equal(s.n_gallery, 3);
    const int gal[] = {0, 1, 4}, gal_y[] = {0, 1, 4}, prb[] = {3, 5, 6, 7, 8, 9};
    assert_memory_equal(s.gallery, gal, sizeof gal);
    assert_memory_equal(s.gallery_label, gal_y, sizeof gal_y);
    assert_int_equal(s.n_probe, 6);
    assert_memory_equal(s.probe, prb, sizeof prb);
    assert_int_equal(s.n_distractors, 0);
    gallery_split_free(&s);
    gallery_split_free(&s);

    assert_int_equal(identify_split(&s, y, 10, NULL, 1, &err), 0);
    assert_int_equal(s.n_gallery, 4);
    assert_int_equal(s.gallery[2], 2); /* the single sample of identity 2 as a distractor */
    assert_int_equal(s.n_distractors, 1);
    assert_int_equal(s.n_probe, 6);
    gallery_split_free(&s);

    /* seeded: one gallery sample per identity, all others probes, same seed → same split */
    rng_t rng;
    int seen_nonfirst = 0;
    for (uint64_t seed = 0; seed < 20; seed++) {
        gallery_split a, b;
        rng_seed(&rng, seed);
        assert_int_equal(identify_split(&a, y, 10, &rng, 0, NULL), 0);
        rng_seed(&rng, seed);
        assert_int_equal(identify_split(&b, y, 10, &rng, 0, NULL), 0);
        assert_int_equal(a.n_gallery, 3);
        assert_int_equal(a.n_probe, 6);
        assert_memory_equal(a.gallery, b.gallery, 3 * sizeof *a.gallery);
        int in[10] = {0};
        for (int g = 0; g < 3; g++) {
            assert_int_equal(y[a.gallery[g]], a.gallery_label[g]);
            in[a.gallery[g]]++;
            seen_nonfirst += a.gallery[g] != gal[g];
        }
        for (int p = 0; p < 6; p++) {
            assert_int_not_equal(y[a.probe[p]], 2);
            in[a.probe[p]]++;
        }
        for (int i = 0; i < 10; i++)
            assert_int_equal(in[i], i == 2 ? 0 : 1);
        gallery_split_free(&a);
        gallery_split_free(&b);
    }
    assert_true(seen_nonfirst > 0);

    const int singles[] = {0, 1, 2};
    assert_int_equal(identify_split(&s, singles, 3, NULL, 1, &err), -1);
    assert_non_null(strstr(err.msg, "no identity has 2 samples"));
}

/* 2-D: gallery id0 (1,0), id1 (0,1), id2 (−1,0). Probes and their ranks:
 *   id0 (1, .1)      → id0 first                                  rank 1
 *   id1 (.9, .5)     → id0 .87, id1 .49, id2 −.87                 rank 2
 *   id2 (.1, −1)     → id0 .10, id2 −.10, id1 −.99                rank 2
 *   id2 (−1, −.2)    → id2 first                                  rank 1
 *   id1 (.2, −1)     → id0 .20, id2 −.20, id1 −.98                rank 3
 *   id0 (0, −1)      → id0 0 ties id2 0 (id1 −1): tie against the probe → rank 2
 * CMC: 2/6, 5/6, 1, 1. */
static void test_rank_and_cmc(void **state)
{
    (void)state;
    const real f[] = {1, 0, 0, 1, -1, 0, /* gallery */
                      1, .1, .9, .5, .1, -1, -1, -.2, .2, -1, 0, -1};
    const int y[] = {0, 1, 2, 0, 1, 2, 2, 1, 0};
    gallery_split s;
    assert_int_equal(identify_split(&s, y, 9, NULL, 0, NULL), 0);
    assert_int_equal(s.n_gallery, 3);
    assert_int_equal(s.n_probe, 6);
    identify_result r;
    assert_int_equal(identify_evaluate(&r, f, y, 9, 2, &s, 4, NULL), 0);
    const double cmc[] = {2.0 / 6, 5.0 / 6, 1, 1};
    for (int k = 0; k < 4; k++)
        assert_near(r.cmc[k], cmc[k], 1e-12);
    assert_near(r.rank1, 2.0 / 6, 1e-12);
    identify_result_free(&r);
    identify_result_free(&r);
    gallery_split_free(&s);

    /* A single-sample identity (5) as a distractor in the probe's own direction (2, .2): it
     * outranks id0's template (cosine 1 > .995), so the probe drops to rank 2. */
    const real f2[] = {1, 0, 0, 1, -1, 0, 1, .1, 2, .2};
    const int y2[] = {0, 1, 2, 0, 5};
    assert_int_equal(identify_split(&s, y2, 5, NULL, 1, NULL), 0);
    assert_int_equal(s.n_gallery, 4);
    assert_int_equal(s.n_probe, 1);
    assert_int_equal(identify_evaluate(&r, f2, y2, 5, 2, &s, 2, NULL), 0);
    assert_near(r.cmc[0], 0, 0);
    assert_near(r.cmc[1], 1, 0);
    identify_result_free(&r);
    gallery_split_free(&s);

    nb_error err;
    assert_int_equal(identify_split(&s, y, 9, NULL, 0, NULL), 0);
    assert_int_equal(identify_evaluate(&r, f, y, 9, 2, &s, 0, &err), -1);
    assert_non_null(strstr(err.msg, "ranks"));
    gallery_split_free(&s);
}

/* Random features of 40 identities: CMC non-decreasing in [0, 1], and 1 from rank = gallery size. */
static void test_cmc_properties(void **state)
{
    (void)state;
    const int ids = 40, per = 4, n = ids * per, d = 8;
    int *y = malloc((size_t)n * sizeof *y);
    real *f = malloc((size_t)n * d * sizeof *f);
    rng_t rng;
    rng_seed(&rng, 11);
    for (int i = 0; i < n; i++) {
        y[i] = (i * 13) % ids;
        for (int k = 0; k < d; k++)
            f[(size_t)i * d + k] = (real)(0.7 * ((y[i] >> (k % 6)) & 1) + rng_normal(&rng));
    }
    gallery_split s;
    assert_int_equal(identify_split(&s, y, n, &rng, 0, NULL), 0);
    assert_int_equal(s.n_gallery, ids);
    assert_int_equal(s.n_probe, n - ids);
    identify_result r;
    const int R = 50;
    assert_int_equal(identify_evaluate(&r, f, y, n, d, &s, R, NULL), 0);
    assert_true(r.cmc[0] > 0 && r.cmc[0] < 1); /* neither trivial */
    for (int k = 1; k < R; k++)
        assert_true(r.cmc[k] >= r.cmc[k - 1] && r.cmc[k] <= 1);
    for (int k = ids - 1; k < R; k++)
        assert_near(r.cmc[k], 1, 0);
    identify_result_free(&r);
    gallery_split_free(&s);
    free(y);
    free(f);
}

/* cos(a, b) of two d-vectors, in double. */
static double cosine(const real *a, const real *b, int d)
{
    double ab = 0, aa = 0, bb = 0;
    for (int k = 0; k < d; k++) {
        ab += (double)a[k] * b[k];
        aa += (double)a[k] * a[k];
        bb += (double)b[k] * b[k];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

/* 4,800 gallery templates (two tiles of the product; 300 distractors) and 2,600 probes (three
 * blocks, 20 of them of an identity with no template): the CMC is what comparing every probe
 * with every template gives, whatever the thread count. */
static void test_blocked_ranks(void **state)
{
    (void)state;
    const int ids = 4500, d = 8, R = 6, n = ids + 2600 + 300 + 20;
    int *y = malloc((size_t)n * sizeof *y);
    real *f = malloc((size_t)n * d * sizeof *f);
    rng_t rng;
    rng_seed(&rng, 5);
    for (int i = 0; i < n; i++) {
        y[i] = i < ids ? i : i < ids + 2600 ? (int)((i * 7919u) % ids) : i < ids + 2900 ? i : ids + 3000;
        for (int k = 0; k < d; k++) /* a probe is its template plus noise */
            f[(size_t)i * d + k] = (real)((i >= ids && y[i] < ids ? f[(size_t)y[i] * d + k] : 0) + rng_normal(&rng) *
                                          (i >= ids && y[i] < ids ? 0.5 : 1));
    }
    gallery_split s = {0};
    s.n_gallery = ids + 300;
    s.gallery = malloc((size_t)s.n_gallery * sizeof *s.gallery);
    s.gallery_label = malloc((size_t)s.n_gallery * sizeof *s.gallery_label);
    for (int g = 0; g < s.n_gallery; g++) {
        s.gallery[g] = g < ids ? g : ids + 2600 + (g - ids);
        s.gallery_label[g] = y[s.gallery[g]];
    }
    s.n_probe = 2620;
    s.probe = malloc((size_t)s.n_probe * sizeof *s.probe);
    for (int p = 0; p < s.n_probe; p++)
        s.probe[p] = p < 2600 ? ids + p : ids + 2900 + (p - 2600);
    long at[7] = {0};
    for (int p = 0; p < s.n_probe; p++) {
        const int pi = s.probe[p];
        if (y[pi] >= ids)
            continue; /* no template: never matched */
        const double own = cosine(f + (size_t)pi * d, f + (size_t)y[pi] * d, d);
        int rank = 1;
        for (int g = 0; g < s.n_gallery; g++)
            rank += s.gallery[g] != y[pi] && cosine(f + (size_t)pi * d, f + (size_t)s.gallery[g] * d, d) >= own;
        if (rank <= R)
            at[rank - 1]++;
    }
    double want[6], cum = 0;
    for (int r = 0; r < R; r++)
        want[r] = (cum += (double)at[r]) / s.n_probe;
    assert_true(want[0] > 0.2 && want[R - 1] < 0.8); /* neither trivial */
    const int threads = nb_get_threads();
    for (int t = 1; t <= 2; t++) {
        nb_set_threads(t);
        identify_result r;
        assert_int_equal(identify_evaluate(&r, f, y, n, d, &s, R, NULL), 0);
        for (int k = 0; k < R; k++)
            assert_near(r.cmc[k], want[k], 0);
        identify_result_free(&r);
    }
    nb_set_threads(threads);
    gallery_split_free(&s);
    free(y);
    free(f);
}

static void test_nearest_weight(void **state)
{
    (void)state;
    /* W rows at 0°, 120°, 240° with norms 50, 1, 10: only direction matters (by dot product,
     * the feature at 287° would go to the long row 0) */
    const real W[] = {50, 0, -0.5, 0.8660254, -5, -8.660254};
    const real f[] = {1, 0.1, -1, 1, 0.3, -1, 0, 0, -0.2, 1}; /* 6°, 135°, 287°, zero, 101° */
    const int y[] = {0, 1, 2, 2, 1};
    int pred[5];
    double acc = classify_nearest_weight(pred, f, y, 5, 2, W, 3);
    const int want[] = {0, 1, 2, 0, 1}; /* zero feature → class 0 */
    assert_memory_equal(pred, want, sizeof want);
    assert_near(acc, 4.0 / 5, 1e-12);
    assert_true(isnan(classify_nearest_weight(pred, f, NULL, 5, 2, W, 3)));
}

/* Norms: level 0 {(3,4)→5, (0,3)→3}, level 1 {1, 1, 1}, level 2 empty. Overall {5,3,1,1,1}:
 * mean 2.2, sample sd √(12.8/4). */
static void test_norm_stats(void **state)
{
    (void)state;
    const real f[] = {3, 4, 1, 0, 0, 3, 0, -1, 0.6, 0.8};
    const uint8_t q[] = {0, 1, 0, 1, 1};
    norm_stats s;
    nb_error err;
    assert_int_equal(geometry_norm_stats(&s, f, q, 5, 2, 3, &err), 0);
    assert_near(s.mean, 2.2, 1e-12);
    assert_near(s.sd, sqrt(3.2), 1e-12);
    assert_int_equal(s.count[0], 2);
    assert_int_equal(s.count[1], 3);
    assert_int_equal(s.count[2], 0);
    assert_near(s.level_mean[0], 4, 1e-12);
    assert_near(s.level_sd[0], sqrt(2.0), 1e-12);
    assert_near(s.level_mean[1], 1, 1e-12);
    assert_near(s.level_sd[1], 0, 1e-12);
    assert_true(isnan(s.level_mean[2]) && isnan(s.level_sd[2]));
    norm_stats_free(&s);
    norm_stats_free(&s);

    assert_int_equal(geometry_norm_stats(&s, f, NULL, 5, 2, 1, &err), 0);
    assert_int_equal(s.count[0], 5);
    assert_near(s.level_mean[0], 2.2, 1e-12);
    norm_stats_free(&s);

    assert_int_equal(geometry_norm_stats(&s, f, q, 5, 2, 1, &err), -1);
    assert_non_null(strstr(err.msg, "quality 1"));
}

/* θ_y: class weights (1,0) and (0,2); features at 0°, 17°, 47°, 92°, 137° and 180° from their
 * class weight, and a zero feature (90°). 5° bins: 0, 3, 9, 18, 27, 35 (180° closes the last),
 * and 18 for the zero feature. */
static void test_theta_hist(void **state)
{
    (void)state;
    const real W[] = {1, 0, 0, 2};
    const double ang[] = {0, 17, 47, 92, 137, 180};
    const int lab[] = {0, 1, 0, 1, 0, 1, 0};
    real f[14];
    for (int i = 0; i < 6; i++) {
        double base = lab[i] == 0 ? 0 : 90, t = (base + ang[i]) * M_PI / 180;
        f[2 * i] = (real)(3 * cos(t));
        f[2 * i + 1] = (real)(3 * sin(t));
    }
    f[12] = f[13] = 0;
    double theta[7];
    assert_int_equal(geometry_theta_y(theta, f, lab, 7, 2, W, 2, NULL), 0);
    for (int i = 0; i < 6; i++)
        assert_near(theta[i], ang[i], 1e-9);
    assert_near(theta[6], 90, 0);
    long hist[36];
    double mean;
    assert_int_equal(geometry_theta_hist(hist, &mean, f, lab, 7, 2, W, 2, 36, NULL), 0);
    long want[36] = {0};
    want[0] = want[3] = want[9] = want[27] = want[35] = 1;
    want[18] = 2;
    assert_memory_equal(hist, want, sizeof want);
    assert_near(mean, (0 + 17 + 47 + 92 + 137 + 180 + 90) / 7.0, 1e-9);
    nb_error err;
    const int bad[] = {0, 2, 0, 0, 0, 0, 0};
    assert_int_equal(geometry_theta_hist(hist, &mean, f, bad, 7, 2, W, 2, 36, &err), -1);
    assert_non_null(strstr(err.msg, "label 2"));
}

static void test_min_weight_angle(void **state)
{
    (void)state;
    const double t = 10 * M_PI / 180;
    const real W[] = {1, 0, 0, (real)(3 * cos(t)), (real)(3 * sin(t)), 0, 0, 0, 1, -1, 0, 0, 0, 0, 0};
    int i, j;
    assert_near(geometry_min_weight_angle(&i, &j, W, 4, 3), 10, 1e-9);
    assert_int_equal(i, 0);
    assert_int_equal(j, 1);
    /* a zero row sits at 90° from everything: with it, the minimum stays 10° */
    assert_near(geometry_min_weight_angle(&i, &j, W, 5, 3), 10, 1e-9);
    /* without rows 0/1 the rows (0,0,1), (−1,0,0), 0: all 90° apart */
    assert_near(geometry_min_weight_angle(NULL, NULL, W + 6, 3, 3), 90, 1e-12);
    /* 1e-6°: cos = 1 − 1.5e-16 rounds to 1 and acos would give 0; the stable formula does not */
    const double e = 1e-6 * M_PI / 180;
    const real V[] = {0, 1, 0, (real)sin(e), (real)cos(e), 0, 0, 0, 1};
    assert_near(geometry_min_weight_angle(&i, &j, V, 3, 3), 1e-6, 1e-15);
    assert_int_equal(i, 0);
    assert_int_equal(j, 1);
    assert_true(isnan(geometry_min_weight_angle(&i, &j, V, 1, 3)));
    assert_int_equal(i, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_rank_and_cmc),
        cmocka_unit_test(test_cmc_properties),
        cmocka_unit_test(test_blocked_ranks),
        cmocka_unit_test(test_nearest_weight),
        cmocka_unit_test(test_norm_stats),
        cmocka_unit_test(test_theta_hist),
        cmocka_unit_test(test_min_weight_angle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
