/* cmd_run.c — `normbench run EXPERIMENT.yaml`: every run of an experiment's sweep, resumable.
 *
 * Runs already complete (their final.csv exists) are skipped; incomplete ones are redone from
 * the start. Each run is a separate process (this program with --index), so a crash or a kill
 * loses at most the runs in progress, and -j N keeps N of them going at once, each with
 * cores/N threads unless --threads or the config says otherwise. A run whose folder holds a
 * different resolved configuration is refused unless --force. At the end summary.csv and
 * summary_agg.csv are written from the run folders. */
#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "io/csvread.h"
#include "core/error.h"
#include "report/summary.h"
#include "config/runrecord.h"
#include "config/sweep.h"
#include "train/train.h"

extern char **environ;

/* SIGINT/SIGTERM: the sweep stops cleanly. The handler only records the signal (and asks a
 * training in this process to stop); the main loop forwards it to the run processes, starts no
 * new run, waits for the running ones to leave their runs incomplete, writes the summary and
 * exits with 128 + the signal. A second signal kills the run processes outright. */
static volatile sig_atomic_t got_signal, n_signals;

static void on_stop_signal(int sig)
{
    got_signal = sig;
    n_signals++;
    train_request_stop(sig);
}

void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Does the run folder hold a config.yaml different from cfg's resolved configuration? */
static int config_changed(const char *dir, const nb_config *cfg)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char *old = NULL, *now = NULL;
    size_t n_old = 0, n_now = 0;
    FILE *m = open_memstream(&old, &n_old);
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, k, m);
    fclose(f);
    fclose(m);
    m = open_memstream(&now, &n_now);
    config_write(cfg, m);
    fclose(m);
    int changed = n_old != n_now || memcmp(old, now, n_old) != 0;
    free(old);
    free(now);
    return changed;
}

static int run_state_of(const char *results, const experiment *x, int r, int force, int *changed)
{
    char dir[1100];
    run_dir(dir, sizeof dir, results, x, r);
    run_state s = runfolder_state(dir);
    *changed = s != RUN_ABSENT && config_changed(dir, &x->runs[r].cfg);
    if (*changed && force)
        return RUN_ABSENT;
    return (int)s;
}

/* Does id match one of the comma-separated shell patterns? */
static int matches_any(const char *patterns, const char *id)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", patterns);
    char *save = NULL;
    for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
        if (fnmatch(p, id, 0) == 0)
            return 1;
    return 0;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Epochs finished by a running run: data rows of its metrics.csv. */
static int epochs_done(const char *results, const experiment *x, int r)
{
    char dir[1100], path[1200];
    run_dir(dir, sizeof dir, results, x, r);
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    int lines = 0, c;
    while ((c = fgetc(f)) != EOF)
        lines += c == '\n';
    fclose(f);
    return lines > 0 ? lines - 1 : 0;
}

static void format_eta(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, n, "?");
    else if (s >= 3600)
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

/* Prints the headline columns of summary.csv as an aligned table on stdout, with each run's wall
 * time and thread count from its run.yaml. */
static void print_summary(const experiment *x, const char *results)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/summary.csv", results, x->name);
    csvread_table t;
    nb_error err;
    if (csvread_load(&t, path, &err))
        return;
    const char *cols[] = {"run_id", "status", "test_acc", "verify_acc", "verify_acc_sd", "auc", "eer", "rank1"};
    int idx[8], n = 0;
    for (int i = 0; i < 8; i++)
        if ((idx[n] = csvread_col(&t, cols[i])) >= 0)
            n++;
    int width = 6;
    for (int r = 0; r < t.nrows; r++)
        if ((int)strlen(t.rows[r][0]) > width)
            width = (int)strlen(t.rows[r][0]);
    printf("\n%-*s", width, t.header[idx[0]]);
    for (int i = 1; i < n; i++)
        printf("  %13s", t.header[idx[i]]);
    printf("  %8s  %7s\n", "minutes", "threads");
    for (int r = 0; r < t.nrows; r++) {
        printf("%-*s", width, t.rows[r][idx[0]]);
        for (int i = 1; i < n; i++) {
            const char *v = t.rows[r][idx[i]];
            char *end;
            double d = strtod(v, &end);
            if (v[0] && !*end)
                printf("  %13.4f", d);
            else
                printf("  %13s", v[0] ? v : "-");
        }
        /* wall time and threads of the run, from its run.yaml (not in summary.csv, which stays
         * byte-identical between reruns) */
        char dir[1400];
        double wall;
        int threads;
        snprintf(dir, sizeof dir, "%s/%s/%s", results, x->name, t.rows[r][idx[0]]);
        if (run_record_read(dir, &wall, &threads) == 0)
            printf("  %8.1f  %7d", wall / 60, threads);
        else
            printf("  %8s  %7s", "-", "-");
        printf("\n");
    }
    printf("\n");
    csvread_free(&t);
}

/* Runs one run in this process (--index). */
static int run_one(const experiment *x, int r, const char *results, int threads, int force, int quiet)
{
    int changed;
    int s = run_state_of(results, x, r, force, &changed);
    char dir[1100];
    run_dir(dir, sizeof dir, results, x, r);
    if (changed && !force) {
        fprintf(stderr,
                "normbench: %s: the folder holds a run with a different configuration; "
                "use --force to redo it with the new one\n",
                dir);
        return 1;
    }
    if (s == RUN_COMPLETE) {
        if (!quiet)
            fprintf(stderr, "%s: already complete\n", x->runs[r].id);
        return 0;
    }
    const nb_config *cfg = &x->runs[r].cfg;
    train_options opt = {.results_root = results,
                         .threads = threads ? threads : cfg->threads ? cfg->threads : default_threads(),
                         .progress_tty = isatty(STDERR_FILENO),
                         .quiet = quiet};
    train_result res;
    nb_error err = {0};
    if (train_run(cfg, &opt, &res, &err)) {
        nb_error_print(&err, stderr);
        return res.interrupted ? 128 + res.interrupted : 1;
    }
    return 0;
}

static void run_usage(FILE *f)
{
    fprintf(f, "usage: normbench run EXPERIMENT.yaml [-j N] [--threads N] [--results DIR] [--only PATTERN]\n"
               "                     [--dry-run] [--force] [--index I] [--quiet]\n"
               "  -j N            N runs at once, as separate processes (default 1)\n"
               "  --threads N     threads per run (default: the config's 'threads', else cores / N)\n"
               "  --results DIR   results root (default: results)\n"
               "  --only PATTERN  only runs whose id matches the shell pattern, e.g. 'arcface_*' (several: comma-separated)\n"
               "  --dry-run       list the runs and their state, run nothing\n"
               "  --force         redo runs whose folder holds a different configuration\n"
               "  --index I       run only run I (0-based, as listed by --dry-run); for GNU parallel / Slurm\n"
               "  --quiet         no progress output\n");
}

int cmd_run(int argc, char **argv)
{
    const char *file = NULL, *results = "results", *only = NULL;
    int jobs = 1, threads = 0, dry = 0, force = 0, index = -1, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            run_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-j")) {
            if (parse_positive_int("-j", v, &jobs))
                return 2;
            i++;
        } else if (!strcmp(a, "--threads")) {
            if (parse_positive_int("--threads", v, &threads))
                return 2;
            i++;
        } else if (!strcmp(a, "--index")) {
            if (parse_nonneg_int("--index", v, &index))
                return 2;
            i++;
        } else if (!strcmp(a, "--results") || !strcmp(a, "--only")) {
            if (!v) {
                fprintf(stderr, "normbench: %s needs a value\n", a);
                return 2;
            }
            *(a[2] == 'r' ? &results : &only) = v;
            i++;
        } else if (!strcmp(a, "--dry-run")) {
            dry = 1;
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' || file) {
            fprintf(stderr, "normbench: run: unexpected argument '%s'\n", a);
            run_usage(stderr);
            return 2;
        } else {
            file = a;
        }
    }
    if (!file) {
        run_usage(stderr);
        return 2;
    }
    experiment x;
    nb_error err = {0};
    if (experiment_load(&x, file, &err)) {
        nb_error_print(&err, stderr);
        return 1;
    }
    int rc = 0;
    if (!dry)
        install_stop_handlers();
    if (index >= 0) {
        if (index >= x.n_runs) {
            fprintf(stderr, "normbench: --index %d: the experiment has %d runs (0 to %d)\n", index, x.n_runs,
                    x.n_runs - 1);
            rc = 2;
        } else {
            rc = run_one(&x, index, results, threads, force, quiet);
        }
        experiment_free(&x);
        return rc;
    }

    /* Which runs to do; refuse changed configurations before starting anything. */
    int *todo = nb_calloc((size_t)x.n_runs, sizeof *todo);
    int n_todo = 0, n_selected = 0, n_refused = 0;
    const char *state_name[] = {"pending", "incomplete", "complete"};
    for (int r = 0; r < x.n_runs; r++) {
        if (only && !matches_any(only, x.runs[r].id))
            continue;
        n_selected++;
        int changed, s = run_state_of(results, &x, r, force, &changed);
        if (changed && !force) {
            char dir[1100];
            run_dir(dir, sizeof dir, results, &x, r);
            fprintf(stderr, "normbench: %s: the folder holds a run with a different configuration\n", dir);
            n_refused++;
        }
        if (dry)
            printf("%4d  %-40s %s%s\n", r, x.runs[r].id, state_name[s], changed ? (force ? " (changed: --force redoes it)" : " (changed: refused)") : "");
        else if (s != RUN_COMPLETE)
            todo[n_todo++] = r;
    }
    if (n_refused && !dry) {
        fprintf(stderr, "normbench: %d run(s) refused; rerun with --force to redo them with the new configuration\n",
                n_refused);
        free(todo);
        experiment_free(&x);
        return 1;
    }
    if (dry) {
        printf("%d runs selected of %d\n", n_selected, x.n_runs);
        free(todo);
        experiment_free(&x);
        return 0;
    }
    int tty = isatty(STDERR_FILENO) && !quiet;
    if (!quiet)
        fprintf(stderr, "%s: %d runs, %d complete, %d to do, %d at a time\n", x.name, n_selected, n_selected - n_todo,
                n_todo, jobs);
    int per_thread = threads ? threads : 0;
    if (!per_thread && x.runs[0].cfg.threads == 0) {
        per_thread = default_threads() / jobs;
        if (per_thread < 1)
            per_thread = 1;
    }
    pid_t *pid = nb_calloc((size_t)jobs, sizeof *pid);
    int *slot_run = nb_calloc((size_t)jobs, sizeof *slot_run);
    int next = 0, active = 0, finished = 0, failed = 0, stopped = 0, forwarded = 0, killed = 0, not_started = 0;
    long total_epochs = 0, done_epochs = 0;
    for (int t = 0; t < n_todo; t++)
        total_epochs += x.runs[todo[t]].cfg.train.epochs;
    double t0 = now_seconds(), last_draw = 0;
    while (next < n_todo || active > 0) {
        if (got_signal && !forwarded) {
            not_started = n_todo - next;
            next = n_todo;
            for (int s = 0; s < jobs; s++)
                if (pid[s])
                    kill(pid[s], got_signal);
            forwarded = 1;
        }
        if (n_signals > 1 && !killed) {
            for (int s = 0; s < jobs; s++)
                if (pid[s])
                    kill(pid[s], SIGKILL);
            killed = 1;
        }
        while (active < jobs && next < n_todo) {
            int r = todo[next++];
            char idx[32], thr[32];
            snprintf(idx, sizeof idx, "%d", r);
            snprintf(thr, sizeof thr, "%d", per_thread);
            char *args[16];
            int n = 0;
            args[n++] = "normbench";
            args[n++] = "run";
            args[n++] = (char *)file;
            args[n++] = "--index";
            args[n++] = idx;
            args[n++] = "--results";
            args[n++] = (char *)results;
            args[n++] = "--quiet";
            if (per_thread) {
                args[n++] = "--threads";
                args[n++] = thr;
            }
            if (force)
                args[n++] = "--force";
            args[n] = NULL;
            int slot = 0;
            while (pid[slot])
                slot++;
            if (posix_spawn(&pid[slot], "/proc/self/exe", NULL, NULL, args, environ) != 0) {
                fprintf(stderr, "normbench: cannot start a run process: %s\n", strerror(errno));
                pid[slot] = 0;
                failed++;
                continue;
            }
            slot_run[slot] = r;
            active++;
        }
        int status;
        pid_t p = waitpid(-1, &status, WNOHANG);
        if (p > 0) {
            int slot = 0;
            while (slot < jobs && pid[slot] != p)
                slot++;
            if (slot == jobs)
                continue;
            int r = slot_run[slot];
            pid[slot] = 0;
            active--;
            finished++;
            done_epochs += x.runs[r].cfg.train.epochs;
            int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
            int intr = got_signal && !ok;
            if (intr)
                stopped++;
            else if (!ok)
                failed++;
            char dir[1100];
            run_dir(dir, sizeof dir, results, &x, r);
            if (!quiet) {
                double el = now_seconds() - t0;
                char eta[32];
                format_eta(eta, sizeof eta, el / done_epochs * (total_epochs - done_epochs));
                fprintf(stderr, "%s[%d/%d] %s %s  (ETA %s)\n", tty ? "\r\033[K" : "", finished, n_todo,
                        x.runs[r].id,
                        ok     ? "done"
                        : intr ? "stopped (incomplete)"
                        : WIFSIGNALED(status) ? "killed by a signal"
                                              : "FAILED (see the message above)",
                        eta);
            }
            continue;
        }
        if (p < 0 && errno != EINTR && errno != ECHILD)
            break;
        usleep(100000);
        double t = now_seconds();
        if (tty && t - last_draw > 0.5) {
            long running = 0;
            const char *cur = "";
            int cur_epoch = 0, cur_total = 0;
            for (int s = 0; s < jobs; s++)
                if (pid[s]) {
                    int e = epochs_done(results, &x, slot_run[s]);
                    running += e;
                    cur = x.runs[slot_run[s]].id;
                    cur_epoch = e;
                    cur_total = x.runs[slot_run[s]].cfg.train.epochs;
                }
            double el = t - t0, frac = (double)(done_epochs + running) / (total_epochs ? total_epochs : 1);
            char eta[32];
            format_eta(eta, sizeof eta, frac > 0 ? el / frac * (1 - frac) : -1);
            fprintf(stderr, "\r\033[K%s: runs %d/%d done, running %s (epoch %d/%d)%s, %.2f epochs/min, ETA %s", x.name,
                    finished, n_todo, cur, cur_epoch, cur_total, active > 1 ? " and others" : "",
                    el > 0 ? 60.0 * (done_epochs + running) / el : 0.0, eta);
            last_draw = t;
        }
    }
    if (tty)
        fprintf(stderr, "\r\033[K");
    free(pid);
    free(slot_run);
    free(todo);
    if (summary_write(&x, results, &err)) {
        nb_error_print(&err, stderr);
        rc = 1;
    } else if (!quiet && !got_signal) {
        print_summary(&x, results);
        fprintf(stderr, "%s: %d run(s) done, %d failed; summary: %s/%s/summary.csv\n", x.name, finished - failed,
                failed, results, x.name);
    }
    if (failed)
        rc = 1;
    if (got_signal) {
        fprintf(stderr,
                "normbench: %s: interrupted by signal %d (%s): %d run(s) stopped and left incomplete, %d not started, "
                "%d done; complete runs are kept; rerun to resume\n",
                x.name, (int)got_signal, strsignal(got_signal), stopped, not_started, finished - failed - stopped);
        rc = 128 + got_signal;
    }
    experiment_free(&x);
    return rc;
}
