/* evaluate.h — the end-of-run evaluation of docs/evaluation.md §4, written into the run folder.
 *
 * From the test-set features (eval mode, optionally summed with the features of the
 * horizontally flipped image): LFW-style verification (pairs from the dataset's pairs file, or
 * drawn from the test labels with the run's seed: 10-fold accuracy with the threshold chosen on
 * 9 folds, Youden's J per fold, the optimistic best threshold, ROC, AUC, EER, TAR@FAR),
 * closed-set top-1, open-set rank-1 and CMC from a gallery/probe split, and the geometry
 * diagnostics (feature norms per quality level, θ_y histogram, minimum angle between class
 * weights). Files: eval.csv (protocol, metric, rule, value), roc.csv, cmc.csv, norms.csv,
 * theta_hist.csv, and when asked for: features.csv (label, quality, f0…: the features verification
 * scored, i.e. image + flip with eval.flip) with weights.csv (class, w0…), and the same as numpy
 * arrays: features.npy (image features), features_flip.npy (with eval.flip), labels.npy and
 * weights.npy.
 *
 * The evaluation sees a model as its parts (eval_model) and its settings as plain numbers
 * (eval_options, the fields of the configuration's eval section): it knows neither the
 * configuration nor the training loop. */
#ifndef NB_EVALUATE_H
#define NB_EVALUATE_H

#include <stdint.h>

#include <stdio.h>

#include "core/error.h"
#include "core/real.h"
#include "data/dataset.h"
#include "data/pairs.h"
#include "eval/anchors.h"
#include "eval/identify.h"
#include "eval/verify.h"
#include "io/fsutil.h"
#include "loss/loss.h"
#include "nn/net.h"

/* The eval section of an experiment (docs/evaluation.md §4). */
typedef struct {
    int pairs;       /* verification pairs drawn from the test split (0: no verification) */
    int folds;       /* verification folds (LFW: 10) */
    int flip;        /* sum the features of the image and of its horizontal flip */
    int cmc_ranks;   /* ranks of the CMC curve */
    int features;    /* export the test features (features.csv, features*.npy, labels.npy, weights.npy) */
    int theta_bins;  /* bins of the θ_y histogram over [0°, 180°] */
} eval_options;

/* A trained model as the evaluation uses it: the backbone, the loss head (class weights,
 * predictions), and batch buffers of net->max_batch samples that the evaluation overwrites. */
typedef struct {
    net *net;
    const loss *loss;
    real *x;   /* (max_batch, c, h, w) */
    int *y;    /* (max_batch) */
    int *pred; /* (max_batch) */
} eval_model;

/* The headline numbers, copied into final.csv (NAN where not measured). */
typedef struct {
    double verify_acc, verify_acc_sd, verify_youden_acc, verify_optimistic_acc, auc, eer;
    double tar_at_far[3];
    double rank1, theta_y_mean, min_weight_angle, test_norm_mean;
    /* 10-fold verification accuracy on the pairs of two clean images (quality 0) and on the pairs
     * with at least one degraded image (quality > 0), with the folds' thresholds
     * (verify_subset_accuracy); NAN where there are no such pairs */
    double verify_acc_clean, verify_acc_degraded;
    /* Feature norm against quality (docs/claims.md claim 7), NAN unless the test set has at least
     * two quality levels: Spearman's ρ between each test image's ‖f‖ and its level (0 clean,
     * higher more degraded: ρ < 0 means a larger norm for better images), the areas of the
     * FNMR@FMR1e-2 error-versus-reject curves rejecting by norm, by the oracle level and at random,
     * and the share of the oracle's gain the norm recovers, (random − norm)/(random − oracle) */
    double norm_quality_spearman, erc_area_norm, erc_area_oracle, erc_area_random, erc_oracle_gain;
} eval_summary;

/* Names of the eval_summary fields in final.csv order, and their values. */
#define EVAL_SUMMARY_COLS 20
extern const char *const eval_summary_names[EVAL_SUMMARY_COLS];
void eval_summary_values(const eval_summary *s, double *v);

/* Closed-set accuracy of m on d in batches of batch ≤ max_batch (eval mode); NAN when the loss
 * has no classifier (contrastive, triplet) or d is open-set. */
double evaluate_accuracy(const eval_model *m, const dataset *d, int batch);

/* Evaluates m on test (and a sample of train for θ_y when test is open-set) and writes the files
 * above into run_dir. pairs may be NULL or empty: then opt->pairs pairs are drawn from the test
 * labels with seed (the run's seed; the gallery split uses it too). Returns 0, or −1 with err
 * (a file that cannot be written, too few labels for the pairs); eval.csv is then not written. */
int evaluate_run(eval_summary *out, const eval_model *m, const eval_options *opt, uint64_t seed,
                 const dataset *train, const dataset *test, const pair_list *pairs, const char *run_dir,
                 nb_error *err);

/* ---- the files, shared with the evaluation of given embeddings (eval/given.h) ---- */

/* Opens <dir>/<name> for an atomic write (io/fsutil.h). */
int evaluate_open_csv(atomic_file *a, const char *dir, const char *name, nb_error *err);
/* One eval.csv row: protocol, metric, rule, value (empty when NAN). */
void evaluate_row(FILE *f, const char *protocol, const char *metric, const char *rule, double v);
/* The rows of the exact protocol, Youden's J, the optimistic threshold and the ROC numbers. */
void evaluate_verify_rows(FILE *f, const verify_result *vr, const pair_list *pl, int flip);
/* The rows of InsightFace's and OpenSphere's rules (either may be NULL: left out). */
void evaluate_anchor_rows(FILE *f, const insightface_result *ir, const opensphere_result *os);
/* Error-versus-reject curves (eval/erc.h) of the pairs pl scored by scores (vr their evaluation):
 * rejecting by the quality q (one per image; q_name says what it is), by the oracle level (one
 * per image; NULL: no oracle) and at random (seeded): erc.csv in dir and the areas as eval.csv
 * rows; areas (may be NULL) gets the FNMR@FMR1e-2 areas of norm, oracle (NAN without) and random. */
int evaluate_erc(FILE *ev, const char *dir, const verify_result *vr, const double *scores, const pair_list *pl,
                 const double *q, const char *q_name, const int *level, uint64_t seed, double areas[3],
                 nb_error *err);
/* Spearman's ρ between the norms of the n features (n, D) and their quality levels; NAN when
 * fewer than two levels occur. */
double evaluate_norm_quality(const real *feat, const int *level, int n, int D);
/* (random − norm)/(random − oracle) of three ERC areas: 1 when rejecting by norm is as good as
 * the oracle, 0 when no better than random, negative when worse; NAN when an area is not finite
 * or the oracle gains nothing over random. */
double evaluate_oracle_gain(double norm, double oracle, double random);
/* roc.csv (far, tar, threshold) and cmc.csv (rank, identification_rate) into dir. */
int evaluate_write_roc(const char *dir, const verify_result *vr, nb_error *err);
int evaluate_write_cmc(const char *dir, const identify_result *ir, nb_error *err);

#endif
