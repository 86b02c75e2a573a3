/* test_verify.c — verification metrics (lib/eval/verify.c): the threshold rules, the fold protocol,
 * ROC/AUC/EER and TAR@FAR on hand-computed lists (with ties), the closed forms of two unit
 * Gaussians (AUC = Φ(Δ/√2), EER = Φ(−Δ/2), best accuracy Φ(Δ/2)), cosine scores, and LFW-style
 * pair drawing (balance per fold, determinism, validity, no duplicates while avoidable). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "eval/verify.h"

/* A pair list with scores: score[k], same[k], fold[k]; the sample indices are unused. */
static void make_list(pair_list *pl, const int *same, const int *fold, int n, int folds)
{
    pl->p = calloc((size_t)n, sizeof *pl->p);
    pl->n = n;
    pl->folds = folds;
    for (int k = 0; k < n; k++) {
        pl->p[k].a = 0;
        pl->p[k].b = 1;
        pl->p[k].same = same[k];
        pl->p[k].fold = fold ? fold[k] : 0;
    }
}

/* |a − b| ≤ tol, printing both on failure (NaN fails). */
#define assert_near(a, b, tol) assert_near_at((a), (b), (tol), #a, __FILE__, __LINE__)
static void assert_near_at(double a, double b, double tol, const char *what, const char *file, int line)
{
    if (!(fabs(a - b) <= tol)) {
        print_error("%s = %.17g, expected %.17g within %g\n", what, a, b, tol);
        _fail(file, line);
    }
}

static double Phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* Best single threshold on 6 pairs. Candidates (score > thr means same), scores 0.9P 0.8P 0.6N
 * 0.5P 0.3N 0.1N: +∞ 3/6, 0.85 4/6, 0.7 5/6, 0.55 4/6, 0.4 5/6, 0.2 4/6, −∞ 3/6: best 5/6,
 * the tie going to the larger 0.7. */
static void test_optimistic_threshold(void **state)
{
    (void)state;
    const double s[] = {0.9, 0.3, 0.8, 0.6, 0.5, 0.1};
    const int same[] = {1, 0, 1, 0, 1, 0}, fold[] = {0, 0, 1, 1, 2, 2};
    pair_list pl;
    make_list(&pl, same, fold, 6, 3);
    verify_result r;
    nb_error err;
    assert_int_equal(verify_evaluate(&r, s, &pl, &err), 0);
    assert_int_equal(r.n_pos, 3);
    assert_int_equal(r.n_neg, 3);
    assert_near(r.optimistic_acc, 5.0 / 6, 1e-12);
    assert_near(r.optimistic_thr, 0.7, 1e-12);
    verify_result_free(&r);
    free(pl.p);
}

/* Cross-validation with 3 folds: fold 0 = {0.9P, 0.3N}, 1 = {0.8P, 0.6N}, 2 = {0.5P, 0.1N}.
 *   fold 0: train 0.8P 0.6N 0.5P 0.1N → thresholds 0.7 and 0.3 both 3/4, largest 0.7 → fold 0 2/2
 *   fold 1: train 0.9P 0.5P 0.3N 0.1N → 0.4 (4/4) → 0.6N accepted → 1/2
 *   fold 2: train 0.9P 0.8P 0.6N 0.3N → 0.7 → 0.5P rejected → 1/2
 * mean 2/3, sample sd √(1/12), mean threshold 0.6. Balanced folds: Youden's J agrees. */
static void test_folds_by_hand(void **state)
{
    (void)state;
    const double s[] = {0.9, 0.3, 0.8, 0.6, 0.5, 0.1};
    const int same[] = {1, 0, 1, 0, 1, 0}, fold[] = {0, 0, 1, 1, 2, 2};
    pair_list pl;
    make_list(&pl, same, fold, 6, 3);
    verify_result r;
    assert_int_equal(verify_evaluate(&r, s, &pl, NULL), 0);
    const double thr[] = {0.7, 0.4, 0.7}, acc[] = {1.0, 0.5, 0.5};
    for (int k = 0; k < 3; k++) {
        assert_near(r.fold_thr[k], thr[k], 1e-12);
        assert_near(r.fold_acc[k], acc[k], 1e-12);
        assert_near(r.youden_fold_thr[k], thr[k], 1e-12);
        assert_near(r.youden_fold_acc[k], acc[k], 1e-12);
    }
    assert_near(r.acc_mean, 2.0 / 3, 1e-12);
    assert_near(r.acc_sd, sqrt(1.0 / 12), 1e-12);
    assert_near(r.thr_mean, 0.6, 1e-12);
    assert_near(r.youden_acc_mean, 2.0 / 3, 1e-12);
    /* subsets judged with their folds' thresholds 0.7, 0.4, 0.7: right, right | right, wrong |
     * wrong, right */
    const unsigned char pos[] = {1, 0, 1, 0, 1, 0}, neg[] = {0, 1, 0, 1, 0, 1}, f1[] = {0, 0, 1, 1, 0, 0},
                        all[] = {1, 1, 1, 1, 1, 1}, none[6] = {0};
    assert_near(verify_subset_accuracy(&r, s, &pl, pos), 2.0 / 3, 1e-12);
    assert_near(verify_subset_accuracy(&r, s, &pl, neg), 2.0 / 3, 1e-12);
    assert_near(verify_subset_accuracy(&r, s, &pl, f1), 0.5, 1e-12);
    assert_near(verify_subset_accuracy(&r, s, &pl, all), 4.0 / 6, 1e-12);
    assert_true(isnan(verify_subset_accuracy(&r, s, &pl, none)));
    verify_result_free(&r);
    free(pl.p);
}

/* Imbalanced folds, where Youden's J and accuracy disagree.
 * fold 0 = {0.5P, 0.9N, 0.2N, 0.1N, 0.05N}, fold 1 = {0.6P, 0.3N}.
 *   fold 0 (train fold 1): both rules 0.45 → 0.5P ✓, 0.9N ✗, rest ✓ → 4/5
 *   fold 1 (train fold 0): accuracy: +∞ gives 4/5, 0.7 3/5, 0.35 4/5 → tie, +∞ → 0.6P ✗ → 1/2;
 *                          Youden: +∞ 0, 0.7 −1/4, 0.35 3/4 → 0.35 → both right → 2/2 */
static void test_youden_differs(void **state)
{
    (void)state;
    const double s[] = {0.5, 0.9, 0.2, 0.1, 0.05, 0.6, 0.3};
    const int same[] = {1, 0, 0, 0, 0, 1, 0}, fold[] = {0, 0, 0, 0, 0, 1, 1};
    pair_list pl;
    make_list(&pl, same, fold, 7, 2);
    verify_result r;
    assert_int_equal(verify_evaluate(&r, s, &pl, NULL), 0);
    assert_near(r.fold_thr[0], 0.45, 1e-12);
    assert_near(r.youden_fold_thr[0], 0.45, 1e-12);
    assert_near(r.fold_acc[0], 0.8, 1e-12);
    assert_true(isinf(r.fold_thr[1]) && r.fold_thr[1] > 0);
    assert_near(r.fold_acc[1], 0.5, 1e-12);
    assert_near(r.youden_fold_thr[1], 0.35, 1e-12);
    assert_near(r.youden_fold_acc[1], 1.0, 1e-12);
    assert_near(r.acc_mean, 0.65, 1e-12);
    assert_near(r.youden_acc_mean, 0.9, 1e-12);
    assert_near(r.youden_acc_sd, sqrt(0.02), 1e-12);
    assert_near(r.thr_mean, 0.45, 1e-12); /* fold 1's +∞ has no location: left out */
    verify_result_free(&r);
    free(pl.p);
}

/* Folds choosing opposite infinite thresholds: fold 0 = {0.5P}, fold 1 = {0.4N}, fold 2 =
 * {0.3P, 0.6N}. Trained on folds 1, 2 the best is +∞ (tp − fp = 0); on folds 0, 2 accepting
 * everything (−∞, +1); on folds 0, 1 the midpoint 0.45 (+1). thr_mean is 0.45, not NaN. */
static void test_opposite_infinite_thresholds(void **state)
{
    (void)state;
    const double s[] = {0.5, 0.4, 0.3, 0.6};
    const int same[] = {1, 0, 1, 0}, fold[] = {0, 1, 2, 2};
    pair_list pl;
    make_list(&pl, same, fold, 4, 3);
    verify_result r;
    assert_int_equal(verify_evaluate(&r, s, &pl, NULL), 0);
    assert_true(isinf(r.fold_thr[0]) && r.fold_thr[0] > 0);
    assert_true(isinf(r.fold_thr[1]) && r.fold_thr[1] < 0);
    assert_near(r.fold_thr[2], 0.45, 1e-12);
    assert_near(r.thr_mean, 0.45, 1e-12);
    assert_false(isnan(r.youden_thr_mean));
    verify_result_free(&r);
    free(pl.p);
}

/* pos {0.8, 0.6, 0.6, 0.2}, neg {0.7, 0.6, 0.3, 0.1}. ROC (FAR, TAR, thr):
 * (0,0,∞) (0,.25,.8) (.25,.25,.7) (.5,.75,.6) (.75,.75,.3) (.75,1,.2) (1,1,.1).
 * AUC: Mann–Whitney 4 + 2.5 + 2.5 + 1 = 10 of 16 = 0.625 (the 0.6 ties count ½).
 * EER: FAR − FRR is −0.5 at .7 and +0.25 at .6 → t = 2/3 → EER = .25 + 2/3·.25 = 5/12, threshold
 * 0.7 − 2/3·0.1. */
static void test_roc_auc_eer_ties(void **state)
{
    (void)state;
    const double s[] = {0.8, 0.6, 0.6, 0.2, 0.7, 0.6, 0.3, 0.1};
    const int same[] = {1, 1, 1, 1, 0, 0, 0, 0}, fold[] = {0, 1, 0, 1, 0, 1, 0, 1};
    pair_list pl;
    make_list(&pl, same, fold, 8, 2);
    verify_result r;
    assert_int_equal(verify_evaluate(&r, s, &pl, NULL), 0);
    const double roc[7][3] = {{0, 0, INFINITY}, {0, .25, .8}, {.25, .25, .7}, {.5, .75, .6},
                              {.75, .75, .3},   {.75, 1, .2}, {1, 1, .1}};
    assert_int_equal(r.roc_n, 7);
    for (int k = 0; k < 7; k++) {
        assert_near(r.roc[k].far, roc[k][0], 1e-12);
        assert_near(r.roc[k].tar, roc[k][1], 1e-12);
        if (k == 0)
            assert_true(isinf(r.roc[0].threshold));
        else
            assert_near(r.roc[k].threshold, roc[k][2], 1e-12);
    }
    assert_near(r.auc, 0.625, 1e-12);
    assert_near(r.eer, 5.0 / 12, 1e-12);
    assert_near(r.eer_thr, 0.7 - 0.1 * 2 / 3, 1e-12);
    /* 4 negatives: fewer than 1/0.1, every TAR@FAR is NAN */
    for (int t = 0; t < VERIFY_N_FAR; t++)
        assert_true(isnan(r.tar_at_far[t]));
    verify_result_free(&r);
    free(pl.p);
}

/* An exact EER point and all-tied scores. pos {0.9, 0.7, 0.5}, neg {0.7, 0.3, 0.1}: ROC passes
 * through (1/3, 2/3) at 0.7 where FAR = FRR: EER 1/3 at threshold 0.7; AUC 7.5/9. All scores equal:
 * ROC (0,0) → (1,1), AUC ½, EER ½. */
static void test_eer_exact_and_all_tied(void **state)
{
    (void)state;
    const double s[] = {0.9, 0.7, 0.5, 0.7, 0.3, 0.1};
    const int same[] = {1, 1, 1, 0, 0, 0};
    pair_list pl;
    make_list(&pl, same, NULL, 6, 1);
    verify_result r;
    assert_int_equal(verify_evaluate(&r, s, &pl, NULL), 0);
    assert_near(r.eer, 1.0 / 3, 1e-12);
    assert_near(r.eer_thr, 0.7, 1e-12);
    assert_near(r.auc, 7.5 / 9, 1e-12);
    assert_true(isnan(r.acc_mean) && isnan(r.youden_acc_mean)); /* one fold: no cross-validation */
    verify_result_free(&r);
    const double t[] = {0.4, 0.4, 0.4, 0.4, 0.4, 0.4};
    assert_int_equal(verify_evaluate(&r, t, &pl, NULL), 0);
    assert_int_equal(r.roc_n, 2);
    assert_near(r.auc, 0.5, 1e-12);
    assert_near(r.eer, 0.5, 1e-12);
    assert_near(r.optimistic_acc, 0.5, 1e-12);
    verify_result_free(&r);
    free(pl.p);
}

/* TAR@FAR with 10 negatives: FAR ≤ 0.1 allows one false accept. Descending: 0.99P 0.95N 0.9P 0.8P
 * 0.7P 0.5N … → the last point with ≤ 1 false accept is at 0.7: TAR 4/5. 1e-2 and 1e-3 need 100
 * and 1000 negatives: NAN. With 100 negatives (one at 0.95, the rest ≤ 0.5), TAR@1e-2 = 4/5 too,
 * TAR@1e-1 = 1 (threshold 0.3: 10 negatives allowed, 0.3P reached), TAR@1e-3 still NAN. */
static void test_tar_at_far(void **state)
{
    (void)state;
    double s[105];
    int same[105];
    const double pos[] = {0.99, 0.9, 0.8, 0.7, 0.3};
    const double neg10[] = {0.95, 0.5, 0.45, 0.4, 0.35, 0.25, 0.2, 0.15, 0.1, 0.05};
    for (int k = 0; k < 5; k++) {
        s[k] = pos[k];
        same[k] = 1;
    }
    for (int k = 0; k < 10; k++) {
        s[5 + k] = neg10[k];
        same[5 + k] = 0;
    }
    pair_list pl;
    make_list(&pl, same, NULL, 15, 1);
    verify_result r;
    assert_int_equal(verify_evaluate(&r, s, &pl, NULL), 0);
    assert_near(r.tar_at_far[0], 0.8, 1e-12);
    assert_near(r.thr_at_far[0], 0.7, 1e-12);
    assert_true(isnan(r.tar_at_far[1]));
    assert_true(isnan(r.tar_at_far[2]));
    verify_result_free(&r);
    free(pl.p);

    for (int k = 0; k < 100; k++) {
        s[5 + k] = k == 0 ? 0.95 : 0.5 * (100 - k) / 100.0; /* 0.95, then 0.495 … 0.005 */
        same[5 + k] = 0;
    }
    make_list(&pl, same, NULL, 105, 1);
    assert_int_equal(verify_evaluate(&r, s, &pl, NULL), 0);
    assert_near(r.tar_at_far[1], 0.8, 1e-12);
    assert_near(r.thr_at_far[1], 0.7, 1e-12);
    /* 10 allowed: 0.95 and 0.495 … 0.455 (9 more) are ≥ 0.455; 0.3P comes after 0.305 — beyond */
    assert_near(r.tar_at_far[0], 0.8, 1e-12);
    assert_near(r.thr_at_far[0], 0.455, 1e-12);
    assert_true(isnan(r.tar_at_far[2]));
    verify_result_free(&r);
    free(pl.p);
}

/* Positives N(Δ, 1), negatives N(0, 1), 50 000 each, Δ = 1.5: AUC = Φ(Δ/√2), EER = Φ(−Δ/2), and
 * the best threshold Δ/2 gives accuracy Φ(Δ/2) — within 0.005. The ROC is exact and monotone. */
static void test_two_gaussians(void **state)
{
    (void)state;
    const int half = 50000, n = 2 * half;
    const double delta = 1.5;
    double *s = malloc((size_t)n * sizeof *s);
    int *same = malloc((size_t)n * sizeof *same), *fold = malloc((size_t)n * sizeof *fold);
    rng_t rng;
    rng_seed(&rng, 7);
    for (int k = 0; k < n; k++) {
        same[k] = k < half;
        s[k] = rng_normal(&rng) + (same[k] ? delta : 0);
        fold[k] = (k % half) % 10;
    }
    pair_list pl;
    make_list(&pl, same, fold, n, 10);
    verify_result r;
    assert_int_equal(verify_evaluate(&r, s, &pl, NULL), 0);
    assert_near(r.auc, Phi(delta / sqrt(2.0)), 0.005);
    assert_near(r.eer, Phi(-delta / 2), 0.005);
    assert_near(r.acc_mean, Phi(delta / 2), 0.005);
    assert_near(r.youden_acc_mean, Phi(delta / 2), 0.005);
    assert_near(r.thr_mean, delta / 2, 0.15);
    assert_true(r.optimistic_acc >= r.acc_mean - 0.005);
    assert_int_equal(r.roc_n, n + 1); /* continuous scores: all distinct */
    for (int k = 1; k < r.roc_n; k++) {
        assert_true(r.roc[k].far >= r.roc[k - 1].far && r.roc[k].tar >= r.roc[k - 1].tar);
        assert_true(r.roc[k].threshold < r.roc[k - 1].threshold);
    }
    /* TAR at FAR 1e-1: threshold ≈ Φ⁻¹(0.9) = 1.2816 → TAR ≈ Φ(Δ − 1.2816) */
    assert_near(r.tar_at_far[0], Phi(delta - 1.2815516), 0.01);
    assert_false(isnan(r.tar_at_far[2]));
    verify_result_free(&r);
    free(pl.p);
    free(s);
    free(same);
    free(fold);
}

static void test_evaluate_errors(void **state)
{
    (void)state;
    const double s[] = {0.5, 0.4, NAN};
    const int all_pos[] = {1, 1, 1}, mixed[] = {1, 0, 0}, bad_fold[] = {0, 0, 3};
    pair_list pl;
    verify_result r;
    nb_error err;
    make_list(&pl, all_pos, NULL, 2, 1);
    assert_int_equal(verify_evaluate(&r, s, &pl, &err), -1);
    assert_non_null(strstr(err.msg, "negative"));
    verify_result_free(&r);
    free(pl.p);
    make_list(&pl, mixed, NULL, 3, 1);
    assert_int_equal(verify_evaluate(&r, s, &pl, &err), -1);
    assert_non_null(strstr(err.msg, "NaN"));
    free(pl.p);
    make_list(&pl, mixed, bad_fold, 3, 2);
    const double ok[] = {0.5, 0.4, 0.3};
    assert_int_equal(verify_evaluate(&r, ok, &pl, &err), -1);
    assert_non_null(strstr(err.msg, "fold"));
    free(pl.p);
    const int two_folds[] = {0, 0, 0};
    make_list(&pl, mixed, two_folds, 3, 2);
    assert_int_equal(verify_evaluate(&r, ok, &pl, &err), -1);
    assert_non_null(strstr(err.msg, "fold 1 has no pairs"));
    verify_result_free(&r); /* zeroed by the failed call: safe */
    free(pl.p);
}

/* Cosines of known vectors; a zero vector scores 0; flip features add. */
static void test_scores(void **state)
{
    (void)state;
    const real f[] = {3, 4, 0, /* */ 6, 8, 0, /* */ 0, 0, 5, /* */ -3, -4, 0, /* */ 0, 0, 0, /* */ 4, -3, 0};
    verify_pair p[] = {{0, 1, 1, 0}, {0, 2, 0, 0}, {0, 3, 0, 0}, {0, 4, 0, 0}, {0, 5, 0, 0}, {1, 5, 0, 0}};
    pair_list pl = {p, 6, 1};
    double s[6];
    assert_int_equal(verify_scores(s, f, 6, 3, &pl, NULL), 0);
    assert_near(s[0], 1, 1e-15);
    assert_near(s[1], 0, 1e-15);
    assert_near(s[2], -1, 1e-15);
    assert_near(s[3], 0, 0);
    assert_near(s[4], 0, 1e-15);
    real sum[18];
    features_add(sum, f, f + 3, 1, 3); /* (3,4,0) + (6,8,0) */
    assert_near(sum[0], 9, 0);
    assert_near(sum[1], 12, 0);
    verify_pair bad[] = {{0, 6, 1, 0}};
    pair_list pb = {bad, 1, 1};
    nb_error err;
    assert_int_equal(verify_scores(s, f, 6, 3, &pb, &err), -1);
    assert_non_null(strstr(err.msg, "sample 6"));
}

/* labels: 30 identities with 1..10 samples (the c-th has 1 + c % 10; 3 singletons), 165 samples
 * with 495 distinct positive pairs; identity numbers permuted (c·7 mod 30). */
static int *make_labels(int *n_out)
{
    int n = 0;
    for (int c = 0; c < 30; c++)
        n += 1 + c % 10;
    int *y = malloc((size_t)n * sizeof *y), k = 0;
    for (int c = 0; c < 30; c++)
        for (int j = 0; j < 1 + c % 10; j++)
            y[k++] = (c * 7) % 30;
    *n_out = n;
    return y;
}

static void test_pairs_draw(void **state)
{
    (void)state;
    int n;
    int *y = make_labels(&n);
    rng_t rng;
    rng_seed(&rng, 42);
    pair_list pl;
    nb_error err;
    assert_int_equal(pairs_draw(&pl, y, n, 600, 10, &rng, &err), 0);
    assert_int_equal(pl.n, 600);
    assert_int_equal(pl.folds, 10);
    int pos[10] = {0}, neg[10] = {0};
    for (int k = 0; k < pl.n; k++) {
        const verify_pair *p = &pl.p[k];
        assert_true(p->a >= 0 && p->a < p->b && p->b < n);
        assert_int_equal(p->same, y[p->a] == y[p->b]);
        assert_int_equal(p->fold, k / 60); /* laid out fold by fold */
        assert_int_equal(p->same, k % 60 < 30); /* positives first within the fold */
        (p->same ? pos : neg)[p->fold]++;
        for (int j = 0; j < k; j++) /* 600 pairs ≪ the distinct pairs available: no duplicate */
            assert_false(pl.p[j].a == p->a && pl.p[j].b == p->b);
    }
    for (int f = 0; f < 10; f++) {
        assert_int_equal(pos[f], 30);
        assert_int_equal(neg[f], 30);
    }
    /* determinism: the same seed gives the same list, another seed a different one */
    pair_list again, other;
    rng_seed(&rng, 42);
    assert_int_equal(pairs_draw(&again, y, n, 600, 10, &rng, NULL), 0);
    assert_memory_equal(pl.p, again.p, 600 * sizeof *pl.p);
    rng_seed(&rng, 43);
    assert_int_equal(pairs_draw(&other, y, n, 600, 10, &rng, NULL), 0);
    assert_true(memcmp(pl.p, other.p, 600 * sizeof *pl.p) != 0);
    pairs_free(&pl);
    pairs_free(&again);
    pairs_free(&other);
    free(y);
}

/* Every distinct positive is used before any repeats: 3 identities of 2, 2, 3 samples have
 * 1 + 1 + 3 = 5 distinct positives; 10 positives use each exactly twice. Negatives (7·6/2 − 5 = 16
 * distinct) are all distinct among 10. */
static void test_pairs_exhaustion(void **state)
{
    (void)state;
    const int y[] = {0, 0, 1, 1, 2, 2, 2};
    rng_t rng;
    rng_seed(&rng, 1);
    pair_list pl;
    assert_int_equal(pairs_draw(&pl, y, 7, 20, 2, &rng, NULL), 0);
    int used[7][7] = {{0}};
    for (int k = 0; k < 20; k++) {
        const verify_pair *p = &pl.p[k];
        assert_int_equal(p->same, y[p->a] == y[p->b]);
        assert_true(p->a < p->b);
        used[p->a][p->b]++;
    }
    int pos_distinct = 0;
    for (int a = 0; a < 7; a++)
        for (int b = a + 1; b < 7; b++) {
            if (y[a] == y[b]) {
                assert_int_equal(used[a][b], 2);
                pos_distinct++;
            } else
                assert_true(used[a][b] <= 1);
        }
    assert_int_equal(pos_distinct, 5);
    pairs_free(&pl);
    pairs_free(&pl); /* safe on the zeroed list */
}

static void test_pairs_errors(void **state)
{
    (void)state;
    const int singles[] = {0, 1, 2, 3}, one_id[] = {5, 5, 5}, neg_label[] = {0, -1};
    const int ok[] = {0, 0, 1, 1};
    rng_t rng;
    rng_seed(&rng, 1);
    pair_list pl;
    nb_error err;
    assert_int_equal(pairs_draw(&pl, singles, 4, 20, 10, &rng, &err), -1);
    assert_non_null(strstr(err.msg, "no identity has 2 samples"));
    assert_null(pl.p);
    assert_int_equal(pairs_draw(&pl, one_id, 3, 20, 10, &rng, &err), -1);
    assert_non_null(strstr(err.msg, "one identity"));
    assert_int_equal(pairs_draw(&pl, neg_label, 2, 20, 10, &rng, &err), -1);
    assert_non_null(strstr(err.msg, "negative label"));
    assert_int_equal(pairs_draw(&pl, ok, 4, 30, 10, &rng, &err), -1);
    assert_non_null(strstr(err.msg, "multiple of 2·folds = 20"));
    assert_int_equal(pairs_draw(&pl, ok, 4, 20, 0, &rng, &err), -1);
    pairs_free(&pl);
}

/* Drawn pairs through scores and evaluation: features = one-hot of the identity plus noise, so
 * positives score higher; the whole pipeline runs and separates well. */
static void test_pipeline(void **state)
{
    (void)state;
    int n;
    int *y = make_labels(&n);
    const int d = 32;
    real *f = malloc((size_t)n * d * sizeof *f);
    rng_t rng;
    rng_seed(&rng, 3);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < d; k++)
            f[(size_t)i * d + k] = (real)((k == y[i] ? 3.0 : 0.0) + 0.5 * rng_normal(&rng));
    pair_list pl;
    assert_int_equal(pairs_draw(&pl, y, n, 400, 10, &rng, NULL), 0);
    double *s = malloc((size_t)pl.n * sizeof *s);
    assert_int_equal(verify_scores(s, f, n, d, &pl, NULL), 0);
    verify_result r;
    assert_int_equal(verify_evaluate(&r, s, &pl, NULL), 0);
    assert_int_equal(r.n_pos, 200);
    assert_int_equal(r.n_neg, 200);
    print_message("pipeline: acc %.4f ± %.4f, auc %.4f, eer %.4f, optimistic %.4f\n", r.acc_mean, r.acc_sd, r.auc, r.eer, r.optimistic_acc);
    assert_true(r.acc_mean > 0.9);
    assert_true(r.auc > 0.95);
    assert_true(r.eer < 0.1);
    verify_result_free(&r);
    pairs_free(&pl);
    free(s);
    free(f);
    free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_optimistic_threshold),
        cmocka_unit_test(test_folds_by_hand),
        cmocka_unit_test(test_youden_differs),
        cmocka_unit_test(test_opposite_infinite_thresholds),
        cmocka_unit_test(test_roc_auc_eer_ties),
        cmocka_unit_test(test_eer_exact_and_all_tied),
        cmocka_unit_test(test_tar_at_far),
        cmocka_unit_test(test_two_gaussians),
        cmocka_unit_test(test_evaluate_errors),
        cmocka_unit_test(test_scores),
        cmocka_unit_test(test_pairs_draw),
        cmocka_unit_test(test_pairs_exhaustion),
        cmocka_unit_test(test_pairs_errors),
        cmocka_unit_test(test_pipeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
