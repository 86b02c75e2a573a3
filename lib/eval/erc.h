/* erc.h — error-versus-reject curves (docs/evaluation.md §4c; Grother & Tabassi 2007, "Performance
 * of Biometric Quality Measures", IEEE TPAMI 29(4), the protocol of MagFace and the quality-
 * assessment papers): reject the share r ∈ {0, 0.05, …, 0.5} of pairs that a quality rule rates
 * worst and measure, on the pairs kept, the false non-match rate at the thresholds fixed on the
 * full set for FMR 1e-2 and 1e-3, and the 10-fold accuracy with the full set's fold thresholds. */
#ifndef NB_ERC_H
#define NB_ERC_H

#include <stdint.h>

#include "data/pairs.h"
#include "eval/verify.h"

#define ERC_STEPS 11      /* r = 0, 0.05, …, 0.5 */
#define ERC_STEP 0.05

typedef struct {
    double reject[ERC_STEPS]; /* r */
    int kept[ERC_STEPS];      /* pairs kept */
    double fnmr[2][ERC_STEPS]; /* FNMR at the full set's FMR 1e-2 and 1e-3 thresholds (NAN: too few negatives) */
    double acc[ERC_STEPS];     /* 10-fold accuracy on the kept pairs (verify_subset_accuracy) */
    double area_fnmr[2], area_error; /* trapezoid areas over r ∈ [0, 0.5] of FNMR and of 1 − accuracy */
} erc_curve;

/* key (pairs->n) = the lower of the two images' quality q (n per image): a pair is as good as its
 * worse image. */
void erc_pair_quality(double *key, const double *q, const pair_list *pairs);

/* The curve of rejecting pairs by increasing key (ties by increasing tie[p], or by index when tie
 * is NULL), from vr = verify_evaluate(scores, pairs) of the same pairs. */
void erc_compute(erc_curve *e, const verify_result *vr, const double *scores, const pair_list *pairs,
                 const double *key, const uint64_t *tie);

#endif
