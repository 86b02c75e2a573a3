/* dataset.c — in-memory image datasets loaded from IDX pairs, normalisation and batch gathering;
 * see dataset.h. The epoch samplers are in sampler.c.
 *
 * Images are (n, h, w) unsigned bytes (Fashion-MNIST / MNIST, Xiao et al. 2017; LeCun et al.),
 * or (n, c, h, w); pixels are stored as value/255 floats. Labels are one unsigned byte each, and
 * num_classes = 1 + the largest label. */
#include "data/dataset.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "data/idx.h"

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
    size_t per = (size_t)d->c * d->h * d->w;
    int n = d->images ? d->n : (d->n < 10000 ? d->n : 10000);
    size_t total = (size_t)n * per;
    if (total == 0 || (!d->images && !d->render)) {
        *mean = 0.0;
        *sd = 0.0;
        return;
    }
    float *buf = d->images ? NULL : nb_malloc(per * sizeof(float));
    double s = 0.0, s2 = 0.0;
    for (int i = 0; i < n; i++) {
        const float *x = d->images ? d->images + (size_t)i * per : buf;
        if (!d->images)
            d->render(d, i, buf);
        double si = 0.0;
        for (size_t j = 0; j < per; j++)
            si += x[j];
        s += si;
    }
    double m = s / (double)total;
    for (int i = 0; i < n; i++) {
        const float *x = d->images ? d->images + (size_t)i * per : buf;
        if (!d->images)
            d->render(d, i, buf);
        for (size_t j = 0; j < per; j++) {
            double e = x[j] - m;
            s2 += e * e;
        }
    }
    free(buf);
    *mean = m;
    *sd = sqrt(s2 / (double)total);
}

/* Remembered and applied by dataset_gather: x ← (x − mean)/sd */
void dataset_normalize(dataset *d, double mean, double sd)
{
    d->normalized = 1;
    d->norm_mean = mean;
    d->norm_sd = sd;
}

int dataset_quality(const dataset *d, int i) { return d->quality ? d->quality[i] : 0; }

void dataset_gather(const dataset *d, real *x, int *y, const int *idx, int B)
{
    size_t per = (size_t)d->c * d->h * d->w;
    float *buf = d->images ? NULL : nb_malloc(per * sizeof(float));
    double mean = d->normalized ? d->norm_mean : 0.0, inv = d->normalized ? 1.0 / d->norm_sd : 1.0;
    for (int b = 0; b < B; b++) {
        const float *src = d->images ? d->images + (size_t)idx[b] * per : buf;
        if (!d->images)
            d->render(d, idx[b], buf);
        real *dst = x + (size_t)b * per;
        for (size_t i = 0; i < per; i++)
            dst[i] = (real)((src[i] - mean) * inv);
        if (y)
            y[b] = d->labels[idx[b]];
    }
    free(buf);
}

void dataset_free(dataset *d)
{
    free(d->images);
    free(d->labels);
    free(d->quality);
    if (d->source_free)
        d->source_free(d->source);
    memset(d, 0, sizeof *d);
}
