/* verify.c — face verification (docs/evaluation.md §4): LFW-style pair drawing, cosine scores, and the
 * verification numbers of the anchor papers from one list of scores. The 10-fold protocol is LFW's
 * "View 2" (Huang, Ramesh, Berg & Learned-Miller 2007, UMass TR 07-49): the threshold for fold k is
 * the one maximising accuracy on the other folds, and the mean ± sd of the per-fold accuracies is
 * reported — the protocol behind the LFW numbers of NormFace, L2-softmax, SphereFace, CosFace and
 * ArcFace (InsightFace's verification.py does the same over a fixed threshold grid; we use every
 * midpoint between distinct scores, so the result does not depend on a grid). Youden's J (Youden
 * 1950) is the
 * max(TPR − FPR) rule; the optimistic single threshold, the exact ROC, its AUC (Mann–Whitney with
 * ties ½, Hanley & McNeil 1982), the EER and TAR@FAR (the IJB/MegaFace-style operating points)
 * are computed from one descending sort of the scores: O(P log P) for P pairs. See verify.h for
 * the conventions (score > threshold means "same"; ties in the optimum go to the largest
 * threshold; sample sd). */
#include "eval/verify.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const double verify_far_targets[VERIFY_N_FAR] = {1e-1, 1e-2, 1e-3};

/* ---- pairs_draw ---- */

/* Open-addressing set of unordered pairs (a < b), key a·n + b + 1 (0 marks an empty slot). */
typedef struct {
    uint64_t *keys;
    size_t cap; /* power of two */
    uint64_t count;
} pair_set;

static void pair_set_init(pair_set *s, uint64_t max_count)
{
    size_t cap = 16;
    while (cap < 2 * max_count + 2)
        cap *= 2;
    s->keys = nb_calloc(cap, sizeof *s->keys);
    s->cap = cap;
    s->count = 0;
}

static void pair_set_clear(pair_set *s)
{
    memset(s->keys, 0, s->cap * sizeof *s->keys);
    s->count = 0;
}

/* Inserts key; returns 1 if it was new, 0 if already present. */
static int pair_set_insert(pair_set *s, uint64_t key)
{
    size_t mask = s->cap - 1, h = (size_t)rng_mix64(key) & mask;
    while (s->keys[h]) {
        if (s->keys[h] == key)
            return 0;
        h = (h + 1) & mask;
    }
    s->keys[h] = key;
    s->count++;
    return 1;
}

/* Index of the class c with cum[c] ≤ r < cum[c+1] (cum has C+1 entries, cum[0] = 0). */
static int pick_class(const uint64_t *cum, int C, uint64_t r)
{
    int lo = 0, hi = C; /* cum[lo] ≤ r < cum[hi] */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (cum[mid] <= r)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Draws `need` unordered pairs into out (a < b), each distinct pair equally likely among
 * cum[C] ordered pairs (a class c chosen ∝ cum[c+1] − cum[c], then draw(c) gives the pair),
 * without repetition until all `avail` distinct pairs are used, then in a new round. */
typedef struct {
    const int *order; /* samples sorted by class */
    const int *start; /* (C + 1) block of class c in order: [start[c], start[c+1]) */
    int n, C, positive;
} class_blocks;

static void draw_one(const class_blocks *cb, int c, rng_t *rng, int *a, int *b)
{
    const int nc = cb->start[c + 1] - cb->start[c];
    const int *blk = cb->order + cb->start[c];
    int i = (int)rng_below(rng, (uint64_t)nc);
    if (cb->positive) {
        /* two distinct samples of class c */
        int j = (int)rng_below(rng, (uint64_t)nc - 1);
        if (j >= i)
            j++;
        *a = blk[i];
        *b = blk[j];
    } else {
        /* one sample of class c, one uniform among the n − n_c samples outside it */
        int r = (int)rng_below(rng, (uint64_t)(cb->n - nc));
        int idx = r < cb->start[c] ? r : r + nc;
        *a = blk[i];
        *b = cb->order[idx];
    }
    if (*a > *b) {
        int t = *a;
        *a = *b;
        *b = t;
    }
}

static void draw_pairs(verify_pair *out, int need, const class_blocks *cb, const uint64_t *cum, uint64_t avail,
                       rng_t *rng)
{
    pair_set set;
    pair_set_init(&set, avail < (uint64_t)need ? avail : (uint64_t)need);
    for (int k = 0; k < need; k++) {
        if (set.count == avail) /* every distinct pair used: a new round (duplicates unavoidable) */
            pair_set_clear(&set);
        int a, b;
        do {
            int c = pick_class(cum, cb->C, rng_below(rng, cum[cb->C]));
            draw_one(cb, c, rng, &a, &b);
        } while (!pair_set_insert(&set, (uint64_t)a * (uint64_t)cb->n + (uint64_t)b + 1));
        out[k].a = a;
        out[k].b = b;
        out[k].same = cb->positive;
    }
    free(set.keys);
}

int pairs_draw(pair_list *out, const int *labels, int n, int n_pairs, int folds, rng_t *rng, nb_error *err)
{
    memset(out, 0, sizeof *out);
    if (folds < 1)
        return nb_error_set(err, NULL, 0, 0, "pairs: folds must be ≥ 1, got %d", folds);
    if (n_pairs <= 0 || n_pairs % (2 * folds) != 0)
        return nb_error_set(err, NULL, 0, 0,
                            "pairs: the number of pairs must be a positive multiple of 2·folds = %d (equal "
                            "positives and negatives in every fold), got %d",
                            2 * folds, n_pairs);
    int C = 0;
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0)
            return nb_error_set(err, NULL, 0, 0, "pairs: sample %d has negative label %d", i, labels[i]);
        if (labels[i] + 1 > C)
            C = labels[i] + 1;
    }
    /* counting sort of the samples by class */
    int *start = nb_calloc((size_t)C + 1, sizeof *start);
    int *order = nb_malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    for (int i = 0; i < n; i++)
        start[labels[i] + 1]++;
    for (int c = 0; c < C; c++)
        start[c + 1] += start[c];
    int *fill = nb_malloc((size_t)(C > 0 ? C : 1) * sizeof *fill);
    memcpy(fill, start, (size_t)C * sizeof *fill);
    for (int i = 0; i < n; i++)
        order[fill[labels[i]]++] = i;
    free(fill);

    /* cumulative pair counts per class: positives n_c(n_c−1) and negatives n_c(n − n_c), ordered */
    uint64_t *cum_pos = nb_calloc((size_t)C + 1, sizeof *cum_pos);
    uint64_t *cum_neg = nb_calloc((size_t)C + 1, sizeof *cum_neg);
    int identities = 0;
    for (int c = 0; c < C; c++) {
        uint64_t nc = (uint64_t)(start[c + 1] - start[c]);
        identities += nc > 0;
        cum_pos[c + 1] = cum_pos[c] + (nc > 1 ? nc * (nc - 1) : 0);
        cum_neg[c + 1] = cum_neg[c] + nc * ((uint64_t)n - nc);
    }
    int status = 0;
    if (cum_pos[C] == 0)
        status = nb_error_set(err, NULL, 0, 0,
                              "pairs: no identity has 2 samples, so no positive pair can be drawn (%d samples)", n);
    else if (identities < 2)
        status = nb_error_set(err, NULL, 0, 0, "pairs: only one identity, so no negative pair can be drawn");
    if (status == 0) {
        const int half = n_pairs / 2, per_fold = n_pairs / folds, fold_half = per_fold / 2;
        verify_pair *pos = nb_malloc((size_t)half * sizeof *pos);
        verify_pair *neg = nb_malloc((size_t)half * sizeof *neg);
        class_blocks cb = {order, start, n, C, 1};
        draw_pairs(pos, half, &cb, cum_pos, cum_pos[C] / 2, rng);
        cb.positive = 0;
        draw_pairs(neg, half, &cb, cum_neg, cum_neg[C] / 2, rng);
        out->p = nb_malloc((size_t)n_pairs * sizeof *out->p);
        out->n = n_pairs;
        out->folds = folds;
        for (int f = 0; f < folds; f++)
            for (int i = 0; i < fold_half; i++) {
                verify_pair *dst = out->p + (size_t)f * per_fold;
                dst[i] = pos[f * fold_half + i];
                dst[fold_half + i] = neg[f * fold_half + i];
                dst[i].fold = dst[fold_half + i].fold = f;
            }
        free(pos);
        free(neg);
    }
    free(cum_pos);
    free(cum_neg);
    free(start);
    free(order);
    return status;
}

void pairs_free(pair_list *pl)
{
    free(pl->p);
    memset(pl, 0, sizeof *pl);
}

/* ---- scores ---- */

void features_add(real *out, const real *feat, const real *feat_flip, int n, int d)
{
    const size_t total = (size_t)n * d;
    for (size_t i = 0; i < total; i++)
        out[i] = feat[i] + feat_flip[i];
}

/* cos(a, b) = aᵀb / (‖a‖ ‖b‖), with norms given; 0 if either norm is 0; clamped to [−1, 1]. */
static double cosine(const real *a, const real *b, double na, double nb, int d)
{
    if (na == 0 || nb == 0)
        return 0;
    double dot = 0;
    for (int k = 0; k < d; k++)
        dot += (double)a[k] * b[k];
    double c = dot / (na * nb);
    return c > 1 ? 1 : c < -1 ? -1 : c;
}

int verify_scores(double *scores, const real *feat, int n, int d, const pair_list *pairs, nb_error *err)
{
    for (int k = 0; k < pairs->n; k++) {
        const verify_pair *p = &pairs->p[k];
        if (p->a < 0 || p->a >= n || p->b < 0 || p->b >= n)
            return nb_error_set(err, NULL, 0, 0, "verify: pair %d refers to sample %d, outside the %d samples", k,
                                p->a < 0 || p->a >= n ? p->a : p->b, n);
    }
    double *norm = nb_malloc((size_t)(n > 0 ? n : 1) * sizeof *norm);
    for (int i = 0; i < n; i++) {
        double ss = 0;
        for (int k = 0; k < d; k++)
            ss += (double)feat[(size_t)i * d + k] * feat[(size_t)i * d + k];
        norm[i] = sqrt(ss);
    }
    for (int k = 0; k < pairs->n; k++) {
        const verify_pair *p = &pairs->p[k];
        scores[k] = cosine(feat + (size_t)p->a * d, feat + (size_t)p->b * d, norm[p->a], norm[p->b], d);
    }
    free(norm);
    return 0;
}

/* ---- evaluation ---- */

typedef struct {
    double s;
    int same, fold;
} scored;

static int scored_desc(const void *x, const void *y)
{
    double a = ((const scored *)x)->s, b = ((const scored *)y)->s;
    return (a < b) - (a > b);
}

enum { RULE_ACCURACY, RULE_YOUDEN };

/* The threshold maximising the rule over the pairs not in fold `skip` (−1: all pairs), among +∞,
 * the midpoints between consecutive distinct scores of those pairs, and −∞. Scanning from +∞
 * down with tp, fp = positives, negatives accepted (score > threshold):
 *   accuracy ∝ tp − fp   (correct = tp + (nn − fp)),
 *   Youden J ∝ tp·nn − fp·np   (J = tp/np − fp/nn),
 * both exact in integers, so ties are real ties; the first (largest) optimum wins. */
static double choose_threshold(const scored *it, int n, int skip, int rule, long long np, long long nn)
{
    long long tp = 0, fp = 0;
#define OBJ() (rule == RULE_ACCURACY ? tp - fp : tp * nn - fp * np)
    long long best = OBJ();
    double best_thr = INFINITY, prev = 0;
    int have_prev = 0;
    for (int i = 0; i < n;) {
        int j = i, gp = 0, gn = 0;
        for (; j < n && it[j].s == it[i].s; j++)
            if (it[j].fold != skip) {
                gp += it[j].same;
                gn += !it[j].same;
            }
        if (gp + gn > 0) {
            if (have_prev && OBJ() > best) {
                best = OBJ();
                best_thr = 0.5 * prev + 0.5 * it[i].s;
            }
            tp += gp;
            fp += gn;
            prev = it[i].s;
            have_prev = 1;
        }
        i = j;
    }
    if (OBJ() > best)
        best_thr = -INFINITY;
#undef OBJ
    return best_thr;
}

/* Accuracy of "same iff score > thr" on the pairs of fold k (−1: all). */
static double accuracy_at(const scored *it, int n, int k, double thr)
{
    long correct = 0, total = 0;
    for (int i = 0; i < n; i++)
        if (k < 0 || it[i].fold == k) {
            total++;
            correct += (it[i].s > thr) == (it[i].same != 0);
        }
    return (double)correct / (double)total;
}

/* mean and sample sd (k − 1) of x (k); sd NAN when k < 2. */
static void mean_sd(const double *x, int k, double *mean, double *sd)
{
    double m = 0;
    for (int i = 0; i < k; i++)
        m += x[i];
    m /= k;
    double ss = 0;
    for (int i = 0; i < k; i++)
        ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *sd = k > 1 ? sqrt(ss / (k - 1)) : NAN;
}

/* Mean of the finite values of x (k): a fold's ±∞ threshold (accept nothing / everything) has no
 * location to average; NAN when no value is finite. */
static double finite_mean(const double *x, int k)
{
    double m = 0;
    int n = 0;
    for (int i = 0; i < k; i++)
        if (isfinite(x[i])) {
            m += x[i];
            n++;
        }
    return n ? m / n : NAN;
}

/* Per-fold cross-validation with one rule: thresholds from the other folds, accuracy on the fold. */
static void cross_validate(double *fold_acc, double *fold_thr, double *acc_mean, double *acc_sd, double *thr_mean,
                           const scored *it, int n, int folds, int rule, const long long *fold_pos,
                           const long long *fold_neg, long long np, long long nn)
{
    if (folds < 2) {
        for (int k = 0; k < folds; k++)
            fold_acc[k] = fold_thr[k] = NAN;
        *acc_mean = *acc_sd = *thr_mean = NAN;
        return;
    }
    for (int k = 0; k < folds; k++) {
        fold_thr[k] = choose_threshold(it, n, k, rule, np - fold_pos[k], nn - fold_neg[k]);
        fold_acc[k] = accuracy_at(it, n, k, fold_thr[k]);
    }
    mean_sd(fold_acc, folds, acc_mean, acc_sd);
    *thr_mean = finite_mean(fold_thr, folds);
}

/* Counts the positive and negative pairs overall (np, nn) and per fold; every score must be a
 * number, every fold in [0, folds) and non-empty, and both kinds present. */
static int count_pairs(long long *np, long long *nn, long long *fold_pos, long long *fold_neg, const double *scores,
                       const pair_list *pairs, nb_error *err)
{
    const int n = pairs->n, folds = pairs->folds;
    *np = *nn = 0;
    for (int k = 0; k < n; k++) {
        const verify_pair *p = &pairs->p[k];
        if (isnan(scores[k]))
            return nb_error_set(err, NULL, 0, 0, "verify: the score of pair %d is NaN", k);
        if (p->fold < 0 || p->fold >= folds)
            return nb_error_set(err, NULL, 0, 0, "verify: pair %d has fold %d, outside [0, %d)", k, p->fold, folds);
        if (p->same) {
            (*np)++;
            fold_pos[p->fold]++;
        } else {
            (*nn)++;
            fold_neg[p->fold]++;
        }
    }
    if (*np == 0 || *nn == 0)
        return nb_error_set(err, NULL, 0, 0, "verify: need both positive and negative pairs, got %lld and %lld", *np,
                            *nn);
    for (int k = 0; k < folds; k++)
        if (fold_pos[k] + fold_neg[k] == 0)
            return nb_error_set(err, NULL, 0, 0, "verify: fold %d has no pairs", k);
    return 0;
}

/* Exact ROC: one point per distinct score of it (sorted by descending score), accepting scores ≥
 * it; res->roc gets the rates, tpc/fpc (roc_n each) the counts, kept as integers. */
static void roc_build(verify_result *res, long long **tpc_out, long long **fpc_out, const scored *it, int n,
                      long long np, long long nn)
{
    int groups = 0;
    for (int i = 0; i < n; i++)
        groups += i == 0 || it[i].s != it[i - 1].s;
    res->roc_n = groups + 1;
    res->roc = nb_malloc((size_t)res->roc_n * sizeof *res->roc);
    long long *tpc = nb_malloc((size_t)res->roc_n * sizeof *tpc), *fpc = nb_malloc((size_t)res->roc_n * sizeof *fpc);
    tpc[0] = fpc[0] = 0;
    res->roc[0] = (roc_point){0, 0, INFINITY};
    for (int i = 0, g = 1; i < n; g++) {
        long long tp = tpc[g - 1], fp = fpc[g - 1];
        int j = i;
        for (; j < n && it[j].s == it[i].s; j++) {
            tp += it[j].same;
            fp += !it[j].same;
        }
        tpc[g] = tp;
        fpc[g] = fp;
        res->roc[g] = (roc_point){(double)fp / nn, (double)tp / np, it[i].s};
        i = j;
    }
    *tpc_out = tpc;
    *fpc_out = fpc;
}

/* AUC = Σ_k (fp_k − fp_{k−1}) (tp_k + tp_{k−1}) / (2 np nn): integer products, exact in double
 * up to 2^53. A vertical step adds nothing; a diagonal one (tied scores) adds the ½ of ties. */
static double roc_auc(const verify_result *res, const long long *tpc, const long long *fpc, long long np,
                      long long nn)
{
    double area = 0;
    for (int g = 1; g < res->roc_n; g++)
        area += (double)(fpc[g] - fpc[g - 1]) * (double)(tpc[g] + tpc[g - 1]);
    return area / (2.0 * (double)np * (double)nn);
}

/* EER: g_k = FAR_k − FRR_k rises from −1 at (0, 0) to +1 at (1, 1); take the first k with
 * g_k ≥ 0 and interpolate linearly between points k−1 and k, where both rates are linear. */
static void roc_eer(verify_result *res)
{
    for (int g = 1; g < res->roc_n; g++) {
        double g1 = res->roc[g].far - (1 - res->roc[g].tar);
        if (g1 < 0)
            continue;
        double g0 = res->roc[g - 1].far - (1 - res->roc[g - 1].tar);
        double t = -g0 / (g1 - g0); /* g0 < 0 ≤ g1 */
        res->eer = res->roc[g - 1].far + t * (res->roc[g].far - res->roc[g - 1].far);
        if (g == 1 || t == 1)
            res->eer_thr = res->roc[g].threshold;
        else
            res->eer_thr = res->roc[g - 1].threshold + t * (res->roc[g].threshold - res->roc[g - 1].threshold);
        break;
    }
}

/* TAR@FAR: the last ROC point whose false-accept COUNT is ≤ target·nn (counts avoid rounding
 * 3/3000 against 1e-3); NAN when fewer than 1/target negatives exist. */
static void roc_tar_at_far(verify_result *res, const long long *fpc, long long nn)
{
    for (int t = 0; t < VERIFY_N_FAR; t++) {
        const double target = verify_far_targets[t];
        if ((double)nn * target < 1 - 1e-9) {
            res->tar_at_far[t] = res->thr_at_far[t] = NAN;
            continue;
        }
        const long long allowed = (long long)floor(target * (double)nn + 1e-9);
        int g = 0;
        while (g + 1 < res->roc_n && fpc[g + 1] <= allowed)
            g++;
        res->tar_at_far[t] = res->roc[g].tar;
        res->thr_at_far[t] = res->roc[g].threshold;
    }
}

int verify_evaluate(verify_result *res, const double *scores, const pair_list *pairs, nb_error *err)
{
    memset(res, 0, sizeof *res);
    const int n = pairs->n, folds = pairs->folds;
    if (folds < 1)
        return nb_error_set(err, NULL, 0, 0, "verify: the pair list has %d folds", folds);
    long long np, nn;
    long long *fold_pos = nb_calloc((size_t)folds, sizeof *fold_pos);
    long long *fold_neg = nb_calloc((size_t)folds, sizeof *fold_neg);
    if (count_pairs(&np, &nn, fold_pos, fold_neg, scores, pairs, err)) {
        free(fold_pos);
        free(fold_neg);
        return -1;
    }

    scored *it = nb_malloc((size_t)n * sizeof *it);
    for (int k = 0; k < n; k++) {
        it[k].s = scores[k];
        it[k].same = pairs->p[k].same != 0;
        it[k].fold = pairs->p[k].fold;
    }
    qsort(it, (size_t)n, sizeof *it, scored_desc);

    res->n_pos = (int)np;
    res->n_neg = (int)nn;
    res->folds = folds;
    res->fold_acc = nb_malloc((size_t)folds * sizeof(double));
    res->fold_thr = nb_malloc((size_t)folds * sizeof(double));
    res->youden_fold_acc = nb_malloc((size_t)folds * sizeof(double));
    res->youden_fold_thr = nb_malloc((size_t)folds * sizeof(double));
    cross_validate(res->fold_acc, res->fold_thr, &res->acc_mean, &res->acc_sd, &res->thr_mean, it, n, folds,
                   RULE_ACCURACY, fold_pos, fold_neg, np, nn);
    cross_validate(res->youden_fold_acc, res->youden_fold_thr, &res->youden_acc_mean, &res->youden_acc_sd,
                   &res->youden_thr_mean, it, n, folds, RULE_YOUDEN, fold_pos, fold_neg, np, nn);
    res->optimistic_thr = choose_threshold(it, n, -1, RULE_ACCURACY, np, nn);
    res->optimistic_acc = accuracy_at(it, n, -1, res->optimistic_thr);

    long long *tpc, *fpc;
    roc_build(res, &tpc, &fpc, it, n, np, nn);
    res->auc = roc_auc(res, tpc, fpc, np, nn);
    roc_eer(res);
    roc_tar_at_far(res, fpc, nn);

    free(tpc);
    free(fpc);
    free(it);
    free(fold_pos);
    free(fold_neg);
    return 0;
}

double verify_subset_accuracy(const verify_result *res, const double *scores, const pair_list *pairs,
                              const unsigned char *select)
{
    if (!res->fold_thr || res->folds < 1)
        return NAN;
    long n = 0, correct = 0;
    for (int i = 0; i < pairs->n; i++) {
        int k = pairs->p[i].fold;
        if (!select[i] || k < 0 || k >= res->folds || isnan(res->fold_thr[k]))
            continue;
        n++;
        correct += (scores[i] > res->fold_thr[k]) == (pairs->p[i].same != 0);
    }
    return n ? (double)correct / n : NAN;
}

void verify_result_free(verify_result *res)
{
    free(res->fold_acc);
    free(res->fold_thr);
    free(res->youden_fold_acc);
    free(res->youden_fold_thr);
    free(res->roc);
    memset(res, 0, sizeof *res);
}
