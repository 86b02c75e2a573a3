/* anchors.h — the verification numbers as the anchors' own evaluation code computes them
 * (docs/evaluation.md §4b), so that a number normbench prints can be put next to a paper's:
 *
 *   insightface — deepinsight/insightface recognition/arcface_torch/eval/verification.py
 *     (evaluate, calculate_roc, calculate_accuracy, calculate_val, calculate_val_far): squared L2
 *     distance of L2-normalised embeddings, 10 folds of consecutive pairs, the best-accuracy
 *     threshold of the grid 0, 0.01, …, 3.99 on the training folds (the smallest among ties)
 *     applied to the test fold with "same" iff distance < threshold, mean and POPULATION sd over
 *     folds; VAL@FAR with the training folds' threshold for the target FAR interpolated on the
 *     grid 0, 0.001, …, 3.999.
 *   opensphere — ydwen/opensphere opensphere/dataset/utils.py (get_results): from sklearn's ROC
 *     of the cosine scores, ACC = the best single threshold over ALL pairs (optimistic: chosen
 *     on the pairs it is judged on), EER and AUC as normbench's, TPR@FPR linearly interpolated
 *     on the ROC (scipy interp1d).
 *
 * The exact protocol and Youden's J per fold are verify.h's. */
#ifndef NB_ANCHORS_H
#define NB_ANCHORS_H

#include "core/error.h"
#include "core/real.h"
#include "data/pairs.h"
#include "eval/verify.h"

/* ---- insightface ---- */

/* The grids of verification.py: accuracy thresholds j·0.01 (j < 400), VAL thresholds j·0.001
 * (j < 4000), each computed as numpy's arange does (start + j·step). */
#define INSIGHTFACE_ACC_STEPS 400
#define INSIGHTFACE_ACC_STEP 0.01
#define INSIGHTFACE_VAL_STEPS 4000
#define INSIGHTFACE_VAL_STEP 0.001
#define INSIGHTFACE_FAR_TARGET 1e-3

typedef struct {
    int folds, n_pairs;
    /* accuracy: per fold, on the test fold, with the training folds' best grid threshold */
    double acc_mean, acc_sd; /* mean, population sd (np.std) */
    double thr_mean;         /* mean of the chosen thresholds (a distance in [0, 4)) */
    double *fold_acc, *fold_thr;
    /* VAL@FAR: far_target, the interpolated thresholds, and VAL and FAR on the test folds */
    double far_target;
    double val_mean, val_sd, far_mean; /* mean, population sd of VAL, mean FAR */
    double *fold_val, *fold_far, *fold_val_thr;
} insightface_result;

/* dist (pairs->n) = ‖a/‖a‖ − b/‖b‖‖² for the rows a, b of feat (n, d) of every pair, in double
 * (sklearn.preprocessing.normalize leaves a zero row zero). Pass the sum of image and flipped
 * image features as feat for InsightFace's "Accuracy-Flip". Fails (−1, err) on a pair index
 * outside [0, n). */
int insightface_distances(double *dist, const real *feat, int n, int d, const pair_list *pairs, nb_error *err);

/* verification.py's evaluate() on the distances (pairs->n) and the pairs' labels, in list order:
 * `folds` consecutive folds as sklearn's KFold(folds, shuffle=False) makes them (the first
 * n mod folds folds one pair longer), whatever the pairs' own fold fields say. res is zeroed
 * first and owns its arrays. Fails (−1, err) when folds < 2 or > the number of pairs, a distance
 * is NaN, or a training set has no negative pair or a test fold no positive or no negative pair
 * (verification.py divides by zero there). */
int insightface_evaluate(insightface_result *res, const double *dist, const pair_list *pairs, int folds,
                         double far_target, nb_error *err);
void insightface_result_free(insightface_result *res);

/* ---- opensphere ---- */

typedef struct {
    double acc; /* max over ROC points of (TP + TN) / pairs: optimistic */
    double eer, auc;
    double tpr_at_fpr[VERIFY_N_FAR]; /* at verify_far_targets, interpolated on the ROC */
} opensphere_result;

/* get_results() from the exact ROC of vr (verify_evaluate of the cosine scores). */
void opensphere_evaluate(opensphere_result *o, const verify_result *vr);

#endif
