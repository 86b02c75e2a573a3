/* test_sweep.c — experiments and sweeps: expansion (product, zip, overrides) and run naming on
 * fixture files; bad experiment files rejected with line and key; a real tiny sweep run with
 * -j 2, killed with SIGKILL mid-way and rerun, gives the same summary.csv as an uninterrupted
 * run; GNU parallel driven by `normbench jobs` and merged by `normbench collect` gives it too;
 * the Slurm script passes `bash -n` with one array task per run; a changed configuration is
 * refused unless --force. Scratch files live in this process's own folder (mkdtemp, removed by the
 * group teardown), written "{tmp}/…" in the commands, so that concurrent runs of the suite never
 * meet. */
#include <glob.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "nb_bin.h"
#include "config/sweep.h"
#include "test_util.h"

#define FIX "tests/fixtures/sweep/"
#define TINY FIX "tiny_sweep.yaml"

static char scratch[64];
static int scratch_not_removed;

/* in_tmp (test_util.h) over this process's folder, and sh() and slurp() on commands and paths
 * written with "{tmp}". */
static const char *S(const char *s) { return in_tmp(scratch, s); }
static int sw_sh(const char *cmd) { return sh(S(cmd)); }
static char *sw_slurp(const char *path) { return slurp(S(path)); }

static void test_expand_product_zip_overrides(void **state)
{
    (void)state;
    experiment x;
    nb_error err = {0};
    int rc = experiment_load(&x, FIX "expand.yaml", &err);
    if (rc)
        nb_error_print(&err, stderr);
    assert_int_equal(rc, 0);
    assert_int_equal(x.n_runs, 8); /* 2 seeds × 2 types × 2 zipped (lr, epochs) */
    assert_int_equal(x.n_keys, 4);
    assert_string_equal(x.keys[0], "seed");
    assert_string_equal(x.keys[2], "train.lr");
    /* first axis slowest; zip advances lr and epochs together */
    assert_string_equal(x.runs[0].id, "normface_lr0.1_epochs2_seed1");
    assert_string_equal(x.runs[1].id, "normface_lr0.01_epochs4_seed1");
    assert_string_equal(x.runs[2].id, "arcface_lr0.1_epochs2_seed1");
    assert_string_equal(x.runs[7].id, "arcface_lr0.01_epochs4_seed2");
    assert_int_equal(x.runs[1].cfg.train.epochs, 4);
    assert_true(x.runs[1].cfg.train.lr == 0.01);
    /* base options that apply are kept (s = 16 for both); the override gives arcface m = 0.3 */
    assert_true(x.runs[0].cfg.loss.s == 16 && x.runs[2].cfg.loss.s == 16);
    assert_true(x.runs[2].cfg.loss.m == 0.3);
    assert_int_equal(x.runs[7].cfg.seed, 2);
    assert_string_equal(experiment_value(&x, 2, 1), "arcface");
    experiment_free(&x);
}

static void test_zip_with_nulls(void **state)
{
    (void)state;
    experiment x;
    nb_error err = {0};
    int rc = experiment_load(&x, FIX "zip_margins.yaml", &err);
    if (rc)
        nb_error_print(&err, stderr);
    assert_int_equal(rc, 0);
    assert_int_equal(x.n_runs, 4);
    assert_string_equal(x.runs[0].id, "softmax_seed7");
    assert_string_equal(x.runs[1].id, "cosface_m0.2_s16_seed7");
    assert_string_equal(x.runs[3].id, "arcface_m0.5_s16_seed7");
    assert_true(x.runs[2].cfg.loss.m == 0.35);
    assert_string_equal(experiment_value(&x, 0, 1), ""); /* softmax leaves m unset */
    experiment_free(&x);
}

static void test_no_sweep_is_one_run(void **state)
{
    (void)state;
    experiment x;
    nb_error err = {0};
    assert_int_equal(experiment_load(&x, "tests/fixtures/tiny_train.yaml", &err), 0);
    assert_int_equal(x.n_runs, 1);
    assert_string_equal(x.runs[0].id, "softmax_seed3");
    experiment_free(&x);
}

/* Every experiment the repository ships loads and expands, and is named after its file (make
 * reproduce and the README find results/<file name>/ by that). */
static void test_shipped_experiments_load(void **state)
{
    (void)state;
    glob_t g;
    assert_int_equal(glob("experiments/*.yaml", 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 10);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *path = g.gl_pathv[i];
        experiment x;
        nb_error err = {0};
        if (experiment_load(&x, path, &err) != 0)
            fail_msg("%s: %s", path, err.msg);
        const char *base = strrchr(path, '/') + 1;
        size_t n = strlen(base) - strlen(".yaml");
        if (strlen(x.name) != n || strncmp(x.name, base, n) != 0)
            fail_msg("%s: name '%s' is not the file's name", path, x.name);
        assert_true(x.n_runs >= 1);
        experiment_free(&x);
    }
    globfree(&g);
}

static void expect_error(const char *file, int line, const char *substring)
{
    experiment x;
    nb_error err = {0};
    char path[256];
    snprintf(path, sizeof path, FIX "%s", file);
    assert_int_equal(experiment_load(&x, path, &err), -1);
    nb_error_print(&err, stdout);
    assert_string_equal(err.file, path);
    if (line)
        assert_int_equal(err.line, line);
    assert_non_null(strstr(err.msg, substring));
}

static void test_bad_files(void **state)
{
    (void)state;
    expect_error("bad_unknown_key.yaml", 2, "sweep: unknown key 'loss.mm'");
    expect_error("bad_zip_length.yaml", 4, "sweep.zip: loss.m has 3 values, the group's first list has 2");
    expect_error("bad_value.yaml", 4, "loss.m");
    expect_error("bad_not_list.yaml", 2, "sweep.seed: expected a list of values");
    expect_error("bad_not_applicable.yaml", 3, "loss.m: does not apply to loss type 'softmax'");
    expect_error("bad_override_type.yaml", 4, "sweep.overrides: 'arcfac' is not a loss type");
    expect_error("bad_duplicate_ids.yaml", 0, "would both be named");
}

/* The reference: an uninterrupted -j 2 run. */
static char *reference_summary(void)
{
    assert_int_equal(sw_sh("rm -rf {tmp}/ref && bin/normbench run " TINY " -j 2 --quiet --results {tmp}/ref"), 0);
    char *s = sw_slurp("{tmp}/ref/tiny_sweep/summary.csv");
    assert_non_null(s);
    assert_non_null(strstr(s, "run_id,loss.type,seed,status"));
    return s;
}

static void test_kill_and_resume(void **state)
{
    (void)state;
    char *ref = reference_summary();
    /* -j 1 gives the same summary (each run uses 1 thread either way) */
    assert_int_equal(sw_sh("rm -rf {tmp}/j1 && bin/normbench run " TINY " --quiet --results {tmp}/j1"), 0);
    char *j1 = sw_slurp("{tmp}/j1/tiny_sweep/summary.csv");
    assert_string_equal(ref, j1);
    free(j1);
    /* SIGKILL the sweep (and its run processes) at several moments, then rerun to completion */
    const int delays_ms[] = {50, 150, 300};
    char kill_dir[sizeof scratch + 16];
    snprintf(kill_dir, sizeof kill_dir, "%s", S("{tmp}/kill"));
    for (int k = 0; k < 3; k++) {
        assert_int_equal(sw_sh("rm -rf {tmp}/kill"), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            setpgid(0, 0);
            execl(nb_bin(), "normbench", "run", TINY, "-j", "2", "--quiet", "--results", kill_dir,
                  (char *)NULL);
            _exit(127);
        }
        setpgid(pid, pid);
        usleep(delays_ms[k] * 1000);
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        assert_int_equal(sw_sh("bin/normbench run " TINY " -j 2 --quiet --results {tmp}/kill"), 0);
        char *s = sw_slurp("{tmp}/kill/tiny_sweep/summary.csv");
        assert_non_null(s);
        assert_string_equal(ref, s);
        free(s);
    }
    free(ref);
}

static void test_gnu_parallel_and_collect(void **state)
{
    (void)state;
    char *ref = reference_summary();
    assert_int_equal(sw_sh("rm -rf {tmp}/par && bin/normbench jobs " TINY " --format parallel --results {tmp}/par "
                           "> {tmp}/jobs.txt"),
                     0);
    char *jobs = sw_slurp("{tmp}/jobs.txt");
    int lines = 0;
    for (char *p = jobs; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 4);
    free(jobs);
    assert_int_equal(sw_sh("parallel --will-cite -j 2 < {tmp}/jobs.txt"), 0);
    assert_int_equal(sw_sh("bin/normbench collect " TINY " --results {tmp}/par > /dev/null"), 0);
    char *s = sw_slurp("{tmp}/par/tiny_sweep/summary.csv");
    assert_non_null(s);
    assert_string_equal(ref, s);
    free(s);
    free(ref);
    /* nothing left to do: no commands */
    assert_int_equal(sw_sh("test -z \"$(bin/normbench jobs " TINY " --format parallel --results {tmp}/par)\""), 0);
    unlink(S("{tmp}/jobs.txt"));
}

static void test_slurm_script(void **state)
{
    (void)state;
    assert_int_equal(sw_sh("bin/normbench jobs " FIX "expand.yaml --format slurm --results {tmp}/none > {tmp}/sw.sbatch"), 0);
    assert_int_equal(sw_sh("bash -n {tmp}/sw.sbatch"), 0);
    char *s = sw_slurp("{tmp}/sw.sbatch");
    assert_non_null(strstr(s, "#SBATCH --array=0,1,2,3,4,5,6,7\n"));
    assert_non_null(strstr(s, "--index \"$SLURM_ARRAY_TASK_ID\""));
    free(s);
    unlink(S("{tmp}/sw.sbatch"));
}

static void test_changed_config_refused(void **state)
{
    (void)state;
    assert_int_equal(sw_sh("rm -rf {tmp}/chg && bin/normbench run " TINY " --quiet --only 'softmax_seed1' "
                           "--results {tmp}/chg"),
                     0);
    /* the same run id with another learning rate */
    assert_int_equal(sw_sh("sed 's/lr: 0.05/lr: 0.04/' " TINY " > {tmp}/changed.yaml"), 0);
    assert_int_equal(sw_sh("mkdir -p {tmp}/cfg && cp {tmp}/changed.yaml {tmp}/cfg/tiny_sweep.yaml"), 0);
    assert_int_equal(sw_sh("bin/normbench run {tmp}/cfg/tiny_sweep.yaml --quiet --only 'softmax_seed1' "
                           "--results {tmp}/chg 2> {tmp}/err.txt"),
                     1);
    char *e = sw_slurp("{tmp}/err.txt");
    assert_non_null(strstr(e, "softmax_seed1: the folder holds a run with a different configuration"));
    free(e);
    assert_int_equal(sw_sh("bin/normbench run {tmp}/cfg/tiny_sweep.yaml --quiet --force --only 'softmax_seed1' "
                           "--results {tmp}/chg"),
                     0);
    char *c = sw_slurp("{tmp}/chg/tiny_sweep/softmax_seed1/config.yaml");
    assert_non_null(strstr(c, "lr: 0.04"));
    free(c);
    assert_int_equal(sw_sh("rm -rf {tmp}/chg {tmp}/cfg {tmp}/changed.yaml {tmp}/err.txt"), 0);
}

static int make_scratch(void **state)
{
    (void)state;
    return make_tmpdir(scratch, sizeof scratch, "/tmp/nb_test_sweep.XXXXXX");
}

static int remove_scratch(void **state)
{
    (void)state;
    scratch_not_removed = remove_tree(scratch) != 0;
    return scratch_not_removed ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand_product_zip_overrides),
        cmocka_unit_test(test_zip_with_nulls),
        cmocka_unit_test(test_no_sweep_is_one_run),
        cmocka_unit_test(test_shipped_experiments_load),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_kill_and_resume),
        cmocka_unit_test(test_gnu_parallel_and_collect),
        cmocka_unit_test(test_slurm_script),
        cmocka_unit_test(test_changed_config_refused),
    };
    int rc = cmocka_run_group_tests(tests, make_scratch, remove_scratch);
    /* cmocka reports a failed group teardown but does not count it in rc */
    if (scratch_not_removed)
        rc = 1;
    return rc;
}
