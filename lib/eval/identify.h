/* identify.h — identification (docs/evaluation.md §4): open-set rank-1 and CMC from a gallery/probe split of
 * test identities, and closed-set nearest-class-weight accuracy.
 *
 * Similarities are cosines (features normalised in double; a zero-norm feature has cosine 0 with
 * everything). A probe's rank is 1 + the number of OTHER gallery templates whose cosine is ≥ that
 * of its own identity's template: ties count against the probe (pessimistic), so a zero feature
 * ranks last rather than first. */
#ifndef NB_IDENTIFY_H
#define NB_IDENTIFY_H

#include "core/error.h"
#include "core/real.h"
#include "core/rng.h"

typedef struct {
    int n_gallery, n_probe;
    int *gallery;        /* (n_gallery) sample indices, one template per identity, by identity */
    int *gallery_label;  /* (n_gallery) the identity of each template */
    int *probe;          /* (n_probe) sample indices, increasing */
    int n_distractors;   /* gallery templates of identities without probes */
} gallery_split;

/* Splits samples by label (n): for each identity with ≥ 2 samples, one sample goes to the gallery
 * — chosen uniformly with rng, or the identity's first sample (lowest index) when rng is NULL —
 * and the others are probes. Identities with a single sample are left out, unless distractors is
 * non-zero: then their sample joins the gallery as a distractor (a template no probe matches).
 * Fails (−1, err) on a negative label or when no identity has 2 samples. s is zeroed first. */
int identify_split(gallery_split *s, const int *labels, int n, rng_t *rng, int distractors, nb_error *err);
void gallery_split_free(gallery_split *s);

typedef struct {
    int R;         /* ranks reported */
    double *cmc;   /* (R): cmc[r−1] = fraction of probes whose identity is within the top r */
    double rank1;  /* cmc[0] */
    int n_probe, n_gallery;
} identify_result;

/* Ranks every probe of split against the gallery templates by cosine: feat (n, d) holds the
 * features of all samples the split indexes, labels (n) their identities. R ≥ 1; ranks beyond the
 * gallery size give cmc = 1. The (probe × gallery) cosines are computed in blocks of 1024 probes ×
 * 4096 templates (gemm_block, single-threaded in each OpenMP thread, a block of probes per thread),
 * so memory stays bounded at any gallery size and each cosine — hence the result — is the same at
 * any thread count.
 * Fails (−1, err) when R < 1 or the split indexes a sample outside [0, n). res is zeroed first. */
int identify_evaluate(identify_result *res, const real *feat, const int *labels, int n, int d,
                      const gallery_split *split, int R, nb_error *err);
void identify_result_free(identify_result *res);

/* Closed-set identification by the nearest class weight: pred (n) = argmax_j cos(f_i, w_j) (ties:
 * lowest j; a zero feature predicts class 0). feat (n, d); W (C, d), one row per class as in
 * loss.W. pred may be NULL. Returns the accuracy against labels (n), or NAN if labels is NULL or
 * n = 0. */
double classify_nearest_weight(int *pred, const real *feat, const int *labels, int n, int d, const real *W, int C);

#endif
