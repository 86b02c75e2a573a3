/* test_train.c — the training loop end to end: a few SGD steps on a small Fashion-MNIST subset
 * lower the loss for each backbone; the normbench binary run twice on the same config writes
 * byte-identical metrics.csv (time column aside) and config.yaml; bad invocations fail cleanly. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "config/runrecord.h"
#include "nb_bin.h"
#include "train/train.h"

static void few_steps_lower_loss(backbone_type bb, int side_pad)
{
    nb_config cfg;
    nb_error err = {0};
    assert_int_equal(config_load(&cfg, "tests/fixtures/tiny_train.yaml", &err), 0);
    cfg.model.backbone = bb;
    dataset tr = {0}, te = {0};
    pair_list pl;
    if (data_load(&cfg, &tr, &te, &pl, &err)) {
        nb_error_print(&err, stderr);
        fail();
    }
    (void)side_pad;
    int B = 32;
    model m;
    rng_t rng;
    rng_seed(&rng, 5);
    assert_int_equal(model_init(&m, &cfg, tr.c, tr.h, tr.w, tr.num_classes, B, &rng, &err), 0);
    int idx[32];
    for (int i = 0; i < B; i++)
        idx[i] = i;
    dataset_gather(&tr, m.x, m.y, idx, B);
    step_stats st;
    double first = 0, last = 0;
    for (int s = 0; s < 15; s++) {
        model_train_step(&m, &cfg, B, 0.02, s, &st);
        if (s == 0)
            first = st.loss;
        last = st.loss;
    }
    printf("%s: loss %.4f -> %.4f\n", net_backbone_name(bb), first, last);
    assert_true(last < 0.7 * first);
    model_free(&m);
    dataset_free(&tr);
    dataset_free(&te);
}

static void test_steps_lower_loss_convnet(void **s) { (void)s; few_steps_lower_loss(BACKBONE_CONVNET_SMALL, 0); }
static void test_steps_lower_loss_lenetpp(void **s) { (void)s; few_steps_lower_loss(BACKBONE_LENETPP, 0); }
static void test_steps_lower_loss_resnet(void **s) { (void)s; few_steps_lower_loss(BACKBONE_RESNET_MINI, 0); }

/* model.backend in the double build (the tests'): auto and blas run the OpenBLAS layers; an
 * explicit dnnl is an error naming the key and the line that set it (there is no oneDNN backend
 * in this build, and the test must not silently compare BLAS against itself). */
static void test_model_backend_double(void **state)
{
    (void)state;
    nb_config cfg;
    nb_error err = {0};
    assert_int_equal(config_load(&cfg, "tests/fixtures/tiny_train.yaml", &err), 0);
    rng_t rng;
    model m;
    const model_backend ok[] = {MODEL_BACKEND_AUTO, MODEL_BACKEND_BLAS};
    for (int i = 0; i < 2; i++) {
        cfg.model.backend = ok[i];
        rng_seed(&rng, 5);
        assert_int_equal(model_init(&m, &cfg, 1, 28, 28, 10, 8, &rng, &err), 0);
        assert_int_equal(m.net.backend, NET_BACKEND_BLAS);
        model_free(&m);
    }
    cfg.model.backend = MODEL_BACKEND_DNNL;
    rng_seed(&rng, 5);
    assert_int_equal(model_init(&m, &cfg, 1, 28, 28, 10, 8, &rng, &err), -1);
    nb_error_print(&err, stdout);
    assert_non_null(strstr(err.msg, "model.backend: dnnl: "));
    assert_non_null(strstr(err.msg, "only in the float build"));
    assert_null(m.net.nodes);
    assert_null(m.ps.t);
    model_free(&m);
}

/* A model_init that fails frees what it built (net_build registers tensors and nodes before the
 * loss options are checked) and leaves m zeroed; model_free is safe on it and on a zeroed model. */
static void test_model_init_failure_frees(void **state)
{
    (void)state;
    nb_config cfg;
    nb_error err = {0};
    assert_int_equal(config_load(&cfg, "tests/fixtures/tiny_train.yaml", &err), 0);
    rng_t rng;
    rng_seed(&rng, 5);
    model m;
    /* net built, then the loss refuses one class */
    assert_int_equal(model_init(&m, &cfg, 1, 28, 28, 1, 8, &rng, &err), -1);
    assert_non_null(strstr(err.msg, "at least 2 classes"));
    assert_null(m.net.nodes);
    assert_int_equal(m.net.n, 0);
    assert_null(m.ps.t);
    assert_int_equal(m.ps.count, 0);
    assert_null(m.x);
    model_free(&m);
    /* inputs too small for the backbone */
    cfg.model.backbone = BACKBONE_LENETPP;
    assert_int_equal(model_init(&m, &cfg, 1, 4, 4, 10, 8, &rng, &err), -1);
    assert_non_null(strstr(err.msg, "lenetpp"));
    assert_null(m.net.nodes);
    assert_null(m.ps.t);
    model_free(&m);
    model zero = {0};
    model_free(&zero);
    model_free(&zero);
}

/* lr_at on the schedule model_schedule builds from train.*: warm-up, step and cosine. */
static void test_lr_schedule(void **state)
{
    (void)state;
    nb_config cfg;
    nb_error err = {0};
    assert_int_equal(config_load(&cfg, "tests/fixtures/tiny_train.yaml", &err), 0);
    cfg.train.epochs = 6;
    cfg.train.lr = 0.1;
    cfg.train.warmup_epochs = 1;
    cfg.train.schedule = SCHEDULE_STEP;
    cfg.train.milestones[0] = 2;
    cfg.train.milestones[1] = 4;
    cfg.train.n_milestones = 2;
    cfg.train.gamma = 0.5;
    lr_schedule s;
    model_schedule(&s, &cfg);
    assert_int_equal(s.type, SCHEDULE_STEP);
    assert_int_equal(s.n_milestones, 2);
    assert_int_equal(s.milestones[1], 4);
    assert_true(lr_at(&s, 0.5) == 0.1 * 0.5 / 1.0);
    assert_true(lr_at(&s, 1.5) == 0.1);
    assert_true(lr_at(&s, 2.0) == 0.1 * 0.5);
    assert_true(lr_at(&s, 5.0) == 0.1 * 0.5 * 0.5);
    s.type = SCHEDULE_COSINE;
    assert_true(lr_at(&s, 1.0) == 0.1);
    assert_true(fabs(lr_at(&s, 3.5) - 0.05) < 1e-15); /* half-way through the 5 epochs after warm-up */
    s.type = SCHEDULE_CONSTANT;
    assert_true(lr_at(&s, 5.9) == 0.1);
}

/* Reads a file, dropping the last CSV column (seconds) of every line when strip_last. */
static char *slurp(const char *path, int strip_last)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *out = calloc(1 << 20, 1), line[4096];
    while (fgets(line, sizeof line, f)) {
        if (strip_last) {
            char *c = strrchr(line, ',');
            if (c)
                strcpy(c, "\n");
        }
        strcat(out, line);
    }
    fclose(f);
    return out;
}

/* This process's scratch folder (tests running at once must not share one) and paths in it. */
static char scratch[64];
static const char *in_scratch(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", scratch, name);
    return buf[k];
}

static void test_binary_deterministic(void **state)
{
    (void)state;
    const char *files[] = {"metrics.csv", "config.yaml"};
    const char *run_dir = in_scratch("det/tiny/softmax_seed3");
    char *first[2], cmd[1024], run_path[512];
    snprintf(run_path, sizeof run_path, "%s", run_dir);
    for (int run = 0; run < 2; run++) {
        snprintf(cmd, sizeof cmd,
                 "rm -rf %s && bin/normbench train tests/fixtures/tiny_train.yaml --quiet --results %s > /dev/null",
                 in_scratch("det"), in_scratch("det"));
        assert_int_equal(nb_system(cmd), 0);
        for (int i = 0; i < 2; i++) {
            char path[640];
            snprintf(path, sizeof path, "%s/%s", run_path, files[i]);
            char *text = slurp(path, i == 0);
            assert_non_null(text);
            if (run == 0) {
                first[i] = text;
            } else {
                assert_string_equal(first[i], text);
                free(first[i]);
                free(text);
            }
        }
    }
    char path[640];
    snprintf(path, sizeof path, "%s/metrics.csv", run_path);
    char *m = slurp(path, 0);
    assert_non_null(strstr(m, "epoch,step,lr,train_loss,train_acc,test_acc,feature_norm"));
    free(m);
    /* the run record reads back: wall time and the thread count the run used */
    double wall = -1;
    int threads = -1;
    assert_int_equal(run_record_read(run_path, &wall, &threads), 0);
    assert_true(wall > 0 && wall < 600);
    assert_true(threads >= 1);
    assert_int_equal(run_record_read(in_scratch("det/tiny/no_such_run"), &wall, &threads), -1);
    snprintf(path, sizeof path, "%s/run.yaml", run_path);
    FILE *bad = fopen(path, "w");
    assert_non_null(bad);
    fputs("seed: 3\nwall_seconds: [1\n", bad); /* not YAML: an unclosed flow sequence */
    fclose(bad);
    assert_int_equal(run_record_read(run_path, &wall, &threads), -1);
}

static void test_binary_bad_input(void **state)
{
    (void)state;
    char cmd[1024];
    const char *err_file = in_scratch("err.txt");
    /* a bad config: non-zero exit and the file:line in the message */
    snprintf(cmd, sizeof cmd, "bin/normbench train tests/fixtures/config/unknown_key.yaml 2> %s", err_file);
    assert_true(nb_system(cmd) != 0);
    char *e = slurp(err_file, 0);
    assert_non_null(strstr(e, "tests/fixtures/config/unknown_key.yaml:4:3: unknown key 'train.learning_rate'"));
    free(e);
    /* a missing data file: names the file */
    snprintf(cmd, sizeof cmd,
             "bin/normbench train tests/fixtures/tiny_train.yaml --set data.type=idx "
             "--set data.train_images=/nonexistent/a.gz --set data.train_labels=/nonexistent/b.gz "
             "--set data.test_images=/nonexistent/c.gz --set data.test_labels=/nonexistent/d.gz "
             "--results %s 2> %s",
             in_scratch("bad"), err_file);
    assert_true(nb_system(cmd) != 0);
    e = slurp(err_file, 0);
    assert_non_null(strstr(e, "/nonexistent/a.gz"));
    free(e);
}

static int make_scratch(void **state)
{
    (void)state;
    snprintf(scratch, sizeof scratch, "/tmp/nb_test_train.XXXXXX");
    return mkdtemp(scratch) ? 0 : -1;
}

/* cmocka reports a failed group teardown but still exits 0: main checks this flag */
static int scratch_left;

static int remove_scratch(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", scratch);
    scratch_left = system(cmd) != 0;
    return scratch_left ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_init_failure_frees),
        cmocka_unit_test(test_model_backend_double),
        cmocka_unit_test(test_lr_schedule),
        cmocka_unit_test(test_steps_lower_loss_convnet),
        cmocka_unit_test(test_steps_lower_loss_lenetpp),
        cmocka_unit_test(test_steps_lower_loss_resnet),
        cmocka_unit_test(test_binary_deterministic),
        cmocka_unit_test(test_binary_bad_input),
    };
    int failed = cmocka_run_group_tests(tests, make_scratch, remove_scratch);
    return failed || scratch_left ? 1 : 0;
}
