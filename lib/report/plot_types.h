/* plot_types.h — the types of the figure plan (plot.h): figures, the result, options, gnuplot
 * jobs and the plan's steps. Apart from plot.h so that the planner's own header (plot_impl.h)
 * can use them without including plot.h. */
#ifndef NB_PLOT_TYPES_H
#define NB_PLOT_TYPES_H

#include <stdio.h>

/* Every figure's size in pixels (PNG and SVG); plots/common.gp holds the same numbers. */
#define PLOT_WIDTH 960
#define PLOT_HEIGHT 640

/* The section the report opens with: the 2-D feature scatter of NormFace Fig. 2 (and L2-softmax
 * Fig. 1), for runs with model.feature_dim 2 and eval.features; PLOT_SECTION_2D_LEAD is its line. */
#define PLOT_SECTION_2D "Features in two dimensions"
#define PLOT_SECTION_2D_LEAD                                                                                   \
    "The papers' picture (NormFace Fig. 2, L2-softmax Fig. 1): softmax spreads the classes radially, so the " \
    "norm of a feature says how confident it is rather than which class it is, while a normalised loss "      \
    "(NormFace) sees only the directions f/‖f‖, on the unit circle."

typedef struct {
    char stem[160];    /* figures/<stem>.png and .svg */
    char section[64];  /* report section, e.g. "Training curves" */
    char caption[2048];
} plot_figure;

typedef struct {
    char dir[1024];  /* the results folder as given */
    char name[256];  /* the experiment's name: the folder's last component */
    int n_runs;      /* run folders found */
    int n_complete;  /* of which are complete (io/runfolder.h) */
    plot_figure *figs;
    int n_figs;
    char **skipped; /* "figure: reason", one per figure (or run within a figure) not drawn */
    int n_skipped;
    char **errors; /* "file:line: message": malformed CSVs and gnuplot failures */
    int n_errors;
} plot_result;

typedef struct {
    const char *scripts_dir; /* folder of the .gp scripts; NULL: <executable>/../plots, else ./plots */
    int verbose;             /* pass gnuplot's output on to log */
    FILE *log;               /* one line per figure drawn, skipped or failed; NULL for none */
} plot_options;

/* One run of gnuplot: `gnuplot -c script argv[0] … argv[argc-1]`, which should write out. */
#define PLOT_JOB_ARGS 14
typedef struct {
    char script[1400];
    char *argv[PLOT_JOB_ARGS]; /* FMT, OUT (the temporary name), then the script's own arguments */
    int argc;
    char fmt[8];     /* "png" or "svg" */
    char out[1500];  /* the temporary file gnuplot writes */
    char final[1400]; /* where plot_job_done renames it */
} plot_job;

typedef enum { PLOT_STEP_SKIP, PLOT_STEP_ERROR, PLOT_STEP_FIGURE } plot_step_kind;

/* A step of the plan: a note (SKIP, ERROR: text) or a figure drawn by its jobs, PNG then SVG. */
typedef struct {
    plot_step_kind kind;
    char *text;
    plot_figure fig;
    plot_job jobs[2];
    int n_jobs;
} plot_step;

typedef struct {
    const plot_options *o;
    char scripts[1024];
    char figdir[1100], datadir[1200];
    plot_step *steps;
    int n_steps;
} plot_plan;

#endif
