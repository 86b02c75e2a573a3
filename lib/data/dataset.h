/* dataset.h — in-memory image classification datasets and mini-batches.
 *
 * A dataset holds n images of c×h×w as floats (already normalised) and their labels. Loaders:
 * IDX pairs (Fashion-MNIST, MNIST, any user IDX files). Batches are gathered by index into a
 * (B, c, h, w) buffer. Epoch order is a seeded shuffle; the P×K sampler (P classes × K samples
 * each) serves the pair-based losses (docs/losses.md §1). */
#ifndef NB_DATASET_H
#define NB_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/real.h"
#include "core/rng.h"

typedef struct dataset dataset;
struct dataset {
    int n, c, h, w;
    int num_classes; /* 1 + the largest label */
    float *images;   /* (n, c, h, w), raw pixel values; NULL for a streamed dataset */
    int *labels;     /* (n) */
    uint8_t *quality; /* (n) degradation level per sample (0 = clean), or NULL: all 0 */
    /* Streamed datasets (e.g. synthetic identities) hold no images: render(d, i, out) writes
     * sample i's raw pixels (c, h, w) into out, deterministically from i. */
    void (*render)(const dataset *d, int i, float *out);
    void *source;                   /* render's state, freed by source_free */
    void (*source_free)(void *source);
    /* A test set whose identities are not the training classes (synthetic identities, LFW):
     * closed-set accuracy does not apply, verification and open-set identification do. */
    int open_set;
    /* Standardisation applied by dataset_gather: x ← (x − norm_mean)/norm_sd when normalized. */
    int normalized;
    double norm_mean, norm_sd;
};

/* Loads an images IDX file (n, h, w) and a labels IDX file (n) with values in [0, 255] as
 * pixel/255. Returns 0 or −1 with err naming the offending file. max_n > 0 keeps the first max_n
 * samples (a subset for quick runs). */
/* Quality level of sample i (0 when the dataset records none). */
int dataset_quality(const dataset *d, int i);
int dataset_load_idx(dataset *d, const char *images_path, const char *labels_path, int max_n, nb_error *err);
/* Per-dataset normalisation: from now on dataset_gather returns (x − mean)/sd. */
void dataset_normalize(dataset *d, double mean, double sd);
/* Mean and standard deviation of all raw pixels (accumulated in double); a streamed dataset
 * uses its first min(n, 10000) samples. */
void dataset_pixel_stats(const dataset *d, double *mean, double *sd);
/* Copies (or renders) samples idx[0..B) into x (B, c, h, w), normalised, and their labels into
 * y (y may be NULL). */
void dataset_gather(const dataset *d, real *x, int *y, const int *idx, int B);
void dataset_free(dataset *d);

/* Epoch orders. */
typedef struct {
    int n, num_classes;
    int *order;        /* current epoch's sample order */
    int **by_class;    /* per class: indices of its samples (for P×K) */
    int *class_count;
} sampler;

void sampler_init(sampler *s, const dataset *d);
/* Plain epoch: a seeded permutation of all samples into s->order; returns n. */
int sampler_shuffle(sampler *s, rng_t *rng);
/* P×K epoch: batches of P distinct classes × K samples each (with replacement within a class
 * when it has fewer than K), laid end to end in s->order; as many batches as cover n samples.
 * Returns the number of indices written (a multiple of P·K). Classes with no samples are
 * skipped; P is capped at the number of non-empty classes. */
int sampler_pk(sampler *s, rng_t *rng, int P, int K);
/* The batch size sampler_pk lays out for P and K: min(P, non-empty classes) × K. */
int sampler_pk_batch(const sampler *s, int P, int K);
void sampler_free(sampler *s);

#endif
