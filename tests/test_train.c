/* test_train.c — the training loop end to end: a few SGD steps on a small Fashion-MNIST subset
 * lower the loss for each backbone; the normbench binary run twice on the same config writes
 * byte-identical metrics.csv (time column aside) and config.yaml; bad invocations fail cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "nb_bin.h"
#include "train.h"

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
    printf("%s: loss %.4f -> %.4f\n", backbone_name(bb), first, last);
    assert_true(last < 0.7 * first);
    model_free(&m);
    dataset_free(&tr);
    dataset_free(&te);
}

static void test_steps_lower_loss_convnet(void **s) { (void)s; few_steps_lower_loss(BACKBONE_CONVNET_SMALL, 0); }
static void test_steps_lower_loss_lenetpp(void **s) { (void)s; few_steps_lower_loss(BACKBONE_LENETPP, 0); }
static void test_steps_lower_loss_resnet(void **s) { (void)s; few_steps_lower_loss(BACKBONE_RESNET_MINI, 0); }

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

static void test_binary_deterministic(void **state)
{
    (void)state;
    const char *files[] = {"metrics.csv", "config.yaml"};
    char *first[2];
    for (int run = 0; run < 2; run++) {
        int rc = nb_system("rm -rf /tmp/nb_test_det && bin/normbench train tests/fixtures/tiny_train.yaml --quiet "
                        "--results /tmp/nb_test_det > /dev/null");
        assert_int_equal(rc, 0);
        for (int i = 0; i < 2; i++) {
            char path[256];
            snprintf(path, sizeof path, "/tmp/nb_test_det/tiny/softmax_seed3/%s", files[i]);
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
    char *m = slurp("/tmp/nb_test_det/tiny/softmax_seed3/metrics.csv", 0);
    assert_non_null(strstr(m, "epoch,step,lr,train_loss,train_acc,test_acc,feature_norm"));
    free(m);
    /* the run record reads back: wall time and the thread count the run used */
    double wall = -1;
    int threads = -1;
    assert_int_equal(run_record_read("/tmp/nb_test_det/tiny/softmax_seed3", &wall, &threads), 0);
    assert_true(wall > 0 && wall < 600);
    assert_true(threads >= 1);
    assert_int_equal(run_record_read("/tmp/nb_test_det/tiny/no_such_run", &wall, &threads), -1);
    FILE *bad = fopen("/tmp/nb_test_det/tiny/softmax_seed3/run.yaml", "w");
    assert_non_null(bad);
    fputs("seed: 3\nwall_seconds: [1\n", bad); /* not YAML: an unclosed flow sequence */
    fclose(bad);
    assert_int_equal(run_record_read("/tmp/nb_test_det/tiny/softmax_seed3", &wall, &threads), -1);
    assert_int_equal(system("rm -rf /tmp/nb_test_det"), 0);
}

static void test_binary_bad_input(void **state)
{
    (void)state;
    /* a bad config: non-zero exit and the file:line in the message */
    int rc = nb_system("bin/normbench train tests/fixtures/config/unknown_key.yaml 2> /tmp/nb_err.txt");
    assert_true(rc != 0);
    char *e = slurp("/tmp/nb_err.txt", 0);
    assert_non_null(strstr(e, "tests/fixtures/config/unknown_key.yaml:4:3: unknown key 'train.learning_rate'"));
    free(e);
    /* a missing data file: names the file */
    rc = nb_system("bin/normbench train tests/fixtures/tiny_train.yaml --set data.type=idx "
                "--set data.train_images=/nonexistent/a.gz --set data.train_labels=/nonexistent/b.gz "
                "--set data.test_images=/nonexistent/c.gz --set data.test_labels=/nonexistent/d.gz "
                "--results /tmp/nb_test_bad 2> /tmp/nb_err.txt");
    assert_true(rc != 0);
    e = slurp("/tmp/nb_err.txt", 0);
    assert_non_null(strstr(e, "/nonexistent/a.gz"));
    free(e);
    unlink("/tmp/nb_err.txt");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steps_lower_loss_convnet),
        cmocka_unit_test(test_steps_lower_loss_lenetpp),
        cmocka_unit_test(test_steps_lower_loss_resnet),
        cmocka_unit_test(test_binary_deterministic),
        cmocka_unit_test(test_binary_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
