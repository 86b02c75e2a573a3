/* summary.c — summary.csv and summary_agg.csv from run folders; see summary.h. */
#include "report/summary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/csvlog.h"
#include "io/csvread.h"
#include "io/fsutil.h"

int run_dir(char *buf, size_t size, const char *results_root, const experiment *x, int r)
{
    if (runfolder_path(buf, size, results_root, x->name, x->runs[r].id, NULL)) {
        buf[0] = '\0';
        return -1;
    }
    return 0;
}

int run_dir_read_check(const char *results_root, const experiment *x, int r, nb_error *err)
{
    char rel[300];
    if (snprintf(rel, sizeof rel, "%s/%s", x->name, x->runs[r].id) >= (int)sizeof rel)
        return nb_error_set(err, x->runs[r].id, 0, 0, "run id too long");
    return results_read_check(results_root, rel, err);
}

/* Column names of all final.csv files, in order of first appearance. */
typedef struct {
    char **name;
    int n;
} name_list;

static int name_index(name_list *l, const char *s, int add)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->name[i], s))
            return i;
    if (!add)
        return -1;
    l->name = nb_realloc(l->name, (size_t)(l->n + 1) * sizeof *l->name);
    l->name[l->n] = nb_strdup(s);
    return l->n++;
}

/* What summary_write reads: every complete run's final.csv (have[r]) and the union of their
 * columns, in order of first appearance, "status" among them. */
typedef struct {
    const experiment *x;
    const char *root;
    csvread_table *finals; /* (n_runs) */
    int *have;             /* (n_runs) */
    int *corrupt;          /* (n_runs): a final.csv that runfolder_final_check refuses */
    name_list cols;
    int status_col;
} summary_data;

static void summary_data_free(summary_data *d)
{
    for (int r = 0; r < d->x->n_runs; r++)
        if (d->have[r] || d->finals[r].header)
            csvread_free(&d->finals[r]);
    free(d->finals);
    free(d->have);
    free(d->corrupt);
    for (int i = 0; i < d->cols.n; i++)
        free(d->cols.name[i]);
    free(d->cols.name);
}

static int read_finals(summary_data *d, nb_error *err)
{
    for (int r = 0; r < d->x->n_runs; r++) {
        char dir[1100];
        if (runfolder_path(dir, sizeof dir, d->root, d->x->name, d->x->runs[r].id, err) ||
            run_dir_read_check(d->root, d->x, r, err))
            return -1;
        if (runfolder_state(dir) != RUN_COMPLETE)
            continue;
        nb_error why;
        if (runfolder_final_check(dir, &d->finals[r], &why)) { /* listed as corrupt, not summarised */
            d->corrupt[r] = 1;
            continue;
        }
        d->have[r] = 1;
        for (int c = 0; c < d->finals[r].ncols; c++)
            name_index(&d->cols, d->finals[r].header[c], 1);
    }
    d->status_col = name_index(&d->cols, "status", 1);
    return 0;
}

/* The cell of column c of run r in summary.csv: its final.csv's value, or for a run not
 * complete its state in the status column. */
static const char *summary_cell(const summary_data *d, int r, int c)
{
    if (d->have[r]) {
        int j = csvread_col(&d->finals[r], d->cols.name[c]);
        return j >= 0 ? d->finals[r].rows[0][j] : "";
    }
    if (c != d->status_col)
        return "";
    if (d->corrupt[r])
        return "corrupt";
    char dir[1100];
    if (runfolder_path(dir, sizeof dir, d->root, d->x->name, d->x->runs[r].id, NULL))
        return "pending";
    return runfolder_state(dir) == RUN_ABSENT ? "pending" : "incomplete";
}

/* summary.csv: run_id, the swept keys, then every final.csv column. */
static int write_summary(const summary_data *d, const char *path, nb_error *err)
{
    const experiment *x = d->x;
    atomic_file a;
    if (atomic_open(&a, path, err))
        return -1;
    csvlog_cell(a.f, "run_id", 1);
    for (int k = 0; k < x->n_keys; k++)
        csvlog_cell(a.f, x->keys[k], 0);
    for (int c = 0; c < d->cols.n; c++)
        csvlog_cell(a.f, d->cols.name[c], 0);
    fputc('\n', a.f);
    for (int r = 0; r < x->n_runs; r++) {
        csvlog_cell(a.f, x->runs[r].id, 1);
        for (int k = 0; k < x->n_keys; k++)
            csvlog_cell(a.f, experiment_value(x, r, k), 0);
        for (int c = 0; c < d->cols.n; c++)
            csvlog_cell(a.f, summary_cell(d, r, c), 0);
        fputc('\n', a.f);
    }
    return atomic_commit(&a, err);
}

static int diverged(const csvread_table *final)
{
    int j = csvread_col(final, "status");
    return j >= 0 && !strcmp(final->rows[0][j], "diverged");
}

/* numeric[c]: column c is a metric whose cells parse as numbers in every complete run. */
static int *numeric_columns(const summary_data *d)
{
    int *numeric = nb_calloc((size_t)d->cols.n + 1, sizeof *numeric);
    for (int c = 0; c < d->cols.n; c++) {
        numeric[c] = c != d->status_col;
        for (int r = 0; r < d->x->n_runs && numeric[c]; r++) {
            if (!d->have[r])
                continue;
            int j = csvread_col(&d->finals[r], d->cols.name[c]);
            double v;
            nb_error ignore;
            if (j >= 0 && csvread_number(&d->finals[r], 0, j, &v, &ignore))
                numeric[c] = 0;
        }
    }
    return numeric;
}

/* The swept keys but the seed (first cell without a comma when *first). */
static void agg_key_cells(FILE *f, const experiment *x, int r, int *first)
{
    for (int k = 0; k < x->n_keys; k++)
        if (strcmp(x->keys[k], "seed")) {
            csvlog_cell(f, r < 0 ? x->keys[k] : experiment_value(x, r, k), *first);
            *first = 0;
        }
}

/* One row of summary_agg.csv: the group grp (runs equal on every key but the seed, led by run
 * r): its keys, n, n_diverged, then mean and sd of each numeric column over its runs that did
 * not diverge. */
static void agg_row(FILE *f, const summary_data *d, const int *numeric, const int *grp, int r)
{
    int R = d->x->n_runs, first = 1, n = 0, n_div = 0;
    char buf[64];
    agg_key_cells(f, d->x, r, &first);
    for (int q = 0; q < R; q++)
        if (grp[q] && d->have[q]) {
            if (diverged(&d->finals[q]))
                n_div++;
            else
                n++;
        }
    snprintf(buf, sizeof buf, "%d", n);
    csvlog_cell(f, buf, first);
    snprintf(buf, sizeof buf, "%d", n_div);
    csvlog_cell(f, buf, 0);
    for (int c = 0; c < d->cols.n; c++) {
        if (!numeric[c])
            continue;
        double s = 0, s2 = 0;
        int m = 0;
        for (int q = 0; q < R; q++) {
            if (!grp[q] || !d->have[q] || diverged(&d->finals[q]))
                continue;
            int j = csvread_col(&d->finals[q], d->cols.name[c]);
            double v;
            nb_error ignore;
            if (j < 0 || csvread_number(&d->finals[q], 0, j, &v, &ignore) || isnan(v))
                continue;
            s += v;
            s2 += v * v;
            m++;
        }
        double mean = m ? s / m : NAN;
        double var = m > 1 ? (s2 - m * mean * mean) / (m - 1) : NAN;
        csvlog_cell(f, csvlog_num(buf, sizeof buf, mean), 0);
        csvlog_cell(f, csvlog_num(buf, sizeof buf, m > 1 ? sqrt(var > 0 ? var : 0) : NAN), 0);
    }
    fputc('\n', f);
}

/* summary_agg.csv: one row per group of runs equal on every swept key but the seed. */
static int write_agg(const summary_data *d, const char *path, nb_error *err)
{
    const experiment *x = d->x;
    int R = x->n_runs, first = 1;
    atomic_file a;
    if (atomic_open(&a, path, err))
        return -1;
    agg_key_cells(a.f, x, -1, &first);
    csvlog_cell(a.f, "n", first);
    csvlog_cell(a.f, "n_diverged", 0);
    int *numeric = numeric_columns(d);
    for (int c = 0; c < d->cols.n; c++)
        if (numeric[c]) {
            char h[300];
            snprintf(h, sizeof h, "%s_mean", d->cols.name[c]);
            csvlog_cell(a.f, h, 0);
            snprintf(h, sizeof h, "%s_sd", d->cols.name[c]);
            csvlog_cell(a.f, h, 0);
        }
    fputc('\n', a.f);
    int *done = nb_calloc((size_t)R + 1, sizeof *done);
    int *grp = nb_calloc((size_t)R + 1, sizeof *grp);
    for (int r = 0; r < R; r++) {
        if (done[r])
            continue;
        for (int q = 0; q < R; q++) {
            int same = q >= r;
            for (int k = 0; k < x->n_keys && same; k++)
                if (strcmp(x->keys[k], "seed"))
                    same = !strcmp(experiment_value(x, r, k), experiment_value(x, q, k));
            grp[q] = same;
            done[q] |= same;
        }
        agg_row(a.f, d, numeric, grp, r);
    }
    free(grp);
    free(done);
    free(numeric);
    return atomic_commit(&a, err);
}

int summary_write(const experiment *x, const char *results_root, nb_error *err)
{
    summary_data d = {.x = x, .root = results_root};
    d.finals = nb_calloc((size_t)x->n_runs + 1, sizeof *d.finals);
    d.have = nb_calloc((size_t)x->n_runs + 1, sizeof *d.have);
    d.corrupt = nb_calloc((size_t)x->n_runs + 1, sizeof *d.corrupt);
    int rc = -1;
    char dir[1100], path[1200];
    if (read_finals(&d, err))
        goto out;
    if (snprintf(dir, sizeof dir, "%s/%s", results_root, x->name) >= (int)sizeof dir) {
        nb_error_set(err, results_root, 0, 0, "path too long");
        goto out;
    }
    if (results_path_check(results_root, x->name, err) || mkdir_p(dir, err))
        goto out;
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    if (write_summary(&d, path, err))
        goto out;
    snprintf(path, sizeof path, "%s/summary_agg.csv", dir);
    rc = write_agg(&d, path, err);
out:
    summary_data_free(&d);
    return rc;
}

int summary_warn_corrupt(const experiment *x, const char *results_root, FILE *f)
{
    int n = 0;
    for (int r = 0; r < x->n_runs; r++) {
        char dir[1100];
        nb_error why = {0};
        if (run_dir(dir, sizeof dir, results_root, x, r) || runfolder_state(dir) != RUN_COMPLETE ||
            runfolder_final_check(dir, NULL, &why) == 0)
            continue;
        char line[16] = "";
        if (why.line > 0)
            snprintf(line, sizeof line, "%d:", why.line);
        fprintf(f, "normbench: warning: %s:%s %s (run %s is listed as corrupt in the summary, without metrics; the "
                   "next run of the experiment redoes it)\n", why.file, line, why.msg, x->runs[r].id);
        n++;
    }
    return n;
}
