/* test_anchors.c — every verification protocol of docs/evaluation.md §4b against golden values
 * from the anchors' own rules (tools/golden_eval.py: numpy / scikit-learn / scipy written from
 * InsightFace's verification.py and OpenSphere's get_results), on the committed 6,000-pair
 * fixture tests/fixtures/eval/ (features.npy, features_flip.npy, issame.npy; pair i = rows 2i and
 * 2i+1): exact and Youden accuracy, the optimistic threshold, AUC, EER and TAR@FAR (verify.c),
 * InsightFace's grid accuracy, population sd, per-fold thresholds and VAL@FAR, and OpenSphere's
 * ACC, EER, AUC and interpolated TPR@FPR (anchors.c) — without and with the flip sum. Plus the
 * rules in miniature: the first (smallest) of tied grid thresholds, `dist < threshold`, KFold's
 * uneven folds, and the FAR interpolation with repeated FAR values. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "eval/anchors.h"
#include "eval/verify.h"
#include "io/npy.h"

#define FIX "tests/fixtures/eval/"

typedef struct {
    char key[96];
    double v;
} golden_entry;

static golden_entry golden[256];
static int n_golden;

static void load_golden(void)
{
    if (n_golden)
        return;
    FILE *f = fopen(FIX "golden.txt", "r");
    assert_non_null(f);
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        assert_true(n_golden < 256);
        assert_int_equal(sscanf(line, "%95s %lf", golden[n_golden].key, &golden[n_golden].v), 2);
        n_golden++;
    }
    fclose(f);
}

static double gold(const char *prefix, const char *key)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", prefix, key);
    for (int i = 0; i < n_golden; i++)
        if (!strcmp(golden[i].key, full))
            return golden[i].v;
    fprintf(stderr, "no golden value %s\n", full);
    fail();
    return NAN;
}

static void check(const char *prefix, const char *key, double got, double tol)
{
    double want = gold(prefix, key);
    if (!(fabs(got - want) <= tol)) {
        fprintf(stderr, "%s.%s: got %.17g, golden %.17g\n", prefix, key, got, want);
        fail();
    }
}

/* features (n, d) as real, flip-summed when flip */
static real *load_features(int flip, int *n, int *d)
{
    npy_array a, b;
    nb_error err = {0};
    assert_int_equal(npy_read(&a, FIX "features.npy", &err), 0);
    assert_int_equal(a.ndim, 2);
    *n = (int)a.shape[0];
    *d = (int)a.shape[1];
    real *f = malloc(a.count * sizeof(real));
    for (size_t i = 0; i < a.count; i++)
        f[i] = (real)npy_value(&a, i);
    if (flip) {
        assert_int_equal(npy_read(&b, FIX "features_flip.npy", &err), 0);
        assert_int_equal(b.count, a.count);
        real *g = malloc(b.count * sizeof(real));
        for (size_t i = 0; i < b.count; i++)
            g[i] = (real)npy_value(&b, i);
        features_add(f, f, g, *n, *d);
        free(g);
        npy_free(&b);
    }
    npy_free(&a);
    return f;
}

/* pair i = rows 2i, 2i+1; 10 consecutive folds */
static void load_pairs(pair_list *pl)
{
    npy_array s;
    nb_error err = {0};
    assert_int_equal(npy_read(&s, FIX "issame.npy", &err), 0);
    assert_int_equal(s.type, NPY_BOOL);
    pl->n = (int)s.count;
    pl->folds = 10;
    pl->p = calloc((size_t)pl->n, sizeof *pl->p);
    for (int i = 0; i < pl->n; i++) {
        pl->p[i].a = 2 * i;
        pl->p[i].b = 2 * i + 1;
        pl->p[i].same = npy_value(&s, (size_t)i) != 0;
        pl->p[i].fold = i / (pl->n / 10);
    }
    npy_free(&s);
}

static void check_variant(int flip)
{
    load_golden();
    const char *pre = flip ? "flip" : "plain";
    int n, d;
    real *feat = load_features(flip, &n, &d);
    pair_list pl;
    load_pairs(&pl);
    assert_int_equal(n, 2 * pl.n);
    nb_error err = {0};
    double *scores = malloc((size_t)pl.n * sizeof *scores), *dist = malloc((size_t)pl.n * sizeof *dist);
    verify_result vr;
    assert_int_equal(verify_scores(scores, feat, n, d, &pl, &err), 0);
    assert_int_equal(verify_evaluate(&vr, scores, &pl, &err), 0);
    const double t = 1e-12;
    check(pre, "exact.acc_mean", vr.acc_mean, t);
    check(pre, "exact.acc_sd", vr.acc_sd, t);
    check(pre, "exact.thr_mean", vr.thr_mean, 1e-9); /* midpoints of cosines: rounding of the scores */
    check(pre, "youden.acc_mean", vr.youden_acc_mean, t);
    check(pre, "youden.acc_sd", vr.youden_acc_sd, t);
    check(pre, "youden.thr_mean", vr.youden_thr_mean, 1e-9);
    check(pre, "optimistic.acc", vr.optimistic_acc, t);
    check(pre, "auc", vr.auc, t);
    check(pre, "eer", vr.eer, 1e-9); /* brentq's tolerance */
    check(pre, "tar_at_far_0.1", vr.tar_at_far[0], t);
    check(pre, "tar_at_far_0.01", vr.tar_at_far[1], t);
    check(pre, "tar_at_far_0.001", vr.tar_at_far[2], t);

    opensphere_result os;
    opensphere_evaluate(&os, &vr);
    check(pre, "opensphere.acc", os.acc, t);
    check(pre, "opensphere.eer", os.eer, 1e-9);
    check(pre, "opensphere.auc", os.auc, t);
    check(pre, "opensphere.tpr_at_fpr_0.1", os.tpr_at_fpr[0], t);
    check(pre, "opensphere.tpr_at_fpr_0.01", os.tpr_at_fpr[1], t);
    check(pre, "opensphere.tpr_at_fpr_0.001", os.tpr_at_fpr[2], t);

    insightface_result ir;
    assert_int_equal(insightface_distances(dist, feat, n, d, &pl, &err), 0);
    assert_int_equal(insightface_evaluate(&ir, dist, &pl, 10, INSIGHTFACE_FAR_TARGET, &err), 0);
    check(pre, "insightface.acc_mean", ir.acc_mean, t);
    check(pre, "insightface.acc_sd", ir.acc_sd, t);
    check(pre, "insightface.thr_mean", ir.thr_mean, t);
    check(pre, "insightface.val_mean", ir.val_mean, t);
    check(pre, "insightface.val_sd", ir.val_sd, t);
    check(pre, "insightface.far_mean", ir.far_mean, t);
    for (int k = 0; k < 10; k++) {
        char key[64];
        snprintf(key, sizeof key, "insightface.fold_acc_%d", k);
        check(pre, key, ir.fold_acc[k], 0);
        snprintf(key, sizeof key, "insightface.fold_thr_%d", k);
        check(pre, key, ir.fold_thr[k], 0);
        snprintf(key, sizeof key, "insightface.fold_val_thr_%d", k);
        check(pre, key, ir.fold_val_thr[k], 1e-15);
    }
    /* the grid is coarse for these crowded cosines: InsightFace's rule is visibly lower */
    assert_true(ir.acc_mean < vr.acc_mean - 0.02);
    insightface_result_free(&ir);
    verify_result_free(&vr);
    free(scores);
    free(dist);
    free(pl.p);
    free(feat);
}

static void test_golden_plain(void **state)
{
    (void)state;
    check_variant(0);
}

static void test_golden_flip(void **state)
{
    (void)state;
    check_variant(1);
}

/* Tied grid points: the first (smallest) wins; a distance equal to a grid point is not accepted
 * there (dist < threshold). KFold of 7 pairs into 3 folds: sizes 3, 2, 2. */
static void test_insightface_rules(void **state)
{
    (void)state;
    /* all positives at 0.05, all negatives at 0.5: every threshold in (0.05, 0.5] is perfect; the
     * first grid point that accepts 0.05 is 0.06 (0.05 itself: 0.05 < 0.05 is false) */
    enum { N = 7 };
    verify_pair p[N];
    double dist[N];
    for (int i = 0; i < N; i++) {
        p[i].a = p[i].b = 0;
        p[i].same = i % 2 == 0;
        p[i].fold = 0;
        dist[i] = p[i].same ? 5 * 0.01 : 0.5;
    }
    pair_list pl = {p, N, 1};
    insightface_result r;
    nb_error err = {0};
    assert_int_equal(insightface_evaluate(&r, dist, &pl, 3, 0.5, &err), 0);
    for (int k = 0; k < 3; k++) {
        assert_true(r.fold_thr[k] == 6 * 0.01);
        assert_true(r.fold_acc[k] == 1);
    }
    /* VAL at FAR 0.5: training FAR is 0 up to 0.5, then 1; the first threshold of FAR 0 is 0 and
     * of FAR 1 is 0.501: interpolated halfway */
    for (int k = 0; k < 3; k++)
        assert_true(fabs(r.fold_val_thr[k] - 0.5 * 501 * 0.001) < 1e-15);
    insightface_result_free(&r);
    /* uneven KFold: move pair 2 (fold 0 of sizes 3, 2, 2) far out: only fold 0 loses it */
    dist[2] = 3.995;
    assert_int_equal(insightface_evaluate(&r, dist, &pl, 3, 1e-3, &err), 0);
    assert_true(fabs(r.fold_acc[0] - 2.0 / 3) < 1e-15);
    assert_true(r.fold_acc[1] == 1 && r.fold_acc[2] == 1);
    insightface_result_free(&r);
    /* errors: too few folds, NaN */
    assert_int_equal(insightface_evaluate(&r, dist, &pl, 1, 1e-3, &err), -1);
    dist[0] = NAN;
    assert_int_equal(insightface_evaluate(&r, dist, &pl, 3, 1e-3, &err), -1);
    assert_non_null(strstr(err.msg, "NaN"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_plain),
        cmocka_unit_test(test_golden_flip),
        cmocka_unit_test(test_insightface_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
