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
#include "options.h"
#include "config/runrecord.h"
#include "config/sweep.h"
#include "core/error.h"
#include "io/csvread.h"
#include "io/runfolder.h"
#include "report/summary.h"
#include "train/train.h"

extern char **environ;

/* Does the run folder hold a config.yaml different from cfg's resolved configuration? */
static int config_changed(const char *dir, const nb_config *cfg)
{
    char path[1200];
    if (runfolder_file(path, sizeof path, dir, "config.yaml", NULL))
        return 0;
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
    if (runfolder_file(path, sizeof path, dir, "metrics.csv", NULL))
        return 0;
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
        if (runfolder_path(dir, sizeof dir, results, x->name, t.rows[r][idx[0]], NULL) == 0 &&
            run_record_read(dir, &wall, &threads) == 0)
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

/* The command line of `normbench run`. */
typedef struct {
    const char *file, *results, *only;
    int jobs, threads, dry, force, index, quiet;
} run_args;

/* Returns −1 to go on, else the exit status (0 after --help, 2 for a bad command line). */
static int run_parse(run_args *o, int argc, char **argv)
{
    *o = (run_args){.results = "results", .jobs = 1, .index = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            run_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-j")) {
            if (parse_positive_int("-j", v, &o->jobs))
                return 2;
            i++;
        } else if (!strcmp(a, "--threads")) {
            if (parse_positive_int("--threads", v, &o->threads))
                return 2;
            i++;
        } else if (!strcmp(a, "--index")) {
            if (parse_nonneg_int("--index", v, &o->index))
                return 2;
            i++;
        } else if (!strcmp(a, "--results") || !strcmp(a, "--only")) {
            if (!v) {
                fprintf(stderr, "normbench: %s needs a value\n", a);
                return 2;
            }
            *(a[2] == 'r' ? &o->results : &o->only) = v;
            i++;
        } else if (!strcmp(a, "--dry-run")) {
            o->dry = 1;
        } else if (!strcmp(a, "--force")) {
            o->force = 1;
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else if (a[0] == '-' || o->file) {
            fprintf(stderr, "normbench: run: unexpected argument '%s'\n", a);
            run_usage(stderr);
            return 2;
        } else {
            o->file = a;
        }
    }
    if (!o->file) {
        run_usage(stderr);
        return 2;
    }
    return -1;
}

/* The runs to do (selected by --only and not complete) into todo, their count into *n_todo;
 * with --dry-run lists every selected run and its state instead. Returns −1 to go on, else the
 * exit status: 0 after a dry run, 1 when a run's folder holds a changed configuration (without
 * --force: nothing is started). */
static int runs_plan(const run_args *o, const experiment *x, int *todo, int *n_todo, int *n_selected)
{
    int n_refused = 0;
    const char *state_name[] = {"pending", "incomplete", "complete"};
    *n_todo = *n_selected = 0;
    for (int r = 0; r < x->n_runs; r++) {
        if (o->only && !matches_any(o->only, x->runs[r].id))
            continue;
        (*n_selected)++;
        int changed, s = run_state_of(o->results, x, r, o->force, &changed);
        if (changed && !o->force) {
            char dir[1100];
            run_dir(dir, sizeof dir, o->results, x, r);
            fprintf(stderr, "normbench: %s: the folder holds a run with a different configuration\n", dir);
            n_refused++;
        }
        if (o->dry)
            printf("%4d  %-40s %s%s\n", r, x->runs[r].id, state_name[s],
                   changed ? (o->force ? " (changed: --force redoes it)" : " (changed: refused)") : "");
        else if (s != RUN_COMPLETE)
            todo[(*n_todo)++] = r;
    }
    if (n_refused && !o->dry) {
        fprintf(stderr, "normbench: %d run(s) refused; rerun with --force to redo them with the new configuration\n",
                n_refused);
        return 1;
    }
    if (o->dry) {
        printf("%d runs selected of %d\n", *n_selected, x->n_runs);
        return 0;
    }
    return -1;
}

/* The run processes of a sweep: jobs slots, each empty (pid 0) or running one run. */
typedef struct {
    const run_args *o;
    const experiment *x;
    const int *todo;
    int n_todo, jobs, per_thread, tty;
    pid_t *pid;
    int *slot_run;
    int next, active, finished, failed, stopped, forwarded, killed, not_started;
    long total_epochs, done_epochs;
    double t0, last_draw;
} run_pool;

/* After a stop signal: no new run, the signal forwarded to the running ones; after a second
 * one, SIGKILL. */
static void pool_signals(run_pool *p)
{
    int sig = stop_signal_received();
    if (sig && !p->forwarded) {
        p->not_started = p->n_todo - p->next;
        p->next = p->n_todo;
        for (int s = 0; s < p->jobs; s++)
            if (p->pid[s])
                kill(p->pid[s], sig);
        p->forwarded = 1;
    }
    if (stop_signal_count() > 1 && !p->killed) {
        for (int s = 0; s < p->jobs; s++)
            if (p->pid[s])
                kill(p->pid[s], SIGKILL);
        p->killed = 1;
    }
}

/* Starts runs (this program with --index) while a slot is free. */
static void pool_fill(run_pool *p)
{
    const run_args *o = p->o;
    while (p->active < p->jobs && p->next < p->n_todo) {
        int r = p->todo[p->next++];
        char idx[32], thr[32];
        snprintf(idx, sizeof idx, "%d", r);
        snprintf(thr, sizeof thr, "%d", p->per_thread);
        char *args[16];
        int n = 0;
        args[n++] = "normbench";
        args[n++] = "run";
        args[n++] = (char *)o->file;
        args[n++] = "--index";
        args[n++] = idx;
        args[n++] = "--results";
        args[n++] = (char *)o->results;
        args[n++] = "--quiet";
        if (p->per_thread) {
            args[n++] = "--threads";
            args[n++] = thr;
        }
        if (o->force)
            args[n++] = "--force";
        args[n] = NULL;
        int slot = 0;
        while (p->pid[slot])
            slot++;
        if (posix_spawn(&p->pid[slot], "/proc/self/exe", NULL, NULL, args, environ) != 0) {
            fprintf(stderr, "normbench: cannot start a run process: %s\n", strerror(errno));
            p->pid[slot] = 0;
            p->failed++;
            continue;
        }
        p->slot_run[slot] = r;
        p->active++;
    }
}

/* A run process pid ended with status: counts it and prints its line. */
static void pool_ended(run_pool *p, pid_t pid, int status)
{
    int slot = 0;
    while (slot < p->jobs && p->pid[slot] != pid)
        slot++;
    if (slot == p->jobs)
        return;
    int r = p->slot_run[slot];
    p->pid[slot] = 0;
    p->active--;
    p->finished++;
    p->done_epochs += p->x->runs[r].cfg.train.epochs;
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    int intr = stop_signal_received() && !ok;
    if (intr)
        p->stopped++;
    else if (!ok)
        p->failed++;
    if (!p->o->quiet) {
        double el = now_seconds() - p->t0;
        char eta[32];
        format_eta(eta, sizeof eta, el / p->done_epochs * (p->total_epochs - p->done_epochs));
        fprintf(stderr, "%s[%d/%d] %s %s  (ETA %s)\n", p->tty ? "\r\033[K" : "", p->finished, p->n_todo,
                p->x->runs[r].id,
                ok     ? "done"
                : intr ? "stopped (incomplete)"
                : WIFSIGNALED(status) ? "killed by a signal"
                                      : "FAILED (see the message above)",
                eta);
    }
}

/* The live progress line (a terminal), at most twice a second. */
static void pool_draw(run_pool *p)
{
    double t = now_seconds();
    if (!p->tty || t - p->last_draw <= 0.5)
        return;
    long running = 0;
    const char *cur = "";
    int cur_epoch = 0, cur_total = 0;
    for (int s = 0; s < p->jobs; s++)
        if (p->pid[s]) {
            int e = epochs_done(p->o->results, p->x, p->slot_run[s]);
            running += e;
            cur = p->x->runs[p->slot_run[s]].id;
            cur_epoch = e;
            cur_total = p->x->runs[p->slot_run[s]].cfg.train.epochs;
        }
    double el = t - p->t0, frac = (double)(p->done_epochs + running) / (p->total_epochs ? p->total_epochs : 1);
    char eta[32];
    format_eta(eta, sizeof eta, frac > 0 ? el / frac * (1 - frac) : -1);
    fprintf(stderr, "\r\033[K%s: runs %d/%d done, running %s (epoch %d/%d)%s, %.2f epochs/min, ETA %s", p->x->name,
            p->finished, p->n_todo, cur, cur_epoch, cur_total, p->active > 1 ? " and others" : "",
            el > 0 ? 60.0 * (p->done_epochs + running) / el : 0.0, eta);
    p->last_draw = t;
}

/* Runs the todo runs, jobs at a time, until all ended (or a stop signal ended them). */
static void pool_run(run_pool *p)
{
    p->pid = nb_calloc((size_t)p->jobs, sizeof *p->pid);
    p->slot_run = nb_calloc((size_t)p->jobs, sizeof *p->slot_run);
    for (int t = 0; t < p->n_todo; t++)
        p->total_epochs += p->x->runs[p->todo[t]].cfg.train.epochs;
    p->t0 = now_seconds();
    while (p->next < p->n_todo || p->active > 0) {
        pool_signals(p);
        pool_fill(p);
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            pool_ended(p, pid, status);
            continue;
        }
        if (pid < 0 && errno != EINTR && errno != ECHILD)
            break;
        usleep(100000);
        pool_draw(p);
    }
    if (p->tty)
        fprintf(stderr, "\r\033[K");
    free(p->pid);
    free(p->slot_run);
}

/* Threads per run process: --threads, else (when the config does not say) cores / jobs; 0: the
 * config's. */
static int threads_per_run(const run_args *o, const experiment *x)
{
    int per_thread = o->threads ? o->threads : 0;
    if (!per_thread && x->runs[0].cfg.threads == 0) {
        per_thread = default_threads() / o->jobs;
        if (per_thread < 1)
            per_thread = 1;
    }
    return per_thread;
}

/* The summary files and the closing lines; returns the exit status. */
static int runs_report(const run_args *o, const experiment *x, const run_pool *p)
{
    int rc = 0, sig = stop_signal_received();
    nb_error err = {0};
    if (summary_write(x, o->results, &err)) {
        nb_error_print(&err, stderr);
        rc = 1;
    } else if (!o->quiet && !sig) {
        print_summary(x, o->results);
        fprintf(stderr, "%s: %d run(s) done, %d failed; summary: %s/%s/summary.csv\n", x->name,
                p->finished - p->failed, p->failed, o->results, x->name);
    }
    if (p->failed)
        rc = 1;
    if (sig) {
        fprintf(stderr,
                "normbench: %s: interrupted by signal %d (%s): %d run(s) stopped and left incomplete, %d not started, "
                "%d done; complete runs are kept; rerun to resume\n",
                x->name, sig, strsignal(sig), p->stopped, p->not_started, p->finished - p->failed - p->stopped);
        rc = 128 + sig;
    }
    return rc;
}

/* Every selected run not yet complete, as run processes; then the summary. */
static int runs_all(const run_args *o, const experiment *x)
{
    int *todo = nb_calloc((size_t)x->n_runs, sizeof *todo);
    int n_todo, n_selected;
    int rc = runs_plan(o, x, todo, &n_todo, &n_selected);
    if (rc >= 0) {
        free(todo);
        return rc;
    }
    if (!o->quiet)
        fprintf(stderr, "%s: %d runs, %d complete, %d to do, %d at a time\n", x->name, n_selected,
                n_selected - n_todo, n_todo, o->jobs);
    run_pool p = {.o = o, .x = x, .todo = todo, .n_todo = n_todo, .jobs = o->jobs,
                  .per_thread = threads_per_run(o, x), .tty = isatty(STDERR_FILENO) && !o->quiet};
    pool_run(&p);
    free(todo);
    return runs_report(o, x, &p);
}

int cmd_run(int argc, char **argv)
{
    run_args o;
    int rc = run_parse(&o, argc, argv);
    if (rc >= 0)
        return rc;
    experiment x;
    nb_error err = {0};
    if (experiment_load(&x, o.file, &err)) {
        nb_error_print(&err, stderr);
        return 1;
    }
    if (!o.dry)
        install_stop_handlers();
    if (o.index >= 0) {
        if (o.index >= x.n_runs) {
            fprintf(stderr, "normbench: --index %d: the experiment has %d runs (0 to %d)\n", o.index, x.n_runs,
                    x.n_runs - 1);
            rc = 2;
        } else {
            rc = run_one(&x, o.index, o.results, o.threads, o.force, o.quiet);
        }
    } else {
        rc = runs_all(&o, &x);
    }
    experiment_free(&x);
    return rc;
}
