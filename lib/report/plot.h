/* plot.h — the figures of an experiment, drawn by gnuplot from its results folder's CSVs alone.
 *
 * plot_results() looks at RESULTS_DIR (summary.csv, summary_agg.csv and one folder per run, see
 * README "Plots and reports"), decides which figures apply (training curves, sweep curves with
 * the docs/theory.md §2 theory overlaid, ROC and CMC, 2-D/3-D feature scatter, feature-norm and θ_y
 * histograms, final metrics per loss), writes the small data files the scripts read into
 * RESULTS_DIR/figures/data/, and runs the scripts of plots/ (`gnuplot -c script ARG…`, file names
 * passed as arguments, never as script text) to draw RESULTS_DIR/figures/<name>.png and .svg, each
 * written to a temporary name and renamed. What it cannot draw is recorded with the reason; a
 * malformed CSV is recorded as an error naming file and line, and every other figure is still
 * drawn. report.h turns the result into report.md and report.html. */
#ifndef NB_PLOT_H
#define NB_PLOT_H

#include <stdio.h>

#include "core/error.h"

/* Every figure's size in pixels (PNG and SVG); plots/common.gp holds the same numbers. */
#define PLOT_WIDTH 960
#define PLOT_HEIGHT 640

typedef struct {
    char stem[160];    /* figures/<stem>.png and .svg */
    char section[64];  /* report section, e.g. "Training curves" */
    char caption[2048];
} plot_figure;

typedef struct {
    char dir[1024];  /* the results folder as given */
    char name[256];  /* the experiment's name: the folder's last component */
    int n_runs;      /* run folders found */
    int n_complete;  /* of which have final.csv */
    plot_figure *figs;
    int n_figs;
    char **skipped; /* "figure: reason", one per figure (or run within a figure) not drawn */
    int n_skipped;
    char **errors; /* "file:line: message": malformed CSVs and gnuplot failures */
    int n_errors;
} plot_result;

typedef struct {
    const char *scripts_dir; /* folder of the .gp scripts; NULL: <executable>/../plots, else ./plots */
    const char *gnuplot;     /* program to run; NULL: "gnuplot" from PATH */
    int verbose;             /* pass gnuplot's warnings on to log */
    FILE *log;               /* one line per figure drawn, skipped or failed; NULL for none */
} plot_options;

/* Draws every figure that applies to the results folder dir into dir/figures/. Returns 0 when
 * the folder could be examined (r then lists figures, skips and errors — check r->n_figs and
 * r->n_errors), or −1 with err when it cannot (not a folder, no scripts, no gnuplot, cannot write
 * figures/). r is filled either way and must be freed with plot_result_free. */
int plot_results(plot_result *r, const char *dir, const plot_options *o, nb_error *err);
void plot_result_free(plot_result *r);

/* Writes dir/report.md and dir/report.html (figures linked by relative path, summary table from
 * summary_agg.csv with mean ± sd over seeds, what was skipped and why). Returns 0 or −1 with err. */
int report_write(const plot_result *r, nb_error *err);

#endif
