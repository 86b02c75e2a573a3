/* test_dataset.c — datasets loaded from IDX pairs (lib/data/dataset.c) and the epoch samplers
 * (lib/data/sampler.c): loading, max_n subsets, pixel statistics against an independent two-pass
 * computation, normalisation, batch gathering, the seeded shuffle, and the P×K sampler's batch
 * structure; plus the real Fashion-MNIST test set when the Debian package is installed. Temporary
 * IDX files live in a mkdtemp directory under /tmp that is removed afterwards. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "data/dataset.h"
#include "test_util.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

static char tmpdir[256];

static const char *tmp_path(const char *name) { return path_in(tmpdir, name); }

/* Writes an unsigned-byte IDX file through gzip (gzopen "wb"). */
static void write_idx(const char *path, int ndim, const uint32_t *dims, const uint8_t *data, size_t n)
{
    uint8_t head[4 + 4 * 4] = {0, 0, 0x08, (uint8_t)ndim};
    for (int i = 0; i < ndim; i++) {
        head[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        head[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        head[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        head[7 + 4 * i] = (uint8_t)dims[i];
    }
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, head, 4 + 4 * (unsigned)ndim), 4 + 4 * ndim);
    assert_int_equal(gzwrite(gz, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(gz), Z_OK);
}

/* n images of h×w with pixel (i, p) = (i·31 + p·7) mod 256, and the given labels. */
static void write_pair(const char *ip, const char *lp, int n, int h, int w, const uint8_t *labels)
{
    size_t total = (size_t)n * h * w;
    uint8_t *px = malloc(total);
    for (size_t i = 0; i < total; i++)
        px[i] = (uint8_t)(((i / (size_t)(h * w)) * 31 + (i % (size_t)(h * w)) * 7) % 256);
    uint32_t idims[3] = {(uint32_t)n, (uint32_t)h, (uint32_t)w};
    write_idx(ip, 3, idims, px, total);
    uint32_t ldims[1] = {(uint32_t)n};
    write_idx(lp, 1, ldims, labels, (size_t)n);
    free(px);
}

static int setup(void **state)
{
    (void)state;
    return make_tmpdir(tmpdir, sizeof tmpdir, "/tmp/normbench_test_dataset_XXXXXX");
}

static int teardown(void **state)
{
    (void)state;
    return remove_tree(tmpdir);
}

/* 10 images of 2×3; labels use classes 0, 1, 2 and 4 (3 is empty). */
static const uint8_t tiny_labels[10] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 4};

static void load_tiny(dataset *d, int max_n)
{
    const char *ip = tmp_path("tiny-images.gz"), *lp = tmp_path("tiny-labels.gz");
    write_pair(ip, lp, 10, 2, 3, tiny_labels);
    nb_error err = {0};
    int rc = dataset_load_idx(d, ip, lp, max_n, &err);
    if (rc)
        nb_error_print(&err, stderr);
    assert_int_equal(rc, 0);
}

static void test_load(void **state)
{
    (void)state;
    dataset d;
    load_tiny(&d, 0);
    assert_int_equal(d.n, 10);
    assert_int_equal(d.c, 1);
    assert_int_equal(d.h, 2);
    assert_int_equal(d.w, 3);
    assert_int_equal(d.num_classes, 5);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(d.labels[i], tiny_labels[i]);
        for (int p = 0; p < 6; p++) {
            float want = (float)((i * 31 + p * 7) % 256) / 255.0f;
            assert_true(d.images[i * 6 + p] == want);
        }
    }
    dataset_free(&d);
    assert_null(d.images);
    dataset_free(&d); /* twice, and on a zeroed struct */
    dataset z = {0};
    dataset_free(&z);
}

static void test_load_nchw(void **state)
{
    (void)state;
    const char *ip = tmp_path("nchw-images.gz"), *lp = tmp_path("nchw-labels.gz");
    uint8_t px[3 * 2 * 2 * 2];
    for (int i = 0; i < 24; i++)
        px[i] = (uint8_t)(10 * i);
    uint32_t idims[4] = {3, 2, 2, 2};
    write_idx(ip, 4, idims, px, 24);
    uint8_t lab[3] = {7, 0, 7};
    uint32_t ldims[1] = {3};
    write_idx(lp, 1, ldims, lab, 3);
    dataset d;
    nb_error err = {0};
    assert_int_equal(dataset_load_idx(&d, ip, lp, 0, &err), 0);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.c, 2);
    assert_int_equal(d.h, 2);
    assert_int_equal(d.w, 2);
    assert_int_equal(d.num_classes, 8);
    assert_true(d.images[23] == 230.0f / 255.0f);
    dataset_free(&d);
}

static void test_max_n(void **state)
{
    (void)state;
    dataset d;
    load_tiny(&d, 4);
    assert_int_equal(d.n, 4);
    assert_int_equal(d.num_classes, 3); /* labels 0, 1, 2, 0 */
    for (int i = 0; i < 4; i++)
        assert_int_equal(d.labels[i], tiny_labels[i]);
    assert_true(d.images[3 * 6 + 5] == (float)((3 * 31 + 5 * 7) % 256) / 255.0f);
    dataset_free(&d);

    load_tiny(&d, 100); /* more than there are: all of them */
    assert_int_equal(d.n, 10);
    assert_int_equal(d.num_classes, 5);
    dataset_free(&d);
}

static void test_pixel_stats_and_normalize(void **state)
{
    (void)state;
    dataset d;
    load_tiny(&d, 0);
    /* Independent: from the raw byte values, mean and population sd. */
    double s = 0, s2 = 0;
    for (int i = 0; i < 10; i++)
        for (int p = 0; p < 6; p++) {
            double v = ((i * 31 + p * 7) % 256) / 255.0;
            s += v;
            s2 += v * v;
        }
    double m_ref = s / 60, sd_ref = sqrt(s2 / 60 - m_ref * m_ref);
    double m, sd;
    dataset_pixel_stats(&d, &m, &sd);
    assert_true(fabs(m - m_ref) < 1e-6);
    assert_true(fabs(sd - sd_ref) < 1e-6);

    /* Normalisation is applied by dataset_gather; the stored pixels stay raw. */
    float before = d.images[17];
    dataset_normalize(&d, m, sd);
    assert_true(d.images[17] == before);
    int idx[10];
    real x[10 * 6];
    for (int i = 0; i < 10; i++)
        idx[i] = i;
    dataset_gather(&d, x, NULL, idx, 10);
    assert_true(fabs(x[17] - (before - m) / sd) < 1e-5);
    double s_n = 0, s2_n = 0;
    for (int i = 0; i < 60; i++) {
        s_n += x[i];
        s2_n += x[i] * x[i];
    }
    assert_true(fabs(s_n / 60) < 1e-6);
    assert_true(fabs(sqrt(s2_n / 60) - 1.0) < 1e-5);
    dataset_free(&d);
}

static void test_gather(void **state)
{
    (void)state;
    dataset d;
    load_tiny(&d, 0);
    int idx[4] = {9, 0, 9, 4};
    real x[4 * 6];
    int y[4];
    dataset_gather(&d, x, y, idx, 4);
    for (int b = 0; b < 4; b++) {
        assert_int_equal(y[b], tiny_labels[idx[b]]);
        for (int p = 0; p < 6; p++)
            assert_true(x[b * 6 + p] == (real)d.images[idx[b] * 6 + p]);
    }
    dataset_free(&d);
}

/* A synthetic dataset with only labels (the samplers never look at pixels). */
static dataset labels_only(int n, const int *labels, int num_classes)
{
    dataset d = {0};
    d.n = n;
    d.c = d.h = d.w = 1;
    d.num_classes = num_classes;
    d.labels = malloc((size_t)n * sizeof *d.labels);
    d.images = calloc((size_t)n, sizeof *d.images);
    memcpy(d.labels, labels, (size_t)n * sizeof *labels);
    return d;
}

static void test_sampler_init(void **state)
{
    (void)state;
    int lab[8] = {2, 0, 2, 2, 0, 4, 2, 0};
    dataset d = labels_only(8, lab, 5);
    sampler s;
    sampler_init(&s, &d);
    assert_int_equal(s.n, 8);
    assert_int_equal(s.num_classes, 5);
    int want_count[5] = {3, 0, 4, 0, 1};
    for (int c = 0; c < 5; c++)
        assert_int_equal(s.class_count[c], want_count[c]);
    int c0[3] = {1, 4, 7}, c2[4] = {0, 2, 3, 6};
    assert_memory_equal(s.by_class[0], c0, sizeof c0);
    assert_memory_equal(s.by_class[2], c2, sizeof c2);
    assert_int_equal(s.by_class[4][0], 5);
    sampler_free(&s);
    assert_null(s.order);
    sampler_free(&s);
    sampler z = {0};
    sampler_free(&z);
    dataset_free(&d);
}

static void test_sampler_shuffle(void **state)
{
    (void)state;
    enum { N = 200 };
    int lab[N];
    for (int i = 0; i < N; i++)
        lab[i] = i % 7;
    dataset d = labels_only(N, lab, 7);
    sampler s;
    sampler_init(&s, &d);
    rng_t r;
    int a[N], b[N];

    rng_seed(&r, 42);
    assert_int_equal(sampler_shuffle(&s, &r), N);
    memcpy(a, s.order, sizeof a);
    int seen[N] = {0};
    for (int i = 0; i < N; i++) {
        assert_true(a[i] >= 0 && a[i] < N);
        seen[a[i]]++;
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    int moved = 0;
    for (int i = 0; i < N; i++)
        moved += a[i] != i;
    assert_true(moved > N / 2);

    /* The next epoch differs; the same seed reproduces the first epoch regardless of the
     * sampler's previous order. */
    assert_int_equal(sampler_shuffle(&s, &r), N);
    assert_memory_not_equal(s.order, a, sizeof a);
    rng_seed(&r, 42);
    sampler_shuffle(&s, &r);
    assert_memory_equal(s.order, a, sizeof a);

    rng_seed(&r, 43);
    sampler_shuffle(&s, &r);
    memcpy(b, s.order, sizeof b);
    assert_memory_not_equal(a, b, sizeof a);
    sampler_free(&s);
    dataset_free(&d);
}

/* Checks the P×K structure of s->order[0..len): each batch has P distinct classes, K samples of
 * each (distinct when the class has ≥ K), every sample of the class it is listed under. Adds the
 * number of batches each class appears in to picks. */
static void check_pk(const sampler *s, const dataset *d, int len, int P, int K, int *picks)
{
    int pk = P * K;
    assert_int_equal(len % pk, 0);
    assert_true(len >= d->n && len < d->n + pk);
    for (int b = 0; b < len / pk; b++) {
        const int *batch = s->order + b * pk;
        int cls[64];
        for (int p = 0; p < P; p++) {
            const int *g = batch + p * K;
            assert_true(g[0] >= 0 && g[0] < d->n);
            int c = d->labels[g[0]];
            cls[p] = c;
            for (int q = 0; q < p; q++)
                assert_int_not_equal(cls[q], c);
            picks[c]++;
            for (int k = 0; k < K; k++) {
                assert_true(g[k] >= 0 && g[k] < d->n);
                assert_int_equal(d->labels[g[k]], c);
                if (s->class_count[c] >= K)
                    for (int j = 0; j < k; j++)
                        assert_int_not_equal(g[j], g[k]);
            }
        }
    }
}

static void test_sampler_pk(void **state)
{
    (void)state;
    /* 6 labelled classes: 0..3 with 10–13 samples, 4 with 2 (< K), 5 empty, 6 with 5. */
    int lab[60], n = 0;
    for (int c = 0; c < 4; c++)
        for (int i = 0; i < 10 + c; i++)
            lab[n++] = c;
    lab[n++] = 4;
    lab[n++] = 4;
    for (int i = 0; i < 5; i++)
        lab[n++] = 6;
    rng_t r;
    rng_seed(&r, 5);
    rng_shuffle_int(&r, lab, n); /* interleave the classes */
    dataset d = labels_only(n, lab, 7);
    sampler s;
    sampler_init(&s, &d);

    const int P = 3, K = 4;
    int picks[7] = {0};
    rng_seed(&r, 1);
    int len = sampler_pk(&s, &r, P, K);
    assert_int_equal(len, ((n + P * K - 1) / (P * K)) * P * K);
    check_pk(&s, &d, len, P, K, picks);
    int *first = malloc((size_t)len * sizeof *first);
    memcpy(first, s.order, (size_t)len * sizeof *first);

    /* Deterministic for a seed; other seeds differ. */
    rng_seed(&r, 1);
    assert_int_equal(sampler_pk(&s, &r, P, K), len);
    assert_memory_equal(s.order, first, (size_t)len * sizeof *first);
    rng_seed(&r, 2);
    assert_int_equal(sampler_pk(&s, &r, P, K), len);
    assert_memory_not_equal(s.order, first, (size_t)len * sizeof *first);

    /* Many epochs: the empty class never appears; every other class, including the one with
     * fewer than K samples, is picked about P/6 of the batches. */
    memset(picks, 0, sizeof picks);
    int batches = 0;
    for (int e = 0; e < 300; e++) {
        len = sampler_pk(&s, &r, P, K);
        check_pk(&s, &d, len, P, K, picks);
        batches += len / (P * K);
    }
    assert_int_equal(picks[5], 0);
    for (int c = 0; c < 7; c++) {
        if (c == 5)
            continue;
        double frac = (double)picks[c] / batches;
        assert_true(fabs(frac - (double)P / 6) < 0.05);
    }

    /* P larger than the number of non-empty classes is capped at 6. */
    memset(picks, 0, sizeof picks);
    len = sampler_pk(&s, &r, 10, 2);
    assert_int_equal(len % 12, 0);
    check_pk(&s, &d, len, 6, 2, picks);
    /* and the batch size the trainer cuts the order into says so */
    assert_int_equal(sampler_pk_batch(&s, 10, 2), 12);
    assert_int_equal(sampler_pk_batch(&s, P, K), P * K);

    /* A plain shuffle after a P×K epoch still permutes all n. */
    assert_int_equal(sampler_shuffle(&s, &r), n);

    free(first);
    sampler_free(&s);
    dataset_free(&d);
}

/* Every class smaller than K: all draws with replacement, from the right class. */
static void test_sampler_pk_small_classes(void **state)
{
    (void)state;
    int lab[5] = {0, 1, 1, 2, 0};
    dataset d = labels_only(5, lab, 3);
    sampler s;
    sampler_init(&s, &d);
    rng_t r;
    rng_seed(&r, 9);
    int picks[3] = {0};
    int len = sampler_pk(&s, &r, 2, 8);
    assert_int_equal(len, 16);
    check_pk(&s, &d, len, 2, 8, picks);
    sampler_free(&s);
    dataset_free(&d);
}

static void test_fashion_mnist(void **state)
{
    (void)state;
    const char *ip = FMNIST_DIR "/t10k-images-idx3-ubyte.gz", *lp = FMNIST_DIR "/t10k-labels-idx1-ubyte.gz";
    if (access(FMNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0 || access(ip, R_OK) != 0 ||
        access(lp, R_OK) != 0)
        skip();
    dataset d;
    nb_error err = {0};
    int rc = dataset_load_idx(&d, ip, lp, 0, &err);
    if (rc)
        nb_error_print(&err, stderr);
    assert_int_equal(rc, 0);
    assert_int_equal(d.n, 10000);
    assert_int_equal(d.c, 1);
    assert_int_equal(d.h, 28);
    assert_int_equal(d.w, 28);
    assert_int_equal(d.num_classes, 10);
    int count[10] = {0};
    for (int i = 0; i < d.n; i++)
        count[d.labels[i]]++;
    for (int c = 0; c < 10; c++)
        assert_int_equal(count[c], 1000);
    double m, sd;
    dataset_pixel_stats(&d, &m, &sd);
    assert_true(m > 0.2 && m < 0.4 && sd > 0.25 && sd < 0.45); /* ≈ 0.286, 0.353 */
    dataset_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_load_nchw),
        cmocka_unit_test(test_max_n),
        cmocka_unit_test(test_pixel_stats_and_normalize),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_sampler_init),
        cmocka_unit_test(test_sampler_shuffle),
        cmocka_unit_test(test_sampler_pk),
        cmocka_unit_test(test_sampler_pk_small_classes),
        cmocka_unit_test(test_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
