/* sampler.c — epoch orders over a dataset: a seeded permutation, and P×K batches for the
 * pair-based losses (P classes × K samples each, as in Hermans, Beyer & Leibe 2017, "In Defense
 * of the Triplet Loss for Person Re-Identification"); see dataset.h.
 *
 * Every draw comes from the rng passed in, and each call starts from the same state of the
 * sampler (identity order, sorted per-class lists), so an epoch's order depends only on the rng
 * state. Draws without replacement are partial Fisher–Yates shuffles whose swaps are undone
 * afterwards: O(K) per class per batch rather than a copy of the whole class list. */
#include "data/dataset.h"

#include <stdlib.h>
#include <string.h>

void sampler_init(sampler *s, const dataset *d)
{
    memset(s, 0, sizeof *s);
    s->n = d->n;
    s->num_classes = d->num_classes;
    s->order = nb_malloc((size_t)d->n * sizeof *s->order);
    s->class_count = nb_calloc((size_t)d->num_classes, sizeof *s->class_count);
    s->by_class = nb_calloc((size_t)d->num_classes, sizeof *s->by_class);
    for (int i = 0; i < d->n; i++)
        s->class_count[d->labels[i]]++;
    for (int c = 0; c < d->num_classes; c++)
        s->by_class[c] = nb_malloc((size_t)s->class_count[c] * sizeof *s->by_class[c]);
    int *fill = nb_calloc((size_t)d->num_classes, sizeof *fill);
    for (int i = 0; i < d->n; i++) {
        int c = d->labels[i];
        s->by_class[c][fill[c]++] = i;
    }
    free(fill);
}

int sampler_shuffle(sampler *s, rng_t *rng)
{
    for (int i = 0; i < s->n; i++)
        s->order[i] = i;
    rng_shuffle_int(rng, s->order, s->n);
    return s->n;
}

/* Writes k distinct elements of a[0..m), chosen uniformly in random order, to out; a is left as
 * it was. swaps: workspace of k ints. Requires k ≤ m. */
static void pick_distinct(rng_t *rng, int *a, int m, int k, int *out, int *swaps)
{
    for (int i = 0; i < k; i++) {
        int j = i + (int)rng_below(rng, (uint64_t)(m - i));
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
        swaps[i] = j;
        out[i] = a[i];
    }
    for (int i = k - 1; i >= 0; i--) {
        int j = swaps[i];
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

int sampler_pk_batch(const sampler *s, int P, int K)
{
    int nc = 0;
    for (int c = 0; c < s->num_classes; c++)
        nc += s->class_count[c] > 0;
    return (P < nc ? P : nc) * K;
}

int sampler_pk(sampler *s, rng_t *rng, int P, int K)
{
    if (P < 1 || K < 1 || s->n < 1)
        return 0;
    int *classes = nb_malloc((size_t)s->num_classes * sizeof *classes);
    int nc = 0;
    for (int c = 0; c < s->num_classes; c++)
        if (s->class_count[c] > 0)
            classes[nc++] = c;
    if (nc == 0) {
        free(classes);
        return 0;
    }
    if (P > nc)
        P = nc;

    /* batches = ceil(n / (P·K)); order holds batches·P·K indices. */
    size_t pk = (size_t)P * K;
    size_t batches = ((size_t)s->n + pk - 1) / pk;
    size_t total = batches * pk;
    if (total > (size_t)s->n)
        s->order = nb_realloc(s->order, total * sizeof *s->order);

    int *chosen = nb_malloc((size_t)P * sizeof *chosen);
    int *swaps = nb_malloc((size_t)(P > K ? P : K) * sizeof *swaps);
    int *out = s->order;
    for (size_t b = 0; b < batches; b++) {
        pick_distinct(rng, classes, nc, P, chosen, swaps);
        for (int p = 0; p < P; p++) {
            int c = chosen[p], m = s->class_count[c];
            if (m >= K)
                pick_distinct(rng, s->by_class[c], m, K, out, swaps);
            else
                for (int k = 0; k < K; k++)
                    out[k] = s->by_class[c][rng_below(rng, (uint64_t)m)];
            out += K;
        }
    }
    free(swaps);
    free(chosen);
    free(classes);
    return (int)total;
}

void sampler_free(sampler *s)
{
    if (s->by_class)
        for (int c = 0; c < s->num_classes; c++)
            free(s->by_class[c]);
    free(s->by_class);
    free(s->class_count);
    free(s->order);
    memset(s, 0, sizeof *s);
}
