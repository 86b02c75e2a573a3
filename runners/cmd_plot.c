/* cmd_plot.c — `normbench plot RESULTS_DIR`: every figure that applies to an experiment's results
 * folder, drawn by gnuplot from its CSVs, and report.md / report.html beside them. lib/report/
 * plans the figures and writes their data files (plot.h) and the report (report.c); this runner
 * starts gnuplot for each of the plan's jobs (the scripts in plots/) and hands the outcomes back. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "options.h"
#include "io/fsutil.h"
#include "report/plot.h"

/* Runs `gnuplot -c script args…` with stdout and stderr collected into out. Returns its exit
 * status (127 when it cannot be started). A stop signal (options.h) is passed on to gnuplot,
 * whose exit is then waited for. */
static int run_gnuplot(const char *gnuplot, const char *script, char *const *args, int nargs, char *out,
                       size_t outsize)
{
    int fd[2];
    out[0] = '\0';
    if (pipe(fd))
        nb_fatal("pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        nb_fatal("fork: %s", strerror(errno));
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[1]);
        const char *argv[PLOT_JOB_ARGS + 4];
        int n = 0;
        argv[n++] = gnuplot;
        argv[n++] = "-c";
        argv[n++] = script;
        for (int i = 0; i < nargs && n < PLOT_JOB_ARGS + 3; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0;
    char buf[4096];
    ssize_t k;
    int forwarded = 0;
    while ((k = read(fd[0], buf, sizeof buf)) > 0 || (k < 0 && errno == EINTR)) {
        if (stop_signal_received() && !forwarded) {
            kill(pid, SIGTERM);
            forwarded = 1;
        }
        for (ssize_t i = 0; i < k; i++)
            if (len + 1 < outsize)
                out[len++] = buf[i];
    }
    out[len] = '\0';
    close(fd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            nb_fatal("waitpid: %s", strerror(errno));
        else if (stop_signal_received() && !forwarded)
            forwarded = kill(pid, SIGTERM) == 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Opens the folder, checks that gnuplot can be started, plans the figures. Returns 0, or −1 with
 * err (the folder cannot be examined). */
static int plot_prepare(plot_plan *p, plot_result *r, const char *dir, const plot_options *o, const char *gnuplot,
                        nb_error *err)
{
    int rc = plot_open(p, r, dir, o, err);
    if (rc == PLOT_NO_SCRIPTS) {
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof err->msg - n, " (give --scripts DIR, the repository's plots/)");
    }
    if (rc)
        return -1;
    /* gnuplot present? `gnuplot -c /dev/null` succeeds, but a missing program gives 127 */
    char out[2048];
    if (run_gnuplot(gnuplot, "/dev/null", NULL, 0, out, sizeof out) == 127)
        return nb_error_set(err, NULL, 0, 0, "cannot run %s (Debian package gnuplot-nox): %s", gnuplot, out);
    return plot_plan_make(p, r, err);
}

/* Every step of the plan in order: notes recorded, figures drawn (PNG, then SVG if it worked).
 * The file gnuplot draws into is listed as a temporary (io/fsutil.h) while it draws. Returns 0,
 * or the stop signal that ended the drawing (the figure being drawn then is removed, those
 * drawn before are kept). */
static int plot_draw(const plot_plan *p, plot_result *r, const char *gnuplot)
{
    static char out[8192];
    for (int i = 0; i < p->n_steps; i++) {
        const plot_step *s = &p->steps[i];
        if (s->kind != PLOT_STEP_FIGURE) {
            plot_note_done(p, r, i);
            continue;
        }
        for (int j = 0; j < s->n_jobs; j++) {
            const plot_job *job = &s->jobs[j];
            fsutil_temporary_add(job->out);
            int status = run_gnuplot(gnuplot, job->script, job->argv, job->argc, out, sizeof out);
            if (stop_signal_received()) {
                unlink(job->out);
                fsutil_temporary_drop(job->out);
                return stop_signal_received();
            }
            int failed = plot_job_done(p, r, i, j, status, out);
            fsutil_temporary_drop(job->out);
            if (failed)
                break;
        }
    }
    return 0;
}

static void plot_usage(FILE *f)
{
    fprintf(f,
            "usage: normbench plot RESULTS_DIR [--scripts DIR] [--gnuplot PROGRAM] [--no-report] [--quiet] [--verbose]\n"
            "  Draws every figure that applies to RESULTS_DIR (results/<experiment>/: summary.csv,\n"
            "  summary_agg.csv and one folder per run) into RESULTS_DIR/figures/<name>.png and .svg\n"
            "  (%d x %d pixels), and writes RESULTS_DIR/report.md and report.html. Runs still in\n"
            "  progress (no final.csv) are drawn as far as they got; a figure that does not apply or\n"
            "  lacks its CSVs is skipped with a line saying why.\n"
            "  --scripts DIR      the gnuplot scripts (default: plots/ beside bin/, else ./plots)\n"
            "  --gnuplot PROGRAM  gnuplot to run (default: gnuplot from PATH)\n"
            "  --no-report        figures only\n"
            "  --quiet            print only errors and the final count\n"
            "  --verbose          also print gnuplot's warnings\n"
            "exit status: 0 when at least one figure was drawn and no error occurred (skipped figures\n"
            "  are not errors); 1 when a CSV was malformed (the error names file and line) or gnuplot\n"
            "  failed on a figure -- every other figure is still drawn -- or when nothing could be\n"
            "  drawn; 2 on a usage error or when the folder cannot be examined at all.\n",
            PLOT_WIDTH, PLOT_HEIGHT);
}

int cmd_plot(int argc, char **argv)
{
    const char *dir = NULL;
    plot_options o = {.log = stdout};
    const char *gnuplot = "gnuplot";
    int report = 1, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            plot_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--scripts") && i + 1 < argc) {
            o.scripts_dir = argv[++i];
        } else if (!strcmp(a, "--gnuplot") && i + 1 < argc) {
            gnuplot = argv[++i];
        } else if (!strcmp(a, "--no-report")) {
            report = 0;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--verbose")) {
            o.verbose = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "normbench plot: unknown option or missing value: %s\n", a);
            plot_usage(stderr);
            return 2;
        } else if (!dir) {
            dir = a;
        } else {
            fprintf(stderr, "normbench plot: one RESULTS_DIR only (got '%s' and '%s')\n", dir, a);
            return 2;
        }
    }
    if (dir && check_results_root("RESULTS_DIR", dir))
        return 2;
    if (!dir) {
        plot_usage(stderr);
        return 2;
    }
    if (quiet)
        o.log = NULL;
    plot_plan p;
    plot_result r;
    nb_error err = {0};
    if (plot_prepare(&p, &r, dir, &o, gnuplot, &err)) {
        nb_error_print(&err, stderr);
        plot_plan_free(&p);
        plot_result_free(&r);
        return 2;
    }
    int sig = plot_draw(&p, &r, gnuplot);
    plot_plan_free(&p);
    if (sig) {
        fprintf(stderr, "normbench plot: interrupted by signal %d (%s): %d figure(s) drawn in %s/figures are kept; "
                        "no report written\n", sig, strsignal(sig), r.n_figs, r.dir);
        plot_result_free(&r);
        return 128 + sig;
    }
    /* errors go to stderr once more, whatever --quiet says, so that scripts see them */
    for (int i = 0; i < r.n_errors; i++)
        fprintf(stderr, "normbench plot: error: %s\n", r.errors[i]);
    int rc = (r.n_errors || !r.n_figs) ? 1 : 0;
    if (report && report_write(&r, &err)) {
        nb_error_print(&err, stderr);
        rc = 1;
    }
    printf("%s: %d figure(s) drawn in %s/figures, %d skipped, %d error(s)%s\n", r.name, r.n_figs, r.dir,
           r.n_skipped, r.n_errors, report ? "; report.md and report.html written" : "");
    if (!r.n_figs)
        fprintf(stderr, "normbench plot: nothing could be drawn from %s\n", r.dir);
    plot_result_free(&r);
    return rc;
}
