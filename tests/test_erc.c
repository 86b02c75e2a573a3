/* test_erc.c — error-versus-reject curves (lib/eval/erc.c, docs/evaluation.md §4c) on a hand-made
 * case: 100 negatives with distinct scores below 0.5 and quality 1, five good positives (score
 * 0.9, quality 1) and five bad ones (score 0.3, quality 0.01–0.05). The FMR = 1e-2 threshold of
 * the full set accepts the top negative only (0.495): FNMR is 5/10 before rejecting, and 0 once
 * the five bad positives — the lowest pair qualities — are gone at r = 0.05 (6 of 110 pairs
 * removed: the five, then the lowest index among the ties at quality 1, a negative). Rejecting at random
 * removes as many pairs, in an order fixed by the tie keys. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "eval/erc.h"
#include "eval/evaluate.h"
#include "eval/verify.h"

enum { NP = 10, NN = 100, N = NP + NN };

static void make_case(pair_list *pl, double *scores, double *q)
{
    pl->p = calloc(N, sizeof *pl->p);
    pl->n = N;
    pl->folds = 2;
    for (int i = 0; i < N; i++) {
        /* pair i compares images 2i and 2i+1; negatives first, then 5 good and 5 bad positives */
        int pos = i >= NN, bad = i >= NN + 5;
        pl->p[i] = (verify_pair){2 * i, 2 * i + 1, pos, i % 2};
        scores[i] = !pos ? 0.005 * i : bad ? 0.3 : 0.9;
        q[2 * i] = bad ? 0.01 * (i - NN - 4) : 1;
        q[2 * i + 1] = 2; /* the worse image decides */
    }
}

static void test_reject_by_quality(void **state)
{
    (void)state;
    pair_list pl;
    double scores[N], q[2 * N], key[N];
    make_case(&pl, scores, q);
    verify_result vr;
    nb_error err = {0};
    assert_int_equal(verify_evaluate(&vr, scores, &pl, &err), 0);
    assert_true(fabs(vr.thr_at_far[1] - 0.495) < 1e-12);
    erc_pair_quality(key, q, &pl);
    assert_true(key[NN + 5] == 0.01 && key[0] == 1);
    erc_curve e;
    erc_compute(&e, &vr, scores, &pl, key, NULL);
    assert_int_equal(e.kept[0], N);
    assert_int_equal(e.kept[1], N - 6);
    assert_int_equal(e.kept[ERC_STEPS - 1], N - 55);
    assert_true(fabs(e.fnmr[0][0] - 0.5) < 1e-12);
    for (int s = 1; s < ERC_STEPS; s++)
        assert_true(e.fnmr[0][s] == 0);
    assert_true(fabs(e.area_fnmr[0] - 0.5 * 0.05 * 0.5) < 1e-12);
    assert_true(isnan(e.fnmr[1][0])); /* 100 negatives cannot measure FMR 1e-3 */
    assert_true(isnan(e.area_fnmr[1]));
    assert_true(e.acc[0] > 0 && e.acc[0] <= 1);
    /* random: same counts, the positives leave in the order of their random keys */
    uint64_t tie[N];
    for (int i = 0; i < N; i++) {
        key[i] = 0;
        tie[i] = (uint64_t)((i * 37) % N);
    }
    erc_curve r;
    erc_compute(&r, &vr, scores, &pl, key, tie);
    assert_int_equal(r.kept[1], N - 6);
    assert_true(fabs(r.fnmr[0][0] - 0.5) < 1e-12);
    assert_true(r.area_fnmr[0] > e.area_fnmr[0]);
    verify_result_free(&vr);
    free(pl.p);
}

/* Claim 7's per-run numbers by hand: four features whose norms 3, 2, 2, 1 fall as the level
 * 0, 1, 2, 3 rises: the Pearson correlation of the mid-ranks 4, 2.5, 2.5, 1 against 1, 2, 3, 4
 * is −9/√90 = −0.9486833; one level only gives NAN. The
 * recovered share of the oracle gain: random 0.2, oracle 0.1, norm 0.15 → 0.5. */
static void test_norm_quality(void **state)
{
    (void)state;
    const real f[8] = {3, 0, 0, 2, 2, 0, 0, 1};
    const int level[4] = {0, 1, 2, 3}, flat[4] = {1, 1, 1, 1}, up[4] = {3, 2, 1, 0};
    assert_true(fabs(evaluate_norm_quality(f, level, 4, 2) + 0.948683298) < 1e-8);
    assert_true(fabs(evaluate_norm_quality(f, up, 4, 2) - 0.948683298) < 1e-8);
    assert_true(isnan(evaluate_norm_quality(f, flat, 4, 2)));
    assert_true(fabs(evaluate_oracle_gain(0.15, 0.1, 0.2) - 0.5) < 1e-12);
    assert_true(fabs(evaluate_oracle_gain(0.25, 0.1, 0.2) + 0.5) < 1e-12);
    assert_true(isnan(evaluate_oracle_gain(0.15, 0.2, 0.2)));
    assert_true(isnan(evaluate_oracle_gain(NAN, 0.1, 0.2)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_reject_by_quality), cmocka_unit_test(test_norm_quality)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
