/* erc.c — error-versus-reject curves (docs/evaluation.md §4c); see erc.h. */
#include "eval/erc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void erc_pair_quality(double *key, const double *q, const pair_list *pairs)
{
    for (int i = 0; i < pairs->n; i++) {
        double a = q[pairs->p[i].a], b = q[pairs->p[i].b];
        key[i] = a < b ? a : b;
    }
}

typedef struct {
    double key;
    uint64_t tie;
    int index;
} ranked;

static int ranked_cmp(const void *x, const void *y)
{
    const ranked *a = x, *b = y;
    if (a->key != b->key)
        return (a->key > b->key) - (a->key < b->key);
    if (a->tie != b->tie)
        return (a->tie > b->tie) - (a->tie < b->tie);
    return (a->index > b->index) - (a->index < b->index);
}

/* FNMR of the selected positives at threshold thr (a pair is accepted when its score ≥ thr, the
 * ROC's convention): the share with score < thr. */
static double fnmr_at(const double *scores, const pair_list *pl, const unsigned char *sel, double thr)
{
    if (isnan(thr))
        return NAN;
    long pos = 0, miss = 0;
    for (int i = 0; i < pl->n; i++)
        if (sel[i] && pl->p[i].same) {
            pos++;
            miss += !(scores[i] >= thr);
        }
    return pos ? (double)miss / pos : NAN;
}

static double area(const double *y)
{
    double a = 0;
    for (int s = 1; s < ERC_STEPS; s++)
        a += 0.5 * ERC_STEP * (y[s - 1] + y[s]);
    return a; /* NAN when any point is */
}

void erc_compute(erc_curve *e, const verify_result *vr, const double *scores, const pair_list *pairs,
                 const double *key, const uint64_t *tie)
{
    const int n = pairs->n;
    ranked *r = nb_malloc((size_t)(n > 0 ? n : 1) * sizeof *r);
    for (int i = 0; i < n; i++)
        r[i] = (ranked){key[i], tie ? tie[i] : 0, i};
    qsort(r, (size_t)n, sizeof *r, ranked_cmp);
    unsigned char *sel = nb_malloc((size_t)(n > 0 ? n : 1));
    memset(sel, 1, (size_t)n);
    int removed = 0;
    double err[ERC_STEPS];
    for (int s = 0; s < ERC_STEPS; s++) {
        e->reject[s] = s * ERC_STEP;
        int target = (int)floor(e->reject[s] * n + 0.5);
        while (removed < target)
            sel[r[removed++].index] = 0;
        e->kept[s] = n - removed;
        for (int k = 0; k < 2; k++)
            e->fnmr[k][s] = fnmr_at(scores, pairs, sel, vr->thr_at_far[k + 1]);
        e->acc[s] = verify_subset_accuracy(vr, scores, pairs, sel);
        err[s] = 1 - e->acc[s];
    }
    for (int k = 0; k < 2; k++)
        e->area_fnmr[k] = area(e->fnmr[k]);
    e->area_error = area(err);
    free(sel);
    free(r);
}
