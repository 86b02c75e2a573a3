/* test_ledger.c — the run ledger cannot lie: what `run` and `train` report is what the run
 * folders hold.
 *  - an experiment file edited while its sweep runs (seeds and losses reordered): every run is
 *    still trained as it was expanded, and each folder holds its own configuration;
 *  - one owner per run folder: a second `train` of a run being trained is refused naming the
 *    owner's pid; the lock of a killed owner, and a lock file left by a dead process, are
 *    recovered;
 *  - N ∈ {2, 4} `normbench run` of one sweep started together, some of them SIGKILLed at random
 *    moments, over TRIALS trials: every run trained exactly once when nobody is killed, every
 *    final.csv consistent with its metrics.csv and config.yaml, the summary identical to a serial
 *    run's (NB_LEDGER_TRIALS sets the number of trials; `make test-concurrency` runs more);
 *  - a path that does not fit is one clear error, never a file under a cut-short name;
 *  - `train` refuses to overwrite a finished run of a different configuration without --force;
 *  - a corrupt final.csv (cut short, empty, a column too many, a bogus status, a non-numeric
 *    cell) is named in a warning, listed as corrupt in the summary, and redone by `run`;
 *  - readers take regular files only: a FIFO or a device as experiment file, IDX file or pairs
 *    file is one quick error; a final.csv linked to /dev/zero is refused and the run redone;
 *  - SIGTERM ends `train` within about a second wherever it is (here: the final evaluation);
 *  - `jobs` refuses paths it cannot quote (a newline; for #SBATCH lines also '%'), and makes the
 *    folder where Slurm opens the tasks' output files;
 *  - two GNU parallel invocations (--sshloginfile naming ":", the local machine) of one job list
 *    on one results folder: both succeed, every run trained once, collect gives the serial
 *    summary;
 *  - messages: a damaged config.yaml, a seed of " -1", a value too long, a stray label 255;
 *  - a CMYK JPEG reads as the RGB image it shows.
 * Scratch folders are this process's own (mkdtemp), removed at the end. */
#include <dirent.h>
#include <math.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
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
#include <jpeglib.h>

#include "core/rng.h"
#include "data/idx.h"
#include "data/lfw.h"
#include "io/csvread.h"
#include "io/fsutil.h"
#include "io/runfolder.h"
#include "nb_bin.h"
#include "test_util.h"

#define SWEEP "tests/fixtures/ledger/sweep.yaml"
#define TINY "tests/fixtures/tiny_train.yaml"
#define NAME "ledger_sweep"

static const char *run_ids[4] = {"softmax_seed1", "softmax_seed2", "normface_seed1", "normface_seed2"};

static char base[64];
static char *reference; /* summary.csv of a serial run */

static const char *P(const char *name) { return path_in(base, name); }

static int shf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int shf(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return sh(cmd);
}

/* Starts bin/normbench with argv (NULL-terminated, without the program) in its own process group,
 * stderr to errfile; returns its pid (= its group). */
static pid_t start(const char *errfile, const char *const *argv)
{
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        if (!freopen(errfile, "w", stderr) || !freopen("/dev/null", "w", stdout))
            _exit(126);
        const char *args[32];
        int n = 0;
        args[n++] = "normbench";
        for (int i = 0; argv[i] && n < 31; i++)
            args[n++] = argv[i];
        args[n] = NULL;
        execv(nb_bin(), (char *const *)args);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

static int exit_status(pid_t pid)
{
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Waits (at most timeout seconds) until path exists and, when want is not NULL, holds want. */
static int wait_for(const char *path, const char *want, double timeout)
{
    double t0 = now();
    while (now() - t0 < timeout) {
        char *s = slurp(path);
        int ok = s && (!want || strstr(s, want));
        free(s);
        if (ok)
            return 1;
        usleep(5000);
    }
    return 0;
}

static int count(const char *text, const char *word)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, word)); p += strlen(word))
        n++;
    return n;
}

/* Each complete run of results/NAME: final.csv one row with status complete, its epochs and
 * train_loss those of the last row of metrics.csv, its config.yaml and steps.csv the serial
 * reference's (steps.csv's last step that of metrics.csv: no row lost or repeated by a kill and
 * a retraining). The number of complete runs. */
static int check_consistent(const char *results)
{
    int complete = 0;
    for (int i = 0; i < 4; i++) {
        char dir[512], path[700], ref[700];
        snprintf(dir, sizeof dir, "%s/" NAME "/%s", results, run_ids[i]);
        snprintf(path, sizeof path, "%s/final.csv", dir);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        complete++;
        csvread_table f, m;
        nb_error err;
        if (csvread_load(&f, path, &err))
            fail_msg("%s: %s", path, err.msg);
        snprintf(path, sizeof path, "%s/metrics.csv", dir);
        if (csvread_load(&m, path, &err))
            fail_msg("%s: %s", path, err.msg);
        assert_int_equal(f.nrows, 1);
        assert_string_equal(f.rows[0][csvread_col(&f, "status")], "complete");
        assert_true(m.nrows >= 1);
        assert_string_equal(f.rows[0][csvread_col(&f, "epochs")], m.rows[m.nrows - 1][csvread_col(&m, "epoch")]);
        assert_string_equal(f.rows[0][csvread_col(&f, "train_loss")],
                            m.rows[m.nrows - 1][csvread_col(&m, "train_loss")]);
        csvread_table sc;
        snprintf(path, sizeof path, "%s/steps.csv", dir);
        if (csvread_load(&sc, path, &err))
            fail_msg("%s: %s", path, err.msg);
        assert_int_equal(sc.nrows, 2); /* 4 steps, train.log_every 2 */
        assert_string_equal(sc.rows[sc.nrows - 1][csvread_col(&sc, "step")], m.rows[m.nrows - 1][csvread_col(&m, "step")]);
        csvread_free(&sc);
        csvread_free(&f);
        csvread_free(&m);
        snprintf(ref, sizeof ref, "%s/" NAME "/%s/steps.csv", P("ref"), run_ids[i]);
        char *sa = slurp(path), *sb = slurp(ref);
        assert_non_null(sa);
        assert_non_null(sb);
        if (strcmp(sa, sb))
            fail_msg("%s is not the serial run's steps.csv:\n%s\n---\n%s", path, sa, sb);
        free(sa);
        free(sb);
        snprintf(path, sizeof path, "%s/config.yaml", dir);
        snprintf(ref, sizeof ref, "%s/" NAME "/%s/config.yaml", P("ref"), run_ids[i]);
        char *a = slurp(path), *b = slurp(ref);
        assert_non_null(a);
        assert_non_null(b);
        if (strcmp(a, b))
            fail_msg("%s is not the configuration of %s", path, run_ids[i]);
        free(a);
        free(b);
    }
    return complete;
}

static int setup(void **state)
{
    (void)state;
    if (make_tmpdir(base, sizeof base, "/tmp/nb_test_ledger.XXXXXX"))
        return -1;
    if (shf("bin/normbench run " SWEEP " -j 1 --quiet --results %s", P("ref")))
        return -1;
    reference = slurp(P("ref/" NAME "/summary.csv"));
    return reference ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(reference);
    return remove_tree(base);
}

/* ---- the experiment file edited while its sweep runs ------------------------------------ */

static void test_edit_during_sweep(void **state)
{
    (void)state;
    char file[300], results[300], err[300];
    snprintf(file, sizeof file, "%s", P("edited.yaml"));
    snprintf(results, sizeof results, "%s", P("edit"));
    snprintf(err, sizeof err, "%s", P("edit.err"));
    assert_int_equal(shf("cp " SWEEP " %s", file), 0);
    pid_t pid = start(err, (const char *[]){"run", file, "-j", "1", "--results", results, NULL});
    /* once the sweep is planned, reorder both axes: run I of the file is now another run */
    assert_true(wait_for(err, "4 to do", 30));
    assert_int_equal(shf("sed -i -e 's/loss.type: \\[softmax, normface\\]/loss.type: [normface, softmax]/' "
                         "-e 's/seed: \\[1, 2\\]/seed: [2, 1]/' %s && grep -q 'seed: \\[2, 1\\]' %s",
                         file, file),
                     0);
    int rc = exit_status(pid);
    char *e = slurp(err);
    assert_non_null(e);
    printf("%s", e ? e : "");
    assert_int_equal(rc, 0);
    assert_int_equal(count(e, " done "), 4);
    free(e);
    assert_int_equal(check_consistent(results), 4);
    char *s = slurp(P("edit/" NAME "/summary.csv"));
    assert_non_null(s);
    assert_string_equal(s, reference);
    free(s);
}

/* ---- one owner per run folder ----------------------------------------------------------- */

static void test_second_train_refused(void **state)
{
    (void)state;
    char results[300];
    snprintf(results, sizeof results, "%s", P("own"));
    char lock[600], run_yaml[600];
    snprintf(lock, sizeof lock, "%s/tiny/.softmax_seed3.lock", results);
    snprintf(run_yaml, sizeof run_yaml, "%s/tiny/softmax_seed3/run.yaml", results);
    /* a lock file left by a process that is gone (a pid that cannot exist) does not stop a run */
    assert_int_equal(shf("mkdir -p %s/tiny && printf 'pid 2147483647 host elsewhere\\n' > %s", results, lock), 0);
    /* the first training, slowed down to 6 epochs, at one thread; a second one, at two */
    pid_t a = start(P("own_a.err"), (const char *[]){"train", TINY, "--results", results, "--threads", "1", "--set",
                                                      "train.epochs=6", "--quiet", NULL});
    assert_true(wait_for(run_yaml, "status: \"running\"", 30));
    char want[64];
    snprintf(want, sizeof want, "pid %ld ", (long)a);
    assert_true(wait_for(lock, want, 5));
    double t0 = now();
    char cmd[1400];
    snprintf(cmd, sizeof cmd,
             "bin/normbench train " TINY " --results %s --threads 2 --set train.epochs=6 --quiet 2> %s", results,
             P("own_b.err"));
    int rc_b = sh(cmd);
    double dt = now() - t0;
    char *e = slurp(P("own_b.err"));
    assert_non_null(e);
    printf("second train: exit %d after %.2f s: %s", rc_b, dt, e);
    assert_int_equal(rc_b, 1);
    snprintf(want, sizeof want, "is being trained by pid %ld on ", (long)a);
    if (!strstr(e, want))
        fail_msg("expected '%s' in: %s", want, e);
    free(e);
    assert_int_equal(exit_status(a), 0);
    /* its folder is the first training's alone: one thread in run.yaml, 6 rows of metrics */
    char *ry = slurp(run_yaml);
    assert_non_null(strstr(ry, "threads: 1\n"));
    assert_non_null(strstr(ry, "status: \"complete\""));
    free(ry);
    char path[700];
    snprintf(path, sizeof path, "%s/tiny/softmax_seed3/metrics.csv", results);
    char *m = slurp(path);
    assert_int_equal(count(m, "\n"), 7);
    free(m);
}

static void test_killed_owner_recovered(void **state)
{
    (void)state;
    char results[300];
    snprintf(results, sizeof results, "%s", P("killed"));
    char run_yaml[600], final[600];
    snprintf(run_yaml, sizeof run_yaml, "%s/tiny/softmax_seed3/run.yaml", results);
    snprintf(final, sizeof final, "%s/tiny/softmax_seed3/final.csv", results);
    pid_t a = start(P("killed_a.err"), (const char *[]){"train", TINY, "--results", results, "--threads", "1", "--set",
                                                         "train.epochs=6", "--quiet", NULL});
    assert_true(wait_for(run_yaml, "status: \"running\"", 30));
    kill(-a, SIGKILL);
    assert_int_equal(exit_status(a), 128 + SIGKILL);
    struct stat st;
    assert_int_not_equal(stat(final, &st), 0);
    /* the dead owner's lock is gone with it: the next training takes the run at once */
    assert_int_equal(shf("bin/normbench train " TINY " --results %s --set train.epochs=6 --quiet > /dev/null", results),
                     0);
    assert_int_equal(stat(final, &st), 0);
}

/* ---- N sweeps at once, with kills --------------------------------------------------------- */

static int trials(void)
{
    const char *t = getenv("NB_LEDGER_TRIALS");
    if (t && atoi(t) > 0)
        return atoi(t);
    return getenv("NB_BIN") ? 4 : 20; /* the sanitizer pass: a few */
}

static void test_concurrent_sweeps(void **state)
{
    (void)state;
    rng_t r;
    rng_seed(&r, 20261202);
    int n_trials = trials(), kills = 0, retrained = 0;
    double t_start = now();
    for (int trial = 0; trial < n_trials; trial++) {
        int n = trial % 2 ? 4 : 2, kill_some = trial % 4 >= 2;
        char results[300];
    snprintf(results, sizeof results, "%s", P("conc"));
        assert_int_equal(shf("rm -rf %s", results), 0);
        pid_t pid[4];
        char errs[4][300];
        for (int i = 0; i < n; i++) {
            snprintf(errs[i], sizeof errs[i], "%s", P(i == 0 ? "c0.err" : i == 1 ? "c1.err" : i == 2 ? "c2.err" : "c3.err"));
            pid[i] = start(errs[i], (const char *[]){"run", SWEEP, "-j", "2", "--results", results, NULL});
        }
        int killed[4] = {0};
        if (kill_some) { /* one or two of them, at moments drawn over a sweep's duration */
            for (int k = 0; k < 1 + (n == 4); k++) {
                int i = (int)(rng_uniform(&r) * n) % n;
                usleep((useconds_t)(rng_uniform(&r) * 1.5e6));
                if (!killed[i])
                    kill(-pid[i], SIGKILL);
                killed[i] = 1;
            }
        }
        int done = 0, survivors = 0;
        for (int i = 0; i < n; i++) {
            int rc = exit_status(pid[i]);
            char *e = slurp(errs[i]);
            if (!killed[i]) {
                if (rc != 0)
                    fail_msg("trial %d: process %d exited %d: %s", trial, i, rc, e);
                survivors++;
                assert_int_equal(count(e, "FAILED"), 0);
                assert_int_equal(count(e, " done ") + count(e, " complete (trained by another process) "), 4);
            }
            done += count(e, " done ");
            free(e);
        }
        kills += killed[0] + killed[1] + killed[2] + killed[3];
        if (!kill_some) {
            /* nobody killed: each run trained by exactly one of them */
            if (done != 4)
                fail_msg("trial %d: %d trainings reported for 4 runs", trial, done);
        } else {
            retrained += done > 4 ? done - 4 : 0;
        }
        /* a run's folder is consistent after every trial; a last serial run completes the rest */
        check_consistent(results);
        assert_int_equal(shf("bin/normbench run " SWEEP " -j 1 --quiet --results %s", results), 0);
        assert_int_equal(check_consistent(results), 4);
        char *s = slurp(P("conc/" NAME "/summary.csv"));
        assert_non_null(s);
        assert_string_equal(s, reference);
        free(s);
        printf("trial %2d: %d sweeps at once%s, %d trainings reported, %d survivor(s)\n", trial + 1, n,
               kill_some ? " (some SIGKILLed)" : "", done, survivors);
    }
    printf("concurrent sweeps: %d trials, %d processes SIGKILLed, %d runs retrained after a kill, %.1f s\n", n_trials,
           kills, retrained, now() - t_start);
}

/* ---- paths that do not fit -------------------------------------------------------------- */

/* A results root of len bytes (folders of at most 200 characters under this test's folder). */
static const char *long_root(int len)
{
    static char root[1200];
    int n = snprintf(root, sizeof root, "%s", P("long"));
    for (char c = 'a'; n < len; c++) {
        int k = len - n - 1 > 200 ? 200 : len - n - 1;
        root[n++] = '/';
        memset(root + n, c, (size_t)k);
        n += k;
        root[n] = '\0';
    }
    assert_int_equal((int)strlen(root), len);
    return root;
}

static void test_long_path_refused(void **state)
{
    (void)state;
    /* results folders too long for every file below them to fit in 1,023 bytes: one clear
     * error, nothing written (a run folder of 1,019 bytes once got "fin" for final.csv and "met"
     * for metrics.csv) */
    const int lens[] = {701, 1000};
    char cmd[2400];
    for (int i = 0; i < 2; i++) {
        const char *root = long_root(lens[i]);
        assert_int_equal(shf("rm -rf %s && mkdir -p '%s'", P("long"), root), 0);
        const char *cmds[2] = {"train " TINY, "run " SWEEP " --only softmax_seed1"};
        for (int k = 0; k < 2; k++) {
            snprintf(cmd, sizeof cmd, "bin/normbench %s --results '%s' --quiet > /dev/null 2> %s", cmds[k], root,
                     P("long.err"));
            int rc = sh(cmd);
            char *e = slurp(P("long.err"));
            assert_non_null(e);
            printf("results folder of %d bytes, %.5s: exit %d: %.120s\n", lens[i], cmds[k], rc, e ? e : "");
            assert_int_equal(rc, 2);
            assert_non_null(strstr(e, "--results: path too long"));
            free(e);
            snprintf(cmd, sizeof cmd, "test -z \"$(find '%s' -mindepth 1)\"", root);
            assert_int_equal(sh(cmd), 0);
        }
    }
    /* at the limit, with an experiment name and a run id of 120 characters: every file is
     * there under its full name */
    const char *root = long_root(700);
    assert_int_equal(shf("rm -rf %s && mkdir -p '%s'", P("long"), root), 0);
    char name[121], id[121];
    memset(name, 'n', 120);
    memset(id, 'r', 120);
    name[120] = id[120] = '\0';
    snprintf(cmd, sizeof cmd, "bin/normbench train " TINY " --results '%s' --set name=%s --set run_id=%s --quiet > /dev/null",
             root, name, id);
    assert_int_equal(sh(cmd), 0);
    const char *files[] = {"final.csv", "metrics.csv", "config.yaml", "run.yaml", "roc.csv", "theta_hist.csv"};
    for (int i = 0; i < 6; i++) {
        snprintf(cmd, sizeof cmd, "test -f '%s/%s/%s/%s'", root, name, id, files[i]);
        if (sh(cmd))
            fail_msg("%s missing at the limit", files[i]);
    }
    /* and nothing else anywhere but the run's lock file */
    snprintf(cmd, sizeof cmd, "test -z \"$(find '%s' -type f ! -path '*/%s/*' ! -name '.%s.lock')\"", root, id, id);
    assert_int_equal(sh(cmd), 0);
}

/* The library's own checks, below the command line's: atomic_open and the run folder's length. */
static void test_long_path_library(void **state)
{
    (void)state;
    char path[1100];
    int n = snprintf(path, sizeof path, "%s/", base);
    memset(path + n, 'x', sizeof path - 1 - (size_t)n);
    path[sizeof path - 1] = '\0';
    atomic_file a;
    nb_error err = {0};
    assert_int_equal(atomic_open(&a, path, &err), -1);
    assert_non_null(strstr(err.msg, "path too long"));
    assert_null(a.f);
    path[1010] = '\0'; /* fits, but its temporary name would not */
    assert_int_equal(atomic_open(&a, path, &err), -1);
    path[980] = '\0';
    assert_int_equal(runfolder_check_length(path, &err), -1);
    assert_non_null(strstr(err.msg, "at most 1023"));
    path[900] = '\0';
    assert_int_equal(runfolder_check_length(path, &err), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "test -z \"$(find %s -maxdepth 1 -name 'xxx*')\"", base);
    assert_int_equal(sh(cmd), 0); /* nothing created */
}

/* ---- train and a finished run of another configuration ---------------------------------- */

static void test_train_refuses_a_changed_run(void **state)
{
    (void)state;
    char results[300];
    snprintf(results, sizeof results, "%s", P("changed"));
    char final[600];
    snprintf(final, sizeof final, "%s/tiny/softmax_seed3/final.csv", results);
    assert_int_equal(shf("bin/normbench train " TINY " --results %s --quiet > /dev/null", results), 0);
    char *before = slurp(final);
    assert_non_null(before);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "bin/normbench train " TINY " --results %s --set train.lr=0.02 --quiet > /dev/null 2> %s",
             results, P("changed.err"));
    assert_int_equal(sh(cmd), 1);
    char *e = slurp(P("changed.err"));
    assert_non_null(e);
    printf("%s", e);
    assert_non_null(strstr(e, "different configuration"));
    assert_non_null(strstr(e, "--force"));
    free(e);
    char *after = slurp(final);
    assert_string_equal(before, after); /* untouched */
    free(after);
    /* with --force it is redone with the new configuration */
    assert_int_equal(shf("bin/normbench train " TINY " --results %s --set train.lr=0.02 --force --quiet > /dev/null",
                         results),
                     0);
    char path[700];
    snprintf(path, sizeof path, "%s/tiny/softmax_seed3/config.yaml", results);
    char *c = slurp(path);
    assert_non_null(strstr(c, "lr: 0.02"));
    free(c);
    free(before);
}

/* A finished run whose config.yaml was written before a key existed (here: train.log_every,
 * deleted from the file) is the same run when the key's default is what this run uses: `train`
 * keeps it; the same file with another value of that key is another configuration. */
static void test_config_from_before_a_key_is_the_same_run(void **state)
{
    (void)state;
    char results[300], path[700], final[700];
    snprintf(results, sizeof results, "%s", P("olderkey"));
    snprintf(path, sizeof path, "%s/tiny/softmax_seed3/config.yaml", results);
    snprintf(final, sizeof final, "%s/tiny/softmax_seed3/final.csv", results);
    assert_int_equal(shf("bin/normbench train " TINY " --results %s --quiet > /dev/null", results), 0);
    char *c = slurp(path);
    assert_non_null(c);
    assert_non_null(strstr(c, "log_every: 50"));
    free(c);
    assert_int_equal(shf("sed -i '/log_every:/d' %s", path), 0);
    char *before = slurp(final);
    assert_int_equal(shf("bin/normbench train " TINY " --results %s --quiet > /dev/null 2> %s", results,
                         P("olderkey.err")),
                     0);
    char *after = slurp(final);
    assert_string_equal(before, after); /* kept, not redone */
    free(after);
    /* a log_every other than the default: another configuration, refused */
    assert_int_equal(shf("bin/normbench train " TINY " --results %s --set train.log_every=7 --quiet > /dev/null 2> %s",
                         results, P("olderkey.err")),
                     1);
    char *e = slurp(P("olderkey.err"));
    assert_non_null(strstr(e, "different configuration"));
    free(e);
    free(before);
}

/* ---- a corrupt final.csv ----------------------------------------------------------------- */

static void test_corrupt_final(void **state)
{
    (void)state;
    char results[300];
    snprintf(results, sizeof results, "%s", P("corrupt"));
    assert_int_equal(shf("rm -rf %s && cp -r %s %s && rm -f %s/" NAME "/summary*.csv", results, P("ref"), results,
                         results),
                     0);
    /* cut short, emptied, a row with a cell too many, a status that is none */
    assert_int_equal(shf("cd %s/" NAME " && head -c 150 softmax_seed1/final.csv > t && mv t softmax_seed1/final.csv && "
                         ": > softmax_seed2/final.csv && sed -i '2s/$/,1/' normface_seed1/final.csv && "
                         "sed -i '2s/^complete/bogus/' normface_seed2/final.csv",
                         results),
                     0);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "bin/normbench collect " SWEEP " --results %s > /dev/null 2> %s", results,
             P("corrupt.err"));
    assert_int_equal(sh(cmd), 0);
    char *e = slurp(P("corrupt.err"));
    assert_non_null(e);
    printf("%s", e ? e : "");
    for (int i = 0; i < 4; i++) {
        char want[400];
        snprintf(want, sizeof want, "%s/" NAME "/%s/final.csv", results, run_ids[i]);
        if (!strstr(e, want))
            fail_msg("no warning names %s", want);
        snprintf(want, sizeof want, "run %s is listed as corrupt", run_ids[i]);
        assert_non_null(strstr(e, want));
    }
    free(e);
    char *s = slurp(P("corrupt/" NAME "/summary.csv"));
    assert_int_equal(count(s, ",corrupt"), 4);
    free(s);
    /* run redoes each of them, and ends with the serial summary */
    snprintf(cmd, sizeof cmd, "bin/normbench run " SWEEP " --results %s > /dev/null 2> %s", results, P("corrupt.err"));
    assert_int_equal(sh(cmd), 0);
    e = slurp(P("corrupt.err"));
    assert_int_equal(count(e, "is redone"), 4);
    free(e);
    assert_int_equal(check_consistent(results), 4);
    s = slurp(P("corrupt/" NAME "/summary.csv"));
    assert_string_equal(s, reference);
    free(s);
    /* one non-numeric cell: that run is corrupt; no column of summary_agg.csv disappears */
    assert_int_equal(shf("sed -i '2s/,10,/,ten,/' %s/" NAME "/softmax_seed2/final.csv", results), 0);
    snprintf(cmd, sizeof cmd, "bin/normbench collect " SWEEP " --results %s > /dev/null 2> %s", results,
             P("corrupt.err"));
    assert_int_equal(sh(cmd), 0);
    e = slurp(P("corrupt.err"));
    assert_non_null(strstr(e, "softmax_seed2/final.csv:2: column 'num_classes': expected a number, got 'ten'"));
    free(e);
    char *agg = slurp(P("corrupt/" NAME "/summary_agg.csv")), *ref = slurp(P("ref/" NAME "/summary_agg.csv"));
    assert_non_null(agg);
    assert_non_null(ref);
    assert_memory_equal(agg, ref, strcspn(ref, "\n") + 1); /* the same header */
    free(agg);
    free(ref);
}

/* ---- readers: regular files only, bounded; signals end any command ---------------------- */

/* cmd (run with a 20 s timeout: a reader that blocks would otherwise hang the suite) exits 1
 * within 5 s with an error containing want. */
static void refused_quickly(const char *cmd, const char *want)
{
    char full[2400];
    snprintf(full, sizeof full, "timeout 20 %s > /dev/null 2> %s", cmd, P("reader.err"));
    double t0 = now();
    int rc = sh(full);
    double dt = now() - t0;
    char *e = slurp(P("reader.err"));
    assert_non_null(e);
    printf("exit %d after %.2f s: %s", rc, dt, e ? e : "");
    assert_int_equal(rc, 1);
    assert_true(dt < 5);
    if (!strstr(e, want))
        fail_msg("expected '%s' in: %s", want, e);
    free(e);
}

static void test_readers_refuse_fifos_and_devices(void **state)
{
    (void)state;
    char fifo[300];
    snprintf(fifo, sizeof fifo, "%s", P("fifo"));
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0666), 0);
    char cmd[1400];
    /* a FIFO as the experiment file, for run and for train */
    snprintf(cmd, sizeof cmd, "bin/normbench run %s --results %s", fifo, P("rd"));
    refused_quickly(cmd, "it is a FIFO (named pipe); expected a regular file");
    snprintf(cmd, sizeof cmd, "bin/normbench train %s --results %s", fifo, P("rd"));
    refused_quickly(cmd, "it is a FIFO (named pipe); expected a regular file");
    /* a FIFO and a device as IDX files */
    assert_int_equal(shf("printf 'name: rd\ndata:\n  type: idx\n  train_images: %s\n  train_labels: %s\n"
                         "  test_images: %s\n  test_labels: %s\n' > %s",
                         fifo, fifo, fifo, fifo, P("rd_idx.yaml")),
                     0);
    snprintf(cmd, sizeof cmd, "bin/normbench train %s --results %s", P("rd_idx.yaml"), P("rd"));
    refused_quickly(cmd, "IDX file: it is a FIFO");
    idx_array a;
    nb_error err = {0};
    assert_int_equal(idx_read(&a, "/dev/zero", 100, &err), -1);
    assert_non_null(strstr(err.msg, "is a device"));
    /* pairs files: a FIFO and /dev/zero (which once took 4.2 GB before "empty pairs file") */
    lfw_options o;
    lfw_defaults(&o);
    const char *bad[2] = {fifo, "/dev/zero"}, *why[2] = {"is a FIFO", "is a device"};
    for (int i = 0; i < 2; i++) {
        dataset d;
        pair_list pl;
        err = (nb_error){0};
        double t0 = now();
        assert_int_equal(lfw_load_pairs(&d, &pl, base, bad[i], &o, &err), -1);
        assert_true(now() - t0 < 1);
        printf("%s: %s\n", bad[i], err.msg);
        assert_non_null(strstr(err.msg, why[i]));
        assert_string_equal(err.file, bad[i]);
        err = (nb_error){0};
        assert_int_equal(lfw_load_train(&d, base, bad[i], NULL, &o, &err), -1);
        assert_non_null(strstr(err.msg, why[i]));
    }
    /* a final.csv that is a symbolic link to /dev/zero: refused on read, the run redone */
    char results[300];
    snprintf(results, sizeof results, "%s", P("rdlink"));
    assert_int_equal(shf("rm -rf %s && cp -r %s %s && rm %s/" NAME "/softmax_seed1/final.csv && "
                         "ln -s /dev/zero %s/" NAME "/softmax_seed1/final.csv",
                         results, P("ref"), results, results, results),
                     0);
    snprintf(cmd, sizeof cmd, "timeout 30 bin/normbench run " SWEEP " --results %s > /dev/null 2> %s", results,
             P("reader.err"));
    assert_int_equal(sh(cmd), 0);
    char *e = slurp(P("reader.err"));
    assert_non_null(strstr(e, "softmax_seed1/final.csv: CSV file is a symbolic link: refusing to read results"));
    free(e);
    struct stat st;
    char path[600];
    snprintf(path, sizeof path, "%s/" NAME "/softmax_seed1/final.csv", results);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    char *s = slurp(P("rdlink/" NAME "/summary.csv"));
    assert_string_equal(s, reference);
    free(s);
    unlink(fifo);
}

/* SIGTERM during the final evaluation (10 million verification pairs, where no step checks for a
 * stop request) ends `train` within the grace period of 1 s, the run left incomplete. */
static void test_sigterm_ends_any_phase(void **state)
{
    (void)state;
    char results[300], err[300];
    snprintf(results, sizeof results, "%s", P("sig"));
    snprintf(err, sizeof err, "%s", P("sig.err"));
    pid_t pid = start(err, (const char *[]){"train", TINY, "--results", results, "--set", "eval.pairs=10000000",
                                            "--set", "data.train_subset=128", "--set", "data.test_subset=1000",
                                            "--set", "train.epochs=1", NULL});
    assert_true(wait_for(err, "evaluating", 120));
    usleep(200000);
    double t0 = now();
    kill(pid, SIGTERM);
    int rc = exit_status(pid);
    double dt = now() - t0;
    char *e = slurp(err);
    printf("exit %d %.2f s after SIGTERM: %s", rc, dt, e ? e : "");
    free(e);
    assert_int_equal(rc, 128 + SIGTERM);
    assert_true(dt < 1.6);
    char path[600];
    snprintf(path, sizeof path, "%s/tiny/softmax_seed3/final.csv", results);
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0);
}

/* ---- job scripts: quoted, or refused ---------------------------------------------------- */

/* execv of `normbench jobs` with argv; its stdout in out (of size), its exit status returned. */
static int jobs(const char *const *argv, char *out, size_t size)
{
    const char *o = P("jobs.out");
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(o, "w", stdout) || !freopen(P("jobs.err"), "w", stderr))
            _exit(126);
        const char *args[16] = {"normbench", "jobs"};
        int n = 2;
        for (int i = 0; argv[i] && n < 15; i++)
            args[n++] = argv[i];
        args[n] = NULL;
        execv(nb_bin(), (char *const *)args);
        _exit(127);
    }
    int rc = exit_status(pid);
    char *t = slurp(o);
    snprintf(out, size, "%s", t ? t : "");
    free(t);
    return rc;
}

static void test_job_scripts_cannot_inject(void **state)
{
    (void)state;
    static char out[1 << 14];
    /* an experiment path with a newline would put its second line outside the comment */
    char dir[300], file[400], results[300], nl_results[300], pct[300];
    snprintf(dir, sizeof dir, "%s/exp\necho INJECTED #", base);
    assert_int_equal(mkdir(dir, 0777), 0);
    snprintf(file, sizeof file, "%s/sweep.yaml", dir);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp " SWEEP " \"$(printf '%s/exp\\necho INJECTED #')/sweep.yaml\"", base);
    assert_int_equal(sh(cmd), 0);
    snprintf(results, sizeof results, "%s/jobs_results", base);
    snprintf(nl_results, sizeof nl_results, "%s/r\nx", base);
    snprintf(pct, sizeof pct, "%s/r%%A", base);
    const char *formats[2] = {"slurm", "parallel"};
    for (int f = 0; f < 2; f++) {
        assert_int_equal(jobs((const char *[]){file, "--format", formats[f], "--results", results, NULL}, out, sizeof out), 1);
        assert_string_equal(out, "");
        char *e = slurp(P("jobs.err"));
        assert_non_null(strstr(e, "the experiment file's path contains a control character (byte 0x0a"));
        free(e);
        assert_int_equal(jobs((const char *[]){SWEEP, "--format", formats[f], "--results", nl_results, NULL}, out, sizeof out), 1);
        e = slurp(P("jobs.err"));
        assert_non_null(strstr(e, "the --results folder contains a control character"));
        free(e);
    }
    /* '%' is sbatch's own pattern character in #SBATCH --output */
    assert_int_equal(jobs((const char *[]){SWEEP, "--format", "slurm", "--results", pct, NULL}, out, sizeof out), 1);
    /* a good script: the output folder exists before sbatch opens it, the path absolute */
    assert_int_equal(jobs((const char *[]){SWEEP, "--format", "slurm", "--results", results, NULL}, out, sizeof out), 0);
    char want[600];
    snprintf(want, sizeof want, "#SBATCH --output=%s/" NAME "/slurm-%%A_%%a.out\n", results);
    if (!strstr(out, want))
        fail_msg("expected '%s' in:\n%s", want, out);
    snprintf(cmd, sizeof cmd, "test -d %s/" NAME, results);
    assert_int_equal(sh(cmd), 0);
    snprintf(cmd, sizeof cmd, "bash -n %s", P("jobs.out"));
    assert_int_equal(sh(cmd), 0);
}

/* ---- GNU parallel: two invocations on one results folder --------------------------------- */

/* Two `parallel --sshloginfile` (the file naming ":", the local machine, as a cluster's file
 * names its nodes) of the same job list, started together on one results folder: both succeed,
 * each run is trained once (the other invocation waits for its lock and finds it complete), and
 * `collect` gives the serial summary. */
static void test_two_parallels_share_a_folder(void **state)
{
    (void)state;
    if (sh("parallel --version > /dev/null 2>&1") != 0) {
        printf("GNU parallel is not installed (Debian package 'parallel'): skipped\n");
        skip();
    }
    char results[300];
    snprintf(results, sizeof results, "%s", P("par"));
    assert_int_equal(shf("rm -rf %s && printf ':\\n' > %s && bin/normbench jobs " SWEEP
                         " --format parallel --results %s > %s",
                         results, P("sshlogins"), results, P("par_jobs.txt")),
                     0);
    char cmd[1400];
    snprintf(cmd, sizeof cmd,
             "parallel --will-cite -j 2 --sshloginfile %s < %s 2> %s & pa=$!; "
             "parallel --will-cite -j 2 --sshloginfile %s < %s 2> %s & pb=$!; "
             "wait $pa; a=$?; wait $pb; b=$?; test $a -eq 0 && test $b -eq 0",
             P("sshlogins"), P("par_jobs.txt"), P("par_a.err"), P("sshlogins"), P("par_jobs.txt"), P("par_b.err"));
    int rc = shf("bash -c '%s'", cmd);
    char *ea = slurp(P("par_a.err")), *eb = slurp(P("par_b.err"));
    printf("parallel A: %sparallel B: %s", ea ? ea : "", eb ? eb : "");
    assert_int_equal(rc, 0);
    /* each run was trained by one of them: the other said so and waited */
    int waited = count(ea, "is being trained by pid") + count(eb, "is being trained by pid");
    printf("%d of the 8 run commands found their run being trained by the other invocation\n", waited);
    free(ea);
    free(eb);
    assert_int_equal(check_consistent(results), 4);
    assert_int_equal(shf("bin/normbench collect " SWEEP " --results %s > /dev/null", results), 0);
    char *s = slurp(P("par/" NAME "/summary.csv"));
    assert_non_null(s);
    assert_string_equal(s, reference);
    free(s);
}

/* ---- messages that name what is wrong ---------------------------------------------------- */

/* A damaged config.yaml is not "a different configuration"; a seed of " -1" does not wrap to
 * 2^64 − 1; a value too long names the limit; a label far above the others (255 in a 10-class
 * file) is warned about with the counts instead of silently sizing a 256-class head. */
static void test_messages_name_the_problem(void **state)
{
    (void)state;
    char results[300], cmd[1400];
    snprintf(results, sizeof results, "%s", P("msg"));
    assert_int_equal(shf("rm -rf %s && cp -r %s %s && printf 'not: [yaml\\n' > %s/" NAME "/softmax_seed1/config.yaml",
                         results, P("ref"), results, results),
                     0);
    snprintf(cmd, sizeof cmd, "bin/normbench run " SWEEP " --only softmax_seed1 --results %s > /dev/null 2> %s",
             results, P("msg.err"));
    assert_int_equal(sh(cmd), 1);
    char *e = slurp(P("msg.err"));
    printf("%s", e ? e : "");
    assert_non_null(strstr(e, "softmax_seed1: the folder holds a config.yaml that is not a configuration"));
    free(e);
    const char *sets[2][2] = {{"seed= -1", "seed: expected a non-negative integer, got ' -1'"},
                              {"run_id=", "run_id: value too long (200 bytes; at most 127)"}};
    for (int i = 0; i < 2; i++) {
        char set[300];
        snprintf(set, sizeof set, "%s", sets[i][0]);
        if (i == 1) {
            size_t n = strlen(set);
            memset(set + n, 'r', 200);
            set[n + 200] = '\0';
        }
        snprintf(cmd, sizeof cmd, "bin/normbench train " TINY " --results %s --set '%s' > /dev/null 2> %s", results,
                 set, P("msg.err"));
        assert_int_equal(sh(cmd), 1);
        e = slurp(P("msg.err"));
        printf("%s", e ? e : "");
        if (!strstr(e, sets[i][1]))
            fail_msg("expected '%s' in: %s", sets[i][1], e);
        free(e);
    }
    /* labels 0..9 and one 255 (sample 5): an IDX label file for the Fashion-MNIST images */
    FILE *f = fopen(P("labels.idx"), "wb");
    assert_non_null(f);
    const unsigned char head[8] = {0, 0, 8, 1, 0, 0, 0xea, 0x60}; /* 60,000 labels */
    fwrite(head, 1, 8, f);
    for (int i = 0; i < 60000; i++)
        fputc(i == 5 ? 255 : i % 10, f);
    fclose(f);
    assert_int_equal(shf("printf 'name: lbl\\nseed: 1\\ndata:\\n  type: idx\\n"
                         "  train_images: /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz\\n"
                         "  train_labels: %s\\n"
                         "  test_images: /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz\\n"
                         "  test_labels: /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz\\n"
                         "  train_subset: 64\\n  test_subset: 32\\nmodel:\\n  backbone: convnet-small\\n"
                         "  feature_dim: 8\\n  width: 4\\ntrain:\\n  epochs: 1\\n  batch_size: 32\\n"
                         "eval:\\n  pairs: 100\\n' > %s",
                         P("labels.idx"), P("lbl.yaml")),
                     0);
    snprintf(cmd, sizeof cmd, "bin/normbench train %s --results %s --quiet > /dev/null 2> %s", P("lbl.yaml"), results,
             P("msg.err"));
    sh(cmd);
    e = slurp(P("msg.err"));
    printf("%s", e ? e : "");
    assert_non_null(strstr(e, "the training labels run to 255, so the classifier has 256 classes, but only 11 of "
                              "them have samples (label 255: 1 sample)"));
    free(e);
}

/* ---- CMYK JPEGs -------------------------------------------------------------------------- */

/* An 8×8 JPEG of a smooth colour pattern at quality 100, written as RGB or (with the inks
 * inverted, as Adobe's CMYK JPEGs store them: C = R, M = G, Y = B, K = 255 for no black) as
 * CMYK. */
static void write_pattern(const char *path, int cmyk)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = ci.image_height = 8;
    ci.input_components = cmyk ? 4 : 3;
    ci.in_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 100, TRUE);
    for (int c = 0; c < ci.num_components; c++) /* no chroma subsampling: the two agree closely */
        ci.comp_info[c].h_samp_factor = ci.comp_info[c].v_samp_factor = 1;
    jpeg_start_compress(&ci, TRUE);
    unsigned char row[32];
    while (ci.next_scanline < 8) {
        int y = (int)ci.next_scanline;
        for (int x = 0; x < 8; x++) {
            unsigned char rgb[3] = {(unsigned char)(40 + 20 * x), (unsigned char)(200 - 15 * y),
                                    (unsigned char)(60 + 10 * (x + y))};
            for (int c = 0; c < 3; c++)
                row[x * ci.input_components + c] = rgb[c];
            if (cmyk)
                row[x * 4 + 3] = 255;
        }
        JSAMPROW r = row;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    fclose(f);
}

/* A CMYK JPEG (a valid file, as some LFW-style sets hold) is converted, not refused: it reads as
 * the RGB image it shows, in colour and in gray. */
static void test_cmyk_jpeg_converted(void **state)
{
    (void)state;
    char rgb_path[300], cmyk_path[300];
    snprintf(rgb_path, sizeof rgb_path, "%s", P("rgb.jpg"));
    snprintf(cmyk_path, sizeof cmyk_path, "%s", P("cmyk.jpg"));
    write_pattern(rgb_path, 0);
    write_pattern(cmyk_path, 1);
    for (int channels = 3; channels >= 1; channels -= 2) {
        lfw_options o;
        lfw_defaults(&o);
        o.crop_w = o.crop_h = 0;
        o.width = o.height = 8;
        o.channels = channels;
        float a[3 * 64], b[3 * 64];
        nb_error err = {0};
        if (lfw_read_image(a, rgb_path, &o, &err) || lfw_read_image(b, cmyk_path, &o, &err))
            fail_msg("%s: %s", err.file, err.msg);
        double worst = 0;
        for (int i = 0; i < channels * 64; i++)
            if (fabs((double)a[i] - b[i]) > worst)
                worst = fabs((double)a[i] - b[i]);
        printf("CMYK vs RGB, %d channel(s): largest difference %.4f\n", channels, worst);
        assert_true(worst < 0.02); /* two lossy encodings of one image */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edit_during_sweep),
        cmocka_unit_test(test_second_train_refused),
        cmocka_unit_test(test_killed_owner_recovered),
        cmocka_unit_test(test_concurrent_sweeps),
        cmocka_unit_test(test_long_path_refused),
        cmocka_unit_test(test_long_path_library),
        cmocka_unit_test(test_train_refuses_a_changed_run),
        cmocka_unit_test(test_config_from_before_a_key_is_the_same_run),
        cmocka_unit_test(test_corrupt_final),
        cmocka_unit_test(test_readers_refuse_fifos_and_devices),
        cmocka_unit_test(test_sigterm_ends_any_phase),
        cmocka_unit_test(test_job_scripts_cannot_inject),
        cmocka_unit_test(test_two_parallels_share_a_folder),
        cmocka_unit_test(test_messages_name_the_problem),
        cmocka_unit_test(test_cmyk_jpeg_converted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
