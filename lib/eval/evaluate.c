/* evaluate.c — end-of-run evaluation (docs/evaluation.md §4); see evaluate.h. */
#include "eval/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/csvlog.h"
#include "io/fsutil.h"
#include "eval/geometry.h"
#include "eval/identify.h"
#include "nn/net.h"
#include "eval/verify.h"

const char *const eval_summary_names[EVAL_SUMMARY_COLS] = {
    "verify_acc", "verify_acc_sd", "verify_youden_acc", "verify_optimistic_acc", "auc", "eer",
    "tar_at_far_1e-1", "tar_at_far_1e-2", "tar_at_far_1e-3", "rank1", "theta_y_mean", "min_weight_angle",
    "test_feature_norm", "verify_acc_clean", "verify_acc_degraded"};

void eval_summary_values(const eval_summary *s, double *v)
{
    double x[EVAL_SUMMARY_COLS] = {s->verify_acc, s->verify_acc_sd, s->verify_youden_acc, s->verify_optimistic_acc,
                                   s->auc, s->eer, s->tar_at_far[0], s->tar_at_far[1], s->tar_at_far[2], s->rank1,
                                   s->theta_y_mean, s->min_weight_angle, s->test_norm_mean,
                                   s->verify_acc_clean, s->verify_acc_degraded};
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

/* Features (n, d) of the first n samples of d_set in eval mode; flipped images when flip. */
static real *extract_features(model *m, const dataset *ds, int n, int flip)
{
    int B = m->net.max_batch, D = m->net.feature_dim;
    real *feat = nb_malloc((size_t)n * D * sizeof(real));
    int *idx = nb_malloc((size_t)B * sizeof(int));
    for (int start = 0; start < n; start += B) {
        int b = n - start < B ? n - start : B;
        for (int i = 0; i < b; i++)
            idx[i] = start + i;
        dataset_gather(ds, m->x, NULL, idx, b);
        if (flip)
            flip_horizontal(m->x, b, ds->c, ds->h, ds->w);
        const real *f = net_forward(&m->net, m->x, b, 0);
        memcpy(feat + (size_t)start * D, f, (size_t)b * D * sizeof(real));
    }
    free(idx);
    return feat;
}

/* eval.csv rows */
static void eval_row(FILE *f, const char *protocol, const char *metric, const char *rule, double v)
{
    char buf[64];
    const char *cells[4] = {protocol, metric, rule, csvlog_num(buf, sizeof buf, v)};
    csvlog_row(f, cells, 4);
}

static int open_csv(atomic_file *a, const char *dir, const char *name, nb_error *err)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return atomic_open(a, path, err);
}

int evaluate_run(eval_summary *out, model *m, const nb_config *cfg, const dataset *train, const dataset *test,
                 const pair_list *pairs, const char *run_dir, nb_error *err)
{
    for (double *p = (double *)out; p < (double *)(out + 1); p++)
        *p = NAN;
    int n = test->n, D = m->net.feature_dim, rc = -1;
    real *feat = extract_features(m, test, n, 0);
    /* raw features for the norms; the flip sum only for the cosine protocols */
    real *vfeat = feat;
    if (cfg->eval.flip) {
        real *ff = extract_features(m, test, n, 1);
        vfeat = nb_malloc((size_t)n * D * sizeof(real));
        features_add(vfeat, feat, ff, n, D);
        free(ff);
    }
    pair_list drawn = {0};
    verify_result vr = {0};
    identify_result ir = {0};
    gallery_split split = {0};
    norm_stats ns = {0};
    double *scores = NULL;
    real *tfeat = NULL;
    atomic_file ev = {0};
    if (open_csv(&ev, run_dir, "eval.csv", err))
        goto out;
    const char *head[4] = {"protocol", "metric", "rule", "value"};
    csvlog_row(ev.f, head, 4);

    /* ---- verification ---- */
    const pair_list *pl = pairs && pairs->n ? pairs : NULL;
    if (!pl && cfg->eval.pairs > 0) {
        rng_t r0, r;
        rng_seed(&r0, cfg->seed);
        rng_fork(&r, &r0, 21);
        if (pairs_draw(&drawn, test->labels, n, cfg->eval.pairs, cfg->eval.folds, &r, err))
            goto out_ev;
        pl = &drawn;
    }
    if (pl) {
        scores = nb_malloc((size_t)pl->n * sizeof(double));
        if (verify_scores(scores, vfeat, n, D, pl, err) || verify_evaluate(&vr, scores, pl, err))
            goto out_ev;
        char rule[96];
        snprintf(rule, sizeof rule, "%d-fold, max-accuracy threshold", pl->folds);
        eval_row(ev.f, "verification", "accuracy_mean", rule, vr.acc_mean);
        eval_row(ev.f, "verification", "accuracy_sd", rule, vr.acc_sd);
        eval_row(ev.f, "verification", "threshold_mean", rule, vr.thr_mean);
        snprintf(rule, sizeof rule, "%d-fold, Youden J threshold", pl->folds);
        eval_row(ev.f, "verification", "accuracy_mean", rule, vr.youden_acc_mean);
        eval_row(ev.f, "verification", "accuracy_sd", rule, vr.youden_acc_sd);
        eval_row(ev.f, "verification", "threshold_mean", rule, vr.youden_thr_mean);
        eval_row(ev.f, "verification", "accuracy", "best threshold on all pairs (optimistic)", vr.optimistic_acc);
        eval_row(ev.f, "verification", "threshold", "best threshold on all pairs (optimistic)", vr.optimistic_thr);
        eval_row(ev.f, "verification", "auc", "ROC over all pairs", vr.auc);
        eval_row(ev.f, "verification", "eer", "ROC over all pairs", vr.eer);
        const char *far_names[3] = {"tar_at_far_1e-1", "tar_at_far_1e-2", "tar_at_far_1e-3"};
        for (int k = 0; k < VERIFY_N_FAR; k++)
            eval_row(ev.f, "verification", far_names[k], "ROC over all pairs", vr.tar_at_far[k]);
        eval_row(ev.f, "verification", "pairs", cfg->eval.flip ? "image + flip features" : "image features",
                 (double)pl->n);
        /* the same thresholds judged on clean pairs and on pairs with a degraded image */
        unsigned char *sel = nb_malloc((size_t)pl->n);
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < pl->n; i++) {
                int hard = dataset_quality(test, pl->p[i].a) > 0 || dataset_quality(test, pl->p[i].b) > 0;
                sel[i] = (unsigned char)(pass ? hard : !hard);
            }
            double acc = verify_subset_accuracy(&vr, scores, pl, sel);
            snprintf(rule, sizeof rule, "%d-fold thresholds, %s pairs only", pl->folds,
                     pass ? "degraded (a quality > 0)" : "clean (both quality 0)");
            eval_row(ev.f, "verification", pass ? "accuracy_degraded" : "accuracy_clean", rule, acc);
            *(pass ? &out->verify_acc_degraded : &out->verify_acc_clean) = acc;
        }
        free(sel);
        out->verify_acc = vr.acc_mean;
        out->verify_acc_sd = vr.acc_sd;
        out->verify_youden_acc = vr.youden_acc_mean;
        out->verify_optimistic_acc = vr.optimistic_acc;
        out->auc = vr.auc;
        out->eer = vr.eer;
        memcpy(out->tar_at_far, vr.tar_at_far, sizeof out->tar_at_far);

        atomic_file a;
        if (open_csv(&a, run_dir, "roc.csv", err))
            goto out_ev;
        const char *rh[3] = {"far", "tar", "threshold"};
        csvlog_row(a.f, rh, 3);
        for (int i = 0; i < vr.roc_n; i++) {
            char c[3][40];
            const char *cells[3] = {csvlog_num(c[0], 40, vr.roc[i].far), csvlog_num(c[1], 40, vr.roc[i].tar),
                                    isinf(vr.roc[i].threshold) ? "inf" : csvlog_num(c[2], 40, vr.roc[i].threshold)};
            csvlog_row(a.f, cells, 3);
        }
        if (atomic_commit(&a, err))
            goto out_ev;
    }

    /* ---- identification ---- */
    if (!test->open_set)
        eval_row(ev.f, "identification", "closed_set_top1",
                 loss_has_classifier(cfg->loss.type) ? "argmax of logits" : "nearest class agent",
                 model_evaluate(m, test, m->net.max_batch));
    {
        rng_t r0, r;
        rng_seed(&r0, cfg->seed);
        rng_fork(&r, &r0, 22);
        nb_error ignore;
        if (identify_split(&split, test->labels, n, &r, 0, &ignore) == 0) {
            if (identify_evaluate(&ir, vfeat, test->labels, n, D, &split, cfg->eval.cmc_ranks, err))
                goto out_ev;
            eval_row(ev.f, "identification", "rank1", "open-set: one gallery template per identity, cosine", ir.rank1);
            out->rank1 = ir.rank1;
            atomic_file a;
            if (open_csv(&a, run_dir, "cmc.csv", err))
                goto out_ev;
            const char *ch[2] = {"rank", "identification_rate"};
            csvlog_row(a.f, ch, 2);
            for (int k = 0; k < ir.R; k++) {
                char c[2][40];
                snprintf(c[0], 40, "%d", k + 1);
                const char *cells[2] = {c[0], csvlog_num(c[1], 40, ir.cmc[k])};
                csvlog_row(a.f, cells, 2);
            }
            if (atomic_commit(&a, err))
                goto out_ev;
        }
    }

    /* ---- geometry ---- */
    int levels = 1;
    for (int i = 0; i < n; i++)
        if (dataset_quality(test, i) + 1 > levels)
            levels = dataset_quality(test, i) + 1;
    if (geometry_norm_stats(&ns, feat, test->quality, n, D, levels, err))
        goto out_ev;
    out->test_norm_mean = ns.mean;
    eval_row(ev.f, "geometry", "feature_norm_mean", "test set, before normalisation", ns.mean);
    eval_row(ev.f, "geometry", "feature_norm_sd", "test set, before normalisation", ns.sd);
    {
        atomic_file a;
        if (open_csv(&a, run_dir, "norms.csv", err))
            goto out_ev;
        const char *nh[4] = {"quality", "count", "norm_mean", "norm_sd"};
        csvlog_row(a.f, nh, 4);
        for (int q = 0; q < levels; q++) {
            char c[4][40];
            snprintf(c[0], 40, "%d", q);
            snprintf(c[1], 40, "%d", ns.count[q]);
            const char *cells[4] = {c[0], c[1], csvlog_num(c[2], 40, ns.level_mean[q]), csvlog_num(c[3], 40, ns.level_sd[q])};
            csvlog_row(a.f, cells, 4);
        }
        if (atomic_commit(&a, err))
            goto out_ev;
    }
    if (m->loss.W) {
        int C = m->loss.num_classes;
        double ang = geometry_min_weight_angle(NULL, NULL, m->loss.W, C, D);
        out->min_weight_angle = ang;
        eval_row(ev.f, "geometry", "min_weight_angle_deg", "between class weights / agents", ang);
        /* θ_y: the test set when its labels are the training classes, else training samples */
        const dataset *td = test->open_set ? train : test;
        int tn = td->n < 10000 ? td->n : 10000;
        const real *tf = feat;
        if (test->open_set)
            tf = tfeat = extract_features(m, td, tn, 0);
        int bins = cfg->eval.theta_bins;
        long *hist = nb_calloc((size_t)bins, sizeof *hist);
        double mean_theta;
        int bad = geometry_theta_hist(hist, &mean_theta, tf, td->labels, tn, D, m->loss.W, C, bins, err);
        if (!bad) {
            out->theta_y_mean = mean_theta;
            eval_row(ev.f, "geometry", "theta_y_mean_deg", test->open_set ? "training samples" : "test set", mean_theta);
            atomic_file a;
            bad = open_csv(&a, run_dir, "theta_hist.csv", err);
            if (!bad) {
                const char *th[3] = {"bin_start_deg", "bin_end_deg", "count"};
                csvlog_row(a.f, th, 3);
                for (int b = 0; b < bins; b++) {
                    char c[3][40];
                    const char *cells[3] = {csvlog_num(c[0], 40, 180.0 * b / bins), csvlog_num(c[1], 40, 180.0 * (b + 1) / bins),
                                            csvlog_num(c[2], 40, (double)hist[b])};
                    csvlog_row(a.f, cells, 3);
                }
                bad = atomic_commit(&a, err);
            }
        }
        free(hist);
        if (bad)
            goto out_ev;
    }

    /* ---- features (and class weights) for the scatter plots ---- */
    if (cfg->eval.features && m->loss.W) {
        atomic_file a;
        if (open_csv(&a, run_dir, "weights.csv", err))
            goto out_ev;
        csvlog_cell(a.f, "class", 1);
        for (int j = 0; j < D; j++) {
            char h[32];
            snprintf(h, sizeof h, "w%d", j);
            csvlog_cell(a.f, h, 0);
        }
        fputc('\n', a.f);
        for (int c = 0; c < m->loss.num_classes; c++) {
            fprintf(a.f, "%d", c);
            for (int j = 0; j < D; j++)
                fprintf(a.f, ",%.9g", (double)m->loss.W[(size_t)c * D + j]);
            fputc('\n', a.f);
        }
        if (atomic_commit(&a, err))
            goto out_ev;
    }
    if (cfg->eval.features) {
        atomic_file a;
        if (open_csv(&a, run_dir, "features.csv", err))
            goto out_ev;
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
        if (atomic_commit(&a, err))
            goto out_ev;
    }
    rc = atomic_commit(&ev, err);
    ev.f = NULL;
out_ev:
    if (ev.f)
        atomic_abort(&ev);
out:
    if (vfeat != feat)
        free(vfeat);
    free(feat);
    free(tfeat);
    free(scores);
    pairs_free(&drawn);
    verify_result_free(&vr);
    identify_result_free(&ir);
    gallery_split_free(&split);
    norm_stats_free(&ns);
    return rc;
}
