/* verify.h — face verification as the papers report it (docs/evaluation.md §4): pairs drawn LFW-style from a
 * labelled test split, cosine scores per pair, and every number the anchors quote from the same
 * scores — LFW 10-fold accuracy (threshold chosen on 9 folds by accuracy), Youden's J per fold, the
 * optimistic best single threshold, the exact ROC, AUC, EER and TAR@FAR.
 *
 * Conventions used throughout:
 *   - a pair is predicted "same" when its score is > the threshold (strictly); candidate
 *     thresholds are +∞ (nothing accepted), the midpoints between consecutive distinct scores, and
 *     −∞ (everything accepted);
 *   - scores are double: they are accumulated in double and ties matter to the ROC;
 *   - sd is the SAMPLE standard deviation over folds (k − 1 in the denominator), the σ̂ of the LFW
 *     protocol (Huang et al. 2007, UMass TR 07-49, which then reports the standard error σ̂/√k).
 *     InsightFace's verification.py uses np.std (k in the denominator), smaller by √((k−1)/k):
 *     ×0.949 for 10 folds. */
#ifndef NB_VERIFY_H
#define NB_VERIFY_H

#include "core/error.h"
#include "core/real.h"
#include "core/rng.h"
#include "data/pairs.h"

/* ---- pairs ---- */

/* Draws n_pairs pairs LFW-style from the samples' labels (n): n_pairs/2 positives (two distinct
 * samples of one identity) and n_pairs/2 negatives (samples of two identities), split into `folds`
 * folds of n_pairs/(2·folds) positives and as many negatives each. The list is laid out fold by
 * fold, positives then negatives (like pairs.txt); every pair has a < b.
 * Each distinct unordered pair is equally likely (so identities with more samples give more
 * positives); pairs are drawn without repetition as long as distinct pairs remain, and only when
 * all distinct positives (negatives) are used does a new round begin, repeating pairs — the only
 * way duplicates appear. Identities with a single sample give no positives. Deterministic for a
 * given rng state.
 * Fails (−1, err) when n_pairs is not a positive multiple of 2·folds, folds < 1, a label is
 * negative, no identity has 2 samples, or fewer than 2 identities exist. out is zeroed first and
 * owns its array (pairs_free). */
int pairs_draw(pair_list *out, const int *labels, int n, int n_pairs, int folds, rng_t *rng, nb_error *err);
/* Frees the array; safe on a zeroed list. */
void pairs_free(pair_list *pl);

/* ---- scores ---- */

/* out (n, d) = feat + feat_flip (n, d): the "flip" feature of docs/evaluation.md §4 (features of the image and
 * of its horizontal flip, summed before the cosine). out may alias feat. The caller runs the
 * network twice; verify_scores then takes out as its features. */
void features_add(real *out, const real *feat, const real *feat_flip, int n, int d);
/* scores (pairs->n): cosine similarity of rows a and b of feat (n, d) for every pair, accumulated
 * in double and clamped to [−1, 1]. A zero-norm row has cosine 0 with everything. Fails (−1, err)
 * when a pair index is outside [0, n). */
int verify_scores(double *scores, const real *feat, int n, int d, const pair_list *pairs, nb_error *err);

/* ---- evaluation ---- */

/* TAR@FAR targets reported (docs/evaluation.md §4). */
#define VERIFY_N_FAR 3
extern const double verify_far_targets[VERIFY_N_FAR]; /* 1e-1, 1e-2, 1e-3 */

typedef struct {
    double far, tar;  /* fraction of negatives / positives with score ≥ threshold */
    double threshold; /* +∞ for the first point (0, 0) */
} roc_point;

typedef struct {
    int n_pos, n_neg, folds;

    /* LFW 10-fold accuracy: for fold k, the threshold maximising accuracy on the other folds,
     * applied to fold k. Ties between thresholds go to the largest (strictest) one. mean, sample
     * sd over folds, mean of the chosen FINITE thresholds (a fold's ±∞ — accept nothing or
     * everything — has no location and is left out; NAN when every fold chose ±∞). NAN if
     * folds < 2. */
    double acc_mean, acc_sd, thr_mean;
    double *fold_acc, *fold_thr; /* (folds) */

    /* Youden's J per fold: the threshold maximising TPR − FPR on the other folds, applied to the
     * fold (accuracy reported). On balanced folds this picks the same threshold as accuracy. */
    double youden_acc_mean, youden_acc_sd, youden_thr_mean;
    double *youden_fold_acc, *youden_fold_thr; /* (folds) */

    /* Best single threshold chosen and evaluated on ALL pairs: optimistic (train = test). */
    double optimistic_acc, optimistic_thr;

    /* Exact ROC over all pairs: roc_n = 1 + number of distinct scores, points by decreasing
     * threshold from (0, 0, +∞); point k accepts the scores ≥ its threshold; last point (1, 1). */
    roc_point *roc;
    int roc_n;
    /* Trapezoid area under the exact ROC = Mann–Whitney U/(n_pos·n_neg) with ties counted ½. */
    double auc;
    /* Equal error rate: where FAR = FRR (= 1 − TAR), linear between the two ROC points that
     * bracket it; eer_thr interpolated the same way (the point's threshold when it is exact). */
    double eer, eer_thr;
    /* TAR at the ROC point of largest FAR that is still ≤ the target (i.e. the smallest threshold
     * whose FAR ≤ target; no interpolation), and that threshold. NAN when n_neg < 1/target: not
     * enough negatives to measure that FAR. */
    double tar_at_far[VERIFY_N_FAR], thr_at_far[VERIFY_N_FAR];
} verify_result;

/* Evaluates scores (pairs->n), one per pair, against the pairs' labels and folds. O(P log P):
 * one sort, then O(folds · P) scans. res is zeroed first and owns its arrays.
 * Fails (−1, err) when there are no positive or no negative pairs, a score is NaN, a fold index
 * is outside [0, pairs->folds), or a fold has no pairs. */
int verify_evaluate(verify_result *res, const double *scores, const pair_list *pairs, nb_error *err);
/* Accuracy of the 10-fold protocol on the pairs with select[p] != 0 only: each selected pair is
 * judged with the threshold its own fold chose on the other folds over ALL pairs (res->fold_thr),
 * as in acc_mean — so subsets of one evaluation (clean and degraded pairs, say) share thresholds.
 * Counts pairs, not folds. NAN when no pair is selected or res has no fold thresholds. */
double verify_subset_accuracy(const verify_result *res, const double *scores, const pair_list *pairs,
                              const unsigned char *select);
/* Safe on a zeroed struct. */
void verify_result_free(verify_result *res);

#endif
