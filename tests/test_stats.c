/* test_stats.c — the verdict statistics of lib/eval/stats.c (docs/claims.md §6) against values
 * worked by hand, with the t quantiles found independently (bisection on a Simpson-integrated
 * Student-t density in Python): c(1,2,3,4,5) has mean 3, sd 1.581139 and, with t(0.975, 4) =
 * 2.776445, the 95 % interval [1.036757, 4.963243]. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "eval/stats.h"

static void test_mean_ci(void **state)
{
    (void)state;
    double v[] = {1, 2, NAN, 3, 4, 5};
    stats_ci c = stats_mean_ci(v, 6);
    assert_int_equal(c.n, 5);
    assert_true(fabs(c.mean - 3) < 1e-12);
    assert_true(fabs(c.sd - 1.58113883) < 1e-8);
    assert_true(fabs(c.lo - 1.036757) < 1e-6);
    assert_true(fabs(c.hi - 4.963243) < 1e-6);
    double one[] = {7};
    stats_ci d = stats_mean_ci(one, 1);
    assert_true(d.n == 1 && d.mean == 7 && isnan(d.lo) && isnan(d.hi));
    assert_int_equal(stats_ci_side(d, 0), STATS_UNDECIDED);
}

static void test_ci_side(void **state)
{
    (void)state;
    /* the interval [1.036757, 4.963243] of 1..5 against values below, inside and above it */
    double v[] = {1, 2, 3, 4, 5};
    stats_ci c = stats_mean_ci(v, 5);
    assert_int_equal(stats_ci_side(c, 0), STATS_ABOVE);
    assert_int_equal(stats_ci_side(c, 4), STATS_UNDECIDED);
    assert_int_equal(stats_ci_side(c, 5), STATS_BELOW);
    /* sd 0: the interval is a point, decided either way */
    double same[] = {2, 2, 2};
    stats_ci p = stats_mean_ci(same, 3);
    assert_true(p.lo == 2 && p.hi == 2);
    assert_int_equal(stats_ci_side(p, 1.999), STATS_ABOVE);
}

static void test_seeds_needed(void **state)
{
    (void)state;
    /* effect 1, sd 1: n = 7 gives t(0.975, 6)·1/√7 = 2.446912/2.645751 = 0.925 < 1; n = 6 gives
     * 2.570582/2.449490 = 1.049 ≥ 1 */
    assert_int_equal(stats_seeds_needed(1, 1), 7);
    assert_int_equal(stats_seeds_needed(-1, 1), 7);
    assert_int_equal(stats_seeds_needed(10, 1), 2); /* 12.706/√2 = 8.98 < 10 */
    assert_int_equal(stats_seeds_needed(0, 1), -1);
    assert_int_equal(stats_seeds_needed(1e-3, 1), -1); /* ≈ 3.8 million seeds */
    assert_int_equal(stats_seeds_needed(NAN, 1), -1);
}

static void test_spearman(void **state)
{
    (void)state;
    double x[] = {1, 2, 3, 4, 5}, up[] = {10, 20, 25, 100, 1000}, down[] = {5, 4, 3, 2, 1};
    assert_true(fabs(stats_spearman(x, up, 5) - 1) < 1e-12);
    assert_true(fabs(stats_spearman(x, down, 5) + 1) < 1e-12);
    /* ties: x = 1 1 2 2, y = 1 2 3 4 → ranks 1.5 1.5 3.5 3.5 vs 1 2 3 4: ρ = 0.894427 */
    double xt[] = {1, 1, 2, 2}, yt[] = {1, 2, 3, 4};
    assert_true(fabs(stats_spearman(xt, yt, 4) - 0.894427191) < 1e-8);
    assert_true(isnan(stats_spearman(x, up, 1)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mean_ci),
        cmocka_unit_test(test_ci_side),
        cmocka_unit_test(test_seeds_needed),
        cmocka_unit_test(test_spearman),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
