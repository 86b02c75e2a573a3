/* degrade.h — image degradations for any dataset (docs/data.md §3): Gaussian blur, additive Gaussian
 * noise, downscale (down then up-sampling) and a square occlusion, applied to a stated fraction
 * of the samples with the degradation level recorded as the sample's quality — the "hard
 * sample" experiments of L2-softmax (Ranjan et al. 2017, arXiv 1703.09507).
 *
 * Also the plain image operations the data loaders share (prefix image_): separable Gaussian
 * blur and area / bilinear resizing of (c, h, w) float images. */
#ifndef NB_DEGRADE_H
#define NB_DEGRADE_H

#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"
#include "data/dataset.h"

/* Every op whose parameter is at its "off" value is skipped. A degraded sample gets a level
 * ℓ ∈ 1..levels (uniform); each op's strength is its parameter scaled by ℓ/levels:
 * blur σ·ℓ/L, noise σ·ℓ/L, downscale factor 1 + (f − 1)·ℓ/L, occlusion side fraction·ℓ/L.
 * Ops run in the order blur, downscale, noise, occlusion (the occluder lies on top, so the box
 * holds exactly occlusion_value). */
typedef struct {
    double fraction;        /* share of samples degraded, [0, 1]: exactly round(fraction·n)
                               samples, chosen by the seed; default 0.5 */
    int levels;             /* graded levels L, 1..255; default 1 (degraded = quality + 1) */
    double blur;            /* Gaussian blur σ in pixels at the top level, [0, 100]; 0 = off */
    double noise;           /* additive Gaussian noise σ (pixel units) at the top level,
                               [0, 100]; 0 = off */
    double downscale;       /* factor at the top level, [1, 1000]: area-downsample to
                               round(h/f)×round(w/f), bilinear back; 1 = off (default) */
    double occlusion;       /* side of the square occluder as a fraction of min(h, w) at the
                               top level, [0, 1]; 0 = off. Its position is uniform (seeded). */
    double occlusion_value; /* raw pixel value inside the occluder; default 0 */
} degrade_options;

/* fraction 0.5, levels 1, every op off (set at least one of blur, noise, downscale, occlusion). */
void degrade_defaults(degrade_options *o);

/* Checks every option's range. Returns 0, or −1 with err naming the option. */
int degrade_check(const degrade_options *o, nb_error *err);

/* Degrades exactly round(fraction·n) samples of d, chosen and graded from seed; each sample's
 * pixels are a pure function of (seed, i, its level, its clean pixels). A degraded sample's
 * quality becomes its previous quality + ℓ (saturating at 255; d->quality is allocated, zeroed,
 * if NULL); the others keep theirs. In-memory datasets are modified in place. Streamed datasets
 * get their render callback wrapped: the original callback renders (it is called with a copy of
 * d whose render/source are the original ones) and the degradation is applied after, so
 * streamed and in-memory copies of a dataset give identical pixels for the same seed. When every
 * op is off nothing changes. Returns 0, or −1 with err for an option out of range or a dataset
 * with neither images nor a render callback (d is then unchanged). */
int dataset_degrade(dataset *d, const degrade_options *o, uint64_t seed, nb_error *err);

/* Degrades one image x (c, h, w) in place at level (1..o->levels) with random draws from r.
 * scratch: c·h·w floats. */
void degrade_image(float *x, float *scratch, int c, int h, int w, const degrade_options *o, int level,
                   rng_t *r);

/* Separable Gaussian blur of x (c, h, w) in place, kernel radius ceil(3σ), edges replicated;
 * tmp: c·h·w floats. σ ≤ 0 leaves x unchanged. */
void image_blur_gaussian(float *x, float *tmp, int c, int h, int w, double sigma);
/* out (c, oh, ow) from in (c, h, w): each output pixel is the mean of the input area it covers
 * (fractional coverage at the edges) — the right filter for shrinking. */
void image_resize_area(float *out, const float *in, int c, int h, int w, int oh, int ow);
/* out (c, oh, ow) from in (c, h, w) by bilinear interpolation with pixel centres aligned
 * (src = (dst + ½)·in/out − ½, clamped to the image) — the right filter for enlarging. */
void image_resize_bilinear(float *out, const float *in, int c, int h, int w, int oh, int ow);

#endif
