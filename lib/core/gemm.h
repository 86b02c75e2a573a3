/* gemm.h — the one matrix-multiply wrapper (STYLE rule 7), with two entries: gemm() over OpenBLAS
 * (cblas_sgemm, or cblas_dgemm in the double build) for every caller, and gemm_block() for the
 * classification head's blocks and identification's probe × gallery cosines, over oneDNN's
 * dnnl_sgemm in the float build (cblas_dgemm in the double build, -DNB_DOUBLE, the unit tests'
 * build).
 *
 * Row-major: C (M,N) = alpha · op(A) · op(B) + beta · C, op(X) = X or Xᵀ as trans_a/trans_b say.
 * lda/ldb/ldc are the row strides of A, B, C as stored. A naive GEMM lives only in the tests.
 *
 * Why two: OpenBLAS is capped at AVX2 here (OPENBLAS_CORETYPE=Haswell, set by the environment),
 * about 110 GFLOP/s per core; dnnl_sgemm uses AVX-512 and measured about 200 GFLOP/s per core on
 * every shape of the classification head (B = 256, d = 512, blocks of 1024–2048 classes, 'N'/'T'
 * both ways, beta 0 and 1), run single-threaded by each thread of the head's OpenMP region. On
 * the small and skinny shapes of the im2col convolutions and the plain losses (M = 32, K = 25;
 * 128 × 10 × 128) threaded dnnl_sgemm measured up to 6× slower than OpenBLAS, so gemm() stays
 * OpenBLAS. dnnl_sgemm is deterministic at a fixed thread count (tests/f32/test_gemm_dnnl.c checks
 * bitwise repeatability and agreement with cblas_sgemm). It honours ONEDNN_MAX_CPU_ISA (read by
 * oneDNN itself); nb_dnnl_isa() names what it chose. */
#ifndef NB_GEMM_H
#define NB_GEMM_H

#include "core/real.h"

void gemm(int trans_a, int trans_b, int M, int N, int K, real alpha, const real *A, int lda,
          const real *B, int ldb, real beta, real *C, int ldc);
/* The same product for large blocks (the classification head's): dnnl_sgemm in the float build,
 * cblas_dgemm in the double build. Inside an OpenMP region it runs single-threaded (oneDNN does
 * not nest). A failure of oneDNN (it has none for valid arguments) is fatal. */
void gemm_block(int trans_a, int trans_b, int M, int N, int K, real alpha, const real *A, int lda,
                const real *B, int ldb, real beta, real *C, int ldc);

/* GFLOP/s of an n×n×n product through gemm() (OpenBLAS) or gemm_block() (oneDNN in the float
 * build) at the current thread count, the best of 5 after a warm-up. */
double gemm_peak_gflops(int n);
double gemm_block_peak_gflops(int n);
/* GFLOP/s of the classification head's way of multiplying: every thread of one OpenMP region
 * runs its own single-threaded gemm_block(trans_a, trans_b, M, N, K) on its own matrices
 * (beta = 1), `reps` times; the best of 5 rounds after a warm-up, total flops over wall time. */
double gemm_parallel_gflops(int trans_a, int trans_b, int M, int N, int K, int reps);

/* Threads used by OpenBLAS, oneDNN and normbench's own parallel loops (OpenMP). n ≥ 1. */
void nb_set_threads(int n);
int nb_get_threads(void);
/* OpenBLAS's version/config string, for run records. */
const char *nb_blas_config(void);
/* What gemm() and gemm_block() call: "OpenBLAS cblas_sgemm", "oneDNN dnnl_sgemm",
 * "OpenBLAS cblas_dgemm". */
const char *nb_gemm_library(void);
const char *nb_gemm_block_library(void);
/* The ISA oneDNN runs at, after ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA (dnnl_get_effective_cpu_isa:
 * "avx512_core_bf16", "avx2", …), and oneDNN's version ("2.6.3"); static strings. */
const char *nb_dnnl_isa(void);
const char *nb_dnnl_version(void);

#endif
