/* test_gemm.c — the GEMM wrapper (lib/core/gemm.h) against a naive triple loop.
 *
 * Row-major C (M,N) = alpha·op(A)·op(B) + beta·C for all four transpose combinations, non-square
 * shapes, leading dimensions larger than the stored row length (the padding must be neither read
 * into the result nor written), and alpha/beta away from 0 and 1, including beta = 0 over a C
 * holding NaN (BLAS semantics: C is not read when beta = 0). In double, to 1e-12 relative. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/gemm.h"
#include "core/rng.h"

/* C = alpha·op(A)·op(B) + beta·C, naively; beta == 0 does not read C. */
static void gemm_naive(int ta, int tb, int M, int N, int K, double alpha, const real *A, int lda, const real *B,
                       int ldb, double beta, real *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
            }
            double c = beta == 0 ? 0 : beta * C[(size_t)i * ldc + j];
            C[(size_t)i * ldc + j] = (real)(alpha * s + c);
        }
}

/* Which entry the cases go through: gemm (0) or gemm_block (1; the same cblas_dgemm in this
 * double build, oneDNN's in the float build, which tests/f32/test_gemm_dnnl.c checks). */
static int g_block;

/* One case: A stored as op(A) dims with row padding pa, B with pb, C with pc. */
static void gemm_case(int ta, int tb, int M, int N, int K, double alpha, double beta, int pa, int pb, int pc,
                      uint64_t seed)
{
    rng_t rng;
    rng_seed(&rng, seed);
    const int arows = ta ? K : M, acols = ta ? M : K;
    const int brows = tb ? N : K, bcols = tb ? K : N;
    const int lda = acols + pa, ldb = bcols + pb, ldc = N + pc;
    const size_t na = (size_t)arows * lda, nb = (size_t)brows * ldb, nc = (size_t)M * ldc;
    real *A = nb_malloc(na * sizeof(real)), *B = nb_malloc(nb * sizeof(real));
    real *C = nb_malloc(nc * sizeof(real)), *R = nb_malloc(nc * sizeof(real));
    for (size_t i = 0; i < na; i++) /* the padding holds huge values: reading it would show */
        A[i] = (i % lda) < (size_t)acols ? (real)rng_normal(&rng) : (real)1e300;
    for (size_t i = 0; i < nb; i++)
        B[i] = (i % ldb) < (size_t)bcols ? (real)rng_normal(&rng) : (real)1e300;
    for (size_t i = 0; i < nc; i++) {
        int pad = (i % ldc) >= (size_t)N;
        C[i] = pad ? (real)-7.25 : (beta == 0 ? (real)NAN : (real)rng_normal(&rng));
    }
    memcpy(R, C, nc * sizeof(real));
    (g_block ? gemm_block : gemm)(ta, tb, M, N, K, (real)alpha, A, lda, B, ldb, (real)beta, C, ldc);
    gemm_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < ldc; j++) {
            const real got = C[(size_t)i * ldc + j], want = R[(size_t)i * ldc + j];
            if (j >= N) {
                if (got != (real)-7.25)
                    fail_msg("ta=%d tb=%d: padding of C written at (%d,%d)", ta, tb, i, j);
            } else if (!(fabs(got - want) <= 1e-12 * (1 + fabs(want)))) {
                fail_msg("ta=%d tb=%d M=%d N=%d K=%d: C(%d,%d) = %.17g, want %.17g", ta, tb, M, N, K, i, j, got,
                         want);
            }
        }
    }
    free(A);
    free(B);
    free(C);
    free(R);
}

static void test_gemm_all_transposes(void **state)
{
    (void)state;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            gemm_case(ta, tb, 5, 7, 3, 1.0, 0.0, 0, 0, 0, 100 + 2 * ta + tb);   /* plain */
            gemm_case(ta, tb, 7, 4, 9, 0.75, 1.0, 0, 0, 0, 110 + 2 * ta + tb);  /* accumulate */
            gemm_case(ta, tb, 6, 3, 8, -1.5, 0.25, 0, 0, 0, 120 + 2 * ta + tb); /* general α, β */
        }
}

static void test_gemm_leading_dims(void **state)
{
    (void)state;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            gemm_case(ta, tb, 4, 6, 5, 2.0, -0.5, 3, 2, 4, 130 + 2 * ta + tb);
            gemm_case(ta, tb, 9, 2, 11, 0.3, 0.0, 1, 5, 7, 140 + 2 * ta + tb);
        }
}

/* Shapes around BLAS kernel block sizes, and degenerate ones (a row, a column, K = 1). */
static void test_gemm_shapes(void **state)
{
    (void)state;
    const int shapes[][3] = {{1, 1, 1}, {1, 13, 4}, {13, 1, 4}, {6, 5, 1}, {33, 17, 65}, {64, 100, 25}, {3, 130, 7}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                gemm_case(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 1.25, 0.5, 1, 0, 2,
                          200 + 10 * s + 2 * ta + tb);
}

/* Submatrix views: A and B are blocks inside larger matrices, C a block of a larger output — the
 * way conv2d writes one batch chunk into the columns of out. */
static void test_gemm_column_block(void **state)
{
    (void)state;
    rng_t rng;
    rng_seed(&rng, 300);
    const int M = 4, K = 6, N = 5, ldc = 3 * N; /* C is the middle column block of a (M, 3N) */
    real A[4 * 6], B[6 * 5], C[4 * 15], R[4 * 15];
    for (int i = 0; i < M * K; i++)
        A[i] = (real)rng_normal(&rng);
    for (int i = 0; i < K * N; i++)
        B[i] = (real)rng_normal(&rng);
    for (int i = 0; i < M * ldc; i++)
        C[i] = R[i] = (real)rng_normal(&rng);
    gemm(0, 0, M, N, K, 1, A, K, B, N, 0, C + N, ldc);
    gemm_naive(0, 0, M, N, K, 1, A, K, B, N, 0, R + N, ldc);
    for (int i = 0; i < M * ldc; i++)
        assert_true(fabs(C[i] - R[i]) <= 1e-12 * (1 + fabs(R[i])));
}

/* Every case above through gemm_block. */
static void test_gemm_block_entry(void **state)
{
    g_block = 1;
    test_gemm_all_transposes(state);
    test_gemm_leading_dims(state);
    test_gemm_shapes(state);
    g_block = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_all_transposes),
        cmocka_unit_test(test_gemm_leading_dims),
        cmocka_unit_test(test_gemm_shapes),
        cmocka_unit_test(test_gemm_column_block),
        cmocka_unit_test(test_gemm_block_entry),
    };
    nb_set_threads(2);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
