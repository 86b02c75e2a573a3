/* dataset.c — in-memory image datasets loaded from IDX pairs, normalisation and batch gathering;
 * see dataset.h. The epoch samplers are in sampler.c.
 *
 * Images are (n, h, w) unsigned bytes (Fashion-MNIST / MNIST, Xiao et al. 2017; LeCun et al.),
 * or (n, c, h, w); pixels are stored as value/255 floats. Labels are one unsigned byte each, and
 * num_classes = 1 + the largest label. */
#include "dataset.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "idx.h"

/* Largest images file accepted: 2^31 - 1 bytes, so every index fits an int. */
#define DATASET_MAX_ITEMS ((size_t)INT_MAX)

int dataset_load_idx(dataset *d, const char *images_path, const char *labels_path, int max_n, nb_error *err)
{
    memset(d, 0, sizeof *d);
    idx_array im = {0}, lb = {0};
    int rc = -1;
    if (idx_read(&im, images_path, DATASET_MAX_ITEMS, err) != 0)
        goto done;
    if (im.ndim != 3 && im.ndim != 4) {
        nb_error_set(err, images_path, 0, 0,
                     "images file has %d dimensions, expected 3 (n, h, w) or 4 (n, c, h, w)", im.ndim);
        goto done;
    }
    if (idx_read(&lb, labels_path, DATASET_MAX_ITEMS, err) != 0)
        goto done;
    if (lb.ndim != 1) {
        nb_error_set(err, labels_path, 0, 0, "labels file has %d dimensions, expected 1 (n)", lb.ndim);
        goto done;
    }
    if (lb.dims[0] != im.dims[0]) {
        nb_error_set(err, labels_path, 0, 0,
                     "count mismatch: labels file %s has %u labels but images file %s has %u images",
                     labels_path, (unsigned)lb.dims[0], images_path, (unsigned)im.dims[0]);
        goto done;
    }

    /* count ≤ INT_MAX, so n and c·h·w fit an int. */
    int n = (int)im.dims[0];
    int c = im.ndim == 4 ? (int)im.dims[1] : 1;
    int h = (int)im.dims[im.ndim - 2], w = (int)im.dims[im.ndim - 1];
    if (max_n > 0 && max_n < n)
        n = max_n;
    size_t per = (size_t)c * h * w, total = (size_t)n * per;

    d->n = n;
    d->c = c;
    d->h = h;
    d->w = w;
    d->images = nb_malloc(total * sizeof *d->images);
    d->labels = nb_malloc((size_t)n * sizeof *d->labels);
    for (size_t i = 0; i < total; i++)
        d->images[i] = (float)im.data[i] / 255.0f;
    int max_label = 0;
    for (int i = 0; i < n; i++) {
        d->labels[i] = lb.data[i];
        if (d->labels[i] > max_label)
            max_label = d->labels[i];
    }
    d->num_classes = max_label + 1;
    rc = 0;
done:
    idx_free(&im);
    idx_free(&lb);
    return rc;
}

/* mean = Σx / N; sd = sqrt(Σ(x − mean)² / N), two passes in double. */
void dataset_pixel_stats(const dataset *d, double *mean, double *sd)
{
    size_t total = (size_t)d->n * d->c * d->h * d->w;
    if (total == 0 || !d->images) {
        *mean = 0.0;
        *sd = 0.0;
        return;
    }
    double s = 0.0;
    for (size_t i = 0; i < total; i++)
        s += d->images[i];
    double m = s / (double)total;
    double v = 0.0;
    for (size_t i = 0; i < total; i++) {
        double e = d->images[i] - m;
        v += e * e;
    }
    *mean = m;
    *sd = sqrt(v / (double)total);
}

/* x ← (x − mean)/sd */
void dataset_normalize(dataset *d, double mean, double sd)
{
    size_t total = (size_t)d->n * d->c * d->h * d->w;
    double inv = 1.0 / sd;
    for (size_t i = 0; i < total; i++)
        d->images[i] = (float)((d->images[i] - mean) * inv);
}

void dataset_gather(const dataset *d, real *x, int *y, const int *idx, int B)
{
    size_t per = (size_t)d->c * d->h * d->w;
    for (int b = 0; b < B; b++) {
        const float *src = d->images + (size_t)idx[b] * per;
        real *dst = x + (size_t)b * per;
        for (size_t i = 0; i < per; i++)
            dst[i] = (real)src[i];
        if (y)
            y[b] = d->labels[idx[b]];
    }
}

void dataset_free(dataset *d)
{
    free(d->images);
    free(d->labels);
    memset(d, 0, sizeof *d);
}
