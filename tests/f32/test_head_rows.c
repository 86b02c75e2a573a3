/* test_head_rows.c — the float build's approximations in the blocked head's row kernels
 * (lib/loss/head_rows.h), which the double tests cannot see (there they are libm's exp and log1p):
 * (1) nb_expf against exp over the range the head uses, [−87, 0], and past it;
 * (2) nb_log1pf_unit against log1p over [0, 1];
 * (3) the binary losses' vectorised row (loss_binary_row_scaled: head_row_binary for the
 *     non-targets) against the scalar double-precision terms of loss_binary_row, for sphereface2's
 *     three variants with and without detach_margin and for uniface, on rows whose cosines cross
 *     every clamp (|cos| > 1 − 1e-5, cos > 1 from rounding, uniface's z beyond ±s). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/rng.h"
#include "loss/binary.h"
#include "loss/head_rows.h"
#include "loss/loss.h"
#include "nn/paramset.h"
#include "test_util.h"

static void test_expf(void **state)
{
    (void)state;
    double worst = 0;
    for (int k = 0; k <= 200000; k++) {
        const float x = -87.0f + 87.0f * (float)k / 200000;
        const double ref = exp((double)x), got = nb_expf(x);
        const double rel = fabs(got - ref) / ref;
        worst = rel > worst ? rel : worst;
    }
    if (worst > 4e-7)
        fail_msg("nb_expf: worst relative error %.3g over [-87, 0]", worst);
    assert_true(nb_expf(-100.0f) == 0.0f);
    assert_true(nb_expf(0.0f) == 1.0f);
}

static void test_log1pf_unit(void **state)
{
    (void)state;
    double worst = 0;
    assert_true(nb_log1pf_unit(0.0f) == 0.0f);
    for (int k = 1; k <= 200000; k++) {
        const float e = (float)k / 200000;
        const double ref = log1p((double)e), got = nb_log1pf_unit(e);
        const double rel = fabs(got - ref) / ref;
        worst = rel > worst ? rel : worst;
    }
    for (int k = 1; k < 40; k++) { /* tiny e (large |z|): relative accuracy kept */
        const float e = ldexpf(1.0f, -3 * k);
        const double rel = fabs(nb_log1pf_unit(e) - log1p((double)e)) / log1p((double)e);
        worst = rel > worst ? rel : worst;
    }
    if (worst > 4e-7)
        fail_msg("nb_log1pf_unit: worst relative error %.3g over [0, 1]", worst);
}

typedef struct {
    const char *name;
    loss_type type;
    loss_variant variant;
    int detach;
} bin_case;

static void check_binary_case(const bin_case *bc)
{
    enum { N = 700, D = 4, C = 50 };
    loss_config cfg;
    loss_config_defaults(&cfg, bc->type);
    if (bc->type == LOSS_SPHEREFACE2) {
        cfg.variant = bc->variant;
        cfg.detach_margin = bc->detach;
        cfg.m = bc->variant == VARIANT_M ? 1.5 : (bc->variant == VARIANT_A ? 0.3 : 0.4);
    }
    loss l;
    paramset ps = {0};
    rng_t r;
    loss_fixture_init(&l, &ps, &cfg, 4, D, C, 3, &r);
    l.bin_b[0] = bc->type == LOSS_UNIFACE ? -10.0f : -3.0f; /* uniface: z = s c − b past +s for c > 0.84 */
    rng_seed(&r, 11);
    float G[N], cs[N], a[N], b[N];
    for (int j = 0; j < N; j++) {
        cs[j] = (float)(0.5 + rng_uniform(&r));
        float c = (float)(2 * rng_uniform(&r) - 1);
        if (j % 7 == 0)
            c = (float)(1 - 1e-6 * rng_uniform(&r)); /* inside sphereface2 a/m's clamp margin */
        if (j % 11 == 0)
            c = 1.0000001f; /* a rounding past 1 */
        if (j % 13 == 0)
            c = -1.0f + 1e-6f;
        G[j] = c / cs[j];
    }
    for (int yl = -1; yl < N; yl += 233) {
        memcpy(a, G, sizeof G);
        for (int j = 0; j < N; j++) /* the reference: cosines, the scalar terms, back to ∂L/∂G */
            b[j] = G[j] * cs[j];
        double dba = 0, dbb = 0;
        const double la = loss_binary_row_scaled(&l, a, cs, N, yl, 1.0 / 8, &dba);
        const double lb = loss_binary_row(&l, b, N, yl, 1.0 / 8, &dbb);
        double mx = 0;
        for (int j = 0; j < N; j++) {
            b[j] *= cs[j];
            mx = fabs(b[j]) > mx ? fabs(b[j]) : mx;
        }
        if (fabs(la - lb) > 1e-6 * fabs(lb) + 1e-6)
            fail_msg("%s (target %d): loss %.9g vs %.9g", bc->name, yl, la, lb);
        if (fabs(dba - dbb) > 1e-5 * fabs(dbb) + 1e-7)
            fail_msg("%s (target %d): db %.9g vs %.9g", bc->name, yl, dba, dbb);
        for (int j = 0; j < N; j++)
            if (fabs(a[j] - b[j]) > 2e-6 * fabs(b[j]) + 1e-6 * mx)
                fail_msg("%s (target %d): dG[%d] %.9g vs %.9g", bc->name, yl, j, a[j], b[j]);
    }
    loss_fixture_free(&l, &ps);
}

static void test_binary_row(void **state)
{
    (void)state;
    const bin_case cases[] = {
        {"sphereface2 c", LOSS_SPHEREFACE2, VARIANT_C, 1},   {"sphereface2 c exact", LOSS_SPHEREFACE2, VARIANT_C, 0},
        {"sphereface2 a", LOSS_SPHEREFACE2, VARIANT_A, 1},   {"sphereface2 a exact", LOSS_SPHEREFACE2, VARIANT_A, 0},
        {"sphereface2 m exact", LOSS_SPHEREFACE2, VARIANT_M, 0}, {"uniface", LOSS_UNIFACE, VARIANT_C, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        check_binary_case(&cases[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expf),
        cmocka_unit_test(test_log1pf_unit),
        cmocka_unit_test(test_binary_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
