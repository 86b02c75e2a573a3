/* given.c — every protocol of docs/evaluation.md §4 and §4b on embeddings computed elsewhere; see
 * given.h. The files are those of a training run's evaluation (evaluate.h's writers). */
#include "eval/given.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "eval/anchors.h"
#include "eval/evaluate.h"
#include "eval/identify.h"
#include "eval/verify.h"
#include "io/csvlog.h"
#include "io/fsutil.h"
#include "io/runfolder.h"

enum {
    G_PAIRS, G_ACC, G_ACC_SD, G_YOUDEN, G_YOUDEN_SD, G_OPTIMISTIC, G_AUC, G_EER, G_TAR1, G_TAR2, G_TAR3,
    G_IF_ACC, G_IF_SD, G_IF_VAL, G_IF_VAL_SD, G_IF_FAR, G_OS_ACC, G_OS_TPR1, G_OS_TPR2, G_OS_TPR3,
    G_RANK1, G_PROBES, G_GALLERY, G_NORM
};

const char *const given_summary_names[GIVEN_SUMMARY_COLS] = {
    "pairs", "verify_acc", "verify_acc_sd", "verify_youden_acc", "verify_youden_acc_sd", "verify_optimistic_acc",
    "auc", "eer", "tar_at_far_1e-1", "tar_at_far_1e-2", "tar_at_far_1e-3", "insightface_acc", "insightface_acc_sd",
    "insightface_val", "insightface_val_sd", "insightface_far", "opensphere_acc", "opensphere_tpr_at_fpr_1e-1",
    "opensphere_tpr_at_fpr_1e-2", "opensphere_tpr_at_fpr_1e-3", "rank1", "probes", "gallery", "feature_norm_mean"};

/* Verification of vfeat over pl: rows of every protocol, roc.csv, the summary numbers. */
static int given_verify(given_summary *s, FILE *ev, const real *vfeat, const given_input *in, const pair_list *pl,
                        const given_options *opt, const char *dir, nb_error *err)
{
    double *scores = nb_malloc((size_t)pl->n * sizeof *scores), *dist = nb_malloc((size_t)pl->n * sizeof *dist);
    verify_result vr = {0};
    insightface_result ir = {0};
    int rc = -1;
    if (verify_scores(scores, vfeat, in->n, in->d, pl, err) || verify_evaluate(&vr, scores, pl, err))
        goto out;
    opensphere_result os;
    opensphere_evaluate(&os, &vr);
    nb_error if_err = {0};
    int have_if = insightface_distances(dist, vfeat, in->n, in->d, pl, &if_err) == 0 &&
                  insightface_evaluate(&ir, dist, pl, pl->folds, opt->far_target, &if_err) == 0;
    evaluate_verify_rows(ev, &vr, pl, in->feat_flip != NULL);
    evaluate_anchor_rows(ev, have_if ? &ir : NULL, &os);
    double *v = s->v;
    v[G_PAIRS] = pl->n;
    v[G_ACC] = vr.acc_mean;
    v[G_ACC_SD] = vr.acc_sd;
    v[G_YOUDEN] = vr.youden_acc_mean;
    v[G_YOUDEN_SD] = vr.youden_acc_sd;
    v[G_OPTIMISTIC] = vr.optimistic_acc;
    v[G_AUC] = vr.auc;
    v[G_EER] = vr.eer;
    for (int k = 0; k < VERIFY_N_FAR; k++) {
        v[G_TAR1 + k] = vr.tar_at_far[k];
        v[G_OS_TPR1 + k] = os.tpr_at_fpr[k];
    }
    v[G_OS_ACC] = os.acc;
    if (have_if) {
        v[G_IF_ACC] = ir.acc_mean;
        v[G_IF_SD] = ir.acc_sd;
        v[G_IF_VAL] = ir.val_mean;
        v[G_IF_VAL_SD] = ir.val_sd;
        v[G_IF_FAR] = ir.far_mean;
    }
    rc = evaluate_write_roc(dir, &vr, err);
    if (rc == 0) {
        double *q = (double *)in->quality;
        if (!q) {
            q = nb_malloc((size_t)in->n * sizeof *q);
            for (int i = 0; i < in->n; i++) {
                double ss = 0;
                for (int j = 0; j < in->d; j++)
                    ss += (double)in->feat[(size_t)i * in->d + j] * in->feat[(size_t)i * in->d + j];
                q[i] = sqrt(ss);
            }
        }
        rc = evaluate_erc(ev, dir, &vr, scores, pl, q, in->quality ? "the given quality score" : "feature norm", NULL,
                          opt->seed, NULL, err);
        if (q != in->quality)
            free(q);
    }
out:
    insightface_result_free(&ir);
    verify_result_free(&vr);
    free(scores);
    free(dist);
    return rc;
}

/* Open-set identification from the labels: one gallery template per identity, the rest probes. */
static int given_identify(given_summary *s, FILE *ev, const real *vfeat, const given_input *in,
                          const given_options *opt, const char *dir, nb_error *err)
{
    gallery_split split = {0};
    identify_result ir = {0};
    rng_t r0, r;
    rng_seed(&r0, opt->seed);
    rng_fork(&r, &r0, 22);
    nb_error ignore;
    int rc = 0;
    if (identify_split(&split, in->labels, in->n, &r, 0, &ignore) == 0) {
        rc = identify_evaluate(&ir, vfeat, in->labels, in->n, in->d, &split, opt->cmc_ranks, err);
        if (rc == 0) {
            evaluate_row(ev, "identification", "rank1", "open-set: one gallery template per identity, cosine", ir.rank1);
            s->v[G_RANK1] = ir.rank1;
            s->v[G_PROBES] = ir.n_probe;
            s->v[G_GALLERY] = ir.n_gallery;
            rc = evaluate_write_cmc(dir, &ir, err);
        }
    }
    identify_result_free(&ir);
    gallery_split_free(&split);
    return rc;
}

static double mean_norm(const real *f, int n, int d)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double ss = 0;
        for (int j = 0; j < d; j++)
            ss += (double)f[(size_t)i * d + j] * f[(size_t)i * d + j];
        sum += sqrt(ss);
    }
    return n ? sum / n : NAN;
}

static int write_headline(const given_summary *s, const char *dir, nb_error *err)
{
    atomic_file a;
    if (evaluate_open_csv(&a, dir, "headline.txt", err))
        return -1;
    given_print_table(a.f, s);
    return atomic_commit(&a, err);
}

static int write_final(const given_summary *s, const char *dir, nb_error *err)
{
    atomic_file a;
    if (evaluate_open_csv(&a, dir, RUNFOLDER_FINAL, err))
        return -1;
    csvlog_row(a.f, given_summary_names, GIVEN_SUMMARY_COLS);
    char c[GIVEN_SUMMARY_COLS][40];
    const char *cells[GIVEN_SUMMARY_COLS];
    for (int k = 0; k < GIVEN_SUMMARY_COLS; k++)
        cells[k] = csvlog_num(c[k], sizeof c[k], s->v[k]);
    csvlog_row(a.f, cells, GIVEN_SUMMARY_COLS);
    return atomic_commit(&a, err);
}

/* Verification (given or drawn pairs), identification, the feature norm: the rows of eval.csv. */
static int given_protocols(given_summary *s, FILE *ev, const real *vfeat, const given_input *in,
                           const given_options *opt, const char *dir, nb_error *err)
{
    pair_list drawn = {0};
    const pair_list *pl = in->pairs;
    if (!pl && in->labels && opt->draw_pairs > 0) {
        rng_t r0, r;
        rng_seed(&r0, opt->seed);
        rng_fork(&r, &r0, 21);
        if (pairs_draw(&drawn, in->labels, in->n, opt->draw_pairs, opt->folds, &r, err))
            return -1;
        pl = &drawn;
    }
    int rc = 0;
    if (pl)
        rc = given_verify(s, ev, vfeat, in, pl, opt, dir, err);
    pairs_free(&drawn);
    if (rc == 0 && in->labels)
        rc = given_identify(s, ev, vfeat, in, opt, dir, err);
    if (rc == 0) {
        s->v[G_NORM] = mean_norm(in->feat, in->n, in->d);
        evaluate_row(ev, "geometry", "feature_norm_mean", "given features, before normalisation", s->v[G_NORM]);
    }
    return rc;
}

int given_evaluate(given_summary *s, const given_input *in, const given_options *opt, const char *dir,
                   nb_error *err)
{
    for (int k = 0; k < GIVEN_SUMMARY_COLS; k++)
        s->v[k] = NAN;
    if (!in->pairs && !in->labels)
        return nb_error_set(err, NULL, 0, 0, "eval: nothing to evaluate (neither pairs nor labels)");
    real *vfeat = (real *)in->feat;
    if (in->feat_flip) {
        vfeat = nb_malloc((size_t)in->n * in->d * sizeof(real));
        features_add(vfeat, in->feat, in->feat_flip, in->n, in->d);
    }
    atomic_file ev;
    int rc = evaluate_open_csv(&ev, dir, "eval.csv", err);
    if (rc == 0) {
        const char *head[4] = {"protocol", "metric", "rule", "value"};
        csvlog_row(ev.f, head, 4);
        if (given_protocols(s, ev.f, vfeat, in, opt, dir, err)) {
            atomic_abort(&ev);
            rc = -1;
        } else {
            rc = atomic_commit(&ev, err);
        }
    }
    if (vfeat != in->feat)
        free(vfeat);
    if (rc == 0)
        rc = write_headline(s, dir, err);
    if (rc == 0)
        rc = write_final(s, dir, err);
    return rc;
}

/* "0.92317 ± 0.00931" or "—" */
static const char *num(char *buf, size_t size, double v, double sd)
{
    if (isnan(v))
        snprintf(buf, size, "-");
    else if (isnan(sd))
        snprintf(buf, size, "%.5f", v);
    else
        snprintf(buf, size, "%.5f +- %.5f", v, sd);
    return buf;
}

void given_print_table(FILE *f, const given_summary *s)
{
    const double *v = s->v;
    char a[64], b[64], c[64];
    if (isnan(v[G_PAIRS]))
        fprintf(f, "verification: not measured (no pairs)\n");
    else
        fprintf(f, "verification: %.0f pairs\n", v[G_PAIRS]);
    fprintf(f, "  %-12s %-20s %s\n", "protocol", "accuracy", "rule");
    fprintf(f, "  %-12s %-20s %s\n", "exact", num(a, 64, v[G_ACC], v[G_ACC_SD]),
            "per fold, max-accuracy threshold at the midpoint of the gap; sample sd (normbench)");
    fprintf(f, "  %-12s %-20s %s\n", "youden", num(a, 64, v[G_YOUDEN], v[G_YOUDEN_SD]),
            "per fold, Youden's J threshold; sample sd");
    fprintf(f, "  %-12s %-20s %s\n", "insightface", num(a, 64, v[G_IF_ACC], v[G_IF_SD]),
            "verification.py: grid 0:0.01:4 on squared L2, smallest of tied thresholds; population sd");
    fprintf(f, "  %-12s %-20s %s\n", "opensphere", num(a, 64, v[G_OS_ACC], NAN),
            "best single threshold on all pairs (OPTIMISTIC: chosen on the pairs it is judged on)");
    fprintf(f, "  AUC %s  EER %s\n", num(a, 64, v[G_AUC], NAN), num(b, 64, v[G_EER], NAN));
    fprintf(f, "  TAR@FAR (largest FAR <= target):  1e-1 %s  1e-2 %s  1e-3 %s\n", num(a, 64, v[G_TAR1], NAN),
            num(b, 64, v[G_TAR2], NAN), num(c, 64, v[G_TAR3], NAN));
    fprintf(f, "  TPR@FPR (opensphere, interpolated): 1e-1 %s  1e-2 %s  1e-3 %s\n", num(a, 64, v[G_OS_TPR1], NAN),
            num(b, 64, v[G_OS_TPR2], NAN), num(c, 64, v[G_OS_TPR3], NAN));
    fprintf(f, "  VAL@FAR (insightface calculate_val; FAR measured on the test folds %s): %s\n", num(b, 64, v[G_IF_FAR], NAN),
            num(a, 64, v[G_IF_VAL], v[G_IF_VAL_SD]));
    if (isnan(v[G_RANK1]))
        fprintf(f, "identification: not measured (it needs labels with an identity of 2 or more samples)\n");
    else
        fprintf(f, "identification: open-set rank-1 %s (%.0f probes, %.0f gallery templates)\n",
                num(a, 64, v[G_RANK1], NAN), v[G_PROBES], v[G_GALLERY]);
    fprintf(f, "feature norm (mean, before normalisation): %s\n", num(a, 64, v[G_NORM], NAN));
}
