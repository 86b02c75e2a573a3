/* plot_data.c — the data files the gnuplot scripts of plots/ read, written into
 * RESULTS_DIR/figures/data/ (each atomically), and the checked reading of the runs' CSVs they
 * come from; see plot_impl.h.
 *
 * Multi-run figures read one CSV of blocks (one per run, separated by two blank lines) whose
 * header's first cell is the run's legend; the scripts take it with `title columnhead(1)`. The
 * NormFace Prop. 2 loss bound (docs/theory.md §2) comes from lib/loss. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/fsutil.h"
#include "loss/loss.h"
#include "report/plot_impl.h"

/* ---- reading the runs' CSVs ------------------------------------------------------------- */

/* Reads a CSV and checks that it has the named columns (NULL-terminated) and that every cell of
 * them is a number or empty. Returns 0, or −1 with err naming file and line. */
int data_read_checked(csvread_table *t, const char *path, const char *const *cols, nb_error *err)
{
    if (csvread_load(t, path, err))
        return -1;
    for (int k = 0; cols && cols[k]; k++) {
        int j = csvread_col(t, cols[k]);
        if (j < 0) {
            nb_error_set(err, path, 1, 0, "missing column '%s'", cols[k]);
            csvread_free(t);
            return -1;
        }
        for (int i = 0; i < t->nrows; i++) {
            double v;
            if (csvread_number(t, i, j, &v, err)) {
                csvread_free(t);
                return -1;
            }
        }
    }
    return 0;
}

/* Reads <run>/<file> for every run, checking cols; runs without the file are noted as left out
 * of `what`, malformed ones recorded as errors. Returns the number of runs read; tables[i] is
 * valid (nrows ≥ 1) where ok[i]. */
int data_read_all(plot_ctx *c, const char *file, const char *const *cols, const char *what, csvread_table *tables,
                  int *ok)
{
    int n = 0, missing = 0;
    char missing_ids[1024] = "";
    c->last_missing = 0;
    for (int i = 0; i < c->n_runs; i++) {
        ok[i] = 0;
        char p[1400];
        snprintf(p, sizeof p, "%s/%s", c->runs[i].dir, file);
        if (!plot_file_exists(p)) {
            missing++;
            size_t m = strlen(missing_ids);
            if (m < 900)
                snprintf(missing_ids + m, sizeof missing_ids - m, "%s%s", m ? ", " : "", c->runs[i].id);
            continue;
        }
        nb_error e = {0};
        if (data_read_checked(&tables[i], p, cols, &e)) {
            plan_error(c, &e);
            plan_skip(c, "%s: left out %s: %s is malformed (see the error)", what, c->runs[i].id, file);
            continue;
        }
        if (tables[i].nrows == 0) {
            plan_skip(c, "%s: left out %s: %s has no rows yet", what, c->runs[i].id, file);
            csvread_free(&tables[i]);
            continue;
        }
        ok[i] = 1;
        n++;
    }
    if (missing && n)
        plan_skip(c, "%s: left out %d run(s) without %s: %s", what, missing, file, missing_ids);
    c->last_missing = missing;
    return n;
}

void data_free_all(plot_ctx *c, csvread_table *tables, int *ok)
{
    for (int i = 0; i < c->n_runs; i++)
        if (ok[i])
            csvread_free(&tables[i]);
}

/* "1 1 2 2" / "1 2 1 2": colours and dash types of the runs in sel. */
void data_styles(const plot_ctx *c, const int *sel, int n, char *colors, char *dashes, size_t size)
{
    colors[0] = dashes[0] = '\0';
    for (int i = 0; i < n; i++) {
        size_t a = strlen(colors), b = strlen(dashes);
        snprintf(colors + a, size - a, "%s%d", i ? " " : "", c->runs[sel[i]].color);
        snprintf(dashes + b, size - b, "%s%d", i ? " " : "", c->runs[sel[i]].dash);
    }
}

/* ---- writing data files ----------------------------------------------------------------- */

/* figures/data/<name>, opened for an atomic write; path receives its name. */
static int data_open(plot_ctx *c, atomic_file *a, char *path, size_t size, const char *name)
{
    nb_error e = {0};
    if (snprintf(path, size, "%s/%s", c->p->datadir, name) >= (int)size) {
        nb_error_set(&e, c->p->datadir, 0, 0, "path too long");
        plan_error(c, &e);
        return -1;
    }
    if (atomic_open(a, path, &e)) {
        plan_error(c, &e);
        return -1;
    }
    return 0;
}

static int data_commit(plot_ctx *c, atomic_file *a)
{
    nb_error e = {0};
    if (atomic_commit(a, &e)) {
        plan_error(c, &e);
        return -1;
    }
    return 0;
}

/* Reads <run>/steps.csv, checking cols, for every run that has one; a malformed one is recorded
 * as an error (the run is then drawn from metrics.csv). Returns the number of runs read; tables[i]
 * is valid (nrows ≥ 1) where ok[i]. */
int data_read_steps(plot_ctx *c, const char *const *cols, csvread_table *tables, int *ok)
{
    int n = 0;
    for (int i = 0; i < c->n_runs; i++) {
        ok[i] = 0;
        char p[1400];
        snprintf(p, sizeof p, "%s/steps.csv", c->runs[i].dir);
        if (!plot_file_exists(p))
            continue;
        nb_error e = {0};
        if (data_read_checked(&tables[i], p, cols, &e)) {
            plan_error(c, &e);
            plan_skip(c, "training curves: %s drawn per epoch from metrics.csv: steps.csv is malformed (see the error)",
                      c->runs[i].id);
            continue;
        }
        if (tables[i].nrows == 0) {
            csvread_free(&tables[i]);
            continue;
        }
        ok[i] = 1;
        n++;
    }
    return n;
}

/* <name> (training.csv, training_epochs.csv): every run's table t[i] where ok[i] as one block,
 * the runs written listed in sel. Returns 0 or −1 (recorded). */
int data_training(plot_ctx *c, const char *name, const csvread_table *t, const int *ok, int *sel, char *path,
                  size_t size)
{
    atomic_file a;
    if (data_open(c, &a, path, size, name))
        return -1;
    int k = 0;
    for (int i = 0; i < c->n_runs; i++) {
        if (!ok[i])
            continue;
        if (k)
            fputs("\n\n", a.f);
        sel[k++] = i;
        fprintf(a.f, "%s", c->runs[i].label);
        for (int j = 0; j < t[i].ncols; j++)
            fprintf(a.f, ",%s", t[i].header[j]);
        fputc('\n', a.f);
        for (int r = 0; r < t[i].nrows; r++) {
            for (int j = 0; j < t[i].ncols; j++)
                fprintf(a.f, ",%s", t[i].rows[r][j]);
            fputc('\n', a.f);
        }
    }
    return data_commit(c, &a);
}

/* One run's block of write_blocks. */
static void write_block(FILE *f, const char *label, const csvread_table *t, const int *idx, const char *const *cols,
                        int nc, int positive_first, int fraction)
{
    double total = 0;
    if (fraction)
        for (int r = 0; r < t->nrows; r++) {
            double v = plot_cell(t, r, idx[nc - 1]);
            total += isfinite(v) ? v : 0;
        }
    fprintf(f, "%s", label);
    for (int j = 0; j < nc; j++)
        fprintf(f, ",%s", (fraction && j == nc - 1) ? "fraction" : cols[j]);
    fputc('\n', f);
    for (int r = 0; r < t->nrows; r++) {
        double v0 = plot_cell(t, r, idx[0]);
        if (positive_first && !(isfinite(v0) && v0 > 0))
            continue;
        for (int j = 0; j < nc; j++) {
            if (fraction && j == nc - 1) {
                double v = plot_cell(t, r, idx[j]);
                fprintf(f, ",%.9g", total > 0 && isfinite(v) ? v / total : 0.0);
            } else
                fprintf(f, ",%s", t->rows[r][idx[j]]);
        }
        fputc('\n', f);
    }
}

/* ROC (far > 0 rows only: the axis is logarithmic), CMC, θ_y histograms and norm per quality:
 * one block per run of the listed columns; `fraction` divides the last column by its total.
 * Returns the number of blocks (runs listed in sel), or −1 (recorded). */
int data_blocks(plot_ctx *c, const char *name, csvread_table *t, const int *ok, const char *const *cols,
                int positive_first, int fraction, char *path, size_t size, int *sel)
{
    atomic_file a;
    if (data_open(c, &a, path, size, name))
        return -1;
    int k = 0;
    for (int i = 0; i < c->n_runs; i++) {
        if (!ok[i])
            continue;
        int idx[8], nc = 0;
        for (; cols[nc]; nc++)
            idx[nc] = csvread_col(&t[i], cols[nc]);
        int rows = 0;
        for (int r = 0; r < t[i].nrows; r++) {
            double v = plot_cell(&t[i], r, idx[0]);
            rows += !positive_first || (isfinite(v) && v > 0);
        }
        if (!rows)
            continue;
        if (k)
            fputs("\n\n", a.f);
        sel[k++] = i;
        write_block(a.f, c->runs[i].label, &t[i], idx, cols, nc, positive_first, fraction);
    }
    if (data_commit(c, &a))
        return -1;
    return k;
}

typedef struct {
    double x, mean, sd;
} sweep_point;

static int point_cmp(const void *a, const void *b)
{
    double x = ((const sweep_point *)a)->x, y = ((const sweep_point *)b)->x;
    return (x > y) - (x < y);
}

/* group[r] ← the group of summary_agg.csv row r: rows with equal values of every swept key but
 * kx. Returns the number of groups. */
static int sweep_groups(const csvread_table *a, int nk, int kx, int *group)
{
    int ngroups = 0;
    for (int r = 0; r < a->nrows; r++) {
        group[r] = -1;
        for (int q = 0; q < r && group[r] < 0; q++) {
            int same = 1;
            for (int k = 0; k < nk && same; k++)
                same = k == kx || !strcmp(a->rows[r][k], a->rows[q][k]);
            if (same)
                group[r] = group[q];
        }
        if (group[r] < 0)
            group[r] = ngroups++;
    }
    return ngroups;
}

/* <stem>.csv: mean (column jm) and sd (column js) against swept key kx, one block per group,
 * sorted by x. Returns 1 when written, 0 when no group has two points (nothing written), −1 on
 * an error (recorded); x receives the extent. */
int data_sweep(plot_ctx *c, int kx, int jm, int js, const char *stem, char *path, size_t size, sweep_extent *x)
{
    const csvread_table *a = &c->agg;
    int *group = nb_calloc((size_t)a->nrows + 1, sizeof *group);
    int ngroups = sweep_groups(a, agg_keys(c), kx, group), rc = -1;
    sweep_point *pts = nb_calloc((size_t)a->nrows + 1, sizeof *pts);
    *x = (sweep_extent){0, 0, INFINITY, -INFINITY};
    atomic_file af;
    char name[220];
    snprintf(name, sizeof name, "%s.csv", stem);
    if (data_open(c, &af, path, size, name))
        goto done;
    for (int g = 0; g < ngroups; g++) {
        int np = 0, first = -1;
        for (int r = 0; r < a->nrows; r++) {
            double xv = plot_cell(a, r, kx), m = plot_cell(a, r, jm), s = plot_cell(a, r, js);
            if (group[r] != g || !isfinite(xv) || !isfinite(m))
                continue;
            if (first < 0)
                first = r;
            pts[np++] = (sweep_point){xv, m, isfinite(s) ? s : 0};
        }
        if (!np)
            continue;
        qsort(pts, (size_t)np, sizeof *pts, point_cmp);
        char label[512];
        runs_agg_label(c, first, a->header[kx], label, sizeof label);
        if (x->drawn_groups)
            fputs("\n\n", af.f);
        fprintf(af.f, "%s,x,mean,sd\n", label);
        for (int i = 0; i < np; i++) {
            fprintf(af.f, ",%.10g,%.10g,%.10g\n", pts[i].x, pts[i].mean, pts[i].sd);
            x->xmin = fmin(x->xmin, pts[i].x);
            x->xmax = fmax(x->xmax, pts[i].x);
        }
        x->drawn_groups++;
        x->most = np > x->most ? np : x->most;
    }
    if (x->most < 2) {
        atomic_abort(&af);
        rc = 0;
    } else
        rc = data_commit(c, &af) ? -1 : 1;
done:
    free(group);
    free(pts);
    return rc;
}

/* <stem>_bound.csv: the NormFace bound on the loss for num_classes classes (Wang et al. Prop. 2)
 * over s a little beyond [xmin, xmax], 201 points (log-spaced when logx). Returns 0, or −1
 * (recorded) with path empty. */
int data_bound(plot_ctx *c, const char *stem, int num_classes, int logx, double xmin, double xmax, char *path,
               size_t size)
{
    atomic_file bf;
    char bname[240];
    snprintf(bname, sizeof bname, "%s_bound.csv", stem);
    if (data_open(c, &bf, path, size, bname)) {
        path[0] = '\0';
        return -1;
    }
    double lo = logx ? xmin / 1.25 : xmin - 0.05 * (xmax - xmin);
    double hi = logx ? xmax * 1.25 : xmax + 0.05 * (xmax - xmin);
    lo = lo > 1e-3 ? lo : 1e-3;
    fprintf(bf.f, "s,bound\n");
    for (int i = 0; i <= 200; i++) {
        double s = logx ? lo * pow(hi / lo, i / 200.0) : lo + (hi - lo) * i / 200.0;
        fprintf(bf.f, "%.10g,%.10g\n", s, normface_loss_bound(num_classes, s));
    }
    if (data_commit(c, &bf)) {
        path[0] = '\0';
        return -1;
    }
    return 0;
}

/* final_metrics.csv: per summary_agg.csv row its legend, then mean and sd of every metric m
 * with use[m] (metrics[m]'s column titled titles[m]). Returns 0 or −1 (recorded). */
int data_final_metrics(plot_ctx *c, const char *const *metrics, const char *const *titles, const int *use, int nm,
                       char *path, size_t size)
{
    const csvread_table *a = &c->agg;
    atomic_file af;
    if (data_open(c, &af, path, size, "final_metrics.csv"))
        return -1;
    fprintf(af.f, "label");
    for (int m = 0; m < nm; m++)
        if (use[m])
            fprintf(af.f, ",%s,%s_sd", titles[m], metrics[m]);
    fputc('\n', af.f);
    for (int r = 0; r < a->nrows; r++) {
        char label[512];
        runs_agg_label(c, r, "seed", label, sizeof label);
        fprintf(af.f, "%s", label);
        for (int m = 0; m < nm; m++) {
            if (!use[m])
                continue;
            char col[160];
            snprintf(col, sizeof col, "%s_mean", metrics[m]);
            double v = plot_cell(a, r, csvread_col(a, col));
            snprintf(col, sizeof col, "%s_sd", metrics[m]);
            double s = plot_cell(a, r, csvread_col(a, col));
            fprintf(af.f, ",%.10g,%.10g", isfinite(v) ? v : 0.0, isfinite(s) ? s : 0.0);
        }
        fputc('\n', af.f);
    }
    return data_commit(c, &af);
}
