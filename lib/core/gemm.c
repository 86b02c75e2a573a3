/* gemm.c — GEMM wrapper over OpenBLAS and (gemm_block, float build) oneDNN, and thread control;
 * see gemm.h. */
#include "core/clock.h"
#include "core/gemm.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void gemm_block(int trans_a, int trans_b, int M, int N, int K, real alpha, const real *A, int lda,
                const real *B, int ldb, real beta, real *C, int ldc)
{
#ifdef NB_DOUBLE
    gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
    if (M == 0 || N == 0)
        return;
    if (K == 0) { /* C = beta·C, as BLAS defines it, without asking oneDNN about an empty product */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] = beta == 0 ? 0 : beta * C[(size_t)i * ldc + j];
        return;
    }
    const dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb,
                                        beta, C, ldc);
    if (st != dnnl_success)
        nb_fatal("gemm: dnnl_sgemm(%c, %c, M %d, N %d, K %d, lda %d, ldb %d, ldc %d) failed: %s",
                 trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, lda, ldb, ldc, dnnl_status2str(st));
#endif
}

static double peak_gflops(int n, int block)
{
    real *a = nb_malloc((size_t)n * n * sizeof(real)), *b = nb_malloc((size_t)n * n * sizeof(real)),
         *c = nb_malloc((size_t)n * n * sizeof(real));
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (real)((i % 7) * 0.001);
        b[i] = (real)((i % 5) * 0.001);
    }
    void (*g)(int, int, int, int, int, real, const real *, int, const real *, int, real, real *, int) =
        block ? gemm_block : gemm;
    g(0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 0;
    for (int r = 0; r < 5; r++) {
        const double t0 = nb_seconds();
        g(0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
        const double sec = nb_seconds() - t0;
        double g = 2.0 * n * n * n / sec / 1e9;
        if (g > best)
            best = g;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

double gemm_peak_gflops(int n) { return peak_gflops(n, 0); }
double gemm_block_peak_gflops(int n) { return peak_gflops(n, 1); }

double gemm_parallel_gflops(int trans_a, int trans_b, int M, int N, int K, int reps)
{
    const int T = nb_get_threads();
    /* A is (M, K) or (K, M), B (K, N) or (N, K): both M·K and K·N elements, row strides below */
    const int lda = trans_a ? M : K, ldb = trans_b ? K : N;
    const size_t na = (size_t)M * K, nbk = (size_t)K * N, nc = (size_t)M * N;
    real *buf = nb_malloc((size_t)T * (na + nbk + nc) * sizeof(real));
    for (size_t i = 0; i < (size_t)T * (na + nbk + nc); i++)
        buf[i] = (real)((i % 7) * 0.001);
    double best = 0;
    for (int r = 0; r <= 5; r++) {
        const double t0 = nb_seconds();
#pragma omp parallel num_threads(T)
        {
#ifdef _OPENMP
            const size_t th = (size_t)omp_get_thread_num();
#else
            const size_t th = 0;
#endif
            real *a = buf + th * (na + nbk + nc), *b = a + na, *c = b + nbk;
            for (int q = 0; q < reps; q++)
                gemm_block(trans_a, trans_b, M, N, K, 1, a, lda, b, ldb, 1, c, N);
        }
        const double sec = nb_seconds() - t0;
        const double g = 2.0 * M * N * K * reps * T / sec / 1e9;
        if (r > 0 && g > best) /* round 0 is the warm-up */
            best = g;
    }
    free(buf);
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

const char *nb_gemm_library(void)
{
#ifdef NB_DOUBLE
    return "OpenBLAS cblas_dgemm";
#else
    return "OpenBLAS cblas_sgemm";
#endif
}

const char *nb_gemm_block_library(void)
{
#ifdef NB_DOUBLE
    return "OpenBLAS cblas_dgemm";
#else
    return "oneDNN dnnl_sgemm";
#endif
}

const char *nb_dnnl_isa(void)
{
    const char *s = dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa());
    if (!s)
        return "unknown";
    return strncmp(s, "cpu_isa_", 8) ? s : s + 8;
}

const char *nb_dnnl_version(void)
{
    static char v[32];
    if (!v[0]) {
        const dnnl_version_t *d = dnnl_version();
        snprintf(v, sizeof v, "%d.%d.%d", d->major, d->minor, d->patch);
    }
    return v;
}
