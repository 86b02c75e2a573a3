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
 * once, with finite tolerances, or regress fails before running anything.
 *
 * That statistical rule is kept only for a platform other than the reference's. Runs are bitwise
 * deterministic at a fixed platform (compiler and flags, scalar type, OpenBLAS version and core
 * type, backend, GEMM libraries, oneDNN ISA and version, threads: run_record_platform), so
 * --update also writes platform.csv, each reference run's platform; a rerun on that same platform
 * must reproduce every metric exactly (rule "exact"), and any change of a printed value is a
 * regression (docs/regress.md, with the mutation table that measured both rules). The rule applied is
 * printed per run and written, with the verdicts, as JUnit XML (--junit, default
 * results/regress/junit.xml). */
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "commands.h"
#include "options.h"
#include "config/runrecord.h"
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
               "                        [--compare-only] [--adopt-platform] [--junit FILE]\n"
               "  EXPERIMENT.yaml   the quick experiment (default experiments/regress_quick.yaml)\n"
               "  --update          rerun all its runs and rewrite the references and tolerances\n"
               "  --reference DIR   reference root (default results/reference)\n"
               "  --results DIR     where the check runs go (default build/regress; emptied first)\n"
               "  -j N              runs at once (default 1)\n"
               "  --compare-only    run nothing: compare the runs already in the results folder\n"
               "  --adopt-platform  after a check in which every metric was identical, record this\n"
               "                    platform in the reference (platform.csv), so that later checks on\n"
               "                    it compare exactly\n"
               "  --junit FILE      the JUnit XML report (default results/regress/junit.xml)\n"
               "A run on the platform platform.csv records for it must reproduce every metric exactly;\n"
               "elsewhere (or without platform.csv) a metric may move by %g x its sd over seeds.\n",
            TOL_SDS);
}

/* ---- the rule per run: exact on the reference's platform, statistical elsewhere ---- */

#define PLATFORM_FILE "platform.csv"
#define PLATFORM_MAX 1024

typedef struct {
    char id[160];
    int exact;                  /* 1: same platform as the reference: every metric must be identical */
    char why[96];               /* why the statistical rule applies instead */
    int checked, failed;        /* metrics (and status) checked, beyond the rule */
    char failures[2048];        /* "metric: reference → now; …" for the JUnit report */
} regress_case;

typedef struct {
    regress_case *c;
    int n;
} regress_cases;

/* buf ← the platform of run id under out_dir (run_record_platform). Returns 0 or −1. */
static int platform_of(const char *out_dir, const char *id, char *buf, size_t size)
{
    char dir[1400];
    snprintf(dir, sizeof dir, "%s/%s", out_dir, id);
    return run_record_platform(dir, buf, size);
}

/* Writes path (platform.csv: run_id, platform) for the comma-separated run ids of ids, each
 * platform read from its run folder under out_dir. Returns 0, or −1 with err. */
static int write_platforms(const char *path, const char *out_dir, const char *ids, nb_error *err)
{
    atomic_file a;
    if (atomic_open(&a, path, err))
        return -1;
    const char *head[] = {"run_id", "platform"};
    csvlog_row(a.f, head, 2);
    char *list = nb_strdup(ids), *save = NULL;
    for (char *id = strtok_r(list, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
        char plat[PLATFORM_MAX];
        if (platform_of(out_dir, id, plat, sizeof plat)) {
            free(list);
            atomic_abort(&a);
            return nb_error_set(err, out_dir, 0, 0, "run %s: no readable run.yaml with its platform", id);
        }
        const char *cells[2] = {id, plat};
        csvlog_row(a.f, cells, 2);
    }
    free(list);
    return atomic_commit(&a, err);
}

/* The run ids of every row of a summary, comma-separated (to be freed). */
static char *summary_ids(const csvread_table *t)
{
    size_t cap = 1;
    for (int r = 0; r < t->nrows; r++)
        cap += strlen(t->rows[r][0]) + 1;
    char *ids = nb_calloc(cap, 1);
    for (int r = 0; r < t->nrows; r++) {
        if (r)
            strcat(ids, ",");
        strcat(ids, t->rows[r][0]);
    }
    return ids;
}

/* One case per run redone (the ids of only), each with its rule: exact where ref_dir's
 * platform.csv records the platform the run just ran on, statistical otherwise (no record, or
 * another platform). Prints the rule of each run. */
static void cases_decide(regress_cases *cs, const char *only, const char *ref_dir, const char *out_dir)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/%s", ref_dir, PLATFORM_FILE);
    csvread_table plat = {0};
    nb_error ignore = {0};
    const int have = csvread_load(&plat, path, &ignore) == 0;
    const int c_id = have ? csvread_col(&plat, "run_id") : -1, c_pl = have ? csvread_col(&plat, "platform") : -1;
    cs->n = 0;
    cs->c = nb_calloc(strlen(only) / 2 + 2, sizeof *cs->c);
    char *list = nb_strdup(only), *save = NULL;
    for (char *id = strtok_r(list, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
        regress_case *k = &cs->c[cs->n++];
        snprintf(k->id, sizeof k->id, "%s", id);
        char now[PLATFORM_MAX];
        const char *ref = NULL;
        for (int r = 0; c_id >= 0 && c_pl >= 0 && r < plat.nrows; r++)
            if (!strcmp(plat.rows[r][c_id], id))
                ref = plat.rows[r][c_pl];
        if (platform_of(out_dir, id, now, sizeof now))
            snprintf(k->why, sizeof k->why, "this run's platform is unknown (no run.yaml)");
        else if (!ref)
            snprintf(k->why, sizeof k->why, "the reference records no platform");
        else if (strcmp(ref, now))
            snprintf(k->why, sizeof k->why, "another platform than the reference's");
        else
            k->exact = 1;
        if (k->exact)
            printf("%-36s rule: exact (the reference's platform: every metric must be identical)\n", id);
        else
            printf("%-36s rule: statistical (%s: %g x sd over seeds)\n", id, k->why, TOL_SDS);
    }
    free(list);
    csvread_free(&plat);
}

static regress_case *case_of(regress_cases *cs, const char *id)
{
    for (int i = 0; cs && i < cs->n; i++)
        if (!strcmp(cs->c[i].id, id))
            return &cs->c[i];
    return NULL;
}

/* Notes one metric beyond its rule in its run's case (for the JUnit report). */
static void case_fail(regress_case *k, const char *metric, const char *ref, const char *now)
{
    if (!k)
        return;
    k->failed++;
    size_t used = strlen(k->failures);
    snprintf(k->failures + used, sizeof k->failures - used, "%s%s: reference %s, now %s", used ? "; " : "", metric,
             ref, now);
}

/* XML text of s (escaping & < > " '). */
static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc(*s, f);
        }
}

/* Writes the verdicts as JUnit XML (one testcase per run redone, its rule in system-out, its
 * metrics beyond the rule in a failure) to path. Returns 0, or −1 with err. */
static int write_junit(const char *path, const char *suite, const regress_cases *cs, nb_error *err)
{
    char dir[1200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        if (mkdir_p(dir, err))
            return -1;
    }
    int failures = 0;
    for (int i = 0; i < cs->n; i++)
        failures += cs->c[i].failed > 0;
    atomic_file a;
    if (atomic_open(&a, path, err))
        return -1;
    FILE *f = a.f;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"normbench regress\" tests=\"%d\" "
               "failures=\"%d\">\n  <testsuite name=\"",
            cs->n, failures);
    xml_text(f, suite);
    fprintf(f, "\" tests=\"%d\" failures=\"%d\" errors=\"0\">\n", cs->n, failures);
    for (int i = 0; i < cs->n; i++) {
        const regress_case *k = &cs->c[i];
        fputs("    <testcase classname=\"", f);
        xml_text(f, suite);
        fputs("\" name=\"", f);
        xml_text(f, k->id);
        fputs("\">\n", f);
        if (k->failed) {
            fprintf(f, "      <failure type=\"regression\" message=\"%d of %d metrics beyond the %s rule\">", k->failed,
                    k->checked, k->exact ? "exact" : "statistical");
            xml_text(f, k->failures);
            fputs("</failure>\n", f);
        }
        fputs(k->exact ? "      <system-out>rule: exact" : "      <system-out>rule: statistical (", f);
        if (!k->exact) {
            xml_text(f, k->why);
            fputs(")", f);
        }
        fprintf(f, "; %d metrics checked</system-out>\n    </testcase>\n", k->checked);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
    return atomic_commit(&a, err);
}

/* regress --update's platform.csv: the platform of every run of the new reference. */
static int update_platforms(const char *ref_dir, const char *out_dir, const csvread_table *now, nb_error *err)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/%s", ref_dir, PLATFORM_FILE);
    char *ids = summary_ids(now);
    int rc = write_platforms(path, out_dir, ids, err);
    free(ids);
    return rc;
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
        csvread_load(&now, ref_summary, &err) || write_tolerances(ref_tol, &now, &err) ||
        update_platforms(ref_dir, out_dir, &now, &err)) {
        nb_error_print(&err, stderr);
    } else {
        printf("regress --update: %s, %s and %s rewritten (tolerance = %g x sd over seeds, floor %g; exact on the "
               "platform recorded)\n",
               ref_summary, ref_tol, PLATFORM_FILE, TOL_SDS, TOL_FLOOR);
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
    int checked, moved, failed, differ; /* differ: metrics not identical to the reference */
} regress_count;

/* Compares every (run, metric) of tolerances.csv (columns c[0..3]: run_id, metric, reference,
 * tolerance) with the new summary, printing each that moved. Returns 0, or −1 with err. */
static int check_metrics(const csvread_table *tol, const int *c, const csvread_table *now, regress_count *n,
                         regress_cases *cs, nb_error *err)
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
        regress_case *k = case_of(cs, id);
        if (k)
            k->checked++;
        if (csvread_number(tol, r, c[2], &rv, err) || csvread_number(tol, r, c[3], &tv, err))
            return -1;
        if (k && k->exact)
            tv = 0; /* the reference's platform: identical or a regression */
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
            n->differ++;
            if (strcmp(verdict, "moved"))
                case_fail(k, metric, tol->rows[r][c[2]], row < 0 || col < 0 ? "missing" : now->rows[row][col]);
        }
    }
    return 0;
}

/* The status of each run redone must match the reference exactly (a diverged run is a
 * regression). Returns the number of mismatches, each printed. */
static int check_status(const csvread_table *ref, const csvread_table *now, const char *only, regress_cases *cs)
{
    int rs = csvread_col(ref, "status"), ns = csvread_col(now, "status"), failed = 0;
    for (int q = 0; q < now->nrows && rs >= 0 && ns >= 0; q++) {
        if (!in_list(only, now->rows[q][0]))
            continue; /* not one of the runs redone */
        for (int p = 0; p < ref->nrows; p++)
            if (!strcmp(ref->rows[p][0], now->rows[q][0]) && strcmp(ref->rows[p][rs], now->rows[q][ns])) {
                printf("%-36s %-22s %14s %14s %12s %12s  REGRESSION\n", now->rows[q][0], "status", ref->rows[p][rs],
                       now->rows[q][ns], "", "");
                case_fail(case_of(cs, now->rows[q][0]), "status", ref->rows[p][rs], now->rows[q][ns]);
                failed++;
            }
    }
    return failed;
}

typedef struct {
    int compare_only;   /* compare the runs already in the results folder, run nothing */
    int adopt_platform; /* after an identical check, record this platform in the reference */
    const char *junit;  /* where the JUnit XML goes */
} regress_opts;

/* The summary line, the JUnit report and, with adopt_platform, platform.csv (only when every
 * metric of every run was identical to the reference). Returns the exit status. */
static int regress_conclude(const regress_count *n, const regress_cases *cs, const char *suite, const char *ref_dir,
                            const char *out_dir, const char *only, const regress_opts *o)
{
    int exact = 0;
    for (int i = 0; i < cs->n; i++)
        exact += cs->c[i].exact;
    printf("regress: %d runs: %d under the exact rule, %d under the statistical rule (%g x sd)\n", cs->n, exact,
           cs->n - exact, TOL_SDS);
    printf("regress: %d metrics checked, %d moved within tolerance, %d beyond tolerance (%s)\n", n->checked, n->moved,
           n->failed, n->failed ? "REGRESSION" : "ok");
    nb_error err = {0};
    int rc = n->failed ? 1 : 0;
    if (write_junit(o->junit, suite, cs, &err)) {
        nb_error_print(&err, stderr);
        rc = 1;
    } else {
        printf("regress: JUnit report %s\n", o->junit);
    }
    if (o->adopt_platform) {
        char path[1300];
        snprintf(path, sizeof path, "%s/%s", ref_dir, PLATFORM_FILE);
        if (n->failed || n->differ) {
            fprintf(stderr, "normbench: regress --adopt-platform: %d metrics differ from the reference; platform "
                            "not recorded (regenerate the reference with --update instead)\n",
                    n->differ + n->failed);
            rc = 1;
        } else if (write_platforms(path, out_dir, only, &err)) {
            nb_error_print(&err, stderr);
            rc = 1;
        } else {
            printf("regress: every metric identical; this platform recorded in %s\n", path);
        }
    }
    return rc;
}

/* regress: reruns the runs named in ref_dir/tolerances.csv into out_root and compares. Returns
 * the exit status. */
static int regress_check(const experiment *x, const char *file, const char *out_root, const char *out_dir,
                         const char *ref_dir, int jobs, const regress_opts *o)
{
    char ref_summary[1200], ref_tol[1200], out_summary[1200];
    snprintf(ref_summary, sizeof ref_summary, "%s/summary.csv", ref_dir);
    snprintf(ref_tol, sizeof ref_tol, "%s/tolerances.csv", ref_dir);
    snprintf(out_summary, sizeof out_summary, "%s/summary.csv", out_dir);
    nb_error err = {0};
    csvread_table tol = {0}, now = {0}, ref = {0};
    char *only = NULL;
    regress_cases cs = {0};
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
    if (o->compare_only)
        fprintf(stderr, "regress: comparing the runs already in %s (%s)\n", out_dir, only);
    else
        fprintf(stderr, "regress: rerunning %s (%s)\n", file, only);
    if (!o->compare_only && run_experiment(file, out_root, only, jobs) != 0) {
        fprintf(stderr, "normbench: regress: the runs failed\n");
        goto out;
    }
    if (csvread_load(&now, out_summary, &err))
        goto err_out;
    regress_count n = {0};
    cases_decide(&cs, only, ref_dir, out_dir);
    printf("%-36s %-22s %14s %14s %12s %12s  %s\n", "run", "metric", "reference", "now", "change", "tolerance",
           "verdict");
    if (check_metrics(&tol, c, &now, &n, &cs, &err))
        goto err_out;
    n.failed += check_status(&ref, &now, only, &cs);
    rc = regress_conclude(&n, &cs, x->name, ref_dir, out_dir, only, o);
    if (n.checked != tol.nrows) { /* a reference metric that no run produced was not compared */
        fprintf(stderr, "normbench: regress: %d of the %d metrics of %s were compared\n", n.checked, tol.nrows, ref_tol);
        rc = 1;
    }
    goto out;
err_out:
    nb_error_print(&err, stderr);
out:
    free(only);
    free(cs.c);
    csvread_free(&tol);
    csvread_free(&now);
    csvread_free(&ref);
    return rc;
}

int cmd_regress(int argc, char **argv)
{
    const char *file = "experiments/regress_quick.yaml", *ref_root = "results/reference", *out_root = "build/regress";
    int update = 0, jobs = 1, file_given = 0;
    regress_opts o = {0, 0, "results/regress/junit.xml"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--update")) {
            update = 1;
        } else if (!strcmp(a, "--compare-only")) {
            o.compare_only = 1;
        } else if (!strcmp(a, "--adopt-platform")) {
            o.adopt_platform = 1;
        } else if (!strcmp(a, "--junit") && v) {
            o.junit = v;
            i++;
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
    if (update && (o.compare_only || o.adopt_platform)) {
        regress_usage(stderr);
        rc = 2;
    } else if (!o.compare_only && remove_tree(out_dir) != 0)
        fprintf(stderr, "normbench: cannot empty %s\n", out_dir);
    else if (update)
        rc = regress_update(&x, file, out_root, out_dir, ref_dir, jobs);
    else
        rc = regress_check(&x, file, out_root, out_dir, ref_dir, jobs, &o);
    experiment_free(&x);
    return rc;
}
