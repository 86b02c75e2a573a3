/* cmd_regress.c — `normbench regress`: regression testing of accuracy numbers.
 *
 * results/reference/<experiment>/ holds committed results of a quick experiment (default
 * experiments/regress_quick.yaml): its summary.csv over several seeds and tolerances.csv, one row
 * per (run, metric) that is checked, with the reference value and the tolerance.
 *
 *   normbench regress            reruns the checked runs (the first seed of each configuration)
 *                                in build/regress/, compares every metric with the reference and
 *                                prints what moved; exit 1 on any metric beyond its tolerance.
 *   normbench regress --update   reruns every run of the experiment (all seeds) and rewrites the
 *                                references on purpose; the diff shows in review.
 *
 * Tolerances are derived, not chosen: for each configuration and metric, tolerance =
 * TOL_SDS × the sample sd of the metric over the experiment's seeds (the spread a change of seed
 * alone produces), with an absolute floor of TOL_FLOOR for metrics that do not vary at all. The
 * run's status must match exactly. A check proves something only if it compares everything:
 * tolerances.csv must list every metric --update would write for the reference summary, each
 * once, with finite tolerances, or regress fails before running anything. */
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "commands.h"
#include "options.h"
#include "config/sweep.h"
#include "core/error.h"
#include "io/csvlog.h"
#include "io/csvread.h"
#include "io/fsutil.h"

#define TOL_SDS 3.0
#define TOL_FLOOR 1e-6

extern char **environ;

/* Runs `normbench run file --results dir -j jobs --quiet [--only ids]`; returns its exit status. */
static int run_experiment(const char *file, const char *dir, const char *only, int jobs)
{
    char j[16];
    snprintf(j, sizeof j, "%d", jobs);
    char *args[16];
    int n = 0;
    args[n++] = "normbench";
    args[n++] = "run";
    args[n++] = (char *)file;
    args[n++] = "--results";
    args[n++] = (char *)dir;
    args[n++] = "-j";
    args[n++] = j;
    args[n++] = "--quiet";
    if (only) {
        args[n++] = "--only";
        args[n++] = (char *)only;
    }
    args[n] = NULL;
    pid_t pid;
    if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ) != 0) {
        fprintf(stderr, "normbench: cannot start the runs: %s\n", strerror(errno));
        return -1;
    }
    int st;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int remove_tree(const char *path)
{
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", path);
    return strchr(path, '\'') ? -1 : system(cmd);
}

/* Columns of summary.csv that are metrics: everything after "status". */
static int first_metric_col(const csvread_table *t)
{
    int s = csvread_col(t, "status");
    return s < 0 ? -1 : s + 1;
}

static int same_config(const csvread_table *t, int a, int b, int status_col)
{
    for (int c = 1; c < status_col; c++)
        if (strcmp(t->header[c], "seed") && strcmp(t->rows[a][c], t->rows[b][c]))
            return 0;
    return 1;
}

/* Is row r the first run of its configuration (its lowest-listed seed), the one checked? */
static int first_of_config(const csvread_table *t, int r, int status_col)
{
    for (int q = 0; q < r; q++)
        if (same_config(t, q, r, status_col))
            return 0;
    return 1;
}

/* Mean and sample sd of column c over the runs of row r's configuration (NaN cells skipped);
 * returns −1 when a cell of them is not a number (the column is then not a checked metric). */
static int config_stats(const csvread_table *t, int r, int c, int status_col, double *mean, double *sd, int *n)
{
    double s = 0, s2 = 0, v;
    *n = 0;
    nb_error ignore;
    for (int q = 0; q < t->nrows; q++) {
        if (!same_config(t, q, r, status_col))
            continue;
        if (csvread_number(t, q, c, &v, &ignore))
            return -1;
        if (isnan(v))
            continue;
        s += v;
        s2 += v * v;
        (*n)++;
    }
    *mean = *n ? s / *n : NAN;
    double var = *n > 1 ? (s2 - *n * *mean * *mean) / (*n - 1) : 0;
    *sd = sqrt(var > 0 ? var : 0);
    return 0;
}

/* Writes tolerances.csv from a summary over several seeds: one row per checked metric, that is
 * per (first run of a configuration, metric column numeric over the configuration's runs). */
static int write_tolerances(const char *path, const csvread_table *t, nb_error *err)
{
    int status_col = csvread_col(t, "status"), seed_col = csvread_col(t, "seed"), m0 = first_metric_col(t);
    if (status_col < 0 || seed_col < 0)
        return nb_error_set(err, t->file, 1, 0, "needs 'status' and a swept 'seed' column (several seeds)");
    atomic_file a;
    if (atomic_open(&a, path, err))
        return -1;
    const char *head[] = {"run_id", "metric", "reference", "tolerance", "sd_over_seeds", "n_seeds", "rule"};
    csvlog_row(a.f, head, 7);
    for (int r = 0; r < t->nrows; r++) {
        if (!first_of_config(t, r, status_col))
            continue;
        for (int c = m0; c < t->ncols; c++) {
            double mean, sd;
            int n;
            if (config_stats(t, r, c, status_col, &mean, &sd, &n))
                continue;
            double tol = TOL_SDS * sd;
            if (tol < TOL_FLOOR)
                tol = TOL_FLOOR;
            char c4[48], c5[48], c6[16], rule[96];
            snprintf(c6, sizeof c6, "%d", n);
            snprintf(rule, sizeof rule, "%g x sd over %d seeds (floor %g)", TOL_SDS, n, TOL_FLOOR);
            const char *cells[7] = {t->rows[r][0], t->header[c], t->rows[r][c], csvlog_num(c4, sizeof c4, tol),
                                    csvlog_num(c5, sizeof c5, sd), c6, rule};
            csvlog_row(a.f, cells, 7);
        }
    }
    return atomic_commit(&a, err);
}

/* Does tolerances.csv (columns c[0..3]: run_id, metric, reference, tolerance) cover every metric
 * that --update would check in the reference summary ref, each once, with a finite tolerance
 * and a numeric reference? A check of fewer metrics (a header-only file, rows lost in a merge) or
 * a tolerance of inf/nan would pass what it never compared. Returns 0, or −1 with err. */
static int tolerances_complete(const csvread_table *tol, const int *c, const csvread_table *ref, nb_error *err)
{
    if (tol->nrows == 0)
        return nb_error_set(err, tol->file, 1, 0, "lists no metric (a header only): nothing would be checked; "
                            "rewrite it with 'normbench regress --update'");
    for (int r = 0; r < tol->nrows; r++) {
        double rv, tv;
        if (csvread_number(tol, r, c[2], &rv, err) || csvread_number(tol, r, c[3], &tv, err))
            return -1;
        if (!isfinite(tv) || tv < 0)
            return nb_error_set(err, tol->file, tol->line[r], 0,
                                "tolerance: '%s' for %s %s; expected a finite number >= 0", tol->rows[r][c[3]],
                                tol->rows[r][c[0]], tol->rows[r][c[1]]);
        for (int q = 0; q < r; q++)
            if (!strcmp(tol->rows[q][c[0]], tol->rows[r][c[0]]) && !strcmp(tol->rows[q][c[1]], tol->rows[r][c[1]]))
                return nb_error_set(err, tol->file, tol->line[r], 0, "%s %s is listed twice (also line %d)",
                                    tol->rows[r][c[0]], tol->rows[r][c[1]], tol->line[q]);
    }
    int status_col = csvread_col(ref, "status"), m0 = first_metric_col(ref), expected = 0;
    if (status_col < 0)
        return nb_error_set(err, ref->file, 1, 0, "expected a 'status' column");
    for (int r = 0; r < ref->nrows; r++) {
        if (!first_of_config(ref, r, status_col))
            continue;
        for (int m = m0; m < ref->ncols; m++) {
            double mean, sd;
            int n, found = 0;
            if (config_stats(ref, r, m, status_col, &mean, &sd, &n))
                continue;
            expected++;
            for (int q = 0; q < tol->nrows && !found; q++)
                found = !strcmp(tol->rows[q][c[0]], ref->rows[r][0]) && !strcmp(tol->rows[q][c[1]], ref->header[m]);
            if (!found)
                return nb_error_set(err, tol->file, 0, 0,
                                    "has no row for %s %s, a metric of the reference %s (a check of fewer metrics than "
                                    "the reference holds proves nothing); rewrite it with 'normbench regress --update'",
                                    ref->rows[r][0], ref->header[m], ref->file);
        }
    }
    if (expected == 0)
        return nb_error_set(err, ref->file, 0, 0, "holds no run with a numeric metric: nothing to check; rewrite "
                            "it with 'normbench regress --update'");
    return 0;
}

static int copy_file(const char *from, const char *to, nb_error *err)
{
    FILE *in = fsutil_open_read(from, "summary", CSVREAD_MAX_BYTES, FSUTIL_NOFOLLOW, err);
    if (!in)
        return -1;
    atomic_file a;
    if (atomic_open(&a, to, err)) {
        fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, a.f);
    fclose(in);
    return atomic_commit(&a, err);
}

static void regress_usage(FILE *f)
{
    fprintf(f, "usage: normbench regress [EXPERIMENT.yaml] [--update] [--reference DIR] [--results DIR] [-j N]\n"
               "  EXPERIMENT.yaml   the quick experiment (default experiments/regress_quick.yaml)\n"
               "  --update          rerun all its runs and rewrite the references and tolerances\n"
               "  --reference DIR   reference root (default results/reference)\n"
               "  --results DIR     where the check runs go (default build/regress; emptied first)\n"
               "  -j N              runs at once (default 1)\n");
}

/* regress --update: reruns every run of x into out_root and rewrites the reference summaries
 * and tolerances in ref_dir. Returns the exit status. */
static int regress_update(const experiment *x, const char *file, const char *out_root, const char *out_dir,
                          const char *ref_dir, int jobs)
{
    char ref_summary[1200], ref_tol[1200], out_summary[1200], from[1300], to[1300];
    snprintf(ref_summary, sizeof ref_summary, "%s/summary.csv", ref_dir);
    snprintf(ref_tol, sizeof ref_tol, "%s/tolerances.csv", ref_dir);
    snprintf(out_summary, sizeof out_summary, "%s/summary.csv", out_dir);
    fprintf(stderr, "regress --update: running all %d runs of %s\n", x->n_runs, file);
    if (run_experiment(file, out_root, NULL, jobs) != 0) {
        fprintf(stderr, "normbench: the runs failed; references left unchanged\n");
        return 1;
    }
    nb_error err = {0};
    csvread_table now = {0};
    int rc = 1;
    snprintf(from, sizeof from, "%s/summary_agg.csv", out_dir);
    snprintf(to, sizeof to, "%s/summary_agg.csv", ref_dir);
    if (mkdir_p(ref_dir, &err) || copy_file(out_summary, ref_summary, &err) || copy_file(from, to, &err) ||
        csvread_load(&now, ref_summary, &err) || write_tolerances(ref_tol, &now, &err)) {
        nb_error_print(&err, stderr);
    } else {
        printf("regress --update: %s and %s rewritten (tolerance = %g x sd over seeds, floor %g)\n", ref_summary,
               ref_tol, TOL_SDS, TOL_FLOOR);
        rc = 0;
    }
    csvread_free(&now);
    return rc;
}

/* Is id one of the comma-separated run ids of only? */
static int in_list(const char *only, const char *id)
{
    char key[160], probe[4200];
    snprintf(key, sizeof key, ",%s,", id);
    snprintf(probe, sizeof probe, ",%s,", only);
    return strstr(probe, key) != NULL;
}

/* The runs to redo: every run id named in column c_run of tolerances.csv, once, comma-separated
 * (to be freed). */
static char *runs_to_redo(const csvread_table *tol, int c_run)
{
    size_t cap = 1;
    for (int r = 0; r < tol->nrows; r++)
        cap += strlen(tol->rows[r][c_run]) + 1;
    char *only = nb_calloc(cap, 1);
    for (int r = 0; r < tol->nrows; r++)
        if (!in_list(only, tol->rows[r][c_run])) {
            if (only[0])
                strcat(only, ",");
            strcat(only, tol->rows[r][c_run]);
        }
    return only;
}

typedef struct {
    int checked, moved, failed;
} regress_count;

/* Compares every (run, metric) of tolerances.csv (columns c[0..3]: run_id, metric, reference,
 * tolerance) with the new summary, printing each that moved. Returns 0, or −1 with err. */
static int check_metrics(const csvread_table *tol, const int *c, const csvread_table *now, regress_count *n,
                         nb_error *err)
{
    for (int r = 0; r < tol->nrows; r++) {
        const char *id = tol->rows[r][c[0]], *metric = tol->rows[r][c[1]];
        int row = -1, col = csvread_col(now, metric);
        for (int q = 0; q < now->nrows; q++)
            if (!strcmp(now->rows[q][0], id))
                row = q;
        double rv, tv, nv = NAN;
        const char *verdict = "ok";
        n->checked++;
        if (csvread_number(tol, r, c[2], &rv, err) || csvread_number(tol, r, c[3], &tv, err))
            return -1;
        if (row < 0 || col < 0) {
            verdict = "MISSING";
        } else if (csvread_number(now, row, col, &nv, err)) {
            return -1;
        } else if (isnan(rv) != isnan(nv)) {
            verdict = "REGRESSION";
        } else if (!isnan(rv) && fabs(nv - rv) > tv) {
            verdict = "REGRESSION";
        } else if (!isnan(rv) && nv != rv) {
            verdict = "moved";
        }
        if (strcmp(verdict, "ok")) {
            printf("%-36s %-22s %14.6g %14.6g %+12.4g %12.4g  %s\n", id, metric, rv, nv, nv - rv, tv, verdict);
            n->moved += !strcmp(verdict, "moved");
            n->failed += strcmp(verdict, "moved") != 0;
        }
    }
    return 0;
}

/* The status of each run redone must match the reference exactly (a diverged run is a
 * regression). Returns the number of mismatches, each printed. */
static int check_status(const csvread_table *ref, const csvread_table *now, const char *only)
{
    int rs = csvread_col(ref, "status"), ns = csvread_col(now, "status"), failed = 0;
    for (int q = 0; q < now->nrows && rs >= 0 && ns >= 0; q++) {
        if (!in_list(only, now->rows[q][0]))
            continue; /* not one of the runs redone */
        for (int p = 0; p < ref->nrows; p++)
            if (!strcmp(ref->rows[p][0], now->rows[q][0]) && strcmp(ref->rows[p][rs], now->rows[q][ns])) {
                printf("%-36s %-22s %14s %14s %12s %12s  REGRESSION\n", now->rows[q][0], "status", ref->rows[p][rs],
                       now->rows[q][ns], "", "");
                failed++;
            }
    }
    return failed;
}

/* regress: reruns the runs named in ref_dir/tolerances.csv into out_root and compares. Returns
 * the exit status. */
static int regress_check(const experiment *x, const char *file, const char *out_root, const char *out_dir,
                         const char *ref_dir, int jobs)
{
    char ref_summary[1200], ref_tol[1200], out_summary[1200];
    snprintf(ref_summary, sizeof ref_summary, "%s/summary.csv", ref_dir);
    snprintf(ref_tol, sizeof ref_tol, "%s/tolerances.csv", ref_dir);
    snprintf(out_summary, sizeof out_summary, "%s/summary.csv", out_dir);
    nb_error err = {0};
    csvread_table tol = {0}, now = {0}, ref = {0};
    char *only = NULL;
    int rc = 1;
    if (csvread_load(&tol, ref_tol, &err) || csvread_load(&ref, ref_summary, &err)) {
        nb_error_print(&err, stderr);
        fprintf(stderr, "normbench: no reference for %s; create one with 'normbench regress --update'\n", x->name);
        goto out;
    }
    int c[4] = {csvread_col(&tol, "run_id"), csvread_col(&tol, "metric"), csvread_col(&tol, "reference"),
                csvread_col(&tol, "tolerance")};
    if (c[0] < 0 || c[1] < 0 || c[2] < 0 || c[3] < 0) {
        nb_error_set(&err, ref_tol, 1, 0, "expected columns run_id, metric, reference, tolerance");
        goto err_out;
    }
    if (tolerances_complete(&tol, c, &ref, &err))
        goto err_out;
    only = runs_to_redo(&tol, c[0]);
    fprintf(stderr, "regress: rerunning %s (%s)\n", file, only);
    if (run_experiment(file, out_root, only, jobs) != 0) {
        fprintf(stderr, "normbench: regress: the runs failed\n");
        goto out;
    }
    if (csvread_load(&now, out_summary, &err))
        goto err_out;
    regress_count n = {0};
    printf("%-36s %-22s %14s %14s %12s %12s  %s\n", "run", "metric", "reference", "now", "change", "tolerance",
           "verdict");
    if (check_metrics(&tol, c, &now, &n, &err))
        goto err_out;
    n.failed += check_status(&ref, &now, only);
    printf("regress: %d metrics checked, %d moved within tolerance, %d beyond tolerance (%s)\n", n.checked, n.moved,
           n.failed, n.failed ? "REGRESSION" : "ok");
    rc = n.failed || n.checked != tol.nrows ? 1 : 0;
    goto out;
err_out:
    nb_error_print(&err, stderr);
out:
    free(only);
    csvread_free(&tol);
    csvread_free(&now);
    csvread_free(&ref);
    return rc;
}

int cmd_regress(int argc, char **argv)
{
    const char *file = "experiments/regress_quick.yaml", *ref_root = "results/reference", *out_root = "build/regress";
    int update = 0, jobs = 1, file_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--update")) {
            update = 1;
        } else if ((!strcmp(a, "--reference") || !strcmp(a, "--results")) && v) {
            *(a[2] == 'r' && a[3] == 'e' && a[4] == 'f' ? &ref_root : &out_root) = v;
            i++;
        } else if (!strcmp(a, "-j")) {
            if (parse_positive_int("-j", v, &jobs))
                return 2;
            i++;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            regress_usage(stdout);
            return 0;
        } else if (a[0] != '-' && !file_given) {
            file = a;
            file_given = 1;
        } else {
            regress_usage(stderr);
            return 2;
        }
    }
    if (check_results_root("--reference", ref_root) || check_results_root("--results", out_root))
        return 2;
    experiment x;
    nb_error err = {0};
    if (experiment_load(&x, file, &err)) {
        nb_error_print(&err, stderr);
        return 1;
    }
    char ref_dir[1100], out_dir[1100];
    snprintf(ref_dir, sizeof ref_dir, "%s/%s", ref_root, x.name);
    snprintf(out_dir, sizeof out_dir, "%s/%s", out_root, x.name);
    int rc = 1;
    if (remove_tree(out_dir) != 0)
        fprintf(stderr, "normbench: cannot empty %s\n", out_dir);
    else if (update)
        rc = regress_update(&x, file, out_root, out_dir, ref_dir, jobs);
    else
        rc = regress_check(&x, file, out_root, out_dir, ref_dir, jobs);
    experiment_free(&x);
    return rc;
}
