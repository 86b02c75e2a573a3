/* test_gemm_dnnl.c — gemm_block (lib/core/gemm.h: oneDNN's dnnl_sgemm in the float build) against
 * OpenBLAS's cblas_sgemm, and its determinism, on the classification head's shapes.
 *
 * The head (lib/loss/head_pass.c) multiplies, per block of nb classes (2048, 1024 when W's rows are
 * gathered, and the short last block), with B = 256, d = 512:
 *   G  = X W_Jᵀ        gemm_block(0, 1, B, nb, d, β = 0)
 *   dW += (∂L/∂G)ᵀ X   gemm_block(1, 0, nb, d, B, β = 1)  (β = 0 into the gather buffer)
 *   dX += (∂L/∂G) W_J  gemm_block(0, 0, B, d, nb, β = 1)
 * Each case is compared elementwise with cblas_sgemm on the same float inputs, within the
 * classical rounding bound of a length-K dot product in float: |Δ| ≤ 2·K·u·(|α| Σ_k |a_ik b_kj| +
 * |β c_ij|) per element for each library (u = 2⁻²⁴), doubled for two libraries; and the relative
 * Frobenius error ‖Δ‖/‖C‖ must stay under 1e-5 (typical float agreement is ~1e-7), so a wrong
 * transpose, a dropped β·C or a mis-strided row fails by orders of magnitude. Also leading
 * dimensions past the row (the padding neither read nor written), β = 0 over a C holding NaN
 * (BLAS semantics: C not read), and K = 0 (C = β·C).
 *
 * Determinism: the same inputs at the same thread count give bitwise identical C — called
 * threaded (outside a parallel region, 2 threads), single-threaded inside an OpenMP region the way
 * the head calls it (each thread its own product), and with the inputs and output at other
 * addresses (other alignments: malloc's addresses vary from run to run). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <cmocka.h>
#include <omp.h>

#include "core/error.h"
#include "core/gemm.h"
#include "core/rng.h"

typedef struct {
    int ta, tb, M, N, K;
    float alpha, beta;
    int pa, pb, pc; /* row padding of A, B, C */
} gcase;

typedef struct {
    float *A, *B, *C0; /* inputs; C0 the initial C */
    int lda, ldb, ldc, arows, brows;
    size_t na, nb, nc;
} gdata;

static void gdata_init(gdata *g, const gcase *c, uint64_t seed)
{
    rng_t rng;
    rng_seed(&rng, seed);
    const int acols = c->ta ? c->M : c->K, bcols = c->tb ? c->K : c->N;
    g->arows = c->ta ? c->K : c->M;
    g->brows = c->tb ? c->N : c->K;
    g->lda = acols + c->pa;
    g->ldb = bcols + c->pb;
    g->ldc = c->N + c->pc;
    g->na = (size_t)g->arows * g->lda;
    g->nb = (size_t)g->brows * g->ldb;
    g->nc = (size_t)c->M * g->ldc;
    g->A = nb_malloc((g->na + 1) * sizeof(float));
    g->B = nb_malloc((g->nb + 1) * sizeof(float));
    g->C0 = nb_malloc((g->nc + 1) * sizeof(float));
    for (size_t i = 0; i < g->na; i++) /* padding huge: reading it would show */
        g->A[i] = (int)(i % g->lda) < acols ? (float)rng_normal(&rng) : 1e30f;
    for (size_t i = 0; i < g->nb; i++)
        g->B[i] = (int)(i % g->ldb) < bcols ? (float)rng_normal(&rng) : 1e30f;
    for (size_t i = 0; i < g->nc; i++)
        g->C0[i] = (int)(i % g->ldc) >= c->N ? -7.25f : (c->beta == 0 ? NAN : (float)rng_normal(&rng));
}

static void gdata_free(gdata *g)
{
    free(g->A);
    free(g->B);
    free(g->C0);
}

static float aval(const gcase *c, const gdata *g, int i, int k)
{
    return c->ta ? g->A[(size_t)k * g->lda + i] : g->A[(size_t)i * g->lda + k];
}
static float bval(const gcase *c, const gdata *g, int k, int j)
{
    return c->tb ? g->B[(size_t)j * g->ldb + k] : g->B[(size_t)k * g->ldb + j];
}

/* gemm_block vs cblas_sgemm on one case. */
static void check_case(const gcase *c, uint64_t seed)
{
    gdata g;
    gdata_init(&g, c, seed);
    float *got = nb_malloc(g.nc * sizeof(float)), *want = nb_malloc(g.nc * sizeof(float));
    memcpy(got, g.C0, g.nc * sizeof(float));
    memcpy(want, g.C0, g.nc * sizeof(float));
    gemm_block(c->ta, c->tb, c->M, c->N, c->K, c->alpha, g.A, g.lda, g.B, g.ldb, c->beta, got, g.ldc);
    cblas_sgemm(CblasRowMajor, c->ta ? CblasTrans : CblasNoTrans, c->tb ? CblasTrans : CblasNoTrans, c->M, c->N,
                c->K, c->alpha, g.A, g.lda, g.B, g.ldb, c->beta, want, g.ldc);
    const double u = ldexp(1.0, -24);
    double d2 = 0, w2 = 0;
    for (int i = 0; i < c->M; i++)
        for (int j = 0; j < g.ldc; j++) {
            const size_t q = (size_t)i * g.ldc + j;
            if (j >= c->N) {
                if (got[q] != -7.25f)
                    fail_msg("ta=%d tb=%d M=%d N=%d K=%d: padding of C written at (%d,%d)", c->ta, c->tb, c->M, c->N,
                             c->K, i, j);
                continue;
            }
            double abs_sum = 0;
            for (int k = 0; k < c->K; k++)
                abs_sum += fabs((double)aval(c, &g, i, k) * bval(c, &g, k, j));
            const double c0 = c->beta == 0 ? 0 : fabs((double)c->beta * g.C0[q]);
            const double bound = 2 * 2.0 * (c->K + 2) * u * (fabs(c->alpha) * abs_sum + c0);
            const double diff = fabs((double)got[q] - want[q]);
            if (!(diff <= bound))
                fail_msg("ta=%d tb=%d M=%d N=%d K=%d beta=%g: C(%d,%d) = %.9g (oneDNN), %.9g (OpenBLAS), bound %.3g",
                         c->ta, c->tb, c->M, c->N, c->K, c->beta, i, j, got[q], want[q], bound);
            d2 += diff * diff;
            w2 += (double)want[q] * want[q];
        }
    if (w2 > 0 && !(sqrt(d2 / w2) <= 1e-5))
        fail_msg("ta=%d tb=%d M=%d N=%d K=%d: relative Frobenius difference %.3g", c->ta, c->tb, c->M, c->N, c->K,
                 sqrt(d2 / w2));
    free(got);
    free(want);
    gdata_free(&g);
}

/* The head's products at B = 256, d = 512: full blocks of 2048, gathered blocks of 1024, and the
 * short last block of C = 100000 (100000 mod 2048 = 1696). */
static const gcase head_cases[] = {
    {0, 1, 256, 2048, 512, 1, 0, 0, 0, 0}, {1, 0, 2048, 512, 256, 1, 1, 0, 0, 0}, {0, 0, 256, 512, 2048, 1, 1, 0, 0, 0},
    {0, 1, 256, 1024, 512, 1, 0, 0, 0, 0}, {1, 0, 1024, 512, 256, 1, 0, 0, 0, 0}, {0, 0, 256, 512, 1024, 1, 1, 0, 0, 0},
    {0, 1, 256, 1696, 512, 1, 0, 0, 0, 0}, {1, 0, 1696, 512, 256, 1, 1, 0, 0, 0}, {0, 0, 256, 512, 1696, 1, 1, 0, 0, 0},
};
enum { N_HEAD_CASES = sizeof head_cases / sizeof head_cases[0] };

static void test_head_shapes_match_openblas(void **state)
{
    (void)state;
    for (int i = 0; i < N_HEAD_CASES; i++)
        check_case(&head_cases[i], 500 + i);
}

/* Every transpose pair with β = 1 accumulation and general α, β; padded leading dimensions; β = 0
 * over NaN; awkward sizes around kernel blocks; K = 0. */
static void test_transposes_and_strides(void **state)
{
    (void)state;
    int s = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            const gcase cs[] = {
                {ta, tb, 33, 17, 65, 1, 1, 0, 0, 0},        {ta, tb, 64, 100, 25, 0.75f, 1, 3, 2, 4},
                {ta, tb, 7, 130, 9, -1.5f, 0.25f, 1, 5, 7}, {ta, tb, 256, 48, 512, 1, 0, 2, 0, 3},
                {ta, tb, 1, 13, 4, 2, 0.5f, 0, 1, 0},       {ta, tb, 13, 1, 1, 1, 0, 0, 0, 2},
                {ta, tb, 5, 6, 0, 1, 0.5f, 0, 0, 1},        {ta, tb, 5, 6, 0, 1, 0, 0, 0, 0},
            };
            for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
                check_case(&cs[i], 600 + s++);
        }
}

/* out ← C of one case through gemm_block at offset off (in floats) of A, B and C inside fresh
 * buffers. */
static void run_copy(const gcase *c, const gdata *g, int off, float *out)
{
    float *A = nb_malloc((g->na + 16) * sizeof(float)), *B = nb_malloc((g->nb + 16) * sizeof(float));
    float *C = nb_malloc((g->nc + 16) * sizeof(float));
    memcpy(A + off, g->A, g->na * sizeof(float));
    memcpy(B + off, g->B, g->nb * sizeof(float));
    memcpy(C + off, g->C0, g->nc * sizeof(float));
    gemm_block(c->ta, c->tb, c->M, c->N, c->K, c->alpha, A + off, g->lda, B + off, g->ldb, c->beta, C + off, g->ldc);
    memcpy(out, C + off, g->nc * sizeof(float));
    free(A);
    free(B);
    free(C);
}

/* The case at offset off: outside a region (region 0) on the calling thread's thread count, into
 * out0; region 1: inside an OpenMP region of 2 threads, each running the same product on its own
 * copy, into out0 and out1. A compiler without OpenMP code generation (clang with libgomp, the sanitizer build) runs the
 * region on one thread: the second copy is then computed after it, on the calling thread. */
static void run_at(const gcase *c, const gdata *g, int off, int region, float *out0, float *out1)
{
    float *outs[2] = {out0, out1};
    int ran = 0;
#pragma omp parallel num_threads(region ? 2 : 1) if (region) reduction(+ : ran)
    {
        run_copy(c, g, off, outs[omp_get_thread_num()]);
        ran++;
    }
    if (region && ran < 2)
        run_copy(c, g, off, out1);
}

static void test_bitwise_repeatable(void **state)
{
    (void)state;
    for (int i = 0; i < N_HEAD_CASES; i++) {
        const gcase *c = &head_cases[i];
        gdata g;
        gdata_init(&g, c, 700 + i);
        float *ref = nb_malloc(g.nc * sizeof(float)), *a = nb_malloc(g.nc * sizeof(float)),
              *b = nb_malloc(g.nc * sizeof(float));
        /* the head's way: single-threaded inside a region, at several alignments */
        run_at(c, &g, 0, 1, ref, b);
        if (memcmp(ref, b, g.nc * sizeof(float)))
            fail_msg("case %d: the two threads of one region computed different bits", i);
        const int offs[] = {0, 1, 3, 8, 15};
        for (size_t o = 0; o < sizeof offs / sizeof offs[0]; o++) {
            run_at(c, &g, offs[o], 1, a, b);
            if (memcmp(ref, a, g.nc * sizeof(float)) || memcmp(ref, b, g.nc * sizeof(float)))
                fail_msg("case %d: in-region result at offset %d floats differs from offset 0", i, offs[o]);
        }
        /* threaded (2 threads) outside a region: repeatable at its own thread count */
        run_at(c, &g, 0, 0, ref, NULL);
        for (size_t o = 0; o < sizeof offs / sizeof offs[0]; o++) {
            run_at(c, &g, offs[o], 0, a, NULL);
            if (memcmp(ref, a, g.nc * sizeof(float)))
                fail_msg("case %d: threaded result at offset %d floats differs from offset 0", i, offs[o]);
        }
        free(ref);
        free(a);
        free(b);
        gdata_free(&g);
    }
}

/* The identification strings run.yaml records. */
static void test_library_names(void **state)
{
    (void)state;
    assert_string_equal(nb_gemm_block_library(), "oneDNN dnnl_sgemm");
    assert_string_equal(nb_gemm_library(), "OpenBLAS cblas_sgemm");
    assert_true(strlen(nb_dnnl_isa()) > 0 && strncmp(nb_dnnl_isa(), "cpu_isa_", 8) != 0);
    assert_true(strcmp(nb_dnnl_isa(), "unknown") != 0);
    assert_true(nb_dnnl_version()[0] >= '1' && strchr(nb_dnnl_version(), '.'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_shapes_match_openblas),
        cmocka_unit_test(test_transposes_and_strides),
        cmocka_unit_test(test_bitwise_repeatable),
        cmocka_unit_test(test_library_names),
    };
    nb_set_threads(2);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
