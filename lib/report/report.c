/* report.c — an experiment's report: report.md (readable on a code-hosting site) and report.html
 * (one file with inline CSS, no scripts, no external assets), both beside the figures they link by
 * relative path. The summary table is summary_agg.csv's mean ± sd over seeds of the headline
 * metrics, after the 2-D feature scatter of the runs that have one (the papers' picture), which opens
 * the report; then every other figure with its caption; then what was not drawn and why, and the
 * errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/csvread.h"
#include "io/fsutil.h"
#include "report/plot.h"

static const struct {
    const char *metric, *title;
} report_metrics[] = {
    {"test_acc", "test acc."},        {"verify_acc", "verification acc."}, {"auc", "AUC"},
    {"eer", "EER"},                   {"rank1", "rank-1"},                 {"min_train_loss", "min. train loss"},
    {"feature_norm", "feature norm"}, {"learned_scale", "learned scale"},
};
#define N_REPORT_METRICS (sizeof report_metrics / sizeof report_metrics[0])

/* The summary table as text cells: header then rows; empty when summary_agg.csv is absent. */
typedef struct {
    int ncols, nrows;
    char **cells; /* (nrows + 1) × ncols */
    char why[1200]; /* why there is no table */
} table;

static void table_free(table *t)
{
    for (int i = 0; i < (t->nrows + 1) * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
}

static double num(const csvread_table *a, int r, int j)
{
    double v;
    if (j < 0 || csvread_number(a, r, j, &v, NULL))
        return NAN;
    return v;
}

static void build_table(table *t, const char *dir)
{
    memset(t, 0, sizeof *t);
    char path[1200];
    snprintf(path, sizeof path, "%s/summary_agg.csv", dir);
    csvread_table a;
    nb_error e = {0};
    if (csvread_load(&a, path, &e)) {
        snprintf(t->why, sizeof t->why, "%s", e.msg);
        return;
    }
    int nk = csvread_col(&a, "n"), jd = csvread_col(&a, "n_diverged");
    if (nk < 0) {
        snprintf(t->why, sizeof t->why, "summary_agg.csv has no column 'n'");
        csvread_free(&a);
        return;
    }
    int use[N_REPORT_METRICS], nm = 0;
    for (size_t m = 0; m < N_REPORT_METRICS; m++) {
        char col[160];
        snprintf(col, sizeof col, "%s_mean", report_metrics[m].metric);
        int j = csvread_col(&a, col);
        use[m] = 0;
        for (int r = 0; j >= 0 && r < a.nrows; r++)
            use[m] |= isfinite(num(&a, r, j));
        nm += use[m];
    }
    t->ncols = nk + 2 + nm;
    t->nrows = a.nrows;
    t->cells = nb_calloc((size_t)(t->nrows + 1) * (size_t)t->ncols, sizeof *t->cells);
    int c = 0;
    for (int k = 0; k < nk; k++)
        t->cells[c++] = nb_strdup(a.header[k]);
    t->cells[c++] = nb_strdup("runs");
    t->cells[c++] = nb_strdup("diverged");
    for (size_t m = 0; m < N_REPORT_METRICS; m++)
        if (use[m])
            t->cells[c++] = nb_strdup(report_metrics[m].title);
    for (int r = 0; r < a.nrows; r++) {
        for (int k = 0; k < nk; k++) {
            double v;
            char buf[256];
            if (a.rows[r][k][0] && !csvread_number(&a, r, k, &v, NULL))
                snprintf(buf, sizeof buf, "%g", v);
            else
                snprintf(buf, sizeof buf, "%s", a.rows[r][k][0] ? a.rows[r][k] : "–");
            t->cells[c++] = nb_strdup(buf);
        }
        t->cells[c++] = nb_strdup(a.rows[r][nk]);
        t->cells[c++] = nb_strdup(jd >= 0 && a.rows[r][jd][0] ? a.rows[r][jd] : "–");
        for (size_t m = 0; m < N_REPORT_METRICS; m++) {
            if (!use[m])
                continue;
            char col[160], buf[128];
            snprintf(col, sizeof col, "%s_mean", report_metrics[m].metric);
            double mean = num(&a, r, csvread_col(&a, col));
            snprintf(col, sizeof col, "%s_sd", report_metrics[m].metric);
            double sd = num(&a, r, csvread_col(&a, col));
            if (!isfinite(mean))
                snprintf(buf, sizeof buf, "–");
            else if (isfinite(sd))
                snprintf(buf, sizeof buf, "%.4g ± %.2g", mean, sd);
            else
                snprintf(buf, sizeof buf, "%.4g", mean);
            t->cells[c++] = nb_strdup(buf);
        }
    }
    csvread_free(&a);
}

static void md_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|' || *s == '*' || *s == '_' || *s == '[' || *s == ']' || *s == '<' || *s == '`')
            fputc('\\', f);
        fputc(*s, f);
    }
}

static void html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* Figures in the order of their sections' first appearance, the 2-D features (PLOT_SECTION_2D)
 * first. */
static int *figure_order(const plot_result *r)
{
    int *order = nb_calloc((size_t)r->n_figs + 1, sizeof *order), n = 0;
    for (int j = 0; j < r->n_figs; j++)
        if (!strcmp(r->figs[j].section, PLOT_SECTION_2D))
            order[n++] = j;
    for (int i = 0; i < r->n_figs; i++) {
        if (!strcmp(r->figs[i].section, PLOT_SECTION_2D))
            continue;
        int seen = 0;
        for (int j = 0; j < i; j++)
            seen |= !strcmp(r->figs[j].section, r->figs[i].section);
        if (seen)
            continue;
        for (int j = i; j < r->n_figs; j++)
            if (!strcmp(r->figs[j].section, r->figs[i].section))
                order[n++] = j;
    }
    return order;
}

/* Figures order[from .. to−1] (Markdown), each section under its heading. */
static void md_figures(FILE *f, const plot_result *r, const int *order, int from, int to)
{
    const char *section = "";
    for (int k = from; k < to; k++) {
        const plot_figure *g = &r->figs[order[k]];
        if (strcmp(section, g->section)) {
            section = g->section;
            fprintf(f, "## %s\n\n", section);
            if (!strcmp(section, PLOT_SECTION_2D)) {
                md_text(f, PLOT_SECTION_2D_LEAD);
                fprintf(f, "\n\n");
            }
        }
        fprintf(f, "![%s](figures/%s.png)\n\n**Figure %d.** ", g->stem, g->stem, k + 1);
        md_text(f, g->caption);
        fprintf(f, " ([SVG](figures/%s.svg))\n\n", g->stem);
    }
}

/* Figures order[from .. to−1] (HTML), each section under its heading. */
static void html_figures(FILE *f, const plot_result *r, const int *order, int from, int to)
{
    const char *section = "";
    for (int k = from; k < to; k++) {
        const plot_figure *g = &r->figs[order[k]];
        if (strcmp(section, g->section)) {
            section = g->section;
            fprintf(f, "<h2>");
            html_text(f, section);
            fprintf(f, "</h2>\n");
            if (!strcmp(section, PLOT_SECTION_2D)) {
                fprintf(f, "<p>");
                html_text(f, PLOT_SECTION_2D_LEAD);
                fprintf(f, "</p>\n");
            }
        }
        fprintf(f, "<figure id=\"%s\">\n<img src=\"figures/%s.png\" alt=\"%s\" width=\"%d\" height=\"%d\">\n"
                   "<figcaption><b>Figure %d.</b> ",
                g->stem, g->stem, g->stem, PLOT_WIDTH, PLOT_HEIGHT, k + 1);
        html_text(f, g->caption);
        fprintf(f, " (<a href=\"figures/%s.svg\">SVG</a>)</figcaption>\n</figure>\n", g->stem);
    }
}

/* The figures of PLOT_SECTION_2D, which open the report (figure_order puts them first). */
static int lead_figures(const plot_result *r, const int *order)
{
    int n = 0;
    while (n < r->n_figs && !strcmp(r->figs[order[n]].section, PLOT_SECTION_2D))
        n++;
    return n;
}

static void status_line(const plot_result *r, char *buf, size_t size)
{
    int running = r->n_runs - r->n_complete;
    snprintf(buf, size, "%d run folder(s), %d complete%s", r->n_runs, r->n_complete,
             running ? "; the others have no final.csv yet (still running, stopped or failed) and are "
                       "drawn as far as they got"
                     : "");
}

static void write_md(FILE *f, const plot_result *r, const table *t, const int *order)
{
    char status[512];
    status_line(r, status, sizeof status);
    fprintf(f, "# Results: ");
    md_text(f, r->name);
    fprintf(f, "\n\n%s. Drawn by `normbench plot` from the CSV files of this folder; each figure's data is in "
               "`figures/data/` or the run folders, and the gnuplot script named in its caption redraws it "
               "(see the README, \"Plots and reports\").\n\n",
            status);
    int lead = lead_figures(r, order);
    md_figures(f, r, order, 0, lead);
    fprintf(f, "## Summary (mean ± sd over seeds)\n\n");
    if (!t->ncols) {
        fprintf(f, "No summary table: ");
        md_text(f, t->why);
        fprintf(f, " (`normbench collect EXPERIMENT.yaml` writes summary_agg.csv).\n\n");
    } else {
        for (int row = 0; row <= t->nrows; row++) {
            fputc('|', f);
            for (int j = 0; j < t->ncols; j++) {
                fputc(' ', f);
                md_text(f, t->cells[row * t->ncols + j]);
                fputs(" |", f);
            }
            fputc('\n', f);
            if (row == 0) {
                fputc('|', f);
                for (int j = 0; j < t->ncols; j++)
                    fputs("---|", f);
                fputc('\n', f);
            }
        }
        fprintf(f, "\nFrom [summary_agg.csv](summary_agg.csv) (every metric); one row per run in "
                   "[summary.csv](summary.csv).\n\n");
    }
    md_figures(f, r, order, lead, r->n_figs);
    if (r->n_skipped) {
        fprintf(f, "## Not drawn\n\n");
        for (int i = 0; i < r->n_skipped; i++) {
            fprintf(f, "- ");
            md_text(f, r->skipped[i]);
            fputc('\n', f);
        }
        fputc('\n', f);
    }
    if (r->n_errors) {
        fprintf(f, "## Errors\n\n");
        for (int i = 0; i < r->n_errors; i++) {
            fprintf(f, "- ");
            md_text(f, r->errors[i]);
            fputc('\n', f);
        }
        fputc('\n', f);
    }
}

static void write_html(FILE *f, const plot_result *r, const table *t, const int *order)
{
    char status[512];
    status_line(r, status, sizeof status);
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Results: ");
    html_text(f, r->name);
    fprintf(f, "</title>\n<style>\n"
               "body { font-family: 'DejaVu Sans', Verdana, sans-serif; max-width: 1000px; margin: 2em auto; "
               "padding: 0 1em; color: #222; line-height: 1.45; }\n"
               "h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }\n"
               "table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; display: block; overflow-x: auto; }\n"
               "th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; white-space: nowrap; }\n"
               "th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }\n"
               "figure { margin: 1.5em 0; } figure img { width: 100%%; max-width: %dpx; height: auto; "
               "border: 1px solid #eee; }\n"
               "figcaption { font-size: 0.9em; color: #444; }\n"
               "code { background: #f4f4f4; padding: 0 0.2em; } .err { color: #a00; }\n"
               "</style>\n</head>\n<body>\n<h1>Results: ",
            PLOT_WIDTH);
    html_text(f, r->name);
    fprintf(f, "</h1>\n<p>");
    html_text(f, status);
    fprintf(f, ". Drawn by <code>normbench plot</code> from the CSV files of this folder; each figure's data is in "
               "<code>figures/data/</code> or the run folders, and the gnuplot script named in its caption "
               "redraws it.</p>\n");
    int lead = lead_figures(r, order);
    html_figures(f, r, order, 0, lead);
    fprintf(f, "<h2>Summary (mean ± sd over seeds)</h2>\n");
    if (!t->ncols) {
        fprintf(f, "<p>No summary table: ");
        html_text(f, t->why);
        fprintf(f, " (<code>normbench collect EXPERIMENT.yaml</code> writes summary_agg.csv).</p>\n");
    } else {
        fprintf(f, "<table>\n");
        for (int row = 0; row <= t->nrows; row++) {
            fprintf(f, "<tr>");
            for (int j = 0; j < t->ncols; j++) {
                fprintf(f, row ? "<td>" : "<th>");
                html_text(f, t->cells[row * t->ncols + j]);
                fprintf(f, row ? "</td>" : "</th>");
            }
            fprintf(f, "</tr>\n");
        }
        fprintf(f, "</table>\n<p>From <a href=\"summary_agg.csv\">summary_agg.csv</a> (every metric); one row per "
                   "run in <a href=\"summary.csv\">summary.csv</a>.</p>\n");
    }
    html_figures(f, r, order, lead, r->n_figs);
    if (r->n_skipped) {
        fprintf(f, "<h2>Not drawn</h2>\n<ul>\n");
        for (int i = 0; i < r->n_skipped; i++) {
            fprintf(f, "<li>");
            html_text(f, r->skipped[i]);
            fprintf(f, "</li>\n");
        }
        fprintf(f, "</ul>\n");
    }
    if (r->n_errors) {
        fprintf(f, "<h2>Errors</h2>\n<ul class=\"err\">\n");
        for (int i = 0; i < r->n_errors; i++) {
            fprintf(f, "<li>");
            html_text(f, r->errors[i]);
            fprintf(f, "</li>\n");
        }
        fprintf(f, "</ul>\n");
    }
    fprintf(f, "</body>\n</html>\n");
}

int report_write(const plot_result *r, nb_error *err)
{
    table t;
    build_table(&t, r->dir);
    int *order = figure_order(r);
    char path[1200];
    atomic_file a;
    int rc = 0;
    snprintf(path, sizeof path, "%s/report.md", r->dir);
    if (atomic_open(&a, path, err) == 0) {
        write_md(a.f, r, &t, order);
        rc = atomic_commit(&a, err);
    } else
        rc = -1;
    snprintf(path, sizeof path, "%s/report.html", r->dir);
    if (rc == 0 && atomic_open(&a, path, err) == 0) {
        write_html(a.f, r, &t, order);
        rc = atomic_commit(&a, err);
    } else
        rc = -1;
    free(order);
    table_free(&t);
    return rc;
}
