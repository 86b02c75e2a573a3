/* gemm.h — the one matrix-multiply wrapper (STYLE rule 7), over OpenBLAS cblas_sgemm/dgemm.
 *
 * Row-major: C (M,N) = alpha · op(A) · op(B) + beta · C, op(X) = X or Xᵀ as trans_a/trans_b say.
 * lda/ldb/ldc are the row strides of A, B, C as stored. A naive GEMM lives only in the tests. */
#ifndef NB_GEMM_H
#define NB_GEMM_H

#include "core/real.h"

void gemm(int trans_a, int trans_b, int M, int N, int K, real alpha, const real *A, int lda,
          const real *B, int ldb, real beta, real *C, int ldc);

/* The machine's limit for benchmarks: GFLOP/s of an n×n×n product through gemm() at the current
 * thread count, the best of 5 after a warm-up. */
double gemm_peak_gflops(int n);

/* Threads used by OpenBLAS and by normbench's own parallel loops (OpenMP). n ≥ 1. */
void nb_set_threads(int n);
int nb_get_threads(void);
/* OpenBLAS's version/config string, for run records. */
const char *nb_blas_config(void);

#endif
