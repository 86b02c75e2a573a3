/* evaluate.h — the end-of-run evaluation of docs/evaluation.md §4, written into the run folder.
 *
 * From the test-set features (eval mode, optionally summed with the features of the
 * horizontally flipped image): LFW-style verification (pairs from the dataset's pairs file, or
 * drawn from the test labels with the run's seed: 10-fold accuracy with the threshold chosen on
 * 9 folds, Youden's J per fold, the optimistic best threshold, ROC, AUC, EER, TAR@FAR),
 * closed-set top-1, open-set rank-1 and CMC from a gallery/probe split, and the geometry
 * diagnostics (feature norms per quality level, θ_y histogram, minimum angle between class
 * weights). Files: eval.csv (protocol, metric, rule, value), roc.csv, cmc.csv, norms.csv,
 * theta_hist.csv, and features.csv (label, quality, f0…) with weights.csv (class, w0…) when asked for. */
#ifndef NB_EVALUATE_H
#define NB_EVALUATE_H

#include "config/config.h"
#include "data/dataset.h"
#include "core/error.h"
#include "data/pairs.h"
#include "train/train.h"

/* The headline numbers, copied into final.csv (NAN where not measured). */
typedef struct {
    double verify_acc, verify_acc_sd, verify_youden_acc, verify_optimistic_acc, auc, eer;
    double tar_at_far[3];
    double rank1, theta_y_mean, min_weight_angle, test_norm_mean;
    /* 10-fold verification accuracy on the pairs of two clean images (quality 0) and on the pairs
     * with at least one degraded image (quality > 0), with the folds' thresholds
     * (verify_subset_accuracy); NAN where there are no such pairs */
    double verify_acc_clean, verify_acc_degraded;
} eval_summary;

/* Names of the eval_summary fields in final.csv order, and their values. */
#define EVAL_SUMMARY_COLS 15
extern const char *const eval_summary_names[EVAL_SUMMARY_COLS];
void eval_summary_values(const eval_summary *s, double *v);

/* Evaluates model m on test (and a sample of train for θ_y when test is open-set). pairs may be
 * NULL or empty: then pairs are drawn from the test labels. Returns 0 or −1 with err. */
int evaluate_run(eval_summary *out, model *m, const nb_config *cfg, const dataset *train, const dataset *test,
                 const pair_list *pairs, const char *run_dir, nb_error *err);

#endif
