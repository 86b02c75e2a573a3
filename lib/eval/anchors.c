/* anchors.c — InsightFace's and OpenSphere's verification rules (docs/evaluation.md §4b), written
 * from reading deepinsight/insightface recognition/arcface_torch/eval/verification.py and
 * ydwen/opensphere opensphere/dataset/utils.py; see anchors.h. The grid scans are done once per
 * fold from per-fold histograms of "first grid point that accepts the pair", so a 400-point
 * grid costs O(pairs + folds · grid) instead of verification.py's O(pairs · grid). */
#include "eval/anchors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- insightface ---- */

int insightface_distances(double *dist, const real *feat, int n, int d, const pair_list *pairs, nb_error *err)
{
    for (int k = 0; k < pairs->n; k++) {
        const verify_pair *p = &pairs->p[k];
        if (p->a < 0 || p->a >= n || p->b < 0 || p->b >= n)
            return nb_error_set(err, NULL, 0, 0, "insightface: pair %d refers to sample %d, outside the %d samples", k,
                                p->a < 0 || p->a >= n ? p->a : p->b, n);
    }
    double *inv = nb_malloc((size_t)(n > 0 ? n : 1) * sizeof *inv);
    for (int i = 0; i < n; i++) {
        double ss = 0;
        for (int j = 0; j < d; j++)
            ss += (double)feat[(size_t)i * d + j] * feat[(size_t)i * d + j];
        double nrm = sqrt(ss);
        inv[i] = nrm == 0 ? 1 : nrm; /* sklearn: a zero norm divides by 1 */
    }
    for (int k = 0; k < pairs->n; k++) {
        const real *a = feat + (size_t)pairs->p[k].a * d, *b = feat + (size_t)pairs->p[k].b * d;
        double na = inv[pairs->p[k].a], nb = inv[pairs->p[k].b], s = 0;
        for (int j = 0; j < d; j++) {
            double t = (double)a[j] / na - (double)b[j] / nb;
            s += t * t;
        }
        dist[k] = s;
    }
    free(inv);
    return 0;
}

/* The grid index at which pair p is first accepted: the smallest j with dist < j·step (steps if
 * none), by bisection over the grid values themselves so that ties with a grid point go the way
 * numpy's comparison goes. */
static int first_accepting(double dist, double step, int steps)
{
    int lo = 0, hi = steps; /* answer in [lo, hi] */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (dist < (double)mid * step)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Fold k of KFold(folds) over n items: [start, end). */
static void kfold_range(int n, int folds, int k, int *start, int *end)
{
    int base = n / folds, extra = n % folds;
    *start = k * base + (k < extra ? k : extra);
    *end = *start + base + (k < extra);
}

/* Per-fold histograms over grid indices 0..steps (steps + 1 bins): pos[k][j] / neg[k][j] count the
 * positive / negative pairs of fold k first accepted at index j. */
typedef struct {
    int folds, steps;
    long *pos, *neg; /* (folds, steps + 1) */
    long *fold_np, *fold_nn;
} grid_hist;

static void grid_hist_build(grid_hist *g, const double *dist, const pair_list *pairs, int folds, double step,
                            int steps)
{
    g->folds = folds;
    g->steps = steps;
    g->pos = nb_calloc((size_t)folds * (steps + 1), sizeof *g->pos);
    g->neg = nb_calloc((size_t)folds * (steps + 1), sizeof *g->neg);
    g->fold_np = nb_calloc((size_t)folds, sizeof *g->fold_np);
    g->fold_nn = nb_calloc((size_t)folds, sizeof *g->fold_nn);
    for (int k = 0; k < folds; k++) {
        int s, e;
        kfold_range(pairs->n, folds, k, &s, &e);
        for (int i = s; i < e; i++) {
            int j = first_accepting(dist[i], step, steps);
            if (pairs->p[i].same) {
                g->pos[(size_t)k * (steps + 1) + j]++;
                g->fold_np[k]++;
            } else {
                g->neg[(size_t)k * (steps + 1) + j]++;
                g->fold_nn[k]++;
            }
        }
    }
}

static void grid_hist_free(grid_hist *g)
{
    free(g->pos);
    free(g->neg);
    free(g->fold_np);
    free(g->fold_nn);
}

/* tp[j], fp[j] (j < steps): pairs accepted at grid point j (dist < j·step), over the folds other
 * than skip (train = 1) or over fold skip only (train = 0). */
static void grid_counts(const grid_hist *g, int skip, int train, long *tp, long *fp)
{
    long cp = 0, cn = 0;
    for (int j = 0; j < g->steps; j++) {
        for (int k = 0; k < g->folds; k++)
            if ((k != skip) == train) {
                cp += g->pos[(size_t)k * (g->steps + 1) + j];
                cn += g->neg[(size_t)k * (g->steps + 1) + j];
            }
        /* accepted at j: first accepted at an index ≤ j */
        tp[j] = cp;
        fp[j] = cn;
    }
}

static void mean_pop_sd(const double *x, int k, double *mean, double *sd)
{
    double m = 0, ss = 0;
    for (int i = 0; i < k; i++)
        m += x[i];
    m /= k;
    for (int i = 0; i < k; i++)
        ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    if (sd)
        *sd = sqrt(ss / k);
}

/* calculate_roc's accuracy: per fold, the first grid point of maximum training accuracy. */
static void insightface_accuracy(insightface_result *res, const grid_hist *g, long np_all, long nn_all)
{
    long *tp = nb_malloc((size_t)g->steps * sizeof *tp), *fp = nb_malloc((size_t)g->steps * sizeof *fp);
    for (int k = 0; k < g->folds; k++) {
        grid_counts(g, k, 1, tp, fp);
        long nn_train = nn_all - g->fold_nn[k];
        int best = 0;
        for (int j = 1; j < g->steps; j++) /* correct = tp + tn; np.argmax keeps the first maximum */
            if (tp[j] + (nn_train - fp[j]) > tp[best] + (nn_train - fp[best]))
                best = j;
        grid_counts(g, k, 0, tp, fp);
        long n_test = g->fold_np[k] + g->fold_nn[k];
        res->fold_thr[k] = (double)best * INSIGHTFACE_ACC_STEP;
        res->fold_acc[k] = (double)(tp[best] + (g->fold_nn[k] - fp[best])) / (double)n_test;
    }
    (void)np_all;
    mean_pop_sd(res->fold_acc, g->folds, &res->acc_mean, &res->acc_sd);
    mean_pop_sd(res->fold_thr, g->folds, &res->thr_mean, NULL);
    free(tp);
    free(fp);
}

/* The threshold at which the training FAR (far[j] at grid point j·step) reaches target, linear
 * between the distinct FAR values, each at its first (smallest) threshold; 0 when the target
 * exceeds every FAR (calculate_val's `else: threshold = 0.0`). far is non-decreasing. */
static double far_threshold(const double *far, int steps, double step, double target)
{
    if (far[steps - 1] < target)
        return 0.0;
    /* the last distinct FAR value below target, and the first ≥ target */
    int lo = -1, hi = 0;
    for (int j = 0; j < steps; j++) {
        if (far[j] >= target) {
            hi = j;
            break;
        }
        if (lo < 0 || far[j] != far[lo])
            lo = j;
    }
    if (far[hi] == target || lo < 0)
        return (double)hi * step;
    double x0 = far[lo], x1 = far[hi], t0 = (double)lo * step, t1 = (double)hi * step;
    return t0 + (target - x0) * (t1 - t0) / (x1 - x0);
}

/* calculate_val over the training/test folds of g (its grid is the VAL grid). dist is needed
 * again: the interpolated threshold lies between grid points. */
static int insightface_val(insightface_result *res, const grid_hist *g, const double *dist, const pair_list *pairs,
                           long nn_all, nb_error *err)
{
    long *tp = nb_malloc((size_t)g->steps * sizeof *tp), *fp = nb_malloc((size_t)g->steps * sizeof *fp);
    double *far = nb_malloc((size_t)g->steps * sizeof *far);
    int rc = 0;
    for (int k = 0; k < g->folds && rc == 0; k++) {
        long nn_train = nn_all - g->fold_nn[k];
        if (nn_train == 0 || g->fold_np[k] == 0 || g->fold_nn[k] == 0) {
            rc = nb_error_set(err, NULL, 0, 0,
                              "insightface: fold %d has %ld positive and %ld negative pairs, its training set %ld "
                              "negative ones (VAL@FAR needs all three)",
                              k, g->fold_np[k], g->fold_nn[k], nn_train);
            break;
        }
        grid_counts(g, k, 1, tp, fp);
        for (int j = 0; j < g->steps; j++)
            far[j] = (double)fp[j] / (double)nn_train;
        double thr = far_threshold(far, g->steps, INSIGHTFACE_VAL_STEP, res->far_target);
        int s, e;
        long ta = 0, fa = 0;
        kfold_range(pairs->n, g->folds, k, &s, &e);
        for (int i = s; i < e; i++)
            if (dist[i] < thr) {
                ta += pairs->p[i].same != 0;
                fa += pairs->p[i].same == 0;
            }
        res->fold_val_thr[k] = thr;
        res->fold_val[k] = (double)ta / (double)g->fold_np[k];
        res->fold_far[k] = (double)fa / (double)g->fold_nn[k];
    }
    if (rc == 0) {
        mean_pop_sd(res->fold_val, g->folds, &res->val_mean, &res->val_sd);
        mean_pop_sd(res->fold_far, g->folds, &res->far_mean, NULL);
    }
    free(tp);
    free(fp);
    free(far);
    return rc;
}

int insightface_evaluate(insightface_result *res, const double *dist, const pair_list *pairs, int folds,
                         double far_target, nb_error *err)
{
    memset(res, 0, sizeof *res);
    if (folds < 2 || folds > pairs->n)
        return nb_error_set(err, NULL, 0, 0, "insightface: %d folds for %d pairs (2 to the number of pairs)", folds,
                            pairs->n);
    long np_all = 0, nn_all = 0;
    for (int i = 0; i < pairs->n; i++) {
        if (isnan(dist[i]))
            return nb_error_set(err, NULL, 0, 0, "insightface: the distance of pair %d is NaN", i);
        np_all += pairs->p[i].same != 0;
        nn_all += pairs->p[i].same == 0;
    }
    res->folds = folds;
    res->n_pairs = pairs->n;
    res->far_target = far_target;
    res->fold_acc = nb_malloc((size_t)folds * sizeof(double));
    res->fold_thr = nb_malloc((size_t)folds * sizeof(double));
    res->fold_val = nb_malloc((size_t)folds * sizeof(double));
    res->fold_far = nb_malloc((size_t)folds * sizeof(double));
    res->fold_val_thr = nb_malloc((size_t)folds * sizeof(double));
    grid_hist g;
    grid_hist_build(&g, dist, pairs, folds, INSIGHTFACE_ACC_STEP, INSIGHTFACE_ACC_STEPS);
    insightface_accuracy(res, &g, np_all, nn_all);
    grid_hist_free(&g);
    grid_hist_build(&g, dist, pairs, folds, INSIGHTFACE_VAL_STEP, INSIGHTFACE_VAL_STEPS);
    int rc = insightface_val(res, &g, dist, pairs, nn_all, err);
    grid_hist_free(&g);
    if (rc)
        insightface_result_free(res);
    return rc;
}

void insightface_result_free(insightface_result *res)
{
    free(res->fold_acc);
    free(res->fold_thr);
    free(res->fold_val);
    free(res->fold_far);
    free(res->fold_val_thr);
    memset(res, 0, sizeof *res);
}

/* ---- opensphere ---- */

/* interp1d(fpr, tpr)(x), kind linear, which scipy evaluates with np.interp: the LAST ROC point
 * with FAR ≤ x (on a vertical stretch of the ROC, its top) exactly when its FAR is x, else the
 * line from it to the next point. */
static double roc_interp(const verify_result *vr, double x)
{
    int j = 0;
    while (j + 1 < vr->roc_n && vr->roc[j + 1].far <= x)
        j++;
    if (vr->roc[j].far == x || j + 1 == vr->roc_n)
        return vr->roc[j].tar;
    const roc_point *a = &vr->roc[j], *b = &vr->roc[j + 1];
    double slope = (b->tar - a->tar) / (b->far - a->far);
    return slope * (x - a->far) + a->tar;
}

void opensphere_evaluate(opensphere_result *o, const verify_result *vr)
{
    const double np = vr->n_pos, nn = vr->n_neg;
    double best = -INFINITY;
    for (int g = 0; g < vr->roc_n; g++) {
        double c = vr->roc[g].tar * np + (1. - vr->roc[g].far) * nn;
        if (c > best)
            best = c;
    }
    o->acc = best / (np + nn);
    o->eer = vr->eer;
    o->auc = vr->auc;
    for (int t = 0; t < VERIFY_N_FAR; t++)
        o->tpr_at_fpr[t] = roc_interp(vr, verify_far_targets[t]);
}
