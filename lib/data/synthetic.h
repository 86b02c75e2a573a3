/* synthetic.h — synthetic identities (docs/data.md §3, `data.type: synthetic`): a face-verification-like
 * data set generated from a seed, with no files.
 *
 * Identity k has a smooth random prototype image (size×size, gray): a base level plus a few
 * isotropic 2-D Gaussian blobs and low-frequency cosine waves drawn from (seed, k). Sample j of
 * identity k is the prototype rotated (±rotation°) about the centre and shifted (±shift px),
 * blurred by quality_blur·q px, under a gain and offset (±illumination), plus noise of σ =
 * noise + quality_noise·q (approximately Gaussian: a rescaled sum of four uniforms), where the
 * quality level q ∈ 0..quality_levels−1 is drawn uniformly from (seed, k, j) and recorded in
 * dataset.quality. Every sample is a pure function of (seed, k, j): the data sets are streamed
 * (images == NULL, render draws sample i on demand, thread-safe, in any order) and cost five
 * bytes per sample (label and quality); nothing else is cached.
 *
 * Training identities are 0..identities−1 (labels 0..identities−1); test identities are the
 * disjoint range identities..identities+test_identities−1 (labels 0..test_identities−1), so
 * verification on the test set is open-set, as on LFW. */
#ifndef NB_SYNTHETIC_H
#define NB_SYNTHETIC_H

#include <stdint.h>

#include "core/error.h"
#include "data/dataset.h"

typedef struct {
    int identities;               /* training identities, 10..100000; default 100 */
    int test_identities;          /* test identities (disjoint), 2..100000; default 100 */
    int images_per_identity;      /* training samples per identity, 1..100000; default 20 */
    int test_images_per_identity; /* test samples per identity, 1..100000; default 10 */
    int size;                     /* image side h = w, 8..256; default 32 */
    int quality_levels;           /* Q, 1..255; default 4 (q = 0 clean, Q−1 hardest) */
    double noise;                 /* noise σ at q = 0 (pixel units, [0, 10]); default 0.02 */
    double shift;                 /* max shift in px per axis, [0, size/2]; default 2 */
    double rotation;              /* max rotation in degrees, [0, 180]; default 10 */
    double illumination;          /* gain ∈ 1 ± illumination, offset ∈ ±illumination/2, [0, 1);
                                     default 0.2 */
    double quality_blur;          /* Gaussian blur σ (px) added per quality level, [0, size];
                                     default 0.8 */
    double quality_noise;         /* noise σ added per quality level, [0, 10]; default 0.05 */
    uint64_t seed;                /* default 1 */
} synthetic_options;

void synthetic_defaults(synthetic_options *o);

/* Checks every option's range. Returns 0, or −1 with err naming the option and its range. */
int synthetic_check(const synthetic_options *o, nb_error *err);

/* Builds the streamed training and test data sets (either pointer may be NULL to skip it):
 * n = identities × images_per_identity (test: test_identities × test_images_per_identity),
 * sample i = (label i / per-identity count, sample index i % per-identity count), c = 1,
 * h = w = size, pixel values around [0, 1] (not clamped). Returns 0, or −1 with err (the data
 * sets are then zeroed). Free with dataset_free. */
int synthetic_make(dataset *train, dataset *test, const synthetic_options *o, nb_error *err);

/* The global identity of a label: label for the training set (test = 0), identities + label
 * for the test set (test = 1). */
int synthetic_identity(const synthetic_options *o, int test, int label);
/* Quality level of sample j of global identity k (what synthetic_make records). */
int synthetic_quality(const synthetic_options *o, int identity, int sample);
/* out (size, size): sample j of global identity k, exactly as the data sets render it. */
void synthetic_render(float *out, const synthetic_options *o, int identity, int sample);
/* out (size, size): identity k's clean prototype (no transform, blur, illumination or noise). */
void synthetic_prototype(float *out, const synthetic_options *o, int identity);

#endif
