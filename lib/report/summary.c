/* summary.c — summary.csv and summary_agg.csv from run folders; see summary.h. */
#include "report/summary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/csvlog.h"
#include "io/csvread.h"
#include "io/fsutil.h"

void run_dir(char *buf, size_t size, const char *results_root, const experiment *x, int r)
{
    snprintf(buf, size, "%s/%s/%s", results_root, x->name, x->runs[r].id);
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

int summary_write(const experiment *x, const char *results_root, nb_error *err)
{
    int R = x->n_runs, rc = -1;
    csvread_table *finals = nb_calloc((size_t)R, sizeof *finals);
    int *have = nb_calloc((size_t)R, sizeof *have);
    name_list cols = {0};
    for (int r = 0; r < R; r++) {
        char dir[1100], path[1200];
        run_dir(dir, sizeof dir, results_root, x, r);
        if (runfolder_state(dir) != RUN_COMPLETE)
            continue;
        snprintf(path, sizeof path, "%s/final.csv", dir);
        if (csvread_load(&finals[r], path, err))
            goto out;
        if (finals[r].nrows != 1) {
            nb_error_set(err, path, 0, 0, "expected one row of final metrics, found %d", finals[r].nrows);
            goto out;
        }
        have[r] = 1;
        for (int c = 0; c < finals[r].ncols; c++)
            name_index(&cols, finals[r].header[c], 1);
    }
    if (name_index(&cols, "status", 0) < 0)
        name_index(&cols, "status", 1);

    char dir[1100], path[1200];
    snprintf(dir, sizeof dir, "%s/%s", results_root, x->name);
    if (results_path_check(results_root, x->name, err) || mkdir_p(dir, err))
        goto out;

    /* summary.csv */
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    atomic_file a;
    if (atomic_open(&a, path, err))
        goto out;
    int status_col = name_index(&cols, "status", 0);
    csvlog_cell(a.f, "run_id", 1);
    for (int k = 0; k < x->n_keys; k++)
        csvlog_cell(a.f, x->keys[k], 0);
    for (int c = 0; c < cols.n; c++)
        csvlog_cell(a.f, cols.name[c], 0);
    fputc('\n', a.f);
    for (int r = 0; r < R; r++) {
        csvlog_cell(a.f, x->runs[r].id, 1);
        for (int k = 0; k < x->n_keys; k++)
            csvlog_cell(a.f, experiment_value(x, r, k), 0);
        for (int c = 0; c < cols.n; c++) {
            const char *v = "";
            if (have[r]) {
                int j = csvread_col(&finals[r], cols.name[c]);
                if (j >= 0)
                    v = finals[r].rows[0][j];
            } else if (c == status_col) {
                char d2[1100];
                run_dir(d2, sizeof d2, results_root, x, r);
                v = runfolder_state(d2) == RUN_ABSENT ? "pending" : "incomplete";
            }
            csvlog_cell(a.f, v, 0);
        }
        fputc('\n', a.f);
    }
    if (atomic_commit(&a, err))
        goto out;

    /* summary_agg.csv: group by every swept key but the seed */
    snprintf(path, sizeof path, "%s/summary_agg.csv", dir);
    if (atomic_open(&a, path, err))
        goto out;
    int first = 1;
    for (int k = 0; k < x->n_keys; k++)
        if (strcmp(x->keys[k], "seed")) {
            csvlog_cell(a.f, x->keys[k], first);
            first = 0;
        }
    csvlog_cell(a.f, "n", first);
    csvlog_cell(a.f, "n_diverged", 0);
    /* numeric metric columns: those whose cells parse as numbers in every complete run */
    int *numeric = nb_calloc((size_t)cols.n, sizeof *numeric);
    for (int c = 0; c < cols.n; c++) {
        numeric[c] = c != status_col;
        for (int r = 0; r < R && numeric[c]; r++) {
            if (!have[r])
                continue;
            int j = csvread_col(&finals[r], cols.name[c]);
            double v;
            nb_error ignore;
            if (j >= 0 && csvread_number(&finals[r], 0, j, &v, &ignore))
                numeric[c] = 0;
        }
        if (numeric[c]) {
            char h[300];
            snprintf(h, sizeof h, "%s_mean", cols.name[c]);
            csvlog_cell(a.f, h, 0);
            snprintf(h, sizeof h, "%s_sd", cols.name[c]);
            csvlog_cell(a.f, h, 0);
        }
    }
    fputc('\n', a.f);
    int *done = nb_calloc((size_t)R, sizeof *done);
    for (int r = 0; r < R; r++) {
        if (done[r])
            continue;
        /* the group of r: runs equal on every non-seed key */
        int *grp = nb_calloc((size_t)R, sizeof *grp);
        for (int q = r; q < R; q++) {
            int same = 1;
            for (int k = 0; k < x->n_keys && same; k++)
                if (strcmp(x->keys[k], "seed"))
                    same = !strcmp(experiment_value(x, r, k), experiment_value(x, q, k));
            if (same)
                grp[q] = done[q] = 1;
        }
        first = 1;
        for (int k = 0; k < x->n_keys; k++)
            if (strcmp(x->keys[k], "seed")) {
                csvlog_cell(a.f, experiment_value(x, r, k), first);
                first = 0;
            }
        int n = 0, n_div = 0;
        for (int q = 0; q < R; q++)
            if (grp[q] && have[q]) {
                int j = csvread_col(&finals[q], "status");
                if (j >= 0 && !strcmp(finals[q].rows[0][j], "diverged"))
                    n_div++;
                else
                    n++;
            }
        char buf[64];
        snprintf(buf, sizeof buf, "%d", n);
        csvlog_cell(a.f, buf, first);
        snprintf(buf, sizeof buf, "%d", n_div);
        csvlog_cell(a.f, buf, 0);
        for (int c = 0; c < cols.n; c++) {
            if (!numeric[c])
                continue;
            double s = 0, s2 = 0;
            int m = 0;
            for (int q = 0; q < R; q++) {
                if (!grp[q] || !have[q])
                    continue;
                int js = csvread_col(&finals[q], "status");
                if (js >= 0 && !strcmp(finals[q].rows[0][js], "diverged"))
                    continue;
                int j = csvread_col(&finals[q], cols.name[c]);
                double v;
                nb_error ignore;
                if (j < 0 || csvread_number(&finals[q], 0, j, &v, &ignore) || isnan(v))
                    continue;
                s += v;
                s2 += v * v;
                m++;
            }
            double mean = m ? s / m : NAN;
            double var = m > 1 ? (s2 - m * mean * mean) / (m - 1) : NAN;
            csvlog_cell(a.f, csvlog_num(buf, sizeof buf, mean), 0);
            csvlog_cell(a.f, csvlog_num(buf, sizeof buf, m > 1 ? sqrt(var > 0 ? var : 0) : NAN), 0);
        }
        fputc('\n', a.f);
        free(grp);
    }
    free(done);
    free(numeric);
    rc = atomic_commit(&a, err);
out:
    for (int r = 0; r < R; r++)
        if (have[r] || finals[r].header)
            csvread_free(&finals[r]);
    free(finals);
    free(have);
    for (int i = 0; i < cols.n; i++)
        free(cols.name[i]);
    free(cols.name);
    return rc;
}
