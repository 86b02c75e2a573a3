/* geometry.h — diagnostics of the hypersphere geometry (docs/evaluation.md §4): feature norms before
 * normalisation, overall and per quality level; the angle θ_y between each feature and its class
 * weight, and its histogram; the minimum angle between class weights.
 *
 * Angles are in degrees, computed as θ = 2·atan2(‖â − b̂‖, ‖â + b̂‖) in double: exact to rounding
 * at every angle, where acos of a (clamped) cosine loses half the digits near 0° and 180°. A
 * zero-norm vector has cosine 0 with everything, i.e. sits at 90°. */
#ifndef NB_GEOMETRY_H
#define NB_GEOMETRY_H

#include <stdint.h>

#include "core/error.h"
#include "core/real.h"

typedef struct {
    int levels;               /* Q */
    int n;                    /* samples */
    double mean, sd;          /* ‖f_i‖ over all samples */
    int *count;               /* (Q) samples per quality level */
    double *level_mean;       /* (Q) NAN for an empty level */
    double *level_sd;         /* (Q) */
} norm_stats;

/* Norm statistics of feat (n, d) (features BEFORE normalisation), overall and per quality level:
 * quality (n) in 0..levels−1, or NULL (every sample at level 0). sd is the sample sd (n − 1), NAN
 * for fewer than 2 samples; accumulated in double (Welford). Fails (−1, err) when levels < 1 or a
 * quality is ≥ levels. s is zeroed first. */
int geometry_norm_stats(norm_stats *s, const real *feat, const uint8_t *quality, int n, int d, int levels,
                        nb_error *err);
void norm_stats_free(norm_stats *s);

/* theta (n): θ_y of each sample in degrees, the angle between feat row i (n, d) and row labels[i]
 * of W (C, d). Fails (−1, err) when a label is outside [0, C). */
int geometry_theta_y(double *theta, const real *feat, const int *labels, int n, int d, const real *W, int C,
                     nb_error *err);
/* hist (bins): counts of θ_y in `bins` equal bins over [0°, 180°] — bin b is
 * [b·180/bins, (b+1)·180/bins), the last bin includes 180° (bins = 36: 5° bins). mean_theta (may be
 * NULL): the mean θ_y. Fails (−1, err) like geometry_theta_y, or when bins < 1. */
int geometry_theta_hist(long *hist, double *mean_theta, const real *feat, const int *labels, int n, int d,
                        const real *W, int C, int bins, nb_error *err);

/* The minimum angle in degrees between two distinct rows of W (C, d), and that pair (i < j) in
 * *pi, *pj (either may be NULL). The closest pair is found from one gemm of the normalised rows
 * (in blocks), then its angle is recomputed with the stable formula. NAN (and −1, −1) when C < 2. */
double geometry_min_weight_angle(int *pi, int *pj, const real *W, int C, int d);

#endif
