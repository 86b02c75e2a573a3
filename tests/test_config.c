/* test_config.c — the strict YAML configuration: a good file resolves to the right values and
 * round-trips through the resolved-config writer; every kind of bad file in
 * tests/fixtures/config/ is rejected with the file, line, column and key path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"

#define FIX "tests/fixtures/config/"

static void test_good_file(void **state)
{
    (void)state;
    nb_config c;
    nb_error err = {0};
    int rc = config_load(&c, FIX "good.yaml", &err);
    if (rc)
        nb_error_print(&err, stderr);
    assert_int_equal(rc, 0);
    assert_string_equal(c.name, "tiny");
    assert_int_equal(c.seed, 7);
    assert_int_equal(c.data.train_subset, 512);
    assert_int_equal(c.model.feature_dim, 16);
    assert_int_equal(c.loss.type, LOSS_ARCFACE);
    assert_true(c.loss.s == 16 && c.loss.m == 0.3);
    assert_int_equal(c.train.epochs, 3);
    assert_int_equal(c.train.schedule, SCHEDULE_STEP);
    assert_int_equal(c.train.n_milestones, 2);
    assert_int_equal(c.train.milestones[1], 2);
    assert_int_equal(c.train.no_decay, (1u << PARAM_BN) | (1u << PARAM_PRELU));
    /* untouched keys keep their defaults */
    assert_int_equal(c.train.batch_size, 128);
    assert_int_equal(c.loss.easy_margin, 0);
}

static void test_resolved_roundtrip(void **state)
{
    (void)state;
    nb_config a, b;
    nb_error err = {0};
    assert_int_equal(config_load(&a, FIX "good.yaml", &err), 0);
    char path[] = "/tmp/nb_cfg_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_int_equal(config_write(&a, f), 0);
    fclose(f);
    int rc = config_load(&b, path, &err);
    if (rc)
        nb_error_print(&err, stderr);
    assert_int_equal(rc, 0);
    unlink(path);
    /* everything but where keys came from must be identical */
    memset(a.source, 0, sizeof a.source);
    memset(b.source, 0, sizeof b.source);
    memset(a.key_line, 0, sizeof a.key_line);
    memset(b.key_line, 0, sizeof b.key_line);
    memset(a.key_col, 0, sizeof a.key_col);
    memset(a.key_set, 0, sizeof a.key_set);
    memset(b.key_set, 0, sizeof b.key_set);
    memset(b.key_col, 0, sizeof b.key_col);
    assert_memory_equal(&a, &b, sizeof a);
}

static void test_default_name_from_file(void **state)
{
    (void)state;
    nb_config c;
    nb_error err = {0};
    assert_int_equal(config_load(&c, FIX "bad_enum.yaml", &err), -1);
    assert_int_equal(config_load(&c, FIX "unnamed_run.yaml", &err), 0);
    assert_string_equal(c.name, "unnamed_run");
}

/* Loads a bad fixture and checks where and what the error says. */
static void expect_error(const char *file, int line, int col, const char *substring)
{
    nb_config c;
    nb_error err = {0};
    char path[256];
    snprintf(path, sizeof path, FIX "%s", file);
    assert_int_equal(config_load(&c, path, &err), -1);
    nb_error_print(&err, stdout);
    assert_string_equal(err.file, path);
    if (line)
        assert_int_equal(err.line, line);
    if (col)
        assert_int_equal(err.col, col);
    assert_non_null(strstr(err.msg, substring));
}

static void test_unknown_key(void **s) { (void)s; expect_error("unknown_key.yaml", 4, 3, "unknown key 'train.learning_rate'"); }
static void test_wrong_type(void **s) { (void)s; expect_error("wrong_type.yaml", 3, 16, "model.feature_dim: expected an integer"); }
static void test_out_of_range(void **s) { (void)s; expect_error("out_of_range.yaml", 3, 13, "train.momentum: value out of range"); }
static void test_loss_key(void **s) { (void)s; expect_error("loss_key_not_applicable.yaml", 3, 6, "loss.m: does not apply to loss type 'softmax'"); }
static void test_duplicate(void **s) { (void)s; expect_error("duplicate_key.yaml", 3, 3, "train.epochs: duplicate key"); }
static void test_syntax(void **s) { (void)s; expect_error("syntax_error.yaml", 0, 0, "YAML syntax error"); }
static void test_bad_enum(void **s) { (void)s; expect_error("bad_enum.yaml", 2, 13, "model.backbone: unknown value 'resnet-152' (expected one of: convnet-small, lenetpp, resnet-mini)"); }
static void test_bad_loss_value(void **s) { (void)s; expect_error("bad_loss_value.yaml", 3, 6, "loss.s: must be > 0"); }
static void test_section_scalar(void **s) { (void)s; expect_error("section_not_mapping.yaml", 1, 8, "train: expected a mapping"); }
static void test_pk_too_big(void **s) { (void)s; expect_error("pk_larger_than_batch.yaml", 4, 9, "train.pk_p × train.pk_k = 256 is larger than train.batch_size (128)"); }
static void test_log_every_zero(void **s) { (void)s; expect_error("log_every_zero.yaml", 4, 14, "train.log_every: value out of range: 0; must be in [1, "); }
static void test_bad_run_id(void **s) { (void)s; expect_error("bad_run_id.yaml", 1, 9, "run_id: '../../etc' cannot be a folder name"); }

/* train.log_every (steps per row of steps.csv): 50 by default, written back in the resolved
 * configuration, 0, a negative number or a fraction an error naming the key. */
static void test_log_every(void **state)
{
    (void)state;
    nb_config c;
    nb_error err = {0};
    config_defaults(&c);
    assert_int_equal(c.train.log_every, 50);
    config_entries o = {0};
    config_entries_add(&o, "train.log_every", "7", 0, 0);
    assert_int_equal(config_resolve(&c, NULL, &o, 0, &err), 0);
    assert_int_equal(c.train.log_every, 7);
    config_entries_free(&o);
    char buf[8192] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    assert_non_null(f);
    assert_int_equal(config_write(&c, f), 0);
    fclose(f);
    assert_non_null(strstr(buf, "\n  log_every: 7\n"));
    const char *bad[][2] = {{"0", "train.log_every: value out of range: 0; must be in [1, "},
                            {"-5", "train.log_every: value out of range: -5; must be in [1, "},
                            {"2.5", "train.log_every: expected an integer, got '2.5'"}};
    for (int i = 0; i < 3; i++) {
        config_entries b = {0};
        config_entries_add(&b, "train.log_every", bad[i][0], 0, 0);
        assert_int_equal(config_resolve(&c, NULL, &b, 0, &err), -1);
        printf("train.log_every: %s: %s\n", bad[i][0], err.msg);
        assert_non_null(strstr(err.msg, bad[i][1]));
        config_entries_free(&b);
    }
}

/* model.backend: auto by default (config.h: oneDNN in the float build, the OpenBLAS layers
 * in the double build), blas and dnnl by name, anything else an error listing the three. */
static void test_model_backend(void **state)
{
    (void)state;
    nb_config c;
    nb_error err = {0};
    config_defaults(&c);
    assert_int_equal(c.model.backend, MODEL_BACKEND_AUTO);
    assert_int_equal(config_resolve(&c, NULL, NULL, 0, &err), 0);
    assert_int_equal(c.model.backend, MODEL_BACKEND_AUTO);
    const char *names[] = {"auto", "blas", "dnnl"};
    const model_backend want[] = {MODEL_BACKEND_AUTO, MODEL_BACKEND_BLAS, MODEL_BACKEND_DNNL};
    for (int i = 0; i < 3; i++) {
        config_entries o = {0};
        config_entries_add(&o, "model.backend", names[i], 0, 0);
        assert_int_equal(config_resolve(&c, NULL, &o, 0, &err), 0);
        assert_int_equal(c.model.backend, want[i]);
        char buf[8192] = "", line[64];
        FILE *f = fmemopen(buf, sizeof buf - 1, "w");
        assert_non_null(f);
        assert_int_equal(config_write(&c, f), 0);
        fclose(f);
        snprintf(line, sizeof line, "\n  backend: %s\n", names[i]);
        assert_non_null(strstr(buf, line));
        config_entries_free(&o);
    }
    config_entries o = {0};
    config_entries_add(&o, "model.backend", "openblas", 0, 0);
    assert_int_equal(config_resolve(&c, NULL, &o, 0, &err), -1);
    assert_non_null(strstr(err.msg, "model.backend: unknown value 'openblas' (expected one of: auto, blas, dnnl)"));
    config_entries_free(&o);
}

static void test_missing_file(void **state)
{
    (void)state;
    nb_config c;
    nb_error err = {0};
    assert_int_equal(config_load(&c, FIX "does_not_exist.yaml", &err), -1);
    assert_string_equal(err.file, FIX "does_not_exist.yaml");
    assert_non_null(strstr(err.msg, "cannot open"));
}

static void test_overrides(void **state)
{
    (void)state;
    nb_config c;
    nb_error err = {0};
    config_entries over = {0};
    config_entries_add(&over, "train.epochs", "4", 0, 0);
    assert_int_equal(config_resolve(&c, NULL, &over, 0, &err), 0);
    assert_int_equal(c.train.epochs, 4);
    const char *bad[][3] = {{"train.epochs", "0", "train.epochs: value out of range"},
                            {"train.milestones", "[2, 1]", "must increase"},
                            {"nope", "1", "unknown key 'nope'"},
                            {"loss.m", "0.5", "loss.m: does not apply to loss type 'softmax'"}};
    for (int i = 0; i < 4; i++) {
        config_entries o = {0};
        config_entries_add(&o, bad[i][0], bad[i][1], 0, 0);
        assert_int_equal(config_resolve(&c, NULL, &o, 0, &err), -1);
        assert_non_null(strstr(err.msg, bad[i][2]));
        config_entries_free(&o);
    }
    /* an override of loss.type brings that type's defaults, and keeps the file's options that
     * apply to it when lenient */
    config_entries base = {0};
    config_entries_add(&base, "loss.type", "normface", 1, 1);
    config_entries_add(&base, "loss.s", "20", 2, 1);
    config_entries_add(&over, "loss.type", "softmax", 0, 0);
    assert_int_equal(config_resolve(&c, &base, &over, 0, &err), -1);
    assert_int_equal(config_resolve(&c, &base, &over, 1, &err), 0);
    assert_int_equal(c.loss.type, LOSS_SOFTMAX);
    config_entries over2 = {0};
    config_entries_add(&over2, "loss.type", "arcface", 0, 0);
    assert_int_equal(config_resolve(&c, &base, &over2, 1, &err), 0);
    assert_true(c.loss.s == 20 && c.loss.m == 0.5);
    config_entries_free(&base);
    config_entries_free(&over);
    config_entries_free(&over2);
    /* a check across keys blames where the key was set: the file's line, or the command line
     * for a --set (not the file, which does not hold it) */
    config_entries file = {0}, set = {0};
    snprintf(file.file, sizeof file.file, "exp.yaml");
    config_entries_add(&file, "train.sampler", "pk", 6, 3);
    config_entries_add(&file, "train.pk_p", "64", 7, 3);
    config_entries_add(&file, "train.pk_k", "4", 8, 3);
    assert_int_equal(config_resolve(&c, &file, NULL, 0, &err), -1); /* resolving checks across keys */
    assert_string_equal(err.file, "exp.yaml");
    assert_int_equal(err.line, 7);
    config_entries_add(&set, "train.pk_p", "64", 0, 0);
    config_entries_free(&file);
    snprintf(file.file, sizeof file.file, "exp.yaml");
    config_entries_add(&file, "train.sampler", "pk", 6, 3);
    config_entries_add(&file, "train.pk_k", "4", 8, 3);
    assert_int_equal(config_resolve(&c, &file, &set, 0, &err), -1);
    assert_non_null(strstr(err.msg, "train.pk_p × train.pk_k = 256 is larger than train.batch_size"));
    assert_string_equal(err.file, "(command line)");
    assert_int_equal(err.line, 0);
    config_entries_free(&file);
    config_entries_free(&set);
}

/* loss.type takes its names from the loss table (loss/table.h): every type resolves by its name
 * and is written back under it, an unknown name lists them all in the table's order, and every
 * key the table says a type reads is a key of the schema. */
static void test_loss_types_from_table(void **state)
{
    (void)state;
    nb_config c;
    nb_error err = {0};
    char want[512] = "";
    for (int t = 0; t < LOSS_TYPE_COUNT; t++) {
        const char *name = loss_type_name((loss_type)t);
        config_entries o = {0};
        config_entries_add(&o, "loss.type", name, 0, 0);
        if (loss_needs_pk((loss_type)t))
            config_entries_add(&o, "train.sampler", "pk", 0, 0);
        int rc = config_resolve(&c, NULL, &o, 0, &err);
        if (rc)
            nb_error_print(&err, stderr);
        assert_int_equal(rc, 0);
        assert_int_equal(c.loss.type, t);
        char buf[8192] = "";
        FILE *f = fmemopen(buf, sizeof buf - 1, "w");
        assert_non_null(f);
        assert_int_equal(config_write(&c, f), 0);
        fclose(f);
        char line[128];
        snprintf(line, sizeof line, "\n  type: %s\n", name);
        assert_non_null(strstr(buf, line));
        config_entries_free(&o);
        strcat(want, t ? ", " : "(expected one of: ");
        strcat(want, name);
    }
    strcat(want, ")");
    config_entries o = {0};
    config_entries_add(&o, "loss.type", "arcfase", 0, 0);
    assert_int_equal(config_resolve(&c, NULL, &o, 0, &err), -1);
    assert_non_null(strstr(err.msg, "loss.type: unknown value 'arcfase'"));
    assert_non_null(strstr(err.msg, want));
    config_entries_free(&o);
    static const char *const loss_keys[] = {
        "type",          "bias",          "alpha",        "alpha_p",      "learn_alpha",   "s",
        "learn_s",       "scale_lr_mult", "scale_min",    "m",            "m1",            "m2",
        "m3",            "easy_margin",   "detach_margin", "lambda_base", "lambda_gamma",  "lambda_power",
        "lambda_min",    "m_pos",         "m_neg",        "pull_positive", "mining",       "center_weight",
        "center_rate",   "sample_rate",   "head_dtype",
        /* docs/losses.md §1b margin losses */
        "variant", "t", "K", "sigma", "plus", "dynamic", "l_a", "u_a", "l_m", "u_m", "lambda_g", "h", "t_alpha"};
    /* a key the table gives the type reaches its value's parser (and "x" is no valid value of
     * any loss key); any other is refused as not applying */
    for (int t = 0; t < LOSS_TYPE_COUNT; t++)
        for (size_t k = 1; k < sizeof loss_keys / sizeof loss_keys[0]; k++) {
            char path[64];
            snprintf(path, sizeof path, "loss.%s", loss_keys[k]);
            assert_true(config_key_exists(path));
            config_entries ok = {0};
            config_entries_add(&ok, "loss.type", loss_type_name((loss_type)t), 0, 0);
            config_entries_add(&ok, path, "x", 0, 0);
            assert_int_equal(config_resolve(&c, NULL, &ok, 0, &err), -1);
            const int refused = strstr(err.msg, "does not apply to loss type") != NULL;
            if (refused == loss_uses_key((loss_type)t, loss_keys[k]))
                fail_msg("%s for %s: %s", path, loss_type_name((loss_type)t), err.msg);
            config_entries_free(&ok);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),      cmocka_unit_test(test_resolved_roundtrip),
        cmocka_unit_test(test_default_name_from_file),
        cmocka_unit_test(test_loss_types_from_table),
        cmocka_unit_test(test_unknown_key),    cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_out_of_range),   cmocka_unit_test(test_loss_key),
        cmocka_unit_test(test_duplicate),      cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_bad_enum),       cmocka_unit_test(test_bad_loss_value),
        cmocka_unit_test(test_section_scalar), cmocka_unit_test(test_bad_run_id), cmocka_unit_test(test_pk_too_big),
        cmocka_unit_test(test_missing_file),   cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_model_backend),
        cmocka_unit_test(test_log_every_zero), cmocka_unit_test(test_log_every),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
