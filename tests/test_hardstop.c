/* test_hardstop.c — nothing is lost when a sweep is stopped the hard way:
 *  - SIGKILL at random moments (20 trials, each killed once during a fresh sweep and once more
 *    during its resume, at delays drawn over the sweep's own duration): after every kill, every
 *    run that has a final.csv has all its files parse; runs complete before a kill stay complete
 *    and byte-identical; the rerun's summary.csv equals the uninterrupted reference;
 *  - a full disk (a small tmpfs; where mounting is not permitted, a file-size limit with SIGXFSZ
 *    ignored) stops the sweep with an error naming the file and "No space left on device" (or
 *    "File too large"); earlier results stay intact and valid; the rerun after space is freed
 *    completes with the reference summary;
 *  - SIGINT / SIGTERM: the sweep forwards the signal to its run processes, leaves the runs in
 *    progress incomplete (run.yaml "interrupted", no final.csv), writes a summary consistent with
 *    the folders, leaves no process behind and exits 128 + signal with a message; a rerun
 *    completes. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <yaml.h>

#include "config/config.h"
#include "core/rng.h"
#include "io/csvread.h"
#include "nb_bin.h"
#include "test_util.h"

#define KILL "tests/fixtures/hardstop/kill_sweep.yaml"
#define SLOW "tests/fixtures/hardstop/slow_sweep.yaml"
#define TRIALS 20

/* This process's scratch folder (mkdtemp), so that concurrent runs of the suite do not meet. */
static char base[64];

/* base/name, in one of 8 rotating buffers. */
static const char *P(const char *name) { return path_in(base, name); }

static int shf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int shf(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return sh(cmd);
}

/* Starts `normbench run` in its own process group (pid = pgid), stderr to errfile. */
static pid_t start_sweep(const char *file, const char *results, const char *errfile)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        if (errfile && !freopen(errfile, "w", stderr))
            _exit(126);
        execl(nb_bin(), "normbench", "run", file, "-j", "2", "--quiet", "--results", results, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

/* ---- checking a results folder ---------------------------------------------------------- */

static int parses_as_yaml(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    yaml_parser_t p;
    yaml_document_t doc;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    int ok = yaml_parser_load(&p, &doc);
    if (ok) {
        ok = yaml_document_get_root_node(&doc) != NULL;
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return ok;
}

/* Every complete run (final.csv present) of results/<name>: every .csv parses, metrics.csv has
 * one row per configured epoch, config.yaml loads, run.yaml parses and says complete/diverged.
 * Incomplete runs: whatever exists parses too (files are replaced atomically). No run folder
 * holds a half-written file. Returns the number of complete runs; their final.csv texts go to
 * finals[] (ids[] names them), at most 16. */
static int check_results(const char *results, const char *name, char ids[][128], char **finals)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", results, name);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int complete = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char run[800], path[1100];
        snprintf(run, sizeof run, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(run, &st) || !S_ISDIR(st.st_mode))
            continue;
        snprintf(path, sizeof path, "%s/final.csv", run);
        int is_complete = stat(path, &st) == 0;
        DIR *rd = opendir(run);
        assert_non_null(rd);
        struct dirent *f;
        while ((f = readdir(rd))) {
            size_t len = strlen(f->d_name);
            snprintf(path, sizeof path, "%s/%s", run, f->d_name);
            if (strstr(f->d_name, ".tmp.")) /* a temporary of a killed process: never read */
                continue;
            if (len > 4 && !strcmp(f->d_name + len - 4, ".csv")) {
                csvread_table t;
                nb_error err;
                if (csvread_load(&t, path, &err))
                    fail_msg("%s does not parse: %s (line %d)", path, err.msg, err.line);
                csvread_free(&t);
            }
        }
        closedir(rd);
        snprintf(path, sizeof path, "%s/run.yaml", run);
        if (stat(path, &st) == 0 && !parses_as_yaml(path))
            fail_msg("%s does not parse", path);
        snprintf(path, sizeof path, "%s/config.yaml", run);
        nb_config cfg;
        nb_error err;
        int have_cfg = stat(path, &st) == 0;
        if (have_cfg && config_load(&cfg, path, &err))
            fail_msg("%s does not load: %s", path, err.msg);
        if (!is_complete)
            continue;
        assert_true(have_cfg);
        snprintf(path, sizeof path, "%s/run.yaml", run);
        char *ry = slurp(path);
        assert_non_null(ry);
        assert_true(strstr(ry, "status: \"complete\"") || strstr(ry, "status: \"diverged\""));
        free(ry);
        snprintf(path, sizeof path, "%s/metrics.csv", run);
        csvread_table t;
        assert_int_equal(csvread_load(&t, path, &err), 0);
        assert_int_equal(t.nrows, cfg.train.epochs);
        csvread_free(&t);
        if (finals && complete < 16) {
            snprintf(path, sizeof path, "%s/final.csv", run);
            snprintf(ids[complete], 128, "%.127s", e->d_name);
            finals[complete] = slurp(path);
        }
        complete++;
    }
    closedir(d);
    return complete;
}

/* The runs of (ids, finals) are still complete in results/<name> with the same final.csv. */
static int lost_runs(const char *results, const char *name, char ids[][128], char **finals, int n)
{
    int lost = 0;
    for (int i = 0; i < n && i < 16; i++) {
        char path[800];
        snprintf(path, sizeof path, "%s/%s/%s/final.csv", results, name, ids[i]);
        char *now_text = slurp(path);
        if (!now_text || strcmp(now_text, finals[i])) {
            printf("LOST: %s\n", path);
            lost++;
        }
        free(now_text);
    }
    return lost;
}

static void free_finals(char **finals, int n)
{
    for (int i = 0; i < n && i < 16; i++)
        free(finals[i]);
}

static char *reference;
static double ref_seconds;
static int mounted; /* the tmpfs of test_disk_full */

static int setup(void **state)
{
    (void)state;
    double t0 = now();
    if (shf("rm -rf %s && bin/normbench run " KILL " -j 2 --quiet --results %s", P("ref"), P("ref")))
        return -1;
    ref_seconds = now() - t0;
    reference = slurp(P("ref/kill_sweep/summary.csv"));
    return reference ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(reference);
    if (mounted)
        umount(P("full"));
    mounted = 0;
    return remove_tree(base);
}

/* Kills the sweep's whole process group after delay seconds; returns 0 when it ended first. */
static int kill_after(pid_t pid, double delay)
{
    double t0 = now();
    int status;
    while (now() - t0 < delay) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return 0; /* finished before the kill */
        usleep(2000);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, &status, 0);
    return 1;
}

static void test_sigkill_at_random_points(void **state)
{
    (void)state;
    rng_t r;
    const char *seed_env = getenv("NB_KILL_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : 20261129;
    rng_seed(&r, seed);
    printf("uninterrupted sweep: %.2f s; kill delays drawn in [0, %.2f] s, and [0, %.2f] s for the resume (seed %llu)\n",
           ref_seconds, ref_seconds, 0.7 * ref_seconds, (unsigned long long)seed);
    int kills = 0, hits = 0, lost = 0, complete_at_kill = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        assert_int_equal(shf("rm -rf %s", P("kill")), 0);
        char ids[16][128];
        char *finals[16] = {0};
        int n_complete = 0;
        double delays[2];
        for (int k = 0; k < 2; k++) { /* a kill during the fresh sweep, one during its resume */
            delays[k] = (k ? 0.7 : 1.0) * ref_seconds * rng_uniform(&r);
            pid_t pid = start_sweep(KILL, P("kill"), "/dev/null");
            hits += kill_after(pid, delays[k]);
            kills++;
            char ids2[16][128];
            char *finals2[16] = {0};
            int n2 = check_results(P("kill"), "kill_sweep", ids2, finals2);
            int l = lost_runs(P("kill"), "kill_sweep", ids, finals, n_complete);
            lost += l;
            assert_true(n2 >= n_complete - l);
            free_finals(finals, n_complete);
            memcpy(ids, ids2, sizeof ids);
            memcpy(finals, finals2, sizeof finals);
            n_complete = n2;
            complete_at_kill += n2;
        }
        assert_int_equal(shf("bin/normbench run " KILL " -j 2 --quiet --results %s", P("kill")), 0);
        int l = lost_runs(P("kill"), "kill_sweep", ids, finals, n_complete);
        lost += l;
        assert_int_equal(check_results(P("kill"), "kill_sweep", ids, NULL), 4);
        char *s = slurp(P("kill/kill_sweep/summary.csv"));
        assert_non_null(s);
        assert_string_equal(reference, s);
        free(s);
        printf("trial %2d: killed at %.2f s and %.2f s, %d run(s) complete after the second kill, %d lost\n", trial + 1,
               delays[0], delays[1], n_complete, l);
        free_finals(finals, n_complete);
    }
    printf("SIGKILL: %d kills in %d trials (%d hit a running sweep), %d complete runs checked after the kills, "
           "results lost: %d\n", kills, TRIALS, hits, complete_at_kill, lost);
    assert_int_equal(lost, 0);
}

/* ---- a full disk ------------------------------------------------------------------------ */

/* A small tmpfs at dir, or 0 when mounting is not permitted here (or NB_NO_MOUNT is set, to
 * exercise the fallback). */
static int mount_small(const char *dir, const char *size)
{
    mkdir(dir, 0777);
    if (getenv("NB_NO_MOUNT"))
        return 0;
    char opt[64];
    snprintf(opt, sizeof opt, "size=%s", size);
    return mount("tmpfs", dir, "tmpfs", 0, opt) == 0;
}

/* Runs the sweep with results in dir under condition `prefix` (a shell prefix such as a ulimit);
 * expects failure with an error naming a file in dir and the reason. */
static void expect_write_failure(const char *prefix, const char *dir, const char *reason)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "%s bin/normbench run " KILL " -j 1 --quiet --results %s > /dev/null 2> %s", prefix, dir, P("err.txt"));
    int rc = sh(cmd);
    char *e = slurp(P("err.txt"));
    printf("exit %d: %s", rc, e);
    assert_true(rc == 1);
    assert_non_null(strstr(e, reason));
    char where[600];
    snprintf(where, sizeof where, "normbench: %s/kill_sweep", dir);
    assert_non_null(strstr(e, where));
    assert_null(strstr(e, "AddressSanitizer"));
    free(e);
}

static void test_disk_full(void **state)
{
    (void)state;
    char dir[256];
    snprintf(dir, sizeof dir, "%s", P("full"));
    mounted = mount_small(dir, "2m");
    const char *reason = "No space left on device";
    char prefix_some[700], prefix_all[700];
    if (mounted) {
        printf("disk full: a 2 MiB tmpfs at %s\n", dir);
        /* fill the disk, then free 24 KiB: a run starts and fails part-way */
        snprintf(prefix_some, sizeof prefix_some,
                 "dd if=/dev/zero of=%s/filler bs=4k 2> /dev/null; truncate -s -24K %s/filler;", dir, dir);
        snprintf(prefix_all, sizeof prefix_all, "dd if=/dev/zero of=%s/filler bs=4k 2> /dev/null;", dir);
    } else {
        /* no mount here: files larger than 4 KiB fail with EFBIG (SIGXFSZ ignored) */
        printf("disk full: mount not permitted; a 4 KiB file size limit instead\n");
        mkdir(dir, 0777);
        snprintf(prefix_some, sizeof prefix_some, "trap '' XFSZ; ulimit -f 4;");
        snprintf(prefix_all, sizeof prefix_all, "trap '' XFSZ; ulimit -f 1;"); /* stderr still fits */
        reason = "File too large";
    }
    /* two runs complete first */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "bin/normbench run " KILL " --only 'softmax_*' --quiet --results %s", dir);
    assert_int_equal(sh(cmd), 0);
    char ids[16][128], ids2[16][128];
    char *finals[16] = {0}, *finals2[16] = {0};
    int n = check_results(dir, "kill_sweep", ids, finals);
    assert_int_equal(n, 2);
    char path[600];
    snprintf(path, sizeof path, "%s/kill_sweep/summary.csv", dir);
    char *summary_before = slurp(path);
    assert_non_null(summary_before);
    /* disk full part-way through the next run, then with no space at all */
    expect_write_failure(prefix_some, dir, reason);
    assert_int_equal(lost_runs(dir, "kill_sweep", ids, finals, n), 0);
    int n2 = check_results(dir, "kill_sweep", ids2, finals2);
    free_finals(finals2, n2);
    expect_write_failure(prefix_all, dir, reason);
    assert_int_equal(lost_runs(dir, "kill_sweep", ids, finals, n), 0);
    n2 = check_results(dir, "kill_sweep", ids2, finals2);
    free_finals(finals2, n2);
    /* the summary is the old one or a newer complete one, never a partial file */
    char *summary_now = slurp(path);
    csvread_table t;
    nb_error err;
    assert_int_equal(csvread_load(&t, path, &err), 0);
    assert_int_equal(t.nrows, 4);
    csvread_free(&t);
    printf("summary.csv %s the full disk\n", strcmp(summary_before, summary_now) ? "rewritten (it fitted) on" : "unchanged by");
    free(summary_now);
    free(summary_before);
    /* space freed: the rerun completes and matches the uninterrupted reference */
    snprintf(cmd, sizeof cmd, "rm -f %s/filler && bin/normbench run " KILL " -j 2 --quiet --results %s", dir, dir);
    assert_int_equal(sh(cmd), 0);
    assert_int_equal(lost_runs(dir, "kill_sweep", ids, finals, n), 0);
    assert_int_equal(check_results(dir, "kill_sweep", ids2, NULL), 4);
    char *s = slurp(path);
    assert_string_equal(reference, s);
    free(s);
    free_finals(finals, n);
    if (mounted)
        assert_int_equal(umount(dir), 0);
    mounted = 0;
    assert_int_equal(shf("rm -rf %s", dir), 0);
}

/* ---- SIGINT / SIGTERM ------------------------------------------------------------------- */

/* Waits (up to 60 s) until some run of results/slow_sweep has finished an epoch. */
static void wait_for_training(const char *results)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/slow_sweep/*/metrics.csv > /dev/null 2>&1", results);
    double t0 = now();
    while (now() - t0 < 60) {
        if (system(cmd) == 0)
            return;
        usleep(20000);
    }
    fail_msg("no run started training within 60 s");
}

static void check_stopped_sweep(const char *results, int sig)
{
    char path[600];
    snprintf(path, sizeof path, "%s/slow_sweep/summary.csv", results);
    csvread_table t;
    nb_error err;
    if (csvread_load(&t, path, &err))
        fail_msg("%s: %s", path, err.msg);
    assert_int_equal(t.nrows, 4);
    int js = csvread_col(&t, "status"), ji = csvread_col(&t, "run_id"), incomplete = 0;
    for (int r = 0; r < t.nrows; r++) {
        const char *st = t.rows[r][js];
        char fin[800], ry[800];
        snprintf(fin, sizeof fin, "%s/slow_sweep/%s/final.csv", results, t.rows[r][ji]);
        snprintf(ry, sizeof ry, "%s/slow_sweep/%s/run.yaml", results, t.rows[r][ji]);
        struct stat sb;
        int has_final = stat(fin, &sb) == 0;
        printf("  %s: %s\n", t.rows[r][ji], st);
        if (!strcmp(st, "complete") || !strcmp(st, "diverged")) {
            assert_true(has_final);
        } else {
            assert_false(has_final);
            assert_true(!strcmp(st, "incomplete") || !strcmp(st, "pending"));
            if (!strcmp(st, "incomplete")) {
                char *y = slurp(ry);
                assert_non_null(y);
                assert_non_null(strstr(y, "status: \"interrupted\""));
                free(y);
                incomplete++;
            }
        }
    }
    csvread_free(&t);
    assert_true(incomplete >= 1);
    char *e = slurp(P("err.txt"));
    char want[128];
    snprintf(want, sizeof want, "slow_sweep: interrupted by signal %d (%s)", sig, strsignal(sig));
    assert_non_null(strstr(e, want));
    assert_non_null(strstr(e, "rerun to resume"));
    free(e);
}

static void interrupt_sweep(int sig)
{
    char res[256];
    snprintf(res, sizeof res, "%s", P("sig"));
    assert_int_equal(shf("rm -rf %s", res), 0);
    pid_t pid = start_sweep(SLOW, res, P("err.txt"));
    wait_for_training(res);
    double t0 = now();
    kill(pid, sig); /* the parent only: it must forward the signal to its run processes */
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    printf("%s: stopped %.2f s after the signal\n", strsignal(sig), now() - t0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 128 + sig);
    /* no run process is left in the sweep's process group */
    assert_int_equal(kill(-pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    check_stopped_sweep(res, sig);
    /* a rerun finishes the sweep */
    assert_int_equal(shf("bin/normbench run " SLOW " -j 2 --quiet --results %s", res), 0);
    assert_int_equal(check_results(res, "slow_sweep", NULL, NULL), 4);
}

static void test_sigint_stops_sweep(void **state)
{
    (void)state;
    interrupt_sweep(SIGINT);
}

static void test_sigterm_stops_sweep(void **state)
{
    (void)state;
    interrupt_sweep(SIGTERM);
}

static void test_sigterm_stops_train(void **state)
{
    (void)state;
    char res[256], err_path[256], metrics[300], path[300];
    snprintf(res, sizeof res, "%s", P("train_sig"));
    snprintf(err_path, sizeof err_path, "%s", P("err.txt"));
    assert_int_equal(shf("rm -rf %s", res), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(err_path, "w", stderr))
            _exit(126);
        execl(nb_bin(), "normbench", "train", "tests/fixtures/tiny_train.yaml", "--quiet", "--results", res,
              "--set", "train.epochs=50", "--threads", "1", (char *)NULL);
        _exit(127);
    }
    snprintf(metrics, sizeof metrics, "%s/tiny/softmax_seed3/metrics.csv", res);
    double t0 = now();
    struct stat st;
    while (stat(metrics, &st) != 0 && now() - t0 < 60)
        usleep(20000);
    kill(pid, SIGTERM);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 128 + SIGTERM);
    char *e = slurp(err_path);
    printf("%s", e);
    assert_non_null(strstr(e, "interrupted by signal 15 (Terminated) at step "));
    free(e);
    snprintf(path, sizeof path, "%s/tiny/softmax_seed3/final.csv", res);
    assert_true(stat(path, &st) != 0);
    snprintf(path, sizeof path, "%s/tiny/softmax_seed3/run.yaml", res);
    char *y = slurp(path);
    assert_non_null(strstr(y, "status: \"interrupted\""));
    free(y);
    csvread_table t;
    nb_error err;
    assert_int_equal(csvread_load(&t, metrics, &err), 0);
    assert_true(t.nrows >= 1 && t.nrows < 50);
    csvread_free(&t);
}

int main(void)
{
    if (make_tmpdir(base, sizeof base, "/tmp/nb_hs.XXXXXX"))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_at_random_points),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_sigint_stops_sweep),
        cmocka_unit_test(test_sigterm_stops_sweep),
        cmocka_unit_test(test_sigterm_stops_train),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    return rc;
}
