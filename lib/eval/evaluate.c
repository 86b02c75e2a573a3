/* evaluate.c — end-of-run evaluation (docs/evaluation.md §4); see evaluate.h. */
#include "eval/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/anchors.h"
#include "eval/erc.h"
#include "eval/geometry.h"
#include "eval/identify.h"
#include "eval/stats.h"
#include "eval/verify.h"
#include "io/csvlog.h"
#include "io/fsutil.h"
#include "io/npy.h"
#include "io/runfolder.h"

const char *const eval_summary_names[EVAL_SUMMARY_COLS] = {
    "verify_acc", "verify_acc_sd", "verify_youden_acc", "verify_optimistic_acc", "auc", "eer",
    "tar_at_far_1e-1", "tar_at_far_1e-2", "tar_at_far_1e-3", "rank1", "theta_y_mean", "min_weight_angle",
    "test_feature_norm", "verify_acc_clean", "verify_acc_degraded", "norm_quality_spearman", "erc_area_norm",
    "erc_area_oracle", "erc_area_random", "erc_oracle_gain"};

void eval_summary_values(const eval_summary *s, double *v)
{
    double x[EVAL_SUMMARY_COLS] = {s->verify_acc, s->verify_acc_sd, s->verify_youden_acc, s->verify_optimistic_acc,
                                   s->auc, s->eer, s->tar_at_far[0], s->tar_at_far[1], s->tar_at_far[2], s->rank1,
                                   s->theta_y_mean, s->min_weight_angle, s->test_norm_mean,
                                   s->verify_acc_clean, s->verify_acc_degraded, s->norm_quality_spearman,
                                   s->erc_area_norm, s->erc_area_oracle, s->erc_area_random, s->erc_oracle_gain};
    memcpy(v, x, sizeof x);
}

/* Mirrors each (c, h, w) image of x (B, c, h, w) left to right. */
static void flip_horizontal(real *x, int B, int c, int h, int w)
{
    for (long r = 0; r < (long)B * c * h; r++) {
        real *row = x + r * w;
        for (int i = 0, j = w - 1; i < j; i++, j--) {
            real t = row[i];
            row[i] = row[j];
            row[j] = t;
        }
    }
}

/* Features (n, D) of the first n samples of ds in eval mode; flipped images when flip. */
static real *extract_features(const eval_model *m, const dataset *ds, int n, int flip)
{
    int B = m->net->max_batch, D = m->net->feature_dim;
    real *feat = nb_malloc((size_t)n * D * sizeof(real));
    int *idx = nb_malloc((size_t)B * sizeof(int));
    for (int start = 0; start < n; start += B) {
        int b = n - start < B ? n - start : B;
        for (int i = 0; i < b; i++)
            idx[i] = start + i;
        dataset_gather(ds, m->x, NULL, idx, b);
        if (flip)
            flip_horizontal(m->x, b, ds->c, ds->h, ds->w);
        const real *f = net_forward(m->net, m->x, b, 0);
        memcpy(feat + (size_t)start * D, f, (size_t)b * D * sizeof(real));
    }
    free(idx);
    return feat;
}

double evaluate_accuracy(const eval_model *m, const dataset *d, int batch)
{
    if (!loss_has_classifier(m->loss->cfg.type) || d->open_set)
        return NAN;
    long correct = 0;
    int *idx = nb_malloc((size_t)batch * sizeof(int));
    for (int start = 0; start < d->n; start += batch) {
        int B = d->n - start < batch ? d->n - start : batch;
        for (int i = 0; i < B; i++)
            idx[i] = start + i;
        dataset_gather(d, m->x, m->y, idx, B);
        const real *feat = net_forward(m->net, m->x, B, 0);
        loss_predict(m->loss, m->pred, feat, B);
        for (int i = 0; i < B; i++)
            correct += m->pred[i] == m->y[i];
    }
    free(idx);
    return d->n ? (double)correct / d->n : NAN;
}

void evaluate_row(FILE *f, const char *protocol, const char *metric, const char *rule, double v)
{
    char buf[64];
    const char *cells[4] = {protocol, metric, rule, csvlog_num(buf, sizeof buf, v)};
    csvlog_row(f, cells, 4);
}

int evaluate_open_csv(atomic_file *a, const char *dir, const char *name, nb_error *err)
{
    char path[1200];
    if (runfolder_file(path, sizeof path, dir, name, err))
        return -1;
    return atomic_open(a, path, err);
}

/* One evaluation: its inputs, the test features and the open eval.csv. */
typedef struct {
    const eval_model *m;
    const eval_options *opt;
    uint64_t seed;
    const dataset *train, *test;
    const char *run_dir;
    int n, D;     /* test samples, feature dimension */
    real *feat;   /* (n, D) test features, before normalisation */
    real *vfeat;  /* (n, D) features of the cosine protocols: feat, or feat + flipped features */
    FILE *ev;     /* eval.csv */
    eval_summary *out;
} eval_ctx;

/* ---- verification ---- */

void evaluate_verify_rows(FILE *f, const verify_result *vr, const pair_list *pl, int flip)
{
    char rule[96];
    snprintf(rule, sizeof rule, "%d-fold, max-accuracy threshold", pl->folds);
    evaluate_row(f, "verification", "accuracy_mean", rule, vr->acc_mean);
    evaluate_row(f, "verification", "accuracy_sd", rule, vr->acc_sd);
    evaluate_row(f, "verification", "threshold_mean", rule, vr->thr_mean);
    snprintf(rule, sizeof rule, "%d-fold, Youden J threshold", pl->folds);
    evaluate_row(f, "verification", "accuracy_mean", rule, vr->youden_acc_mean);
    evaluate_row(f, "verification", "accuracy_sd", rule, vr->youden_acc_sd);
    evaluate_row(f, "verification", "threshold_mean", rule, vr->youden_thr_mean);
    evaluate_row(f, "verification", "accuracy", "best threshold on all pairs (optimistic)", vr->optimistic_acc);
    evaluate_row(f, "verification", "threshold", "best threshold on all pairs (optimistic)", vr->optimistic_thr);
    evaluate_row(f, "verification", "auc", "ROC over all pairs", vr->auc);
    evaluate_row(f, "verification", "eer", "ROC over all pairs", vr->eer);
    const char *far_names[3] = {"tar_at_far_1e-1", "tar_at_far_1e-2", "tar_at_far_1e-3"};
    for (int k = 0; k < VERIFY_N_FAR; k++)
        evaluate_row(f, "verification", far_names[k], "ROC over all pairs", vr->tar_at_far[k]);
    evaluate_row(f, "verification", "pairs", flip ? "image + flip features" : "image features", (double)pl->n);
}

void evaluate_anchor_rows(FILE *f, const insightface_result *ir, const opensphere_result *os)
{
    char rule[160];
    if (ir) {
        const char *p = "verification-insightface";
        snprintf(rule, sizeof rule,
                 "verification.py: %d consecutive folds, grid 0:0.01:4 on squared L2 of normalised features, first "
                 "of tied thresholds",
                 ir->folds);
        evaluate_row(f, p, "accuracy_mean", rule, ir->acc_mean);
        evaluate_row(f, p, "accuracy_sd", "verification.py: population sd over folds (np.std)", ir->acc_sd);
        evaluate_row(f, p, "threshold_mean", rule, ir->thr_mean);
        snprintf(rule, sizeof rule, "verification.py calculate_val: FAR %g, threshold interpolated on the training folds",
                 ir->far_target);
        evaluate_row(f, p, "val_mean", rule, ir->val_mean);
        evaluate_row(f, p, "val_sd", rule, ir->val_sd);
        evaluate_row(f, p, "far_mean", rule, ir->far_mean);
    }
    if (os) {
        const char *p = "verification-opensphere";
        evaluate_row(f, p, "accuracy", "get_results: best threshold on all pairs (optimistic)", os->acc);
        evaluate_row(f, p, "eer", "get_results: ROC over all pairs", os->eer);
        evaluate_row(f, p, "auc", "get_results: ROC over all pairs", os->auc);
        const char *names[3] = {"tpr_at_fpr_1e-1", "tpr_at_fpr_1e-2", "tpr_at_fpr_1e-3"};
        for (int k = 0; k < VERIFY_N_FAR; k++)
            evaluate_row(f, p, names[k], "get_results: ROC interpolated (scipy interp1d)", os->tpr_at_fpr[k]);
    }
}

/* erc.csv: one row per reject fraction, the columns of each rule side by side. */
static int write_erc(const char *dir, const erc_curve *cv[3], nb_error *err)
{
    static const char *const suffix[3] = {"", "_oracle", "_random"};
    atomic_file a;
    if (evaluate_open_csv(&a, dir, "erc.csv", err))
        return -1;
    csvlog_cell(a.f, "reject", 1);
    csvlog_cell(a.f, "pairs_kept", 0);
    for (int r = 0; r < 3; r++) {
        char h[3][64];
        snprintf(h[0], 64, "fnmr_at_fmr_1e-2%s", suffix[r]);
        snprintf(h[1], 64, "fnmr_at_fmr_1e-3%s", suffix[r]);
        snprintf(h[2], 64, "accuracy%s", suffix[r]);
        for (int k = 0; k < 3; k++)
            csvlog_cell(a.f, h[k], 0);
    }
    fputc('\n', a.f);
    for (int s = 0; s < ERC_STEPS; s++) {
        char b[40];
        csvlog_cell(a.f, csvlog_num(b, sizeof b, cv[0]->reject[s]), 1);
        snprintf(b, sizeof b, "%d", cv[0]->kept[s]);
        csvlog_cell(a.f, b, 0);
        for (int r = 0; r < 3; r++) {
            double v[3] = {cv[r] ? cv[r]->fnmr[0][s] : NAN, cv[r] ? cv[r]->fnmr[1][s] : NAN,
                           cv[r] ? cv[r]->acc[s] : NAN};
            for (int k = 0; k < 3; k++)
                csvlog_cell(a.f, csvlog_num(b, sizeof b, v[k]), 0);
        }
        fputc('\n', a.f);
    }
    return atomic_commit(&a, err);
}

int evaluate_erc(FILE *ev, const char *dir, const verify_result *vr, const double *scores, const pair_list *pl,
                 const double *q, const char *q_name, const int *level, uint64_t seed, double areas[3],
                 nb_error *err)
{
    const int n = pl->n;
    double *key = nb_malloc((size_t)(n > 0 ? n : 1) * sizeof *key);
    uint64_t *tie = nb_malloc((size_t)(n > 0 ? n : 1) * sizeof *tie);
    rng_t r0, r;
    rng_seed(&r0, seed);
    rng_fork(&r, &r0, 23);
    for (int i = 0; i < n; i++)
        tie[i] = rng_next(&r);
    erc_curve curve[3];
    const erc_curve *cv[3] = {&curve[0], NULL, &curve[2]};
    erc_pair_quality(key, q, pl);
    erc_compute(&curve[0], vr, scores, pl, key, NULL);
    if (level) { /* the oracle: the worse image's degradation level first, ties at random */
        for (int i = 0; i < n; i++) {
            int la = level[pl->p[i].a], lb = level[pl->p[i].b];
            key[i] = -(double)(la > lb ? la : lb);
        }
        erc_compute(&curve[1], vr, scores, pl, key, tie);
        cv[1] = &curve[1];
    }
    for (int i = 0; i < n; i++)
        key[i] = 0;
    erc_compute(&curve[2], vr, scores, pl, key, tie);
    char rule[3][160];
    snprintf(rule[0], sizeof rule[0], "reject by %s of the worse image, r in [0, 0.5]", q_name);
    snprintf(rule[1], sizeof rule[1], "oracle: reject by degradation level (ties at random), r in [0, 0.5]");
    snprintf(rule[2], sizeof rule[2], "random rejection, r in [0, 0.5]");
    for (int k = 0; k < 3; k++) {
        if (!cv[k])
            continue;
        evaluate_row(ev, "erc", "area_fnmr_at_fmr_1e-2", rule[k], cv[k]->area_fnmr[0]);
        evaluate_row(ev, "erc", "area_fnmr_at_fmr_1e-3", rule[k], cv[k]->area_fnmr[1]);
        evaluate_row(ev, "erc", "area_error", rule[k], cv[k]->area_error);
    }
    if (areas)
        for (int k = 0; k < 3; k++)
            areas[k] = cv[k] ? cv[k]->area_fnmr[0] : NAN;
    free(key);
    free(tie);
    return write_erc(dir, cv, err);
}

/* The same thresholds judged on clean pairs and on pairs with a degraded image. */
static void verify_by_quality(const eval_ctx *c, const verify_result *vr, const double *scores, const pair_list *pl)
{
    unsigned char *sel = nb_malloc((size_t)pl->n);
    char rule[96];
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < pl->n; i++) {
            int hard = dataset_quality(c->test, pl->p[i].a) > 0 || dataset_quality(c->test, pl->p[i].b) > 0;
            sel[i] = (unsigned char)(pass ? hard : !hard);
        }
        double acc = verify_subset_accuracy(vr, scores, pl, sel);
        snprintf(rule, sizeof rule, "%d-fold thresholds, %s pairs only", pl->folds,
                 pass ? "degraded (a quality > 0)" : "clean (both quality 0)");
        evaluate_row(c->ev, "verification", pass ? "accuracy_degraded" : "accuracy_clean", rule, acc);
        *(pass ? &c->out->verify_acc_degraded : &c->out->verify_acc_clean) = acc;
    }
    free(sel);
}

int evaluate_write_roc(const char *run_dir, const verify_result *vr, nb_error *err)
{
    atomic_file a;
    if (evaluate_open_csv(&a, run_dir, "roc.csv", err))
        return -1;
    const char *rh[3] = {"far", "tar", "threshold"};
    csvlog_row(a.f, rh, 3);
    for (int i = 0; i < vr->roc_n; i++) {
        char c[3][40];
        const char *cells[3] = {csvlog_num(c[0], 40, vr->roc[i].far), csvlog_num(c[1], 40, vr->roc[i].tar),
                                isinf(vr->roc[i].threshold) ? "inf" : csvlog_num(c[2], 40, vr->roc[i].threshold)};
        csvlog_row(a.f, cells, 3);
    }
    return atomic_commit(&a, err);
}

/* The anchors' rules on the same features (docs/evaluation.md §4b); InsightFace's rows are left
 * out when its folds cannot be formed (a fold without negatives, say). */
static void eval_anchors(const eval_ctx *c, const verify_result *vr, const pair_list *pl)
{
    double *dist = nb_malloc((size_t)pl->n * sizeof *dist);
    insightface_result ir = {0};
    opensphere_result os;
    nb_error ignore;
    int have_if = insightface_distances(dist, c->vfeat, c->n, c->D, pl, &ignore) == 0 &&
                  insightface_evaluate(&ir, dist, pl, pl->folds, INSIGHTFACE_FAR_TARGET, &ignore) == 0;
    opensphere_evaluate(&os, vr);
    evaluate_anchor_rows(c->ev, have_if ? &ir : NULL, &os);
    insightface_result_free(&ir);
    free(dist);
}

double evaluate_norm_quality(const real *feat, const int *level, int n, int D)
{
    int lo = n > 0 ? level[0] : 0, hi = lo;
    for (int i = 1; i < n; i++) {
        lo = level[i] < lo ? level[i] : lo;
        hi = level[i] > hi ? level[i] : hi;
    }
    if (hi == lo)
        return NAN;
    double *x = nb_malloc((size_t)n * sizeof *x), *y = nb_malloc((size_t)n * sizeof *y);
    for (int i = 0; i < n; i++) {
        double ss = 0;
        for (int j = 0; j < D; j++)
            ss += (double)feat[(size_t)i * D + j] * feat[(size_t)i * D + j];
        x[i] = sqrt(ss);
        y[i] = level[i];
    }
    double rho = stats_spearman(x, y, n);
    free(x);
    free(y);
    return rho;
}

double evaluate_oracle_gain(double norm, double oracle, double random)
{
    if (!isfinite(norm) || !isfinite(oracle) || !isfinite(random) || !(random - oracle > 0))
        return NAN;
    return (random - norm) / (random - oracle);
}

/* The error-versus-reject curves by feature norm (before normalisation, of the image without its
 * flip), the oracle when the test set has degradation levels, and random rejection. */
static int eval_erc(const eval_ctx *c, const verify_result *vr, const double *scores, const pair_list *pl,
                    nb_error *err)
{
    double *q = nb_malloc((size_t)(c->n > 0 ? c->n : 1) * sizeof *q);
    int *level = nb_malloc((size_t)(c->n > 0 ? c->n : 1) * sizeof *level), graded = 0, levels2 = 0;
    for (int i = 0; i < c->n; i++) {
        double ss = 0;
        for (int j = 0; j < c->D; j++)
            ss += (double)c->feat[(size_t)i * c->D + j] * c->feat[(size_t)i * c->D + j];
        q[i] = sqrt(ss);
        level[i] = dataset_quality(c->test, i);
        graded |= level[i] > 0;
        levels2 |= level[i] != level[0];
    }
    double areas[3];
    int rc = evaluate_erc(c->ev, c->run_dir, vr, scores, pl, q, "feature norm", graded ? level : NULL, c->seed, areas,
                          err);
    double rho = evaluate_norm_quality(c->feat, level, c->n, c->D);
    if (levels2) { /* two quality levels at least */
        eval_summary *o = c->out;
        o->norm_quality_spearman = rho;
        o->erc_area_norm = areas[0];
        o->erc_area_oracle = areas[1];
        o->erc_area_random = areas[2];
        o->erc_oracle_gain = evaluate_oracle_gain(areas[0], areas[1], areas[2]);
        evaluate_row(c->ev, "geometry", "norm_quality_spearman", "test set: rho(feature norm, quality level)", rho);
        evaluate_row(c->ev, "erc", "oracle_gain_recovered", "(random - norm)/(random - oracle) of area_fnmr_at_fmr_1e-2",
                     o->erc_oracle_gain);
    }
    free(q);
    free(level);
    return rc;
}

/* Verification on the dataset's pairs, else on opt->pairs pairs drawn from the test labels (none
 * when 0). */
static int eval_verification(eval_ctx *c, const pair_list *pairs, nb_error *err)
{
    pair_list drawn = {0};
    verify_result vr = {0};
    double *scores = NULL;
    int rc = -1;
    const pair_list *pl = pairs && pairs->n ? pairs : NULL;
    if (!pl && c->opt->pairs > 0) {
        rng_t r0, r;
        rng_seed(&r0, c->seed);
        rng_fork(&r, &r0, 21);
        if (pairs_draw(&drawn, c->test->labels, c->n, c->opt->pairs, c->opt->folds, &r, err))
            goto out;
        pl = &drawn;
    }
    if (pl) {
        scores = nb_malloc((size_t)pl->n * sizeof(double));
        if (verify_scores(scores, c->vfeat, c->n, c->D, pl, err) || verify_evaluate(&vr, scores, pl, err))
            goto out;
        evaluate_verify_rows(c->ev, &vr, pl, c->opt->flip);
        eval_anchors(c, &vr, pl);
        verify_by_quality(c, &vr, scores, pl);
        if (eval_erc(c, &vr, scores, pl, err))
            goto out;
        eval_summary *o = c->out;
        o->verify_acc = vr.acc_mean;
        o->verify_acc_sd = vr.acc_sd;
        o->verify_youden_acc = vr.youden_acc_mean;
        o->verify_optimistic_acc = vr.optimistic_acc;
        o->auc = vr.auc;
        o->eer = vr.eer;
        memcpy(o->tar_at_far, vr.tar_at_far, sizeof o->tar_at_far);
        if (evaluate_write_roc(c->run_dir, &vr, err))
            goto out;
    }
    rc = 0;
out:
    free(scores);
    pairs_free(&drawn);
    verify_result_free(&vr);
    return rc;
}

/* ---- identification ---- */

int evaluate_write_cmc(const char *run_dir, const identify_result *ir, nb_error *err)
{
    atomic_file a;
    if (evaluate_open_csv(&a, run_dir, "cmc.csv", err))
        return -1;
    const char *ch[2] = {"rank", "identification_rate"};
    csvlog_row(a.f, ch, 2);
    for (int k = 0; k < ir->R; k++) {
        char c[2][40];
        snprintf(c[0], 40, "%d", k + 1);
        const char *cells[2] = {c[0], csvlog_num(c[1], 40, ir->cmc[k])};
        csvlog_row(a.f, cells, 2);
    }
    return atomic_commit(&a, err);
}

/* Closed-set top-1 (when the test labels are the training classes), then open-set rank-1 and CMC
 * from a gallery/probe split of the test set (skipped when no identity has two samples). */
static int eval_identification(eval_ctx *c, nb_error *err)
{
    const eval_model *m = c->m;
    if (!c->test->open_set)
        evaluate_row(c->ev, "identification", "closed_set_top1",
                 loss_has_classifier(m->loss->cfg.type) ? "argmax of logits" : "nearest class agent",
                 evaluate_accuracy(m, c->test, m->net->max_batch));
    identify_result ir = {0};
    gallery_split split = {0};
    int rc = 0;
    rng_t r0, r;
    rng_seed(&r0, c->seed);
    rng_fork(&r, &r0, 22);
    nb_error ignore;
    if (identify_split(&split, c->test->labels, c->n, &r, 0, &ignore) == 0) {
        rc = identify_evaluate(&ir, c->vfeat, c->test->labels, c->n, c->D, &split, c->opt->cmc_ranks, err);
        if (rc == 0) {
            evaluate_row(c->ev, "identification", "rank1", "open-set: one gallery template per identity, cosine", ir.rank1);
            c->out->rank1 = ir.rank1;
            rc = evaluate_write_cmc(c->run_dir, &ir, err);
        }
    }
    identify_result_free(&ir);
    gallery_split_free(&split);
    return rc;
}

/* ---- geometry ---- */

static int write_norms(const char *run_dir, const norm_stats *ns, int levels, nb_error *err)
{
    atomic_file a;
    if (evaluate_open_csv(&a, run_dir, "norms.csv", err))
        return -1;
    const char *nh[4] = {"quality", "count", "norm_mean", "norm_sd"};
    csvlog_row(a.f, nh, 4);
    for (int q = 0; q < levels; q++) {
        char c[4][40];
        snprintf(c[0], 40, "%d", q);
        snprintf(c[1], 40, "%d", ns->count[q]);
        const char *cells[4] = {c[0], c[1], csvlog_num(c[2], 40, ns->level_mean[q]), csvlog_num(c[3], 40, ns->level_sd[q])};
        csvlog_row(a.f, cells, 4);
    }
    return atomic_commit(&a, err);
}

static int write_theta_hist(const char *run_dir, const long *hist, int bins, nb_error *err)
{
    atomic_file a;
    if (evaluate_open_csv(&a, run_dir, "theta_hist.csv", err))
        return -1;
    const char *th[3] = {"bin_start_deg", "bin_end_deg", "count"};
    csvlog_row(a.f, th, 3);
    for (int b = 0; b < bins; b++) {
        char c[3][40];
        const char *cells[3] = {csvlog_num(c[0], 40, 180.0 * b / bins), csvlog_num(c[1], 40, 180.0 * (b + 1) / bins),
                                csvlog_num(c[2], 40, (double)hist[b])};
        csvlog_row(a.f, cells, 3);
    }
    return atomic_commit(&a, err);
}

/* Feature norms per quality level. */
static int eval_norms(eval_ctx *c, nb_error *err)
{
    int levels = 1;
    for (int i = 0; i < c->n; i++)
        if (dataset_quality(c->test, i) + 1 > levels)
            levels = dataset_quality(c->test, i) + 1;
    norm_stats ns = {0};
    int rc = -1;
    if (geometry_norm_stats(&ns, c->feat, c->test->quality, c->n, c->D, levels, err))
        goto out;
    c->out->test_norm_mean = ns.mean;
    evaluate_row(c->ev, "geometry", "feature_norm_mean", "test set, before normalisation", ns.mean);
    evaluate_row(c->ev, "geometry", "feature_norm_sd", "test set, before normalisation", ns.sd);
    rc = write_norms(c->run_dir, &ns, levels, err);
out:
    norm_stats_free(&ns);
    return rc;
}

/* Minimum angle between class weights, and the θ_y histogram: the test set when its labels are
 * the training classes, else (up to 10,000) training samples. Needs class weights. */
static int eval_angles(eval_ctx *c, nb_error *err)
{
    const eval_model *m = c->m;
    const real *W = m->loss->W;
    int C = m->loss->num_classes, D = c->D;
    double ang = geometry_min_weight_angle(NULL, NULL, W, C, D);
    c->out->min_weight_angle = ang;
    evaluate_row(c->ev, "geometry", "min_weight_angle_deg", "between class weights / agents", ang);
    const dataset *td = c->test->open_set ? c->train : c->test;
    int tn = td->n < 10000 ? td->n : 10000;
    real *tfeat = NULL;
    const real *tf = c->feat;
    if (c->test->open_set)
        tf = tfeat = extract_features(m, td, tn, 0);
    int bins = c->opt->theta_bins;
    long *hist = nb_calloc((size_t)bins, sizeof *hist);
    double mean_theta;
    int bad = geometry_theta_hist(hist, &mean_theta, tf, td->labels, tn, D, W, C, bins, err);
    if (!bad) {
        c->out->theta_y_mean = mean_theta;
        evaluate_row(c->ev, "geometry", "theta_y_mean_deg", c->test->open_set ? "training samples" : "test set", mean_theta);
        bad = write_theta_hist(c->run_dir, hist, bins, err);
    }
    free(hist);
    free(tfeat);
    return bad ? -1 : 0;
}

/* ---- features (and class weights) for the scatter plots ---- */

static int write_weights(const char *run_dir, const loss *l, int D, nb_error *err)
{
    atomic_file a;
    if (evaluate_open_csv(&a, run_dir, "weights.csv", err))
        return -1;
    csvlog_cell(a.f, "class", 1);
    for (int j = 0; j < D; j++) {
        char h[32];
        snprintf(h, sizeof h, "w%d", j);
        csvlog_cell(a.f, h, 0);
    }
    fputc('\n', a.f);
    for (int c = 0; c < l->num_classes; c++) {
        fprintf(a.f, "%d", c);
        for (int j = 0; j < D; j++)
            fprintf(a.f, ",%.9g", (double)l->W[(size_t)c * D + j]);
        fputc('\n', a.f);
    }
    return atomic_commit(&a, err);
}

static int write_features(const char *run_dir, const dataset *test, const real *feat, int n, int D, nb_error *err)
{
    atomic_file a;
    if (evaluate_open_csv(&a, run_dir, "features.csv", err))
        return -1;
    csvlog_cell(a.f, "label", 1);
    csvlog_cell(a.f, "quality", 0);
    for (int j = 0; j < D; j++) {
        char h[32];
        snprintf(h, sizeof h, "f%d", j);
        csvlog_cell(a.f, h, 0);
    }
    fputc('\n', a.f);
    for (int i = 0; i < n; i++) {
        fprintf(a.f, "%d,%d", test->labels[i], dataset_quality(test, i));
        for (int j = 0; j < D; j++)
            fprintf(a.f, ",%.9g", (double)feat[(size_t)i * D + j]);
        fputc('\n', a.f);
    }
    return atomic_commit(&a, err);
}

/* <run_dir>/<name> as a .npy of rows × cols reals (float32 or float64, as the build's real). */
static int write_npy_real(const char *run_dir, const char *name, const real *x, int rows, int cols, nb_error *err)
{
    char path[1200];
    if (runfolder_file(path, sizeof path, run_dir, name, err))
        return -1;
    const int64_t shape[2] = {rows, cols};
    return npy_write(path, sizeof(real) == 4 ? NPY_FLOAT32 : NPY_FLOAT64, 2, shape, x, err);
}

/* features.npy (image features), features_flip.npy (the flipped images', with eval.flip),
 * labels.npy (int32) and weights.npy (class weights, when the loss has them): numpy.load reads
 * them unchanged, and `normbench eval --features features.npy --flip-features features_flip.npy
 * --labels labels.npy` evaluates them again. */
static int write_npy_exports(const eval_ctx *c, real *flip_feat, nb_error *err)
{
    if (write_npy_real(c->run_dir, "features.npy", c->feat, c->n, c->D, err))
        return -1;
    if (flip_feat && write_npy_real(c->run_dir, "features_flip.npy", flip_feat, c->n, c->D, err))
        return -1;
    const loss *l = c->m->loss;
    if (l->W && write_npy_real(c->run_dir, "weights.npy", l->W, l->num_classes, c->D, err))
        return -1;
    char path[1200];
    if (runfolder_file(path, sizeof path, c->run_dir, "labels.npy", err))
        return -1;
    int32_t *lab = nb_malloc((size_t)(c->n > 0 ? c->n : 1) * sizeof *lab);
    for (int i = 0; i < c->n; i++)
        lab[i] = c->test->labels[i];
    const int64_t shape[1] = {c->n};
    int rc = npy_write(path, NPY_INT32, 1, shape, lab, err);
    free(lab);
    return rc;
}

/* The test features, and the flip sum for the cosine protocols when asked for. */
static int features_prepare(eval_ctx *c, nb_error *err)
{
    c->feat = extract_features(c->m, c->test, c->n, 0);
    c->vfeat = c->feat;
    real *ff = NULL;
    if (c->opt->flip) {
        ff = extract_features(c->m, c->test, c->n, 1);
        c->vfeat = nb_malloc((size_t)c->n * c->D * sizeof(real));
        features_add(c->vfeat, c->feat, ff, c->n, c->D);
    }
    int rc = c->opt->features ? write_npy_exports(c, ff, err) : 0;
    free(ff);
    return rc;
}

/* eval.csv is committed only when every protocol succeeded. */
static int eval_protocols(eval_ctx *c, const pair_list *pairs, nb_error *err)
{
    const loss *l = c->m->loss;
    if (eval_verification(c, pairs, err) || eval_identification(c, err) || eval_norms(c, err))
        return -1;
    if (l->W && eval_angles(c, err))
        return -1;
    if (c->opt->features && l->W && write_weights(c->run_dir, l, c->D, err))
        return -1;
    if (c->opt->features && write_features(c->run_dir, c->test, c->vfeat, c->n, c->D, err))
        return -1;
    return 0;
}

int evaluate_run(eval_summary *out, const eval_model *m, const eval_options *opt, uint64_t seed,
                 const dataset *train, const dataset *test, const pair_list *pairs, const char *run_dir,
                 nb_error *err)
{
    for (double *p = (double *)out; p < (double *)(out + 1); p++)
        *p = NAN;
    eval_ctx c = {.m = m, .opt = opt, .seed = seed, .train = train, .test = test, .run_dir = run_dir,
                  .n = test->n, .D = m->net->feature_dim, .out = out};
    int rc = -1;
    atomic_file ev = {0};
    if (features_prepare(&c, err))
        goto out;
    if (evaluate_open_csv(&ev, run_dir, "eval.csv", err))
        goto out;
    c.ev = ev.f;
    const char *head[4] = {"protocol", "metric", "rule", "value"};
    csvlog_row(ev.f, head, 4);
    if (eval_protocols(&c, pairs, err))
        atomic_abort(&ev);
    else
        rc = atomic_commit(&ev, err);
out:
    if (c.vfeat != c.feat)
        free(c.vfeat);
    free(c.feat);
    return rc;
}
