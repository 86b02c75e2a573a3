/* gemm.c — GEMM wrapper and thread control over OpenBLAS; see gemm.h. */
#include "gemm.h"

#include <cblas.h>
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
