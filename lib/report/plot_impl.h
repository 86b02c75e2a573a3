/* plot_impl.h — what the parts of the figure planner share inside lib/report/: plot.c (the plan
 * and its steps), plot_runs.c (run folders and legends), plot_data.c (the data files the scripts
 * read) and plot_figures.c (which figures apply). Not for use outside lib/report/. */
#ifndef NB_PLOT_IMPL_H
#define NB_PLOT_IMPL_H

#include "config/flatten.h"
#include "io/csvread.h"
#include "report/plot_types.h"

typedef struct {
    char id[256];
    char dir[1300];
    config_entries cfg; /* config.yaml as key paths ("loss.s"); empty when it could not be read */
    char loss_type[256];
    char group[512];  /* legend without the seed */
    char label[1024]; /* legend */
    int normalised;   /* the loss normalises features */
    int complete;     /* io/runfolder.h: RUN_COMPLETE */
    int color, dash;  /* line colour per group, dash per seed within the group */
} run_info;

typedef struct {
    plot_plan *p;
    plot_result *r;
    run_info *runs;
    int n_runs;
    char (*swept)[128]; /* swept keys (summary.csv columns between run_id and status) */
    int n_swept;
    unsigned char *legend_keep; /* (n_swept) which swept keys legends name (plot_runs.c) */
    char legend_keep_for[128];  /* … with this key left out ("" for none) */
    int last_missing; /* runs without the file in the last read_all */
    char agg_why[64]; /* why there is no summary_agg table: "no" or "no readable" */
    csvread_table summary, agg;
    int have_summary, have_agg;
} plot_ctx;

/* plot.c: the plan's steps. */
void plan_skip(plot_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void plan_error(plot_ctx *c, const nb_error *e);
/* A figure drawn by plots/<script> with args (after FMT and OUT) into figures/<stem>.png, .svg. */
void plan_figure(plot_ctx *c, const char *stem, const char *script, const char *section, const char *caption,
                 const char *const *args, int nargs);

/* plot.c: small helpers. */
int plot_file_exists(const char *path);
int plot_is_number(const char *s, double *v);
/* The number in cell (row, col), or NAN. */
double plot_cell(const csvread_table *t, int row, int col);

/* plot_runs.c */
int runs_find(plot_ctx *c, nb_error *err);
void runs_free(plot_ctx *c);
/* A run's legend without the seed; the key `exclude` (a sweep's x axis) is left out. */
void runs_group_label(plot_ctx *c, const run_info *u, const char *exclude, char *out, size_t size);
/* The legend of row `row` of summary_agg.csv. */
void runs_agg_label(plot_ctx *c, int row, const char *exclude, char *out, size_t size);
/* Swept keys of summary_agg.csv: the columns before "n". */
int agg_keys(const plot_ctx *c);

/* plot_data.c */
int data_read_checked(csvread_table *t, const char *path, const char *const *cols, nb_error *err);
int data_read_all(plot_ctx *c, const char *file, const char *const *cols, const char *what, csvread_table *tables,
                  int *ok);
void data_free_all(plot_ctx *c, csvread_table *tables, int *ok);
void data_styles(const plot_ctx *c, const int *sel, int n, char *colors, char *dashes, size_t size);
int data_read_steps(plot_ctx *c, const char *const *cols, csvread_table *tables, int *ok);
int data_training(plot_ctx *c, const char *name, const csvread_table *t, const int *ok, int *sel, char *path,
                  size_t size);
int data_blocks(plot_ctx *c, const char *name, csvread_table *t, const int *ok, const char *const *cols,
                int positive_first, int fraction, char *path, size_t size, int *sel);
/* A sweep's points from summary_agg.csv, one block per combination of the other swept keys. */
typedef struct {
    int drawn_groups, most; /* blocks written; most points in one block */
    double xmin, xmax;
} sweep_extent;
int data_sweep(plot_ctx *c, int kx, int jm, int js, const char *stem, char *path, size_t size, sweep_extent *x);
int data_bound(plot_ctx *c, const char *stem, int num_classes, int logx, double xmin, double xmax, char *path,
               size_t size);
int data_final_metrics(plot_ctx *c, const char *const *metrics, const char *const *titles, const int *use, int nm,
                       char *path, size_t size);

/* plot_figures.c */
void figures_training(plot_ctx *c);
void figures_combined(plot_ctx *c);
void figures_features(plot_ctx *c);
void figures_sweep(plot_ctx *c);
void figures_bars(plot_ctx *c);

#endif
