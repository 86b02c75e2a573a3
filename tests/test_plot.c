/* test_plot.c — `normbench plot` on results folders built from the hand-written CSVs of
 * tests/fixtures/plot/ (copied to a temporary folder first, since plotting writes into it):
 * every expected figure is drawn as a PNG (signature, IHDR width/height) and an SVG (<svg width
 * height>) of the stated size, with the docs/theory.md §2 theory on the sweep plots, and report.md /
 * report.html link them all; a malformed CSV (non-numeric cell, missing column) gives an error
 * naming file and line while the other figures are still drawn; a partial folder (a run still
 * running, runs without roc.csv) draws what it can and says what it skipped; an empty folder is
 * an error; run folder names cannot inject gnuplot commands; a config.yaml that cannot be read
 * costs only that run's legend; missing scripts, a gnuplot that cannot start and one that fails
 * are reported as such; a quickstart-like folder opens its report with the 2-D scatter of its
 * feature_dim 2 runs and draws the training curves from steps.csv where a run has one (metrics.csv
 * otherwise, and for the test accuracy); ERC and norm per quality draw one panel per setting when
 * settings have several seeds. Needs bin/normbench and gnuplot; run from the repository
 * root. */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "loss/loss.h"
#include "nb_bin.h"
#include "report/plot.h"
#include "test_util.h"

#define FIX "tests/fixtures/plot/"

static char tmpdir[256];

/* Copies fixture folder `name` to <tmp>/<name> and returns that path (static buffer). */
static const char *copy_fixture(const char *name)
{
    static char dst[512];
    char cmd[1200];
    snprintf(dst, sizeof dst, "%s/%s", tmpdir, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '" FIX "%s' '%s'", dst, name, dst);
    assert_int_equal(system(cmd), 0);
    return dst;
}

/* Runs bin/normbench plot DIR with stdout/stderr captured into out/err (static, up to 64 KB);
 * returns the exit status. */
static char out_text[65536], err_text[65536];
static int run_plot_with(const char *dir, const char *options)
{
    char cmd[1500], po[600], pe[600];
    snprintf(po, sizeof po, "%s/plot.out", tmpdir);
    snprintf(pe, sizeof pe, "%s/plot.err", tmpdir);
    snprintf(cmd, sizeof cmd, "%s plot '%s' %s > '%s' 2> '%s'", nb_bin(), dir, options, po, pe);
    int st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    FILE *f = fopen(po, "r");
    size_t n = fread(out_text, 1, sizeof out_text - 1, f);
    out_text[n] = '\0';
    fclose(f);
    f = fopen(pe, "r");
    n = fread(err_text, 1, sizeof err_text - 1, f);
    err_text[n] = '\0';
    fclose(f);
    return WEXITSTATUS(st);
}

static int run_plot(const char *dir) { return run_plot_with(dir, ""); }

/* PNG: the 8-byte signature, then the IHDR chunk with big-endian width and height. */
static void check_png(const char *path)
{
    unsigned char h[24];
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("missing figure %s", path);
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    assert_int_equal(n, sizeof h);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_memory_equal(h, sig, 8);
    assert_memory_equal(h + 12, "IHDR", 4);
    uint32_t w = (uint32_t)h[16] << 24 | (uint32_t)h[17] << 16 | (uint32_t)h[18] << 8 | h[19];
    uint32_t ht = (uint32_t)h[20] << 24 | (uint32_t)h[21] << 16 | (uint32_t)h[22] << 8 | h[23];
    if (w != PLOT_WIDTH || ht != PLOT_HEIGHT)
        fail_msg("%s is %ux%u, expected %dx%d", path, w, ht, PLOT_WIDTH, PLOT_HEIGHT);
}

/* SVG: an <svg element whose width and height attributes are the stated size. */
static void check_svg(const char *path)
{
    char *s = slurp(path);
    if (!s)
        fail_msg("missing figure %s", path);
    char *svg = strstr(s, "<svg");
    assert_non_null(svg);
    char *end = strchr(svg, '>');
    assert_non_null(end);
    *end = '\0';
    char w[32], h[32];
    snprintf(w, sizeof w, "width=\"%d\"", PLOT_WIDTH);
    snprintf(h, sizeof h, "height=\"%d\"", PLOT_HEIGHT);
    if (!strstr(svg, w) || !strstr(svg, h))
        fail_msg("%s: <svg> is not %dx%d: %.200s", path, PLOT_WIDTH, PLOT_HEIGHT, svg);
    assert_non_null(strstr(end + 1, "</svg>"));
    free(s);
}

/* Both images of figure stem exist, are valid and have the stated size, and both reports link
 * the PNG and the SVG. */
static void check_figure(const char *dir, const char *stem, const char *md, const char *html)
{
    char p[1024], link[512];
    snprintf(p, sizeof p, "%s/figures/%s.png", dir, stem);
    check_png(p);
    snprintf(p, sizeof p, "%s/figures/%s.svg", dir, stem);
    check_svg(p);
    snprintf(link, sizeof link, "](figures/%s.png)", stem);
    if (!strstr(md, link))
        fail_msg("report.md does not show %s", stem);
    snprintf(link, sizeof link, "](figures/%s.svg)", stem);
    if (!strstr(md, link))
        fail_msg("report.md does not link %s.svg", stem);
    snprintf(link, sizeof link, "src=\"figures/%s.png\"", stem);
    if (!strstr(html, link))
        fail_msg("report.html does not show %s", stem);
}

static void check_absent(const char *dir, const char *stem)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/figures/%s.png", dir, stem);
    if (access(p, F_OK) == 0)
        fail_msg("%s should not have been drawn", p);
}

/* No temporary image or data file is left behind. */
static void check_no_temporaries(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "find '%s' -name '*.tmp.*' | grep -q .", dir);
    assert_int_not_equal(system(cmd), 0);
}

static char *read_report(const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *s = slurp(p);
    if (!s)
        fail_msg("no %s", p);
    return s;
}

/* figures/data/<name> of a plotted folder (must exist), to be freed. */
static char *read_figure_data(const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/figures/data/%s", dir, name);
    char *s = slurp(p);
    if (!s)
        fail_msg("no %s", p);
    return s;
}

/* Copies fixture `name`, plots it (which must succeed) and reads both reports; returns the folder. */
static const char *plot_fixture(const char *name, char **md, char **html)
{
    const char *dir = copy_fixture(name);
    int rc = run_plot(dir);
    if (rc != 0)
        fail_msg("exit %d\n%s\n%s", rc, out_text, err_text);
    *md = read_report(dir, "report.md");
    *html = read_report(dir, "report.html");
    return dir;
}

static void test_s_sweep_every_figure(void **state)
{
    (void)state;
    char *md, *html;
    const char *dir = plot_fixture("s_sweep", &md, &html);
    static const char *const stems[] = {
        "training_loss", "training_train_acc", "training_test_acc", "training_feature_norm",
        "sweep_min_train_loss_vs_loss_s", "sweep_test_acc_vs_loss_s", "sweep_verify_acc_vs_loss_s",
        "roc", "cmc", "erc", "norm_quality", "theta_hist", "scatter_normface_s1_seed1",
        "norm_hist_normface_s1_seed1", "scatter_normface_s16_seed1", "norm_hist_normface_s16_seed1",
        "final_metrics"};
    for (size_t i = 0; i < sizeof stems / sizeof stems[0]; i++)
        check_figure(dir, stems[i], md, html);
    /* runs without features.csv get no scatter, and the output says so */
    check_absent(dir, "scatter_normface_s1_seed2");
    assert_non_null(strstr(out_text, "2 run(s) without features.csv"));
    /* the NormFace bound is drawn on the s sweep of the minimum loss, from lib/loss/loss.h's formula
     * for the summary's 3 classes */
    char p[1024];
    snprintf(p, sizeof p, "%s/figures/sweep_min_train_loss_vs_loss_s.svg", dir);
    char *svg = slurp(p);
    assert_non_null(strstr(svg, "NormFace bound"));
    assert_non_null(strstr(svg, "n=3"));
    free(svg);
    snprintf(p, sizeof p, "%s/figures/data/sweep_min_train_loss_vs_loss_s_bound.csv", dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    double s, b;
    assert_int_equal(fscanf(f, "s,bound\n%lf,%lf", &s, &b), 2);
    fclose(f);
    assert_true(fabs(b - normface_loss_bound(3, s)) < 1e-9);
    /* two seeds per setting: the captions name the spread over seeds */
    assert_non_null(strstr(md, "against loss.s: mean ± sd over seeds (summary\\_agg.csv)"));
    assert_non_null(strstr(md, "Final metrics per loss setting: mean over seeds with ± sd error bars"));
    /* the summary table: mean ± sd of summary_agg.csv */
    assert_non_null(strstr(md, "| 16 | 2 | 0 | 0.7695 ± 0.0067 |"));
    assert_non_null(strstr(html, "<td>0.7695 ± 0.0067</td>"));
    /* two seeds per setting: ERC and norm per quality draw one panel per setting, titled by it
     * (its seeds unnamed), not one legend line per run */
    static const char *const panelled[] = {"erc", "norm_quality"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/figures/%s.svg", dir, panelled[i]);
        svg = slurp(p);
        assert_non_null(svg);
        assert_non_null(strstr(svg, "<text>normface s=1<"));
        assert_non_null(strstr(svg, "<text>normface s=16<"));
        assert_null(strstr(svg, "normface s=1 seed 1"));
        free(svg);
    }
    /* legends name the loss and its parameters */
    snprintf(p, sizeof p, "%s/figures/data/training.csv", dir);
    char *tr = slurp(p);
    assert_non_null(strstr(tr, "normface s=16 seed 2,epoch,"));
    free(tr);
    check_no_temporaries(dir);
    free(md);
    free(html);
}

static void test_alpha_sweep_3d_and_alpha_low(void **state)
{
    (void)state;
    char *md, *html;
    const char *dir = plot_fixture("alpha_sweep", &md, &html);
    static const char *const stems[] = {"training_loss", "sweep_test_acc_vs_loss_alpha",
                                        "sweep_verify_acc_vs_loss_alpha", "scatter_l2softmax_alpha8_seed1",
                                        "norm_hist_l2softmax_alpha8_seed1", "final_metrics"};
    for (size_t i = 0; i < sizeof stems / sizeof stems[0]; i++)
        check_figure(dir, stems[i], md, html);
    /* α_low for the summary's 10 classes at p = 0.9, named in the legend */
    char p[1024], want[128];
    snprintf(p, sizeof p, "%s/figures/sweep_test_acc_vs_loss_alpha.svg", dir);
    char *svg = slurp(p);
    snprintf(want, sizeof want, "α_low(C=10, p=0.9) = %.2f", l2softmax_alpha_low(10, 0.9));
    if (!strstr(svg, want))
        fail_msg("no '%s' in the α sweep", want);
    free(svg);
    /* the α: auto setting is not a number: left off the curve, and the caption says so */
    assert_non_null(strstr(md, "Settings where loss.alpha is not a number (loss.alpha = auto) are not on the curve."));
    /* the 3-D scatter is a splot on the unit sphere (l2softmax normalises features) */
    snprintf(p, sizeof p, "%s/figures/scatter_l2softmax_alpha8_seed1.svg", dir);
    svg = slurp(p);
    assert_non_null(strstr(svg, "unit sphere"));
    free(svg);
    /* no ROC anywhere: skipped, with the reason */
    check_absent(dir, "roc");
    assert_non_null(strstr(out_text, "skipped: roc: no run has roc.csv"));
    assert_non_null(strstr(md, "## Not drawn"));
    free(md);
    free(html);
}

/* One seed per setting (partial_fc_100k's summaries, without the run folders): the verification
 * curve's error bars are the fold sd, other curves have none, and the captions say which. */
static void test_one_seed_fold_sd(void **state)
{
    (void)state;
    char *md, *html;
    const char *dir = plot_fixture("one_seed", &md, &html);
    check_figure(dir, "sweep_verify_acc_vs_loss_sample_rate", md, html);
    check_figure(dir, "sweep_min_train_loss_vs_loss_sample_rate", md, html);
    char *d = read_figure_data(dir, "sweep_verify_acc_vs_loss_sample_rate.csv");
    assert_non_null(strstr(d, ",0.1,0.849833333,0.014539219\n"));
    assert_non_null(strstr(d, ",1,0.852,0.0184558198\n"));
    free(d);
    d = read_figure_data(dir, "sweep_min_train_loss_vs_loss_sample_rate.csv");
    assert_non_null(strstr(d, ",1,14.3232073,0\n"));
    free(d);
    assert_non_null(strstr(md, "one seed per setting: the error bars are the sd over the verification folds"));
    assert_non_null(strstr(md, "one seed per setting (so no error bars"));
    assert_non_null(strstr(md, "Final metrics per loss setting, one seed per setting, so no error bars"));
    assert_null(strstr(md, "sample\\_rate: mean ± sd over seeds"));
    free(md);
    free(html);
}

static void test_malformed_csv_named_and_others_drawn(void **state)
{
    (void)state;
    const char *dir = copy_fixture("malformed");
    int rc = run_plot(dir);
    assert_int_equal(rc, 1);
    /* one clear error per bad file, naming file and line */
    char want[1024];
    snprintf(want, sizeof want, "%s/softmax_seed1/metrics.csv:3: column 'train_loss': expected a number, got 'abc'",
             dir);
    if (!strstr(err_text, want))
        fail_msg("stderr lacks '%s':\n%s", want, err_text);
    snprintf(want, sizeof want, "%s/softmax_seed2/roc.csv:1: missing column 'tar'", dir);
    if (!strstr(err_text, want))
        fail_msg("stderr lacks '%s':\n%s", want, err_text);
    /* the other figures are drawn: training from seed 2, ROC from seed 1, CMC from both */
    char *md = read_report(dir, "report.md"), *html = read_report(dir, "report.html");
    check_figure(dir, "training_loss", md, html);
    check_figure(dir, "roc", md, html);
    check_figure(dir, "cmc", md, html);
    char p[1024];
    snprintf(p, sizeof p, "%s/figures/data/roc.csv", dir);
    char *roc = slurp(p);
    assert_non_null(strstr(roc, "softmax seed 1,far,tar"));
    assert_null(strstr(roc, "softmax seed 2"));
    free(roc);
    snprintf(p, sizeof p, "%s/figures/data/training.csv", dir);
    char *tr = slurp(p);
    assert_null(strstr(tr, "softmax seed 1"));
    assert_non_null(strstr(tr, "softmax seed 2"));
    free(tr);
    /* the report lists the errors */
    assert_non_null(strstr(md, "## Errors"));
    assert_non_null(strstr(md, "metrics.csv:3:"));
    assert_non_null(strstr(html, "roc.csv:1: missing column"));
    check_no_temporaries(dir);
    free(md);
    free(html);
}

static void test_partial_folder(void **state)
{
    (void)state;
    char *md, *html;
    const char *dir = plot_fixture("partial", &md, &html);
    check_figure(dir, "training_loss", md, html);
    check_figure(dir, "roc", md, html);
    /* the running run (no final.csv) is drawn as far as it got, and marked */
    char *tr = read_figure_data(dir, "training.csv");
    assert_non_null(strstr(tr, "normface s=16 seed 1,epoch"));
    assert_non_null(strstr(tr, "normface s=16 seed 2 (running),epoch"));
    free(tr);
    /* what was skipped, one line each with the reason, on stdout and in the report */
    assert_non_null(strstr(out_text, "skipped: roc: left out 1 run(s) without roc.csv: normface_seed2"));
    assert_non_null(strstr(out_text, "skipped: sweep curves: no summary_agg.csv"));
    assert_non_null(strstr(out_text, "skipped: theta_hist: no run has theta_hist.csv"));
    assert_non_null(strstr(md, "- roc: left out 1 run(s) without roc.csv: normface\\_seed2\n"));
    assert_non_null(strstr(md, "1 complete"));
    assert_non_null(strstr(html, "<li>roc: left out 1 run(s) without roc.csv: normface_seed2</li>"));
    check_absent(dir, "final_metrics");
    free(md);
    free(html);
}

static void test_nothing_to_draw(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/empty", tmpdir);
    mkdir(dir, 0777);
    assert_int_equal(run_plot(dir), 1);
    assert_non_null(strstr(err_text, "nothing could be drawn"));
    snprintf(dir, sizeof dir, "%s/no_such_folder", tmpdir);
    assert_int_equal(run_plot(dir), 2);
    assert_non_null(strstr(err_text, "no_such_folder"));
}

/* A run folder whose name is gnuplot code: names reach gnuplot only as -c arguments and data. */
static void test_names_cannot_inject(void **state)
{
    (void)state;
    const char *dir = copy_fixture("partial");
    const char *evil = "x'; system('touch PWNED'); print '";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp -r '%s/normface_seed1' \"%s/%s\" && cp tests/fixtures/plot/s_sweep/normface_s1_seed1/"
                              "features.csv tests/fixtures/plot/s_sweep/normface_s1_seed1/weights.csv \"%s/%s/\"",
             dir, dir, evil, dir, evil);
    assert_int_equal(system(cmd), 0);
    int rc = run_plot(dir);
    if (rc != 0)
        fail_msg("exit %d\n%s\n%s", rc, out_text, err_text);
    assert_int_not_equal(access("PWNED", F_OK), 0);
    char p[1024];
    snprintf(p, sizeof p, "%s/PWNED", dir);
    assert_int_not_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/figures/scatter_%s.png", dir, evil);
    check_png(p);
}

/* A config.yaml that config/ cannot read (an unknown key) costs only that run's legend: it is
 * named by its folder, the output says why, and every figure is still drawn. */
static void test_unreadable_config_named(void **state)
{
    (void)state;
    const char *dir = copy_fixture("partial");
    char p[1024];
    snprintf(p, sizeof p, "%s/normface_seed2/config.yaml", dir);
    FILE *f = fopen(p, "a");
    assert_non_null(f);
    fputs("no_such_key: 1\n", f);
    fclose(f);
    int rc = run_plot(dir);
    if (rc != 0)
        fail_msg("exit %d\n%s\n%s", rc, out_text, err_text);
    char want[1200];
    snprintf(want, sizeof want,
             "skipped: legend of normface_seed2: config.yaml not read (%s:19: unknown key 'no_such_key')", p);
    if (!strstr(out_text, want))
        fail_msg("stdout lacks '%s':\n%s", want, out_text);
    char *tr = read_figure_data(dir, "training.csv");
    assert_non_null(strstr(tr, "normface s=16 seed 1,epoch"));
    assert_non_null(strstr(tr, "normface_seed2 (running),epoch"));
    free(tr);
    char *md = read_report(dir, "report.md"), *html = read_report(dir, "report.html");
    check_figure(dir, "training_loss", md, html);
    free(md);
    free(html);
}

/* What the runner adds around the plan: the --scripts hint when the scripts are missing, a
 * gnuplot that cannot be started (exit 2, nothing drawn), and a gnuplot that fails on every
 * figure (exit 1, one error per figure naming the script, no temporary left, report written). */
static void test_gnuplot_and_scripts_errors(void **state)
{
    (void)state;
    const char *dir = copy_fixture("partial");
    assert_int_equal(run_plot_with(dir, "--scripts /nonexistent_nb_scripts"), 2);
    assert_non_null(strstr(err_text, "/nonexistent_nb_scripts/common.gp: gnuplot scripts not found (give --scripts "
                                     "DIR, the repository's plots/)"));
    assert_int_equal(run_plot_with(dir, "--gnuplot /nonexistent_nb/gnuplot"), 2);
    assert_non_null(strstr(err_text, "cannot run /nonexistent_nb/gnuplot (Debian package gnuplot-nox)"));
    check_absent(dir, "training_loss");
    assert_int_equal(run_plot_with(dir, "--gnuplot /bin/false"), 1);
    assert_non_null(strstr(err_text, "plots/training.gp: gnuplot failed drawing training_loss.png (exit 1): no output"));
    assert_non_null(strstr(err_text, "plots/roc.gp: gnuplot failed drawing roc.png (exit 1): no output"));
    assert_non_null(strstr(err_text, "nothing could be drawn"));
    assert_non_null(strstr(out_text, "0 figure(s) drawn"));
    check_absent(dir, "training_loss");
    check_no_temporaries(dir);
    char *md = read_report(dir, "report.md");
    assert_non_null(strstr(md, "## Errors"));
    assert_non_null(strstr(md, "gnuplot failed drawing cmc.png"));
    free(md);
}

/* SIGTERM while gnuplot draws: the gnuplot is stopped, its half-drawn figure removed (no
 * temporary left in figures/), the figures drawn before it kept, and plot ends within a second or two
 * with 128 + SIGTERM. The gnuplot here is a script that draws the first figure at once and then
 * hangs in the second one (drawing a partial file first), recording its pid. */
static void test_sigterm_leaves_no_temporaries(void **state)
{
    (void)state;
    const char *dir = copy_fixture("partial");
    char fake[600], pidfile[600], cmd[2000];
    snprintf(fake, sizeof fake, "%s/slow_gnuplot.sh", tmpdir);
    snprintf(pidfile, sizeof pidfile, "%s/slow_gnuplot.pid", tmpdir);
    FILE *f = fopen(fake, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n[ \"$2\" = /dev/null ] && exit 0\n"
               "if [ ! -e '%s.first' ]; then : > '%s.first'; echo drawn > \"$4\"; exit 0; fi\n"
               "echo partial > \"$4\"\necho $$ > '%s'\nexec sleep 60\n",
            pidfile, pidfile, pidfile);
    fclose(f);
    snprintf(cmd, sizeof cmd, "chmod +x '%s' && rm -f '%s' '%s.first'", fake, pidfile, pidfile);
    assert_int_equal(system(cmd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(nb_bin(), nb_bin(), "plot", dir, "--gnuplot", fake, (char *)NULL);
        _exit(127);
    }
    double t0 = now();
    struct stat st;
    while (stat(pidfile, &st) != 0 && now() - t0 < 20)
        usleep(20000);
    assert_int_equal(stat(pidfile, &st), 0); /* the second figure is being drawn */
    usleep(100000);
    char *text = slurp(pidfile);
    long gp = atol(text);
    free(text);
    assert_true(gp > 0);
    double t1 = now();
    kill(pid, SIGTERM);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    double dt = now() - t1;
    printf("plot ended %.2f s after SIGTERM\n", dt);
    check_no_temporaries(dir);
    assert_true(dt < 3);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 128 + SIGTERM);
    usleep(200000);
    assert_true(kill((pid_t)gp, 0) != 0); /* the hanging gnuplot was stopped too */
    /* the figure drawn before the signal is in place */
    snprintf(cmd, sizeof cmd, "ls '%s/figures/' | grep -q -v -e '^data$'", dir);
    assert_int_equal(system(cmd), 0);
}

/* The 2-D scatter plots open the report (before the summary table), softmax's then NormFace's,
 * under one line saying what they show; the training curves come from steps.csv (several points
 * per epoch), from metrics.csv for the run folder without it, and the test accuracy from
 * metrics.csv; a malformed steps.csv is named and its run drawn per epoch. */
static void test_quickstart_scatter_first_and_steps(void **state)
{
    (void)state;
    char *md, *html;
    const char *dir = plot_fixture("quickstart", &md, &html);
    const char *sm = "scatter_softmax_feature_dim2_momentum0_train_subset12000_featurestrue_seed1";
    const char *nf = "scatter_normface_s16_feature_dim2_momentum0_train_subset12000_featurestrue_seed1";
    check_figure(dir, sm, md, html);
    check_figure(dir, nf, md, html);
    static const char *const stems[] = {"training_loss", "training_train_acc", "training_test_acc",
                                        "training_feature_norm"};
    for (size_t i = 0; i < sizeof stems / sizeof stems[0]; i++)
        check_figure(dir, stems[i], md, html);
    /* report.md: the title, its line, then the 2-D section with its lead line, Figures 1 and 2 the
     * two scatters, and only then the summary */
    const char *first = strstr(md, "\n## ");
    assert_non_null(first);
    assert_true(!strncmp(first, "\n## " PLOT_SECTION_2D "\n", strlen("\n## " PLOT_SECTION_2D "\n")));
    char want[1800];
    snprintf(want, sizeof want, "![%s](figures/%s.png)\n\n**Figure 1.**", sm, sm);
    const char *f1 = strstr(md, want);
    if (!f1)
        fail_msg("report.md: Figure 1 is not %s:\n%.2000s", sm, md);
    snprintf(want, sizeof want, "![%s](figures/%s.png)\n\n**Figure 2.**", nf, nf);
    const char *f2 = strstr(md, want);
    if (!f2)
        fail_msg("report.md: Figure 2 is not %s", nf);
    const char *summary = strstr(md, "## Summary");
    assert_non_null(summary);
    assert_true(first < f1 && f1 < f2 && f2 < summary);
    assert_non_null(strstr(first, "The papers' picture (NormFace Fig. 2, L2-softmax Fig. 1)"));
    assert_true(strstr(first, "The papers' picture") < f1);
    /* one 2-D section: the rest of the report does not repeat it */
    assert_null(strstr(f2, "## " PLOT_SECTION_2D));
    /* report.html in the same order */
    char a[600], b[600];
    snprintf(a, sizeof a, "<figure id=\"%s\">", sm);
    snprintf(b, sizeof b, "<figure id=\"%s\">", nf);
    const char *h1 = strstr(html, a), *h2 = strstr(html, b), *hs = strstr(html, "<h2>Summary");
    assert_non_null(h1);
    assert_non_null(h2);
    assert_non_null(hs);
    assert_true(strstr(html, "<h2>" PLOT_SECTION_2D "</h2>") < h1 && h1 < h2 && h2 < hs);
    assert_null(strstr(hs, "<figure id=\"scatter_"));
    /* training.csv: steps.csv's rows (fractional epochs) for the three runs that have one, the
     * per-epoch rows of metrics.csv for the older folder; training_epochs.csv all four per epoch */
    char *tr = read_figure_data(dir, "training.csv");
    assert_non_null(strstr(tr, "softmax feature_dim=128 seed 1,step,epoch,lr,train_loss"));
    assert_non_null(strstr(tr, ",2,0.25,0.049097,"));
    assert_non_null(strstr(tr, "l2softmax α=16 feature_dim=128 seed 1,epoch,step,lr,train_loss"));
    /* legends name the swept keys that tell runs apart: feature_dim, not the momentum and
     * train_subset that only the feature_dim 2 runs change */
    assert_non_null(strstr(tr, "\n\n\nsoftmax feature_dim=2 seed 1,step,epoch"));
    assert_non_null(strstr(tr, "\n\n\nnormface s=16 feature_dim=2 seed 1,step,epoch"));
    assert_null(strstr(tr, "momentum="));
    assert_null(strstr(tr, "train_subset="));
    free(tr);
    char *te = read_figure_data(dir, "training_epochs.csv");
    assert_non_null(strstr(te, "softmax feature_dim=128 seed 1,epoch,step,lr,train_loss,train_acc,test_acc"));
    assert_non_null(strstr(te, "l2softmax α=16 feature_dim=128 seed 1,epoch,step"));
    assert_null(strstr(te, ",0.25,"));
    free(te);
    assert_non_null(strstr(md, "Training loss, the mean over each window of train.log\\_every steps (steps.csv)"));
    assert_non_null(strstr(md, "Runs without steps.csv (run folders of older builds) are drawn per epoch"));
    assert_non_null(strstr(md, "Test accuracy (closed-set top-1) after each epoch"));
    /* the training-loss SVG has the steps.csv runs' lines drawn without points (size 0) */
    char p[1024];
    snprintf(p, sizeof p, "%s/figures/training_loss.svg", dir);
    char *svg = slurp(p);
    assert_non_null(svg);
    assert_non_null(strstr(svg, "scale(0.00)"));
    free(svg);
    free(md);
    free(html);

    /* a malformed steps.csv: named with its line, and the run drawn per epoch from metrics.csv */
    snprintf(p, sizeof p, "%s/softmax_seed1/steps.csv", dir);
    FILE *f = fopen(p, "a");
    assert_non_null(f);
    fputs("18,2.25,0.001,abc,0.5,7.2,1.1,,\n", f);
    fclose(f);
    assert_int_equal(run_plot(dir), 1);
    snprintf(want, sizeof want, "%s:10: column 'train_loss': expected a number, got 'abc'", p);
    if (!strstr(err_text, want))
        fail_msg("stderr lacks '%s':\n%s", want, err_text);
    assert_non_null(strstr(out_text, "skipped: training curves: softmax_seed1 drawn per epoch from metrics.csv: "
                                     "steps.csv is malformed"));
    tr = read_figure_data(dir, "training.csv");
    assert_non_null(strstr(tr, "softmax feature_dim=128 seed 1,epoch,step,lr,train_loss"));
    free(tr);
}

/* An old results folder, no run with steps.csv: the curves are metrics.csv's as before (one data
 * file, per-epoch captions, no training_epochs.csv). */
static void test_training_without_steps(void **state)
{
    (void)state;
    char *md, *html;
    const char *dir = plot_fixture("partial", &md, &html);
    check_figure(dir, "training_loss", md, html);
    check_figure(dir, "training_test_acc", md, html);
    assert_non_null(strstr(md, "Training loss per epoch (mean over the epoch's batches), one line per run."));
    assert_null(strstr(md, "steps.csv"));
    char p[1024];
    snprintf(p, sizeof p, "%s/figures/data/training_epochs.csv", dir);
    assert_int_not_equal(access(p, F_OK), 0);
    /* no 2-D features: the report opens with the summary, as before */
    const char *first = strstr(md, "\n## ");
    assert_non_null(first);
    assert_true(!strncmp(first, "\n## Summary", 11));
    free(md);
    free(html);
}

int main(void)
{
    if (make_tmpdir(tmpdir, sizeof tmpdir, "/tmp/nb_test_plot.XXXXXX"))
        return 1;
    if (access(nb_bin(), X_OK) != 0) {
        fprintf(stderr, "test_plot: bin/normbench not built (run from the repository root after make build)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s_sweep_every_figure),
        cmocka_unit_test(test_alpha_sweep_3d_and_alpha_low),
        cmocka_unit_test(test_one_seed_fold_sd),
        cmocka_unit_test(test_malformed_csv_named_and_others_drawn),
        cmocka_unit_test(test_partial_folder),
        cmocka_unit_test(test_nothing_to_draw),
        cmocka_unit_test(test_names_cannot_inject),
        cmocka_unit_test(test_unreadable_config_named),
        cmocka_unit_test(test_gnuplot_and_scripts_errors),
        cmocka_unit_test(test_sigterm_leaves_no_temporaries),
        cmocka_unit_test(test_quickstart_scatter_first_and_steps),
        cmocka_unit_test(test_training_without_steps),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (!failed && remove_tree(tmpdir) != 0)
        fprintf(stderr, "test_plot: could not remove %s\n", tmpdir);
    return failed ? 1 : 0;
}
