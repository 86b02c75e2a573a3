/* test_hazards.c — hostile input: YAML hazards (alias expansion bombs, deep nesting,
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

#include "config/config.h"
#include "config/sweep.h"
#include "data/idx.h"
#include "data/lfw.h"
#include "io/csvread.h"
#include "io/fsutil.h"
#include "loss/loss.h"
#include "nb_bin.h"
#include "test_util.h"
#include "train/train.h"

#define HZ "tests/fixtures/hazards/"

/* Scratch paths: the tests name them "/tmp/nb_hz…"; T() maps that prefix into this process's
 * own folder (mkdtemp in main), so that concurrent runs of the suite never meet. hz_sh(),
 * hz_slurp() and the training helpers apply it themselves; T is idempotent. */
static char scratch[128];

static const char *T(const char *s)
{
    static char buf[16][1024];
    static int k;
    k = (k + 1) % 16;
    char *o = buf[k];
    size_t n = 0;
    const char *pre = "/tmp/nb_hz";
    size_t pl = strlen(pre);
    while (*s && n + 1 < sizeof buf[k]) {
        if (!strncmp(s, pre, pl)) {
            n += (size_t)snprintf(o + n, sizeof buf[k] - n, "%s/hz", scratch);
            s += pl;
        } else {
            o[n++] = *s++;
        }
    }
    o[n < sizeof buf[k] ? n : sizeof buf[k] - 1] = '\0';
    return o;
}

/* slurp() and sh() of test_util.h, on paths mapped by T. */
static char *hz_slurp(const char *path) { return slurp(T(path)); }
static int hz_sh(const char *cmd) { return sh(T(cmd)); }

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
    assert_int_equal(hz_sh(cmd), 1);
    char *e = hz_slurp("/tmp/nb_hz_err.txt");
    char head[700];
    snprintf(head, sizeof head, "normbench: %s:", path);
    assert_non_null(strstr(e, head));
    assert_non_null(strstr(e, want));
    assert_int_equal((int)strlen(e) - 1, (int)(strchr(e, '\n') - e)); /* one line */
    free(e);
    unlink(T("/tmp/nb_hz_err.txt"));
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
    char big[512];
    snprintf(big, sizeof big, "%s", T("/tmp/nb_hz_big.yaml"));
    FILE *f = fopen(big, "wb");
    assert_non_null(f);
    fputs("name: big\n", f);
    while (ftell(f) <= CONFIG_FILE_MAX)
        fputs("# ............................................................\n", f);
    fclose(f);
    refused(big, 0, "larger than 1048576 bytes");
    unlink(big);
    /* a million-value list in a file just under the limit: refused by the value count, fast */
    char many[512];
    snprintf(many, sizeof many, "%s", T("/tmp/nb_hz_many.yaml"));
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
    assert_int_equal(hz_sh("bin/normbench train tests/fixtures/tiny_train.yaml --set run_id=../../x "
                           "--results /tmp/nb_hz_r 2> /tmp/nb_hz_err.txt"),
                     1);
    char *e = hz_slurp("/tmp/nb_hz_err.txt");
    assert_non_null(strstr(e, "run_id: '../../x' cannot be a folder name"));
    free(e);
    unlink(T("/tmp/nb_hz_err.txt"));
    struct stat st;
    assert_true(stat(T("/tmp/nb_hz_r"), &st) != 0); /* nothing was created */
}


/* A symbolic link anywhere below the results folder is refused before anything is written or
 * removed: results/<name> → elsewhere, results/<name>/<run_id> → elsewhere (holding a final.csv
 * that a rerun would otherwise unlink), and the experiment folder of `collect`. */
static void test_symlinks_in_results_refused(void **state)
{
    (void)state;
    assert_int_equal(hz_sh("rm -rf /tmp/nb_hz_res /tmp/nb_hz_else && mkdir -p /tmp/nb_hz_res /tmp/nb_hz_else && "
                           "echo keep > /tmp/nb_hz_else/final.csv && ln -s /tmp/nb_hz_else /tmp/nb_hz_res/tiny"),
                     0);
    assert_int_equal(hz_sh("bin/normbench train tests/fixtures/tiny_train.yaml --quiet --results /tmp/nb_hz_res "
                           "> /dev/null 2> /tmp/nb_hz_err.txt"),
                     1);
    char *e = hz_slurp("/tmp/nb_hz_err.txt");
    assert_non_null(strstr(e, T("normbench: /tmp/nb_hz_res/tiny: is a symbolic link: refusing to write results through it")));
    free(e);
    /* the run-id level */
    assert_int_equal(hz_sh("rm /tmp/nb_hz_res/tiny && mkdir /tmp/nb_hz_res/tiny && "
                           "ln -s /tmp/nb_hz_else /tmp/nb_hz_res/tiny/softmax_seed3"),
                     0);
    assert_int_equal(hz_sh("bin/normbench train tests/fixtures/tiny_train.yaml --quiet --results /tmp/nb_hz_res "
                           "> /dev/null 2> /tmp/nb_hz_err.txt"),
                     1);
    e = hz_slurp("/tmp/nb_hz_err.txt");
    assert_non_null(strstr(e, T("/tmp/nb_hz_res/tiny/softmax_seed3: is a symbolic link")));
    free(e);
    /* nothing was written or removed there */
    assert_int_equal(hz_sh("test \"$(ls /tmp/nb_hz_else)\" = final.csv && grep -qx keep /tmp/nb_hz_else/final.csv"), 0);
    /* collect / summary: the experiment folder itself */
    assert_int_equal(hz_sh("rm -rf /tmp/nb_hz_res/* && ln -s /tmp/nb_hz_else /tmp/nb_hz_res/tiny_sweep && "
                           "bin/normbench collect tests/fixtures/sweep/tiny_sweep.yaml --results /tmp/nb_hz_res "
                           "> /dev/null 2> /tmp/nb_hz_err.txt"),
                     1);
    e = hz_slurp("/tmp/nb_hz_err.txt");
    assert_non_null(strstr(e, T("/tmp/nb_hz_res/tiny_sweep: is a symbolic link")));
    free(e);
    assert_int_equal(hz_sh("test \"$(ls /tmp/nb_hz_else)\" = final.csv"), 0);
    /* the results root itself may be a link (results kept on another disk) */
    assert_int_equal(hz_sh("rm -rf /tmp/nb_hz_res /tmp/nb_hz_else /tmp/nb_hz_link && mkdir /tmp/nb_hz_else && "
                           "ln -s /tmp/nb_hz_else /tmp/nb_hz_link && bin/normbench train "
                           "tests/fixtures/tiny_train.yaml --quiet --results /tmp/nb_hz_link > /dev/null && "
                           "test -f /tmp/nb_hz_else/tiny/softmax_seed3/final.csv"),
                     0);
    assert_int_equal(hz_sh("rm -rf /tmp/nb_hz_else /tmp/nb_hz_link /tmp/nb_hz_err.txt"), 0);
}

/* Reading is refused too: a run folder (or an experiment folder) below the results folder that
 * is a symbolic link is not summarised, planned, plotted, scheduled or judged. Each command names
 * the link, exits non-zero (claims: judges it as not run and says why), and writes nothing there. */
static void test_symlinked_run_folders_refused_on_read(void **state)
{
    (void)state;
    const char *exp = "tests/fixtures/sweep/tiny_sweep.yaml --results /tmp/nb_hz_res";
    char cmd[1024];
    assert_int_equal(hz_sh("rm -rf /tmp/nb_hz_res /tmp/nb_hz_else && mkdir -p /tmp/nb_hz_res"), 0);
    snprintf(cmd, sizeof cmd, "bin/normbench run %s -j 2 --quiet > /dev/null 2>&1", exp);
    assert_int_equal(hz_sh(cmd), 0);
    assert_int_equal(hz_sh("mv /tmp/nb_hz_res/tiny_sweep/softmax_seed2 /tmp/nb_hz_else && "
                           "ln -s /tmp/nb_hz_else /tmp/nb_hz_res/tiny_sweep/softmax_seed2 && "
                           "cp /tmp/nb_hz_res/tiny_sweep/summary.csv /tmp/nb_hz_summary_before.csv"),
                     0);
    const char *link = "/tmp/nb_hz_res/tiny_sweep/softmax_seed2: is a symbolic link: refusing to read results "
                       "through it";
    const char *cmds[] = {"collect %s", "run %s -j 2", "jobs %s --format parallel", "jobs %s --format slurm"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char c[600];
        snprintf(c, sizeof c, cmds[i], exp);
        snprintf(cmd, sizeof cmd, "bin/normbench %s > /tmp/nb_hz_out.txt 2> /tmp/nb_hz_err.txt", c);
        assert_int_equal(hz_sh(cmd), 1);
        char *e = hz_slurp("/tmp/nb_hz_err.txt");
        if (!strstr(e, T(link)))
            fail_msg("normbench %s: expected the link named, got: %s", c, e);
        free(e);
    }
    /* the summary was not rewritten from the linked folder, and nothing was written there */
    assert_int_equal(hz_sh("cmp -s /tmp/nb_hz_res/tiny_sweep/summary.csv /tmp/nb_hz_summary_before.csv && "
                           "test ! -e /tmp/nb_hz_else/figures && test ! -e /tmp/nb_hz_else/final.csv.tmp.*"),
                     0);
    /* plot: one error naming the link, the other runs still drawn */
    assert_int_equal(hz_sh("bin/normbench plot /tmp/nb_hz_res/tiny_sweep --quiet > /dev/null 2> /tmp/nb_hz_err.txt"),
                     1);
    char *e = hz_slurp("/tmp/nb_hz_err.txt");
    assert_non_null(strstr(e, T(link)));
    free(e);
    assert_int_equal(hz_sh("test -s /tmp/nb_hz_res/tiny_sweep/figures/training_loss.png && "
                           "! grep -q softmax_seed2 /tmp/nb_hz_res/tiny_sweep/figures/data/*"),
                     0);
    /* claims: an experiment folder that is a link is judged as not run, and the link is named */
    assert_int_equal(hz_sh("rm -rf /tmp/nb_hz_claims && mkdir /tmp/nb_hz_claims && "
                           "cp -r results/reference/claims/claim2_l2softmax_alpha /tmp/nb_hz_claims/ && "
                           "ln -s $PWD/results/reference/claims/claim3_normface_scale /tmp/nb_hz_claims/ && "
                           "bin/normbench claims --results /tmp/nb_hz_claims > /tmp/nb_hz_out.txt "
                           "2> /tmp/nb_hz_err.txt"),
                     0);
    e = hz_slurp("/tmp/nb_hz_err.txt");
    assert_non_null(strstr(e, T("/tmp/nb_hz_claims/claim3_normface_scale: is a symbolic link: refusing to read")));
    free(e);
    e = hz_slurp("/tmp/nb_hz_out.txt");
    assert_non_null(strstr(e, "claim3_normface_scale.yaml` | not run yet"));
    assert_null(strstr(e, "claim2_l2softmax_alpha.yaml` | not run yet"));
    free(e);
    assert_int_equal(hz_sh("rm -rf /tmp/nb_hz_res /tmp/nb_hz_else /tmp/nb_hz_claims /tmp/nb_hz_err.txt "
                           "/tmp/nb_hz_out.txt /tmp/nb_hz_summary_before.csv"),
                     0);
}

static void test_results_path_check(void **state)
{
    (void)state;
    nb_error err;
    assert_int_equal(results_path_check("/tmp", "a/b", &err), 0);
    assert_int_equal(results_path_check("/tmp", "../etc", &err), -1);
    assert_non_null(strstr(err.msg, "'..'"));
    assert_int_equal(results_path_check("/tmp", "a/./b", &err), -1);
    assert_int_equal(results_path_check("/tmp", "a//b", &err), -1);
    assert_int_equal(results_path_check("/tmp", "/etc", &err), -1);
    assert_non_null(strstr(err.msg, "absolute"));
    /* the temporary of an atomic file is never opened through a link */
    char path[256], tmp[300];
    snprintf(path, sizeof path, "%s", T("/tmp/nb_hz_atomic.txt"));
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    unlink(tmp);
    assert_int_equal(symlink(T("/tmp/nb_hz_atomic_target"), tmp), 0);
    atomic_file a;
    assert_int_equal(atomic_open(&a, path, &err), -1);
    assert_non_null(strstr(err.msg, "cannot create"));
    struct stat st;
    assert_true(lstat(T("/tmp/nb_hz_atomic_target"), &st) != 0);
    unlink(tmp);
    /* and a link at the final name is replaced, not written through */
    assert_int_equal(symlink(T("/tmp/nb_hz_atomic_target"), path), 0);
    assert_int_equal(atomic_open(&a, path, &err), 0);
    fputs("x\n", a.f);
    assert_int_equal(atomic_commit(&a, &err), 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_true(lstat(T("/tmp/nb_hz_atomic_target"), &st) != 0);
    unlink(path);
    /* the temporaries a stop signal removes (the watchdog of runners/options.c): the open ones
     * only — a file renamed into place, or given up, is no longer listed */
    atomic_file b;
    assert_int_equal(atomic_open(&a, path, &err), 0);
    assert_int_equal(atomic_open(&b, T("/tmp/nb_hz_atomic2.txt"), &err), 0);
    fputs("x\n", a.f);
    assert_int_equal(atomic_commit(&a, &err), 0);
    assert_int_equal(lstat(b.tmp, &st), 0);
    fsutil_remove_temporaries();
    assert_true(lstat(b.tmp, &st) != 0);
    assert_int_equal(lstat(path, &st), 0);
    atomic_abort(&b);
    fsutil_temporary_add(path); /* any file listed, e.g. a figure gnuplot draws */
    fsutil_temporary_drop(path);
    fsutil_remove_temporaries();
    assert_int_equal(lstat(path, &st), 0);
    fsutil_temporary_add(path);
    fsutil_remove_temporaries();
    assert_true(lstat(path, &st) != 0);
    fsutil_temporary_drop(path);
}

/* ---- numeric hazards ---------------------------------------------------------------------- */

static void test_nonfinite_pixels_refused(void **state)
{
    (void)state;
    float img[2 * 4] = {0, 0.5f, 1, 0, 0, NAN, 0, 0};
    int labels[2] = {0, 1};
    dataset d = {.n = 2, .c = 1, .h = 2, .w = 2, .num_classes = 2, .images = img, .labels = labels};
    nb_error err;
    assert_int_equal(data_check_finite(&d, "x.yaml", "training", &err), -1);
    assert_string_equal(err.file, "x.yaml");
    assert_non_null(strstr(err.msg, "data: training image 1 has a non-finite pixel value (nan at position 1)"));
    img[5] = INFINITY;
    assert_int_equal(data_check_finite(&d, "x.yaml", "test", &err), -1);
    assert_non_null(strstr(err.msg, "test image 1 has a non-finite pixel value (inf"));
    img[5] = 0;
    assert_int_equal(data_check_finite(&d, "x.yaml", "test", &err), 0);
}

/* Writes an IDX file of unsigned bytes. */
static void write_idx(const char *path, int ndim, const uint32_t *dims, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint8_t head[4] = {0, 0, 8, (uint8_t)ndim};
    fwrite(head, 1, 4, f);
    for (int i = 0; i < ndim; i++) {
        uint8_t b[4] = {(uint8_t)(dims[i] >> 24), (uint8_t)(dims[i] >> 16), (uint8_t)(dims[i] >> 8), (uint8_t)dims[i]};
        fwrite(b, 1, 4, f);
    }
    fwrite(data, 1, n, f);
    fclose(f);
}

/* A small IDX dataset of n 28×28 images whose labels cycle through `labels`. */
static void make_idx_set(const char *prefix, int n, const int *labels, int n_labels)
{
    char p[256];
    uint8_t *img = malloc((size_t)n * 784), *lab = malloc((size_t)n);
    rng_t r;
    rng_seed(&r, 9);
    for (int i = 0; i < n; i++) {
        lab[i] = (uint8_t)labels[i % n_labels];
        for (int j = 0; j < 784; j++) /* class-dependent blobs so that training has something to learn */
            img[(size_t)i * 784 + j] = (uint8_t)((j % 28 < 14) == (lab[i] % 2) ? 200 : rng_below(&r, 60));
    }
    uint32_t d3[3] = {(uint32_t)n, 28, 28}, d1[1] = {(uint32_t)n};
    snprintf(p, sizeof p, "%s-images.idx", T(prefix));
    write_idx(p, 3, d3, img, (size_t)n * 784);
    snprintf(p, sizeof p, "%s-labels.idx", T(prefix));
    write_idx(p, 1, d1, lab, (size_t)n);
    free(img);
    free(lab);
}

/* Trains tiny_train.yaml with overrides (k=v strings) in-process. Returns train_run's status. */
static int train_with(const char *results, train_result *res, nb_error *err, int n, const char *const *sets)
{
    const char *file = "tests/fixtures/tiny_train.yaml";
    config_entries over = {0};
    for (int i = 0; i < n; i++) {
        char key[128];
        const char *eq = strchr(sets[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - sets[i]), sets[i]);
        config_entries_add(&over, key, T(eq + 1), 0, 0);
    }
    nb_config cfg;
    int rc = config_load_run(&cfg, file, &over, err);
    config_entries_free(&over);
    if (rc) {
        nb_error_print(err, stdout);
        return -2;
    }
    char results_dir[512];
    snprintf(results_dir, sizeof results_dir, "%s", T(results));
    train_options opt = {.results_root = results_dir, .threads = 1, .quiet = 1};
    return train_run(&cfg, &opt, res, err);
}

/* The run folder's final.csv parses, has one row, and its status is complete or diverged (with
 * the step of a diverged run). Returns 1 for diverged. */
static int check_final(const char *run_dir, long diverged_step)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/final.csv", run_dir);
    csvread_table t;
    nb_error err;
    if (csvread_load(&t, path, &err))
        fail_msg("%s: %s", path, err.msg);
    assert_int_equal(t.nrows, 1);
    const char *status = t.rows[0][csvread_col(&t, "status")];
    int div = !strcmp(status, "diverged");
    assert_true(div || !strcmp(status, "complete"));
    if (div) {
        double step;
        assert_int_equal(csvread_number(&t, 0, csvread_col(&t, "diverged_step"), &step, &err), 0);
        assert_true(step == (double)diverged_step);
    }
    csvread_free(&t);
    return div;
}

static void test_exploding_learning_rate(void **state)
{
    (void)state;
    const char *types[] = {"softmax", "l2softmax", "normface", "arcface", "sphereface", "c_contrastive"};
    int n_div = 0;
    for (int i = 0; i < 6; i++) {
        char type[64];
        snprintf(type, sizeof type, "loss.type=%s", types[i]);
        const char *sets[] = {type, "train.lr=100", "train.momentum=0.99", "train.epochs=2", "data.train_subset=256",
                              "data.test_subset=128", "eval.pairs=200"};
        train_result res;
        nb_error err = {0};
        int rc = train_with("/tmp/nb_hz_lr", &res, &err, 7, sets);
        if (rc)
            fail_msg("%s: %s", types[i], err.msg);
        int div = check_final(res.run_dir, res.diverged_step);
        assert_int_equal(div, res.diverged);
        printf("%-14s lr 100: %s%s\n", types[i], div ? "diverged at step " : "complete", "");
        if (div)
            printf("%17s%ld\n", "", res.diverged_step);
        n_div += div;
    }
    assert_true(n_div >= 1); /* at least plain softmax explodes */
    /* the binary says so and exits 1 (in a folder of its own: /tmp/nb_hz_lr holds finished runs
     * of other configurations, which train refuses to overwrite) */
    assert_int_equal(hz_sh("bin/normbench train tests/fixtures/tiny_train.yaml --quiet --results /tmp/nb_hz_lr_bin "
                           "--set train.lr=100 --set train.momentum=0.99 --set data.train_subset=256 > /dev/null 2> "
                           "/tmp/nb_hz_err.txt"),
                     1);
    char *e = hz_slurp("/tmp/nb_hz_err.txt");
    assert_non_null(strstr(e, "training diverged (loss NaN/Inf) at step "));
    free(e);
    assert_int_equal(hz_sh("rm -rf /tmp/nb_hz_lr /tmp/nb_hz_lr_bin /tmp/nb_hz_err.txt"), 0);
}

static void test_feature_dim_1(void **state)
{
    (void)state;
    const char *types[] = {"softmax", "normface", "arcface", "cosface", "sphereface", "c_triplet", "contrastive"};
    for (int i = 0; i < 7; i++) {
        char type[64];
        snprintf(type, sizeof type, "loss.type=%s", types[i]);
        int pair = !strcmp(types[i], "contrastive");
        const char *sets[] = {type, "model.feature_dim=1", "train.epochs=1", "data.train_subset=256",
                              "data.test_subset=128", "eval.pairs=200", pair ? "train.sampler=pk" : "train.epochs=1",
                              "train.pk_p=4", "train.pk_k=4"};
        train_result res;
        nb_error err = {0};
        int rc = train_with("/tmp/nb_hz_d1", &res, &err, pair ? 9 : 7, sets);
        if (rc)
            fail_msg("%s: %s", types[i], err.msg);
        int div = check_final(res.run_dir, res.diverged_step);
        printf("%-12s feature_dim 1: %s, test_acc %.3f\n", types[i], div ? "diverged" : "complete", res.test_acc);
    }
    assert_int_equal(hz_sh("rm -rf /tmp/nb_hz_d1"), 0);
}

/* Every loss on a batch whose samples all share one class: a finite loss and finite gradients
 * (pair losses have no negatives, triplets none at all). */
static void test_all_one_class_batch(void **state)
{
    (void)state;
    enum { B = 8, D = 4, C = 5 };
    for (int t = 0; t < LOSS_TYPE_COUNT; t++) {
        loss_config cfg;
        loss_config_defaults(&cfg, (loss_type)t);
        for (int center = 0; center < 2; center++) {
            cfg.center_weight = center ? 0.01 : 0;
            loss l;
            paramset ps = {0};
            loss_init(&l, &cfg, D, C, B, &ps);
            paramset_alloc(&ps);
            rng_t r;
            rng_seed(&r, 3);
            loss_bind(&l, &ps, &r);
            real feat[B * D], dfeat[B * D];
            int y[B];
            for (int i = 0; i < B * D; i++)
                feat[i] = (real)(rng_uniform(&r) - 0.5);
            for (int i = 0; i < B; i++)
                y[i] = 3;
            memset(dfeat, 0, sizeof dfeat);
            paramset_zero_grad(&ps);
            double L = loss_forward_backward(&l, dfeat, NULL, feat, y, B, 0);
            if (!isfinite(L))
                fail_msg("%s (center %d): loss %g on an all-one-class batch", loss_type_name((loss_type)t), center, L);
            for (int i = 0; i < B * D; i++)
                assert_true(isfinite(dfeat[i]));
            for (size_t i = 0; i < ps.total; i++)
                assert_true(isfinite(ps.grad[i]));
            int pred[B];
            loss_predict(&l, pred, feat, B);
            loss_after_step(&l, feat, y, B);
            loss_free(&l);
            paramset_free(&ps);
        }
    }
}

/* A model that cannot fit in memory is refused before anything large is allocated, by the key
 * that sizes it and where that key was set: width 4096 at a batch of 65,536 needs terabytes on
 * any machine (MemAvailable); under `ulimit -v` (plain build: the sanitizers need the address
 * space) width 4096 alone is refused by the address-space limit rather than failing inside
 * paramset_alloc with "out of memory allocating 3381592872 bytes". */
static void test_model_too_large_for_memory_names_the_key(void **state)
{
    (void)state;
    assert_int_equal(hz_sh("sed -e 's/^  width: 8$/  width: 4096/' -e 's/^  batch_size: 64$/  batch_size: 65536/' "
                           "tests/fixtures/tiny_train.yaml > /tmp/nb_hz_wide.yaml && "
                           "bin/normbench train /tmp/nb_hz_wide.yaml --quiet --results /tmp/nb_hz_mem "
                           "> /dev/null 2> /tmp/nb_hz_err.txt"),
                     1);
    char *e = hz_slurp("/tmp/nb_hz_err.txt");
    assert_non_null(strstr(e, T("normbench: /tmp/nb_hz_wide.yaml:12:")));
    assert_non_null(strstr(e, "model.width: 4096 (convnet-small, 1×28×28 inputs, 10 classes, train.batch_size 65536): "
                              "the model needs at least "));
    assert_non_null(strstr(e, "GiB are available (MemAvailable of /proc/meminfo"));
    assert_non_null(strstr(e, "lower model.width, model.feature_dim or train.batch_size"));
    free(e);
    assert_int_equal(hz_sh("test ! -e /tmp/nb_hz_mem/tiny/softmax_seed3/final.csv"), 0);
    if (!getenv("ASAN_OPTIONS")) {
        assert_int_equal(hz_sh("ulimit -v 6000000 && bin/normbench train tests/fixtures/tiny_train.yaml --quiet "
                               "--set model.width=4096 --results /tmp/nb_hz_mem > /dev/null 2> /tmp/nb_hz_err.txt"),
                         1);
        e = hz_slurp("/tmp/nb_hz_err.txt");
        assert_non_null(strstr(e, "normbench: (command line): model.width: 4096 (convnet-small"));
        assert_non_null(strstr(e, "GiB are available (the address-space limit (ulimit -v)"));
        assert_null(strstr(e, "out of memory allocating"));
        free(e);
    }
    assert_int_equal(hz_sh("rm -rf /tmp/nb_hz_mem /tmp/nb_hz_wide.yaml /tmp/nb_hz_err.txt"), 0);
}

/* Labels 0 and 5 only: classes 1–4 have no samples. Softmax trains over 6 classes; the P×K
 * sampler skips the empty ones; a single-class training set is a clear error. */
static void test_empty_classes(void **state)
{
    (void)state;
    const int labels[] = {0, 5};
    make_idx_set("/tmp/nb_hz_gap_train", 192, labels, 2);
    make_idx_set("/tmp/nb_hz_gap_test", 64, labels, 2);
    const char *idx[] = {"data.type=idx", "data.train_images=/tmp/nb_hz_gap_train-images.idx",
                         "data.train_labels=/tmp/nb_hz_gap_train-labels.idx",
                         "data.test_images=/tmp/nb_hz_gap_test-images.idx",
                         "data.test_labels=/tmp/nb_hz_gap_test-labels.idx", "data.train_subset=0",
                         "data.test_subset=0", "eval.pairs=40", "train.epochs=1"};
    const char *pk_types[] = {"loss.type=softmax", "loss.type=contrastive", "loss.type=triplet", "loss.type=c_triplet"};
    for (int i = 0; i < 4; i++) {
        const char *sets[13];
        int n = 0;
        for (int k = 0; k < 9; k++)
            sets[n++] = idx[k];
        sets[n++] = pk_types[i];
        if (i > 0) {
            sets[n++] = "train.sampler=pk";
            sets[n++] = "train.pk_p=4"; /* more than the two classes that have samples */
            sets[n++] = "train.pk_k=4";
        }
        train_result res;
        nb_error err = {0};
        int rc = train_with("/tmp/nb_hz_gap", &res, &err, n, sets);
        if (rc)
            fail_msg("%s: %s", pk_types[i], err.msg);
        check_final(res.run_dir, res.diverged_step);
        printf("%s: %d classes, %s\n", pk_types[i], res.num_classes, res.diverged ? "diverged" : "complete");
    }
    /* one class only */
    const int one[] = {7};
    make_idx_set("/tmp/nb_hz_gap_train", 64, one, 1);
    train_result res;
    nb_error err = {0};
    const char *sets[] = {idx[0], idx[1], idx[2], idx[3], idx[4], idx[5], idx[6], idx[7], idx[8]};
    assert_int_equal(train_with("/tmp/nb_hz_gap", &res, &err, 9, sets), -1);
    assert_non_null(strstr(err.msg, "data: the training set has samples of 1 class(es); at least 2 are needed"));
    printf("one class: %s\n", err.msg);
    assert_int_equal(hz_sh("rm -rf /tmp/nb_hz_gap /tmp/nb_hz_gap_*"), 0);
}

/* A stray label (255 in a 10-class file) sizes a 256-class head; data.num_classes refuses it,
 * naming the label and the range, and a value above the largest label widens the classifier. */
static void test_num_classes_refuses_a_stray_label(void **state)
{
    (void)state;
    const int labels[] = {0, 1, 2, 255};
    make_idx_set("/tmp/nb_hz_nc_train", 128, labels, 4);
    make_idx_set("/tmp/nb_hz_nc_test", 64, labels, 3);
    const char *sets[] = {"data.type=idx", "data.train_images=/tmp/nb_hz_nc_train-images.idx",
                          "data.train_labels=/tmp/nb_hz_nc_train-labels.idx",
                          "data.test_images=/tmp/nb_hz_nc_test-images.idx",
                          "data.test_labels=/tmp/nb_hz_nc_test-labels.idx", "data.train_subset=0",
                          "data.test_subset=0", "eval.pairs=40", "train.epochs=1", "data.num_classes=10"};
    train_result res;
    nb_error err = {0};
    assert_int_equal(train_with("/tmp/nb_hz_nc", &res, &err, 10, sets), -1);
    printf("num_classes 10: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "data.num_classes is 10, but training sample"));
    assert_non_null(strstr(err.msg, "has label 255 (expected 0 .. 9)"));
    make_idx_set("/tmp/nb_hz_nc_train", 128, labels, 3);
    sets[9] = "data.num_classes=7";
    memset(&err, 0, sizeof err);
    if (train_with("/tmp/nb_hz_nc", &res, &err, 10, sets))
        fail_msg("%s", err.msg);
    assert_int_equal(res.num_classes, 7);
    assert_int_equal(hz_sh("rm -rf /tmp/nb_hz_nc /tmp/nb_hz_nc_*"), 0);
}

/* Images too small for the backbone (6×6 for lenetpp's three poolings): the error names the
 * config file that chose the backbone and the data, not only the key. */
static void test_small_inputs_name_the_config(void **state)
{
    (void)state;
    uint8_t img[16 * 36], lab[16];
    for (int i = 0; i < 16; i++) {
        lab[i] = (uint8_t)(i % 2);
        for (int j = 0; j < 36; j++)
            img[i * 36 + j] = (uint8_t)(j * 7 + i);
    }
    uint32_t d3[3] = {16, 6, 6}, d1[1] = {16};
    write_idx(T("/tmp/nb_hz_small-images.idx"), 3, d3, img, sizeof img);
    write_idx(T("/tmp/nb_hz_small-labels.idx"), 1, d1, lab, sizeof lab);
    const char *sets[] = {"data.type=idx", "data.train_images=/tmp/nb_hz_small-images.idx",
                          "data.train_labels=/tmp/nb_hz_small-labels.idx", "data.test_images=/tmp/nb_hz_small-images.idx",
                          "data.test_labels=/tmp/nb_hz_small-labels.idx", "data.train_subset=0", "data.test_subset=0",
                          "model.backbone=lenetpp", "train.batch_size=8", "eval.pairs=20"};
    train_result res;
    nb_error err = {0};
    assert_int_equal(train_with("/tmp/nb_hz_small", &res, &err, 10, sets), -1);
    printf("6x6 for lenetpp: %s: %s\n", err.file, err.msg);
    assert_string_equal(err.file, "tests/fixtures/tiny_train.yaml");
    assert_non_null(strstr(err.msg, "lenetpp needs inputs of at least 8×8 pixels, got 6×6"));
    assert_int_equal(hz_sh("rm -rf /tmp/nb_hz_small /tmp/nb_hz_small-*"), 0);
}

/* `normbench bench head`'s list options: a list longer than the program holds is an error naming
 * the option, never a list cut short without a word (which ran only the first 16 losses). */
#define SMALL "--classes 1000 --dim 8 --rates 1 --batch 4 --seconds 1 --min-steps 1 --max-steps 1"
static void test_bench_lists_never_cut_short(void **state)
{
    (void)state;
    char cmd[4096], list[2048] = "";
    for (int k = 0; k < 65; k++)
        strcat(list, k ? ",arcface" : "arcface");
    /* the small sizes keep a regression (a bench that runs) short */
    snprintf(cmd, sizeof cmd, "bin/normbench bench head --loss %s " SMALL " --out /tmp/nb_hz_head.csv 2> /tmp/nb_hz_err.txt",
             list);
    assert_int_equal(hz_sh(cmd), 2); /* a usage error */
    char *e = hz_slurp("/tmp/nb_hz_err.txt");
    assert_non_null(strstr(e, "--loss: more than 64 losses"));
    free(e);
    list[0] = 0;
    for (int k = 0; k < 65; k++)
        strcat(list, k ? ",1000" : "1000");
    snprintf(cmd, sizeof cmd, "bin/normbench bench head --classes %s --loss softmax --dim 8 --rates 1 --batch 4 "
             "--seconds 1 --min-steps 1 --max-steps 1 --out /tmp/nb_hz_head.csv 2> /tmp/nb_hz_err.txt", list);
    assert_int_equal(hz_sh(cmd), 2);
    e = hz_slurp("/tmp/nb_hz_err.txt");
    assert_non_null(strstr(e, "--classes: more than 64 values"));
    free(e);
    memset(list, 'x', 1600);
    list[1600] = 0;
    snprintf(cmd, sizeof cmd, "bin/normbench bench head --loss %s --out %s 2> %s", list, T("/tmp/nb_hz_head.csv"),
             T("/tmp/nb_hz_err.txt")); /* sh, not hz_sh: the command is longer than T maps */
    assert_int_equal(sh(cmd), 2);
    e = hz_slurp("/tmp/nb_hz_err.txt");
    assert_non_null(strstr(e, "--loss: the list is longer than"));
    free(e);
    assert_int_equal(hz_sh("test ! -e /tmp/nb_hz_head.csv"), 0);
}
#undef SMALL

/* NaN in the weights: the step reports a non-finite loss or feature norm, which train_run
 * records as divergence (for the losses that clamp a NaN away, the feature norm still shows it). */
static void test_nan_weights_detected(void **state)
{
    (void)state;
    const char *types[] = {"softmax", "normface", "contrastive"};
    for (int t = 0; t < 3; t++) {
        nb_config cfg;
        nb_error err = {0};
        assert_int_equal(config_load(&cfg, "tests/fixtures/tiny_train.yaml", &err), 0);
        cfg.loss.type = (loss_type)loss_type_from_name(types[t]);
        loss_config_defaults(&cfg.loss, cfg.loss.type);
        model m;
        rng_t r;
        rng_seed(&r, 1);
        enum { B = 8 };
        assert_int_equal(model_init(&m, &cfg, 1, 28, 28, 4, B, &r, &err), 0);
        for (int i = 0; i < B * 28 * 28; i++)
            m.x[i] = (real)rng_uniform(&r);
        for (int i = 0; i < B; i++)
            m.y[i] = i % 4;
        m.ps.data[m.ps.total / 2] = NAN;
        step_stats st;
        model_train_step(&m, &cfg, B, 0.01, 0, &st);
        printf("%s with a NaN weight: loss %g, feature norm sum %g\n", types[t], st.loss, st.norm_sum);
        assert_true(!isfinite(st.loss) || !isfinite(st.norm_sum));
        model_free(&m);
    }
}

int main(void)
{
    if (make_tmpdir(scratch, sizeof scratch, "/tmp/normbench_hz.XXXXXX"))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_aliases_refused),
        cmocka_unit_test(test_yaml_nesting_and_sizes_refused),
        cmocka_unit_test(test_yaml_duplicate_keys_refused),
        cmocka_unit_test(test_names_cannot_leave_results),
        cmocka_unit_test(test_symlinks_in_results_refused),
        cmocka_unit_test(test_symlinked_run_folders_refused_on_read),
        cmocka_unit_test(test_results_path_check),
        cmocka_unit_test(test_nonfinite_pixels_refused),
        cmocka_unit_test(test_exploding_learning_rate),
        cmocka_unit_test(test_feature_dim_1),
        cmocka_unit_test(test_all_one_class_batch),
        cmocka_unit_test(test_nan_weights_detected),
        cmocka_unit_test(test_empty_classes),
        cmocka_unit_test(test_num_classes_refuses_a_stray_label),
        cmocka_unit_test(test_small_inputs_name_the_config),
        cmocka_unit_test(test_model_too_large_for_memory_names_the_key),
        cmocka_unit_test(test_bench_lists_never_cut_short),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (remove_tree(scratch) != 0)
        rc = 1;
    return rc;
}
