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
#include "core/clock.h"
#include "core/error.h"
#include "io/csvread.h"
#include "io/fsutil.h"
#include "io/runfolder.h"
#include "report/summary.h"
#include "train/train.h"

extern char **environ;

/* The state of run r's folder; a complete one whose final.csv is corrupt counts as incomplete
 * (it is redone), with a warning naming the file. */
static int run_state_of(const char *results, const experiment *x, int r, int force, int *changed)
{
    char dir[1100];
    run_dir(dir, sizeof dir, results, x, r);
    run_state s = runfolder_state(dir);
    *changed = s != RUN_ABSENT ? train_folder_differs(dir, &x->runs[r].cfg) : 0;
    if (*changed && force)
        return RUN_ABSENT;
    nb_error why = {0};
    if (s == RUN_COMPLETE && !*changed && runfolder_final_check(dir, NULL, &why)) {
        fprintf(stderr, "normbench: warning: %s: %s: run %s is redone\n", why.file, why.msg, x->runs[r].id);
        return RUN_INCOMPLETE;
    }
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

/* Epochs finished by a running run: data rows of its metrics.csv. */
static int epochs_done(const char *results, const experiment *x, int r)
{
    char dir[1100], path[1200];
    run_dir(dir, sizeof dir, results, x, r);
    if (runfolder_file(path, sizeof path, dir, "metrics.csv", NULL))
        return 0;
    FILE *f = fsutil_open_read(path, "metrics", 1 << 26, FSUTIL_NOFOLLOW, NULL);
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

/* Exit statuses of a run process started by `run` (--resolved): besides 0 (trained) and 1
 * (failed), the run was found complete under its lock (nothing trained), or another process
 * holds its lock (nothing done; the parent tries again later, waiting). */
#define RUN_EXIT_KEPT 3
#define RUN_EXIT_BUSY 75

/* Runs one run in this process (--index I, or --resolved FILE from `run` itself): under the run
 * folder's lock a complete run of cfg is kept, a different configuration refused without
 * --force. child: exit with RUN_EXIT_KEPT / RUN_EXIT_BUSY (else 0 for a kept run, and wait for
 * a busy one: GNU parallel and Slurm tasks). */
static int run_one(const nb_config *cfg, const char *results, int threads, int force, int quiet, int child,
                   int wait)
{
    train_options opt = {.results_root = results,
                         .threads = threads ? threads : cfg->threads ? cfg->threads : default_threads(),
                         .progress_tty = isatty(STDERR_FILENO),
                         .quiet = quiet,
                         .force = force,
                         .keep_complete = 1,
                         .wait_lock = child && wait};
    train_result res;
    nb_error err = {0};
    int rc = train_run(cfg, &opt, &res, &err);
    if (rc && res.busy && !child) { /* --index: wait for the other process, then see */
        fprintf(stderr, "normbench: %s; waiting for it to finish\n", err.msg);
        opt.wait_lock = 1;
        err = (nb_error){0};
        rc = train_run(cfg, &opt, &res, &err);
    }
    if (rc) {
        if (res.changed)
            hint_force(&err);
        nb_error_print(&err, stderr);
        if (res.busy && child)
            return RUN_EXIT_BUSY;
        return res.interrupted ? 128 + res.interrupted : 1;
    }
    if (res.already_complete) {
        if (!quiet)
            fprintf(stderr, "%s: already complete\n", cfg->run_id);
        return child ? RUN_EXIT_KEPT : 0;
    }
    return 0;
}

/* The run a parent `run` passed as a resolved configuration (file, or "-": standard input) for
 * the experiment file exp_file. Returns 0, or −1 after printing the error. */
static int load_resolved(nb_config *cfg, const char *file, const char *exp_file)
{
    nb_error err = {0};
    if (config_load(cfg, strcmp(file, "-") ? file : "/dev/stdin", &err)) {
        nb_error_print(&err, stderr);
        return -1;
    }
    /* messages name the experiment file, not the copy (whose lines are not the file's) */
    snprintf(cfg->source, sizeof cfg->source, "%s", exp_file);
    memset(cfg->key_line, 0, sizeof cfg->key_line);
    memset(cfg->key_col, 0, sizeof cfg->key_col);
    return 0;
}

static void run_usage(FILE *f)
{
    fprintf(f, "usage: normbench run EXPERIMENT.yaml [-j N] [--threads N] [--results DIR] [--only PATTERN]\n"
               "                     [--dry-run] [--force] [--index I] [--quiet]\n"
               "                     [--resolved FILE [--wait]]\n"
               "  -j N            N runs at once, as separate processes (default 1)\n"
               "  --threads N     threads per run (default: the config's 'threads', else cores / N)\n"
               "  --results DIR   results root (default: results)\n"
               "  --only PATTERN  only runs whose id matches the shell pattern, e.g. 'arcface_*' (several: comma-separated)\n"
               "  --dry-run       list the runs and their state, run nothing\n"
               "  --force         redo runs whose folder holds a different configuration\n"
               "  --index I       run only run I (0-based, as listed by --dry-run); for GNU parallel / Slurm;\n"
               "                  waits while another process trains the same run\n"
               "  --quiet         no progress output\n"
               "  --resolved FILE (what run uses for its run processes) train the one run whose resolved\n"
               "                  configuration is FILE ('-': standard input) instead of reading the experiment\n"
               "                  again; exit 3: it was complete already, 75: another process trains it\n"
               "  --wait          with --resolved: wait for that other process instead of exit 75\n");
}

/* The command line of `normbench run`. */
typedef struct {
    const char *file, *results, *only, *resolved;
    int jobs, threads, dry, force, index, quiet, wait;
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
        } else if (!strcmp(a, "--results") || !strcmp(a, "--only") || !strcmp(a, "--resolved")) {
            if (!v) {
                fprintf(stderr, "normbench: %s needs a value\n", a);
                return 2;
            }
            *(!strcmp(a, "--only") ? &o->only : !strcmp(a, "--results") ? &o->results : &o->resolved) = v;
            i++;
        } else if (!strcmp(a, "--wait")) {
            o->wait = 1;
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
    if (check_results_root("--results", o->results))
        return 2;
    return -1;
}

/* The runs to do (selected by --only and not complete) into todo, their count into *n_todo;
 * with --dry-run lists every selected run and its state instead. Returns −1 to go on, else the
 * exit status: 0 after a dry run, 1 when a run's folder holds a changed configuration (without
 * --force: nothing is started). */
static int runs_plan(const run_args *o, const experiment *x, int *todo, int *n_todo, int *n_selected)
{
    int n_refused = 0, n_linked = 0;
    const char *state_name[] = {"pending", "incomplete", "complete"};
    *n_todo = *n_selected = 0;
    for (int r = 0; r < x->n_runs; r++) {
        if (o->only && !matches_any(o->only, x->runs[r].id))
            continue;
        (*n_selected)++;
        nb_error link = {0};
        if (run_dir_read_check(o->results, x, r, &link)) { /* neither read nor trained through a link */
            nb_error_print(&link, stderr);
            n_linked++;
            if (o->dry)
                printf("%4d  %-40s symbolic link (refused)\n", r, x->runs[r].id);
            continue;
        }
        int changed, s = run_state_of(o->results, x, r, o->force, &changed);
        if (changed && !o->force) {
            char dir[1100];
            run_dir(dir, sizeof dir, o->results, x, r);
            fprintf(stderr, "normbench: %s: the folder holds %s\n", dir, train_folder_difference(changed));
            n_refused++;
        }
        if (o->dry)
            printf("%4d  %-40s %s%s\n", r, x->runs[r].id, state_name[s],
                   changed ? (o->force ? " (changed: --force redoes it)" : " (changed: refused)") : "");
        else if (s != RUN_COMPLETE)
            todo[(*n_todo)++] = r;
    }
    if (n_linked && !o->dry) {
        fprintf(stderr, "normbench: %d run folder(s) refused (symbolic links); nothing was started\n", n_linked);
        return 1;
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

/* The run processes of a sweep: jobs slots, each empty (pid 0) or running one run. queue holds
 * the runs to start (todo, then each run found busy once more, to wait for), n_queue of them. */
typedef struct {
    const run_args *o;
    const experiment *x;
    int *queue;
    unsigned char *waited; /* per run: started again to wait for another process */
    int n_todo, n_queue, jobs, per_thread, tty;
    pid_t *pid;
    int *slot_run;
    int next, active, finished, failed, stopped, forwarded, killed, not_started, kept;
    long total_epochs, done_epochs;
    double t0, last_draw, t_forward;
} run_pool;

/* After a stop signal: no new run, the signal forwarded to the running ones; after a second
 * one, or when they are still there after RUN_STOP_KILL seconds (each has a grace period of
 * 1 s: options.h), SIGKILL — this process itself ends within RUN_STOP_GRACE seconds. */
#define RUN_STOP_KILL 1.3
#define RUN_STOP_GRACE 2
static void pool_signals(run_pool *p)
{
    int sig = stop_signal_received();
    if (sig && !p->forwarded) {
        p->not_started = p->n_queue - p->next;
        p->next = p->n_queue;
        for (int s = 0; s < p->jobs; s++)
            if (p->pid[s])
                kill(p->pid[s], sig);
        p->forwarded = 1;
        p->t_forward = nb_seconds();
    }
    if ((stop_signal_count() > 1 || (p->forwarded && nb_seconds() - p->t_forward > RUN_STOP_KILL)) && !p->killed) {
        for (int s = 0; s < p->jobs; s++)
            if (p->pid[s])
                kill(p->pid[s], SIGKILL);
        p->killed = 1;
    }
}

/* An unnamed temporary file holding run r's resolved configuration, read from the start: the
 * run process trains exactly the run this process expanded, whatever the experiment file says
 * by then. NULL after printing the error. */
static FILE *resolved_file(const experiment *x, int r)
{
    FILE *f = tmpfile();
    if (!f || config_write(&x->runs[r].cfg, f) || fflush(f) || fseek(f, 0, SEEK_SET)) {
        fprintf(stderr, "normbench: %s: cannot write its resolved configuration to a temporary file: %s\n",
                x->runs[r].id, strerror(errno));
        if (f)
            fclose(f);
        return NULL;
    }
    return f;
}

/* Starts run r (this program with --resolved -, the configuration on its standard input) in
 * slot. Returns 0, or −1 after printing the error. */
static int pool_spawn(run_pool *p, int r, int slot)
{
    const run_args *o = p->o;
    char thr[32];
    snprintf(thr, sizeof thr, "%d", p->per_thread);
    char *args[16];
    int n = 0;
    args[n++] = "normbench";
    args[n++] = "run";
    args[n++] = (char *)o->file;
    args[n++] = "--resolved";
    args[n++] = "-";
    args[n++] = "--results";
    args[n++] = (char *)o->results;
    args[n++] = "--quiet";
    if (p->per_thread) {
        args[n++] = "--threads";
        args[n++] = thr;
    }
    if (o->force)
        args[n++] = "--force";
    if (p->waited[r])
        args[n++] = "--wait";
    args[n] = NULL;
    FILE *cfg = resolved_file(p->x, r);
    if (!cfg)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fileno(cfg), STDIN_FILENO);
    int e = posix_spawn(&p->pid[slot], "/proc/self/exe", &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    fclose(cfg);
    if (e != 0) {
        fprintf(stderr, "normbench: cannot start a run process: %s\n", strerror(e));
        p->pid[slot] = 0;
        return -1;
    }
    return 0;
}

/* Starts runs while a slot is free. */
static void pool_fill(run_pool *p)
{
    while (p->active < p->jobs && p->next < p->n_queue) {
        int r = p->queue[p->next++];
        int slot = 0;
        while (p->pid[slot])
            slot++;
        if (pool_spawn(p, r, slot)) {
            p->failed++;
            p->finished++;
            continue;
        }
        p->slot_run[slot] = r;
        p->active++;
    }
}

/* Does run r's folder hold the run this process launched: complete, its config.yaml this run's
 * resolved configuration, its final.csv one row with a known status? Returns 1, or 0 with why. */
static int run_verified(const run_pool *p, int r, char *why, size_t size)
{
    char dir[1100], path[1200];
    const nb_config *cfg = &p->x->runs[r].cfg;
    if (run_dir(dir, sizeof dir, p->o->results, p->x, r) || runfolder_file(path, sizeof path, dir, RUNFOLDER_FINAL, NULL))
        return snprintf(why, size, "its folder path is too long") < 0;
    if (runfolder_state(dir) != RUN_COMPLETE)
        return snprintf(why, size, "%s has no final.csv", dir) < 0;
    if (train_folder_differs(dir, cfg))
        return snprintf(why, size, "%s/config.yaml is not the configuration this run was started with", dir) < 0;
    nb_error err = {0};
    if (runfolder_final_check(dir, NULL, &err))
        return snprintf(why, size, "%s: %s", err.file, err.msg) < 0;
    return 1;
}

/* The line of a run process that ended (status: its wait status), after checking its folder. */
static void pool_report(run_pool *p, int r, int status, int verified, const char *why)
{
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    int ok = (code == 0 || code == RUN_EXIT_KEPT) && verified;
    int intr = stop_signal_received() && !ok;
    if (intr)
        p->stopped++;
    else if (!ok)
        p->failed++;
    p->kept += ok && code == RUN_EXIT_KEPT;
    if ((code == 0 || code == RUN_EXIT_KEPT) && !verified) /* said done, is not: never silent */
        fprintf(stderr, "%snormbench: %s: its run process ended with success, but %s: counted as FAILED\n",
                p->tty ? "\r\033[K" : "", p->x->runs[r].id, why);
    if (p->o->quiet)
        return;
    double el = nb_seconds() - p->t0;
    char eta[32];
    format_eta(eta, sizeof eta, el / p->done_epochs * (p->total_epochs - p->done_epochs));
    fprintf(stderr, "%s[%d/%d] %s %s  (ETA %s)\n", p->tty ? "\r\033[K" : "", p->finished, p->n_todo,
            p->x->runs[r].id,
            ok && code == RUN_EXIT_KEPT ? "complete (trained by another process)"
            : ok                        ? "done"
            : intr                      ? "stopped (incomplete)"
            : WIFSIGNALED(status)       ? "killed by a signal"
                                        : "FAILED (see the message above)",
            eta);
}

/* A run process pid ended with status: a busy run goes back in the queue (once, to wait for
 * the other process), anything else is counted, checked and reported. */
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
    if (WIFEXITED(status) && WEXITSTATUS(status) == RUN_EXIT_BUSY && !p->waited[r] && !stop_signal_received()) {
        p->waited[r] = 1;
        p->queue[p->n_queue++] = r;
        if (!p->o->quiet)
            fprintf(stderr, "%s%s: another process trains it; waiting for it after the other runs\n",
                    p->tty ? "\r\033[K" : "", p->x->runs[r].id);
        return;
    }
    p->finished++;
    p->done_epochs += p->x->runs[r].cfg.train.epochs;
    char why[1400] = "";
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    int verified = (code == 0 || code == RUN_EXIT_KEPT) && run_verified(p, r, why, sizeof why);
    pool_report(p, r, status, verified, why);
}

/* The live progress line (a terminal), at most twice a second. */
static void pool_draw(run_pool *p)
{
    double t = nb_seconds();
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
    p->waited = nb_calloc((size_t)p->x->n_runs, 1);
    for (int t = 0; t < p->n_todo; t++)
        p->total_epochs += p->x->runs[p->queue[t]].cfg.train.epochs;
    p->n_queue = p->n_todo;
    p->t0 = nb_seconds();
    while (p->next < p->n_queue || p->active > 0) {
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
    free(p->waited);
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
        summary_warn_corrupt(x, o->results, stderr); /* runs not selected by --only, or redone in vain */
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
    int *todo = nb_calloc(2 * (size_t)x->n_runs, sizeof *todo); /* room for each run once more */
    int n_todo, n_selected;
    int rc = runs_plan(o, x, todo, &n_todo, &n_selected);
    if (rc >= 0) {
        free(todo);
        return rc;
    }
    if (!o->quiet)
        fprintf(stderr, "%s: %d runs, %d complete, %d to do, %d at a time\n", x->name, n_selected,
                n_selected - n_todo, n_todo, o->jobs);
    run_pool p = {.o = o, .x = x, .queue = todo, .n_todo = n_todo, .jobs = o->jobs,
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
    if (o.resolved) { /* a run process of `run`: the run it expanded, not the file again */
        nb_config cfg;
        if (load_resolved(&cfg, o.resolved, o.file))
            return 1;
        return run_one(&cfg, o.results, o.threads, o.force, o.quiet, 1, o.wait);
    }
    experiment x;
    nb_error err = {0};
    if (experiment_load(&x, o.file, &err)) {
        nb_error_print(&err, stderr);
        return 1;
    }
    if (o.index >= 0) {
        if (o.index >= x.n_runs) {
            fprintf(stderr, "normbench: --index %d: the experiment has %d runs (0 to %d)\n", o.index, x.n_runs,
                    x.n_runs - 1);
            rc = 2;
        } else {
            rc = run_one(&x.runs[o.index].cfg, o.results, o.threads, o.force, o.quiet, 0, 1);
        }
    } else {
        set_stop_grace(RUN_STOP_GRACE); /* the sweep's: its run processes have their own */
        rc = runs_all(&o, &x);
    }
    experiment_free(&x);
    return rc;
}
