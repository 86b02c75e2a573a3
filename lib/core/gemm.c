/* gemm.c — GEMM wrapper and thread control over OpenBLAS; see gemm.h. */
#include "core/gemm.h"

#include <cblas.h>
#include <stdlib.h>
#include <time.h>

#include "core/error.h"
#ifdef _OPENMP
#include <omp.h>
#endif

void gemm(int trans_a, int trans_b, int M, int N, int K, real alpha, const real *A, int lda,
          const real *B, int ldb, real beta, real *C, int ldc)
{
    if (M == 0 || N == 0)
        return;
#ifdef NB_DOUBLE
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

double gemm_peak_gflops(int n)
{
    real *a = nb_malloc((size_t)n * n * sizeof(real)), *b = nb_malloc((size_t)n * n * sizeof(real)),
         *c = nb_malloc((size_t)n * n * sizeof(real));
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (real)((i % 7) * 0.001);
        b[i] = (real)((i % 5) * 0.001);
    }
    gemm(0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 0;
    for (int r = 0; r < 5; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        gemm(0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        double g = 2.0 * n * n * n / sec / 1e9;
        if (g > best)
            best = g;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

static int g_threads = 1;

void nb_set_threads(int n)
{
    if (n < 1)
        n = 1;
    g_threads = n;
    openblas_set_num_threads(n);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

int nb_get_threads(void) { return g_threads; }

const char *nb_blas_config(void) { return openblas_get_config(); }
