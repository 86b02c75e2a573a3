/* plot.h — the figures of an experiment, planned from its results folder's CSVs alone.
 *
 * plot_open() and plot_plan_make() look at RESULTS_DIR (summary.csv, summary_agg.csv and one folder per
 * run, see README "Plots and reports"), decide which figures apply (training curves, sweep curves
 * with the docs/theory.md §2 theory overlaid, ROC and CMC, 2-D/3-D feature scatter, feature-norm
 * and θ_y histograms, final metrics per loss) and write the small data files the scripts read into
 * RESULTS_DIR/figures/data/. The plan is a list of steps: notes (a figure not drawn, with the
 * reason; a malformed CSV, as an error naming file and line) and figures, each with its gnuplot
 * jobs (`gnuplot -c script ARG…`, file names passed as arguments, never as script text) drawing
 * RESULTS_DIR/figures/<name>.png and .svg to temporary names. The caller starts the jobs (lib/
 * starts no process: runners/cmd_plot.c does) and hands every step back in order, with each job's
 * outcome; plot_job_done renames what was drawn into place, and the plot_result lists what was
 * drawn, skipped and failed. report.h turns the result into report.md and report.html. */
#ifndef NB_PLOT_H
#define NB_PLOT_H

#include "core/error.h"
#include "report/plot_types.h"

/* plot_open's status when the scripts folder has no common.gp (the caller says how to name one). */
#define PLOT_NO_SCRIPTS (-2)

/* Opens the results folder dir: checks it is a folder, finds the scripts (o->scripts_dir or the
 * default) and creates dir/figures/data/. Returns 0; −1 with err when dir is not a folder or
 * figures/ cannot be made; PLOT_NO_SCRIPTS with err naming the missing common.gp. p and r are
 * filled either way (o must outlive p) and must be freed with plot_plan_free and plot_result_free. */
int plot_open(plot_plan *p, plot_result *r, const char *dir, const plot_options *o, nb_error *err);
/* Decides which figures apply and writes their data files; fills p->steps. Returns 0, or −1 with
 * err when the folder cannot be listed. */
int plot_plan_make(plot_plan *p, plot_result *r, nb_error *err);
/* Step i is a note: records it in r (and o->log). */
void plot_note_done(const plot_plan *p, plot_result *r, int i);
/* Job j of figure step i has run: status is gnuplot's exit status (127: it could not be started),
 * output what it printed. Moves the drawing into place, or records an error in r (and o->log);
 * the figure is recorded in r after its last job. Returns 0, or −1 when the job failed (the
 * figure's other jobs are then not to be run). */
int plot_job_done(const plot_plan *p, plot_result *r, int i, int j, int status, char *output);
void plot_plan_free(plot_plan *p);
void plot_result_free(plot_result *r);

/* Writes dir/report.md and dir/report.html (figures linked by relative path, summary table from
 * summary_agg.csv with mean ± sd over seeds, what was skipped and why). Returns 0 or −1 with err. */
int report_write(const plot_result *r, nb_error *err);

#endif
