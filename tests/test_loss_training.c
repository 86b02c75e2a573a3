/* test_loss_training.c — every classification-family loss (and NormFace's agent losses) trains:
 * convnet-small (narrow) on a 2,000-image Fashion-MNIST subset for a few hundred SGD steps lowers
 * its loss; NormFace with s = 1 stays above its loss lower bound (docs/theory.md §2) throughout; and
 * `normbench bounds` prints docs/theory.md §2's example values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/gemm.h"
#include "loss/loss.h"
#include "train/train.h"

#define STEPS 120
#define BATCH 32

static dataset g_train, g_test;

static int setup(void **state)
{
    (void)state;
    nb_set_threads(1);
    nb_config cfg;
    nb_error err = {0};
    config_defaults(&cfg);
    cfg.data.train_subset = 2000;
    cfg.data.test_subset = 10;
    pair_list pl;
    if (data_load(&cfg, &g_train, &g_test, &pl, &err)) {
        nb_error_print(&err, stderr);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dataset_free(&g_train);
    dataset_free(&g_test);
    return 0;
}

/* Trains `type` (with the given s, or α for l2softmax) and returns the mean loss of the first and
 * of the last 20 steps; the minimum per-epoch-like mean over windows of 20 steps in *min_window. */
static void train_loss(loss_type type, double scale, double m, double *first, double *last, double *min_window)
{
    nb_config cfg;
    config_defaults(&cfg);
    cfg.model.width = 4;
    cfg.model.feature_dim = 16;
    loss_config_defaults(&cfg.loss, type);
    if (type == LOSS_L2SOFTMAX)
        cfg.loss.alpha = scale;
    else if (scale > 0)
        cfg.loss.s = scale;
    if (m >= 0)
        cfg.loss.m = m;
    cfg.train.lr = 0.05;
    model mdl;
    rng_t rng, order;
    rng_seed(&rng, 3);
    rng_seed(&order, 4);
    nb_error err = {0};
    assert_int_equal(model_init(&mdl, &cfg, 1, 28, 28, 10, BATCH, &rng, &err), 0);
    sampler smp = {0};
    sampler_init(&smp, &g_train);
    int pos = g_train.n;
    double window = 0, w_first = 0;
    *min_window = INFINITY;
    for (int s = 0; s < STEPS; s++) {
        if (pos + BATCH > g_train.n) {
            sampler_shuffle(&smp, &order);
            pos = 0;
        }
        dataset_gather(&g_train, mdl.x, mdl.y, smp.order + pos, BATCH);
        pos += BATCH;
        step_stats st;
        model_train_step(&mdl, &cfg, BATCH, 0.05, s, &st);
        assert_true(isfinite(st.loss));
        window += st.loss;
        if ((s + 1) % 20 == 0) {
            if (s + 1 == 20)
                w_first = window / 20;
            if (window / 20 < *min_window)
                *min_window = window / 20;
            *last = window / 20;
            window = 0;
        }
    }
    *first = w_first;
    sampler_free(&smp);
    model_free(&mdl);
}

static void expect_falls(loss_type type, double scale, double m)
{
    double first, last, minw;
    train_loss(type, scale, m, &first, &last, &minw);
    printf("%-14s loss %.4f -> %.4f over %d steps\n", loss_type_name(type), first, last, STEPS);
    assert_true(last < 0.8 * first);
}

static void test_softmax(void **s) { (void)s; expect_falls(LOSS_SOFTMAX, 0, -1); }
static void test_l2softmax(void **s) { (void)s; expect_falls(LOSS_L2SOFTMAX, 16, -1); }
static void test_normface(void **s) { (void)s; expect_falls(LOSS_NORMFACE, 16, -1); }
static void test_cosface(void **s) { (void)s; expect_falls(LOSS_COSFACE, 16, 0.2); }
static void test_arcface(void **s) { (void)s; expect_falls(LOSS_ARCFACE, 16, 0.3); }
static void test_combined(void **s) { (void)s; expect_falls(LOSS_COMBINED, 16, -1); }
static void test_sphereface(void **s) { (void)s; expect_falls(LOSS_SPHEREFACE, 0, -1); }
static void test_c_contrastive(void **s) { (void)s; expect_falls(LOSS_C_CONTRASTIVE, 0, -1); }
static void test_c_triplet(void **s) { (void)s; expect_falls(LOSS_C_TRIPLET, 0, -1); }

static void test_normface_s1_above_bound(void **state)
{
    (void)state;
    double first, last, minw;
    train_loss(LOSS_NORMFACE, 1.0, -1, &first, &last, &minw);
    double bound = normface_loss_bound(10, 1.0);
    printf("normface s=1: lowest 20-step mean loss %.4f, bound %.4f\n", minw, bound);
    assert_true(minw >= bound);
    /* and it stalls near the bound rather than training to a low loss */
    assert_true(minw < bound + 1.0);
}

static void test_bounds_command(void **state)
{
    (void)state;
    FILE *p = popen("bin/normbench bounds", "r");
    assert_non_null(p);
    char buf[8192] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    assert_int_equal(pclose(p), 0);
    /* docs/theory.md §2: alpha_low for p = 0.9 and C = 10, 100, 1000, 10575; NormFace bound n = 10 */
    const char *want[] = {"4.2767", "6.7822", "9.1030", "11.4633", "1.377", "0.1005", "0.00124"};
    for (int i = 0; i < 7; i++) {
        if (!strstr(buf, want[i]))
            printf("missing %s in:\n%s\n", want[i], buf);
        assert_non_null(strstr(buf, want[i]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax),      cmocka_unit_test(test_l2softmax),
        cmocka_unit_test(test_normface),     cmocka_unit_test(test_cosface),
        cmocka_unit_test(test_arcface),      cmocka_unit_test(test_combined),
        cmocka_unit_test(test_sphereface),   cmocka_unit_test(test_c_contrastive),
        cmocka_unit_test(test_c_triplet),    cmocka_unit_test(test_normface_s1_above_bound),
        cmocka_unit_test(test_bounds_command),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
