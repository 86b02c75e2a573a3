/* cmd_plot.c — `normbench plot RESULTS_DIR`: every figure that applies to an experiment's results
 * folder, drawn by gnuplot from its CSVs (lib/report/plot.c, the scripts in plots/), and report.md / report.html
 * beside them (lib/report/report.c). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "report/plot.h"

static void plot_usage(FILE *f)
{
    fprintf(f,
            "usage: normbench plot RESULTS_DIR [--scripts DIR] [--gnuplot PROGRAM] [--no-report] [--quiet] [--verbose]\n"
            "  Draws every figure that applies to RESULTS_DIR (results/<experiment>/: summary.csv,\n"
            "  summary_agg.csv and one folder per run) into RESULTS_DIR/figures/<name>.png and .svg\n"
            "  (%d x %d pixels), and writes RESULTS_DIR/report.md and report.html. Runs still in\n"
            "  progress (no final.csv) are drawn as far as they got; a figure that does not apply or\n"
            "  lacks its CSVs is skipped with a line saying why.\n"
            "  --scripts DIR      the gnuplot scripts (default: plots/ beside bin/, else ./plots)\n"
            "  --gnuplot PROGRAM  gnuplot to run (default: gnuplot from PATH)\n"
            "  --no-report        figures only\n"
            "  --quiet            print only errors and the final count\n"
            "  --verbose          also print gnuplot's warnings\n"
            "exit status: 0 when at least one figure was drawn and no error occurred (skipped figures\n"
            "  are not errors); 1 when a CSV was malformed (the error names file and line) or gnuplot\n"
            "  failed on a figure -- every other figure is still drawn -- or when nothing could be\n"
            "  drawn; 2 on a usage error or when the folder cannot be examined at all.\n",
            PLOT_WIDTH, PLOT_HEIGHT);
}

int cmd_plot(int argc, char **argv)
{
    const char *dir = NULL;
    plot_options o = {.log = stdout};
    int report = 1, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            plot_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--scripts") && i + 1 < argc) {
            o.scripts_dir = argv[++i];
        } else if (!strcmp(a, "--gnuplot") && i + 1 < argc) {
            o.gnuplot = argv[++i];
        } else if (!strcmp(a, "--no-report")) {
            report = 0;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--verbose")) {
            o.verbose = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "normbench plot: unknown option or missing value: %s\n", a);
            plot_usage(stderr);
            return 2;
        } else if (!dir) {
            dir = a;
        } else {
            fprintf(stderr, "normbench plot: one RESULTS_DIR only (got '%s' and '%s')\n", dir, a);
            return 2;
        }
    }
    if (!dir) {
        plot_usage(stderr);
        return 2;
    }
    if (quiet)
        o.log = NULL;
    plot_result r;
    nb_error err = {0};
    if (plot_results(&r, dir, &o, &err)) {
        nb_error_print(&err, stderr);
        plot_result_free(&r);
        return 2;
    }
    /* errors go to stderr once more, whatever --quiet says, so that scripts see them */
    for (int i = 0; i < r.n_errors; i++)
        fprintf(stderr, "normbench plot: error: %s\n", r.errors[i]);
    int rc = (r.n_errors || !r.n_figs) ? 1 : 0;
    if (report && report_write(&r, &err)) {
        nb_error_print(&err, stderr);
        rc = 1;
    }
    printf("%s: %d figure(s) drawn in %s/figures, %d skipped, %d error(s)%s\n", r.name, r.n_figs, r.dir,
           r.n_skipped, r.n_errors, report ? "; report.md and report.html written" : "");
    if (!r.n_figs)
        fprintf(stderr, "normbench plot: nothing could be drawn from %s\n", r.dir);
    plot_result_free(&r);
    return rc;
}
