/* plot_figures.c — which figures apply to a results folder, and with what script, arguments and
 * caption; see plot_impl.h. The data files come from plot_data.c, the steps go to plot.c.
 *
 * Figures: training curves (every run's steps.csv, or its metrics.csv), sweep curves (summary_agg.csv, one per
 * swept numeric key and metric, with the docs/theory.md §2 theory from lib/loss: α_low of Ranjan
 * §3.4 on α sweeps, the NormFace Prop. 2 loss bound on s sweeps), ROC, CMC, norm per quality and
 * θ_y histograms (one line per run), feature scatter and norm histograms (per run with
 * features.csv), and the final metrics per loss setting. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "loss/loss.h"
#include "report/plot_impl.h"

/* α_low is drawn for this target probability p (Ranjan §3.4); the legend says so. */
#define ALPHA_LOW_P 0.9

/* ---- training curves -------------------------------------------------------------------- */

/* Captions: per epoch (metrics.csv), and from steps.csv (every train.log_every steps); test_acc
 * is measured at the epochs' ends only, so it is always drawn from metrics.csv. */
static const struct {
    const char *col, *stem, *ylabel, *caption, *caption_steps;
} training_figs[] = {
    {"train_loss", "training_loss", "training loss (nats)",
     "Training loss per epoch (mean over the epoch's batches), one line per run.",
     "Training loss, the mean over each window of train.log_every steps (steps.csv), against the epochs done, one "
     "line per run."},
    {"train_acc", "training_train_acc", "training accuracy (fraction)",
     "Training accuracy per epoch, one line per run.",
     "Training accuracy over each window of train.log_every steps (steps.csv), one line per run."},
    {"test_acc", "training_test_acc", "test accuracy, closed-set top-1 (fraction)",
     "Test accuracy (closed-set top-1) after each epoch, one line per run.", NULL},
    {"feature_norm", "training_feature_norm", "mean feature norm ‖f‖ before normalisation",
     "Mean feature norm ‖f‖ before normalisation per epoch, one line per run: under a normalised loss the "
     "gradient is orthogonal to f, so ‖f‖ can only grow (NormFace Prop. 1).",
     "Mean feature norm ‖f‖ before normalisation over each window of train.log_every steps (steps.csv), one line "
     "per run: under a normalised loss the gradient is orthogonal to f, so ‖f‖ can only grow (NormFace Prop. 1)."},
    {"learned_scale", "training_learned_scale", "learned scale s or α",
     "The learned scale (s of NormFace or α of L2-softmax) per epoch, for runs that learn it.",
     "The learned scale (s of NormFace or α of L2-softmax) every train.log_every steps (steps.csv), for runs that "
     "learn it."},
};

/* The range of column col over the runs read; returns whether any value is finite. */
static int column_range(const plot_ctx *c, const csvread_table *t, const int *ok, const char *col, double *lo,
                        double *hi)
{
    int have = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < c->n_runs; i++) {
        if (!ok[i])
            continue;
        int j = csvread_col(&t[i], col);
        for (int r = 0; j >= 0 && r < t[i].nrows; r++) {
            double v = plot_cell(&t[i], r, j);
            if (isfinite(v)) {
                have = 1;
                *lo = fmin(*lo, v);
                *hi = fmax(*hi, v);
            }
        }
    }
    return have;
}

/* One data file of training curves and the styles of its blocks. */
typedef struct {
    char path[1400], colors[512], dashes[512], sizes[512];
} training_file;

/* Writes <name> from tables t (where ok) and fills f; steps[i] marks a run drawn from steps.csv
 * (a line without points), NULL for none. Returns 0 or −1 (recorded). */
static int training_file_write(plot_ctx *c, const char *name, const csvread_table *t, const int *ok,
                               const int *steps, int n, training_file *f)
{
    int *sel = nb_calloc((size_t)c->n_runs + 1, sizeof *sel);
    int rc = data_training(c, name, t, ok, sel, f->path, sizeof f->path);
    data_styles(c, sel, n, f->colors, f->dashes, sizeof f->colors);
    f->sizes[0] = '\0';
    for (int k = 0; steps && k < n; k++) {
        size_t m = strlen(f->sizes);
        snprintf(f->sizes + m, sizeof f->sizes - m, "%s%s", k ? " " : "", steps[sel[k]] ? "0" : "0.6");
    }
    free(sel);
    return rc;
}

/* Training curves: training.csv holds each run's steps.csv, or its metrics.csv where it has none
 * (run folders of older builds), training_epochs.csv every metrics.csv for the test accuracy (only
 * when some run has steps.csv; training.csv is the same file otherwise). */
void figures_training(plot_ctx *c)
{
    static const char *const cols[] = {"epoch", "train_loss", "train_acc", "test_acc", "feature_norm", NULL};
    static const char *const step_cols[] = {"step", "epoch", "train_loss", "train_acc", "feature_norm", NULL};
    size_t nr = (size_t)c->n_runs + 1;
    csvread_table *tm = nb_calloc(nr, sizeof *tm), *ts = nb_calloc(nr, sizeof *ts), *tx = nb_calloc(nr, sizeof *tx);
    int *ok = nb_calloc(nr, sizeof *ok), *oks = nb_calloc(nr, sizeof *oks), *okx = nb_calloc(nr, sizeof *okx);
    int n = data_read_all(c, "metrics.csv", cols, "training curves", tm, ok);
    int ns = n ? data_read_steps(c, step_cols, ts, oks) : 0, nx = 0;
    training_file fx, fe;
    if (!n) {
        plan_skip(c, "training curves: no run has %smetrics.csv with an epoch in it",
                  c->last_missing == c->n_runs ? "" : "a readable ");
        goto done;
    }
    for (int i = 0; i < c->n_runs; i++) {
        okx[i] = oks[i] || ok[i];
        if (okx[i])
            tx[i] = oks[i] ? ts[i] : tm[i]; /* a shallow copy: tm and ts own the tables */
        nx += okx[i];
    }
    if (training_file_write(c, "training.csv", tx, okx, oks, nx, &fx) ||
        (ns && training_file_write(c, "training_epochs.csv", tm, ok, NULL, n, &fe)))
        goto done;
    if (!ns)
        fe = fx;
    for (size_t f = 0; f < sizeof training_figs / sizeof training_figs[0]; f++) {
        const int per_epoch = !training_figs[f].caption_steps || !ns;
        const training_file *file = training_figs[f].caption_steps ? &fx : &fe;
        double lo, hi;
        if (!column_range(c, training_figs[f].caption_steps ? tx : tm, training_figs[f].caption_steps ? okx : ok,
                          training_figs[f].col, &lo, &hi)) {
            if (strcmp(training_figs[f].col, "learned_scale"))
                plan_skip(c, "%s: no run has a value in %s column '%s'", training_figs[f].stem,
                          per_epoch ? "metrics.csv" : "steps.csv or metrics.csv", training_figs[f].col);
            continue;
        }
        int logy = lo > 0 && hi / lo >= 30;
        char ylabel[256], caption[1024];
        snprintf(ylabel, sizeof ylabel, "%s%s", training_figs[f].ylabel, logy ? ", log scale" : "");
        snprintf(caption, sizeof caption, "%s%s", per_epoch ? training_figs[f].caption : training_figs[f].caption_steps,
                 !per_epoch && ns < nx ? " Runs without steps.csv (run folders of older builds) are drawn per epoch "
                                         "from metrics.csv, with points."
                                       : "");
        const char *args[] = {file->path, training_figs[f].col, ylabel, logy ? "1" : "0", file->colors, file->dashes,
                              file->sizes};
        plan_figure(c, training_figs[f].stem, "training.gp", "Training curves", caption, args, 7);
    }
done:
    data_free_all(c, tm, ok);
    data_free_all(c, ts, oks);
    free(tm);
    free(ts);
    free(tx);
    free(ok);
    free(oks);
    free(okx);
}

/* ---- one line per run: ROC, CMC, norm per quality, θ_y ---------------------------------- */

typedef struct {
    const char *file;        /* per-run CSV */
    const char *const *cols; /* its columns, in the data file's order */
    const char *stem;        /* figure and data file name */
    const char *script, *section, *caption;
    int positive_first; /* keep rows whose first column is > 0 (log axis) */
    int fraction;       /* last column divided by its total */
    int by_quality;     /* norm per quality: only with two quality levels or more */
    int panels;         /* one panel per group of runs when groups have several seeds */
} combined_spec;

/* Most panels of a figure drawn as one panel per group (3 × 3). */
#define PLOT_MAX_PANELS 9

/* The panels of a figure whose k blocks are runs sel[0..k-1]: one per group of runs (the legend
 * without the seed), when there are 2 to PLOT_MAX_PANELS groups and some group holds several
 * runs (seeds) — else one panel for all, and groups and names are left empty. groups ← the panel
 * (1-based) of each block, as words; names ← the groups' legends, in panel order, joined by ';'
 * (a ';' or '"' inside a legend becomes a space). */
static void panel_args(const plot_ctx *c, const int *sel, int k, char *groups, size_t gsize, char *names,
                       size_t nsize)
{
    const char *seen[PLOT_MAX_PANELS];
    int ng = 0, panel_of[PLOT_MAX_PANELS * 64];
    groups[0] = names[0] = '\0';
    if (k > PLOT_MAX_PANELS * 64)
        return;
    for (int i = 0; i < k; i++) {
        const char *g = c->runs[sel[i]].group;
        int p = 0;
        while (p < ng && strcmp(seen[p], g))
            p++;
        if (p == ng) {
            if (ng == PLOT_MAX_PANELS)
                return;
            seen[ng++] = g;
        }
        panel_of[i] = p + 1;
    }
    if (ng < 2 || ng == k)
        return;
    for (int i = 0; i < k; i++) {
        size_t a = strlen(groups);
        snprintf(groups + a, gsize - a, "%s%d", i ? " " : "", panel_of[i]);
    }
    for (int p = 0; p < ng; p++) {
        size_t a = strlen(names);
        snprintf(names + a, nsize - a, "%s%s", p ? ";" : "", seen[p]);
        for (char *q = names + a + (p ? 1 : 0); *q; q++)
            if (*q == ';' || *q == '"')
                *q = ' ';
    }
}

/* Norm per quality is only worth a figure when some run has test samples at two quality levels
 * or more. Returns whether it is, with *logy set when the norms span a factor of 30. */
static int quality_levels(plot_ctx *c, const csvread_table *t, const int *ok, int *logy)
{
    int levels = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < c->n_runs; i++) {
        if (!ok[i])
            continue;
        int jc = csvread_col(&t[i], "count"), jm = csvread_col(&t[i], "norm_mean"), l = 0;
        for (int r = 0; r < t[i].nrows; r++) {
            double cnt = plot_cell(&t[i], r, jc), m = plot_cell(&t[i], r, jm);
            l += isfinite(cnt) && cnt > 0;
            if (isfinite(m) && m > 0) {
                lo = fmin(lo, m);
                hi = fmax(hi, m);
            }
        }
        levels = l > levels ? l : levels;
    }
    *logy = hi / lo >= 30;
    return levels >= 2;
}

/* A figure of one line per run from the runs' copies of one CSV. */
static void combined_figure(plot_ctx *c, const combined_spec *s)
{
    csvread_table *t = nb_calloc((size_t)c->n_runs + 1, sizeof *t);
    int *ok = nb_calloc((size_t)c->n_runs + 1, sizeof *ok);
    int *sel = nb_calloc((size_t)c->n_runs + 1, sizeof *sel);
    int n = data_read_all(c, s->file, s->cols, s->stem, t, ok), logy = 0;
    if (!n) {
        plan_skip(c, "%s: no run has %s%s", s->stem, c->last_missing == c->n_runs ? "" : "a readable ", s->file);
        goto done;
    }
    if (s->by_quality && !quality_levels(c, t, ok, &logy)) {
        plan_skip(c, "norm_quality: every run's norms.csv has one quality level only (degrade the test set, "
                     "data.degrade_*, to compare clean and degraded samples)");
        goto done;
    }
    char path[1400], name[200], colors[512], dashes[512];
    snprintf(name, sizeof name, "%s.csv", s->stem);
    int k = data_blocks(c, name, t, ok, s->cols, s->positive_first, s->fraction, path, sizeof path, sel);
    if (k < 0)
        goto done;
    if (k == 0) {
        plan_skip(c, "%s: no run has a row to draw in %s", s->stem, s->file);
        goto done;
    }
    data_styles(c, sel, k, colors, dashes, sizeof colors);
    char groups[2048] = "", names[4096] = ""; /* groups: at most PLOT_MAX_PANELS * 64 one-digit words */
    if (s->panels)
        panel_args(c, sel, k, groups, sizeof groups, names, sizeof names);
    if (s->by_quality) {
        const char *args[] = {path, logy ? "1" : "0", colors, dashes, groups, names};
        plan_figure(c, s->stem, s->script, s->section, s->caption, args, 6);
    } else if (s->panels) {
        const char *args[] = {path, colors, dashes, groups, names};
        plan_figure(c, s->stem, s->script, s->section, s->caption, args, 5);
    } else {
        const char *args[] = {path, colors, dashes};
        plan_figure(c, s->stem, s->script, s->section, s->caption, args, 3);
    }
done:
    data_free_all(c, t, ok);
    free(t);
    free(ok);
    free(sel);
}

void figures_combined(plot_ctx *c)
{
    static const char *const roc_cols[] = {"far", "tar", NULL};
    static const char *const cmc_cols[] = {"rank", "identification_rate", NULL};
    static const char *const nq_cols[] = {"quality", "count", "norm_mean", "norm_sd", NULL};
    static const char *const th_cols[] = {"bin_start_deg", "bin_end_deg", "count", NULL};
    static const char *const erc_cols[] = {"reject", "fnmr_at_fmr_1e-2", "fnmr_at_fmr_1e-2_oracle",
                                           "fnmr_at_fmr_1e-2_random", NULL};
    static const combined_spec specs[] = {
        {"roc.csv", roc_cols, "roc", "roc.gp", "Verification and identification",
         "Verification ROC: true accept rate against false accept rate (log axis) over the test pairs, one line "
         "per run; the dotted line is chance.",
         1, 0, 0, 0},
        {"cmc.csv", cmc_cols, "cmc", "cmc.gp", "Verification and identification",
         "Open-set identification: cumulative match characteristic (rate of probes whose identity is among the "
         "k nearest gallery identities), one line per run.",
         0, 0, 0, 0},
        {"erc.csv", erc_cols, "erc", "erc.gp", "Verification and identification",
         "Error-versus-reject: FNMR at the full set's FMR = 1e-2 threshold on the pairs kept, against the share "
         "of pairs rejected by the quality of their worse image (solid; the feature norm by default), by the "
         "oracle degradation level when the test set has one (dash-dot) and at random (dotted), one colour per "
         "run; with several seeds per configuration, one panel per configuration (docs/evaluation.md §4c; "
         "docs/claims.md §5 claim 7).",
         0, 0, 0, 1},
        {"norms.csv", nq_cols, "norm_quality", "norm_quality.gp", "Feature geometry",
         "Mean feature norm ‖f‖ (± sd over test samples) against the quality level of the sample (0 = clean): "
         "the norm shrinks on degraded samples (L2-softmax Fig. 1, docs/claims.md §5 claim 1); with several seeds "
         "per configuration, one panel per configuration on a shared axis (docs/claims.md §5 claim 7).",
         0, 0, 1, 1},
        {"theta_hist.csv", th_cols, "theta_hist", "theta_hist.gp", "Feature geometry",
         "Histogram of θ_y, the angle between each test feature and its class weight, as the fraction of test "
         "samples per bin, one line per run.",
         0, 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        combined_figure(c, &specs[i]);
}

/* ---- features: scatter (d = 2, 3) and norm histograms ------------------------------------ */

/* Checks features.csv at fp: label, quality, then f0 … f<d-1>, every cell a number. Returns the
 * dimension d with *nrows, or −1 with e. */
static int check_features(const char *fp, int *nrows, nb_error *e)
{
    csvread_table t;
    if (csvread_load(&t, fp, e))
        return -1;
    int dim = 0, bad = 0;
    while (1) {
        char name[32];
        snprintf(name, sizeof name, "f%d", dim);
        if (csvread_col(&t, name) != 2 + dim)
            break;
        dim++;
    }
    const char *need[] = {"label", "quality", "f0"};
    for (int k = 0; k < 3 && !bad; k++)
        if (csvread_col(&t, need[k]) < 0) {
            nb_error_set(e, fp, 1, 0, "missing column '%s' (expected label,quality,f0,f1,…)", need[k]);
            bad = 1;
        }
    for (int r = 0; r < t.nrows && !bad; r++)
        for (int j = 0; j < 2 + dim && !bad; j++) {
            double v;
            if (csvread_number(&t, r, j, &v, e) || (j < 2 && !isfinite(v))) {
                if (!e->msg[0] || j < 2)
                    nb_error_set(e, fp, t.line[r], 0, "column '%s': expected a number, got '%s'", t.header[j],
                                 t.rows[r][j]);
                bad = 1;
            }
        }
    *nrows = t.nrows;
    csvread_free(&t);
    return bad ? -1 : dim;
}

/* The class weights of a run (optional: without them the scatter has no arrows): wp when
 * weights.csv exists and is well formed, else "". */
static const char *check_weights(plot_ctx *c, const run_info *u, const char *wp, int dim)
{
    if (!plot_file_exists(wp))
        return "";
    const char *wcols[5] = {"class", "w0", "w1", dim >= 3 ? "w2" : NULL, NULL};
    csvread_table w;
    nb_error e = {0};
    if (data_read_checked(&w, wp, wcols, &e)) {
        plan_error(c, &e);
        plan_skip(c, "scatter_%s: class-weight directions not drawn: weights.csv is malformed", u->id);
        return "";
    }
    csvread_free(&w);
    return wp;
}

/* The scatter and norm histogram of one run whose features.csv (fp) is well formed. */
static void feature_run_figures(plot_ctx *c, const run_info *u, const char *fp, const char *wts, int dim)
{
    char stem[300], cap[2048], dims[16];
    if (dim == 2 || dim == 3) {
        snprintf(stem, sizeof stem, "scatter_%s", u->id);
        snprintf(cap, sizeof cap, "%s: %d-D test features coloured by class%s%s.", u->label, dim,
                 wts[0] ? ", arrows along the class weights" : "",
                 u->normalised ? (dim == 2 ? "; right: the directions f/‖f‖ on the unit circle, what the loss sees"
                                           : "; drawn as directions f/‖f‖ on the unit sphere, what the loss sees")
                               : "");
        const char *args[] = {fp, wts, u->label, u->normalised ? "1" : "0"};
        plan_figure(c, stem, dim == 2 ? "scatter2d.gp" : "scatter3d.gp", dim == 2 ? PLOT_SECTION_2D : "Feature geometry",
                    cap, args, 4);
    } else {
        plan_skip(c, "scatter_%s: feature_dim is %d; the scatter needs 2 or 3 (model.feature_dim)", u->id, dim);
    }
    snprintf(stem, sizeof stem, "norm_hist_%s", u->id);
    snprintf(dims, sizeof dims, "%d", dim);
    snprintf(cap, sizeof cap,
             "%s: histogram of the feature norm ‖f‖ (before normalisation) of the test samples, per quality "
             "level (0 = clean).",
             u->label);
    const char *args[] = {fp, dims, u->label};
    plan_figure(c, stem, "norm_hist.gp", "Feature geometry", cap, args, 3);
}

void figures_features(plot_ctx *c)
{
    int any = 0, n_without = 0;
    for (int i = 0; i < c->n_runs; i++) {
        const run_info *u = &c->runs[i];
        char fp[1400], wp[1400];
        snprintf(fp, sizeof fp, "%s/features.csv", u->dir);
        snprintf(wp, sizeof wp, "%s/weights.csv", u->dir);
        if (!plot_file_exists(fp)) {
            n_without++;
            continue;
        }
        any = 1;
        nb_error e = {0};
        int nrows = 0, dim = check_features(fp, &nrows, &e);
        if (dim < 0) {
            plan_error(c, &e);
            plan_skip(c, "scatter_%s, norm_hist_%s: features.csv is malformed (see the error)", u->id, u->id);
            continue;
        }
        if (!nrows) {
            plan_skip(c, "scatter_%s, norm_hist_%s: features.csv has no rows", u->id, u->id);
            continue;
        }
        feature_run_figures(c, u, fp, check_weights(c, u, wp, dim), dim);
    }
    if (!any)
        plan_skip(c, "feature scatter and norm histograms: no run has features.csv (set eval.features: true)");
    else if (n_without)
        plan_skip(c, "feature scatter and norm histograms: %d run(s) without features.csv", n_without);
}

/* ---- sweep curves and bars from summary_agg.csv ------------------------------------------ */

static const char *metric_label(const char *m)
{
    static const struct {
        const char *metric, *label;
    } t[] = {
        {"min_train_loss", "minimum training loss over epochs (nats)"},
        {"train_loss", "final training loss (nats)"},
        {"test_acc", "test accuracy, closed-set top-1 (fraction)"},
        {"train_acc", "training accuracy (fraction)"},
        {"verify_acc", "verification accuracy, 10-fold (fraction)"},
        {"auc", "verification ROC AUC"},
        {"eer", "equal error rate (fraction)"},
        {"rank1", "open-set rank-1 identification rate"},
        {"learned_scale", "learned scale s or α at the end"},
        {"feature_norm", "mean feature norm ‖f‖ (training set)"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].metric, m))
            return t[i].label;
    return m;
}

static void key_label(const char *key, int logx, char *out, size_t size)
{
    static const struct {
        const char *key, *label;
    } t[] = {
        {"loss.alpha", "L2-softmax scale α (norm of the normalised features)"},
        {"loss.s", "scale s"},
        {"loss.m", "margin m"},
        {"loss.m1", "multiplicative angular margin m1"},
        {"loss.m2", "additive angular margin m2 (radians)"},
        {"loss.m3", "additive cosine margin m3"},
        {"data.identities", "training identities (classes)"},
        {"model.feature_dim", "feature dimension d"},
        {"train.lr", "learning rate"},
        {"train.epochs", "epochs"},
        {"train.batch_size", "batch size"},
    };
    const char *l = key;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].key, key))
            l = t[i].label;
    snprintf(out, size, "%s%s", l, logx ? " (log scale)" : "");
}

/* Whether every setting of summary_agg.csv has at most one run (no spread over seeds). */
static int agg_one_seed(const csvread_table *a)
{
    int jn = csvread_col(a, "n");
    if (jn < 0)
        return 0;
    for (int r = 0; r < a->nrows; r++)
        if (plot_cell(a, r, jn) > 1)
            return 0;
    return 1;
}

static void append(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *out, size_t size, const char *fmt, ...)
{
    size_t n = strlen(out);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + n, size - n, fmt, ap);
    va_end(ap);
}

/* A sweep's caption: what the error bars are, and the settings left off the curve. */
static void sweep_caption(const csvread_table *a, int kx, const char *metric, int fold_sd, int one_seed, char *out,
                          size_t size)
{
    const char *key = a->header[kx];
    if (fold_sd)
        snprintf(out, size,
                 "%s against %s, one seed per setting: the error bars are the sd over the verification "
                 "folds (verify_acc_sd in summary_agg.csv), one line per loss setting.",
                 metric_label(metric), key);
    else if (one_seed)
        snprintf(out, size,
                 "%s against %s, one seed per setting (so no error bars; summary_agg.csv), one line per "
                 "loss setting.",
                 metric_label(metric), key);
    else
        snprintf(out, size, "%s against %s: mean ± sd over seeds (summary_agg.csv), one line per loss setting.",
                 metric_label(metric), key);
    for (int r = 0; r < a->nrows; r++) {
        double v;
        if (a->rows[r][kx][0] && !plot_is_number(a->rows[r][kx], &v)) {
            append(out, size, " Settings where %s is not a number (%s = %s) are not on the curve.", key, key,
                   a->rows[r][kx]);
            break;
        }
    }
}

/* The theory on a sweep (docs/theory.md §2): on α, the dotted vertical line at α_low (vline,
 * "x;title"); on s for the loss, the NormFace bound (bound: its data file, boundtitle). Adds the
 * explanation to caption; sets *logy when the bound is drawn. */
typedef struct {
    char vline[256], bound[1400], boundtitle[256];
    int logy;
} sweep_theory;

static void sweep_theory_for(plot_ctx *c, const char *key, const char *metric, const char *stem, int num_classes,
                             int logx, const sweep_extent *x, sweep_theory *th, char *caption, size_t size)
{
    memset(th, 0, sizeof *th);
    if (!strcmp(key, "loss.alpha") && num_classes > 2) {
        double al = l2softmax_alpha_low(num_classes, ALPHA_LOW_P);
        snprintf(th->vline, sizeof th->vline, "%.10g;α_low(C=%d, p=%g) = %.2f", al, num_classes, ALPHA_LOW_P, al);
        append(caption, size,
               " The dotted vertical line is the L2-softmax lower bound α_low = log(p(C−2)/(1−p)) for C = %d "
               "classes and target probability p = %g (Ranjan et al. §3.4): accuracy should collapse well "
               "below it and saturate above it.",
               num_classes, ALPHA_LOW_P);
    }
    if (!strcmp(key, "loss.s") && num_classes > 1 && (!strcmp(metric, "min_train_loss") || !strcmp(metric, "train_loss")) &&
        !data_bound(c, stem, num_classes, logx, x->xmin, x->xmax, th->bound, sizeof th->bound)) {
        th->logy = 1;
        snprintf(th->boundtitle, sizeof th->boundtitle, "NormFace bound log(1+(n−1)exp(−sn/(n−1))), n=%d",
                 num_classes);
        append(caption, size,
               " The dashed black curve is the NormFace lower bound on the loss for n = %d classes (Wang et "
               "al. Prop. 2): no run can go below it, and the minimum loss should track it as s grows.",
               num_classes);
    }
}

/* metric against swept key kx: one block per combination of the other swept keys. */
static void sweep_figure(plot_ctx *c, int kx, const char *metric, int num_classes)
{
    const csvread_table *a = &c->agg;
    const char *key = a->header[kx];
    char mcol[160], scol[160], stem[200];
    snprintf(mcol, sizeof mcol, "%s_mean", metric);
    snprintf(scol, sizeof scol, "%s_sd", metric);
    int jm = csvread_col(a, mcol), js = csvread_col(a, scol);
    /* With one seed per setting there is no spread over seeds to draw; verification accuracy still
     * has its spread over the folds (verify_acc_sd), which is drawn instead and named as such. */
    int one_seed = agg_one_seed(a), jf = csvread_col(a, "verify_acc_sd_mean");
    int fold_sd = one_seed && !strcmp(metric, "verify_acc") && jf >= 0;
    if (fold_sd)
        js = jf;
    snprintf(stem, sizeof stem, "sweep_%s_vs_%s", metric, key);
    for (char *q = stem; *q; q++)
        if (*q == '.')
            *q = '_';
    if (jm < 0) {
        plan_skip(c, "%s: summary_agg.csv has no column '%s'", stem, mcol);
        return;
    }
    char path[1400], caption[1024], xlabel[256], ylabel[256];
    sweep_extent x;
    int rc = data_sweep(c, kx, jm, js, stem, path, sizeof path, &x);
    if (rc == 0)
        plan_skip(c, "%s: fewer than two values of %s have a %s", stem, key, metric);
    if (rc <= 0)
        return;
    int logx = x.xmin > 0 && x.xmax / x.xmin >= 8;
    sweep_caption(a, kx, metric, fold_sd, one_seed, caption, sizeof caption);
    sweep_theory th;
    sweep_theory_for(c, key, metric, stem, num_classes, logx, &x, &th, caption, sizeof caption);
    key_label(key, logx, xlabel, sizeof xlabel);
    snprintf(ylabel, sizeof ylabel, "%s%s", metric_label(metric), th.logy ? ", log scale" : "");
    const char *log_axes = logx && th.logy ? "xy" : logx ? "x" : th.logy ? "y" : "";
    const char *args[] = {path, xlabel, ylabel, log_axes, th.vline, th.bound, th.boundtitle};
    plan_figure(c, stem, "sweep.gp", "Sweep curves", caption, args, th.bound[0] ? 7 : 5);
}

/* Whether swept column k has two numeric values or more; its other values (empty, or a word such
 * as α: auto) are left off the curve (sweep_caption says so). */
static int numeric_sweep(const csvread_table *a, int k)
{
    int distinct = 0;
    double first = NAN;
    for (int r = 0; r < a->nrows; r++) {
        double v;
        if (!a->rows[r][k][0] || !plot_is_number(a->rows[r][k], &v))
            continue;
        if (isnan(first))
            first = v, distinct = 1;
        else if (v != first)
            distinct = 2;
    }
    return distinct >= 2;
}

/* Whether column <metric>_mean of summary_agg.csv has a value. */
static int agg_has(const csvread_table *a, const char *metric)
{
    char col[160];
    snprintf(col, sizeof col, "%s_mean", metric);
    int j = csvread_col(a, col), have = 0;
    for (int r = 0; j >= 0 && r < a->nrows; r++)
        have |= isfinite(plot_cell(a, r, j));
    return have;
}

void figures_sweep(plot_ctx *c)
{
    if (!c->have_agg) {
        plan_skip(c, "sweep curves: %s summary_agg.csv (normbench collect EXPERIMENT.yaml writes it)", c->agg_why);
        return;
    }
    static const char *const metrics[] = {"min_train_loss", "test_acc", "verify_acc", "learned_scale"};
    const csvread_table *a = &c->agg;
    int nk = agg_keys(c), any = 0, num_classes = 0;
    int jc = csvread_col(a, "num_classes_mean");
    for (int r = 0; r < a->nrows && jc >= 0 && !num_classes; r++) {
        double v = plot_cell(a, r, jc);
        if (isfinite(v) && v > 0)
            num_classes = (int)lround(v);
    }
    for (int k = 0; k < nk; k++) {
        if (!numeric_sweep(a, k))
            continue;
        any = 1;
        for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
            if (agg_has(a, metrics[m]))
                sweep_figure(c, k, metrics[m], num_classes);
            else if (strcmp(metrics[m], "learned_scale"))
                plan_skip(c, "sweep of %s against %s: no value in summary_agg.csv", metrics[m], a->header[k]);
        }
    }
    if (!any)
        plan_skip(c, "sweep curves: no swept numeric key with two values or more besides seed");
}

void figures_bars(plot_ctx *c)
{
    if (!c->have_agg) {
        plan_skip(c, "final_metrics: %s summary_agg.csv (normbench collect EXPERIMENT.yaml writes it)", c->agg_why);
        return;
    }
    static const char *const metrics[] = {"test_acc", "verify_acc", "auc", "rank1"};
    static const char *const titles[] = {"test accuracy (top-1)", "verification accuracy (10-fold)", "ROC AUC",
                                         "open-set rank-1"};
    const csvread_table *a = &c->agg;
    int use[4], nm = 0;
    for (int m = 0; m < 4; m++)
        nm += use[m] = agg_has(a, metrics[m]);
    if (!nm || !a->nrows) {
        plan_skip(c, "final_metrics: summary_agg.csv has no accuracy values yet");
        return;
    }
    char path[1400], nms[8];
    if (data_final_metrics(c, metrics, titles, use, 4, path, sizeof path))
        return;
    snprintf(nms, sizeof nms, "%d", nm);
    int one_seed = agg_one_seed(a);
    const char *args[] = {path, nms, one_seed ? "one seed (fraction)" : "mean over seeds ± sd (fraction)"};
    plan_figure(c, "final_metrics", "bars.gp", "Final metrics",
                one_seed ? "Final metrics per loss setting, one seed per setting, so no error bars (summary_agg.csv)."
                         : "Final metrics per loss setting: mean over seeds with ± sd error bars (summary_agg.csv).",
                args, 3);
}
