/* head.c — the blocked classification head, sampled softmax (Partial FC) and bf16 storage;
 * the algorithm and its memory are described in head.h. The loss definitions (target logit,
 * margins, clamps, SphereFace's ψ and λ) are normface.c's, called per element; this file only
 * reorganises the computation of softmax.c and normface.c, and the tests
 * (tests/test_head.c) check it against them to ~1e-10 in double for every type and option.
 *
 * Notation as in normface.c: z_ij = a_i u_ij (+ b_j for softmax, l2softmax), with
 *   softmax    X = f,  a = 1, u_ij = G_ij = x_i·w_j
 *   l2softmax  X = f̂,  a = α, u_ij = G_ij
 *   angular    X = f̂,  a = s (‖f_i‖ for sphereface), c_ij = G_ij / ‖w_j‖ = cos θ_ij, u_ij = c_ij off
 *              target and φ(c_iy) on target.
 * The normalisation of w_j is never materialised: Ŵ_J X-products are G scaled by column, and its
 * exact backward ∂L/∂w_j = (∂L/∂ŵ_j − ŵ_j ⟨ŵ_j, ∂L/∂ŵ_j⟩)/‖w_j‖ becomes
 *   ∂L/∂w_j += T_j − κ_j w_j,  T = (∂L/∂c ./ ‖w‖)ᵀ X (one GEMM),  κ_j = ⟨T_j, w_j⟩ / ‖w_j‖²
 * (⟨T_j, w_j⟩ = Σ_i ∂L/∂c_ij c_ij), so no (C, d) copy of Ŵ or ∂L/∂Ŵ and no (B, C) buffer beyond
 * the block's. ‖w_j‖ carries rowops.h's ε like the plain path.
 *
 * Exponentials: exp in the double build, nb_expf below in the float build (arguments ≤ 0 after the
 * max is subtracted; sums accumulated in double). Threads split the blocks (see the forward pass);
 * every merge is in thread order, so a run is deterministic for a thread count. */
/* FP exceptions are never inspected in normbench; without this GCC will not if-convert the
 * selects in nb_expf and the row kernels stay scalar. It changes no result (unlike -ffast-math,
 * which this project does not use): IEEE semantics, rounding and NaN/Inf handling are unchanged. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "loss/head.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/bf16.h"
#include "core/error.h"
#include "core/gemm.h"
#include "loss/normface.h"
#include "loss/rowops.h"
#include "loss/table.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* exp of the logits. The double build (tests) uses libm's exp. The float build uses nb_expf, an
 * inlinable exp the compiler can vectorise (libm's expf is a call per element and was half the
 * head's non-GEMM time): exp(x) = 2^n exp(r), n the integer nearest x / ln 2 (rounded by adding
 * 1.5·2^23), r = x − n ln 2 with ln 2 split in two (Cody–Waite) so r is exact, exp(r) on
 * |r| ≤ ln(2)/2 by its degree-7 Taylor polynomial (truncation < 6e-9 relative), 2^n added to the
 * exponent bits. Accurate to about 1 ulp; arguments below −87 (results under float's smallest
 * normal, 1.2e-38) give 0 and above 88 are clamped — the head only takes exp of z − max ≤ 0. */
#ifdef NB_DOUBLE
#define REXP exp
#else
#define REXP nb_expf
static inline float nb_expf(float x)
{
    const float shifter = 12582912.0f; /* 1.5 · 2^23, bits 0x4b400000 */
    float xc = x > 88.0f ? 88.0f : x;
    xc = xc < -87.0f ? -87.0f : xc;
    const float t = xc * 1.44269504088896341f + shifter;
    const float nf = t - shifter;
    const float r = (xc - nf * 0.693145751953125f) - nf * 1.42860682030941723e-6f;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t tu, pu;
    memcpy(&tu, &t, sizeof tu);
    memcpy(&pu, &p, sizeof pu);
    pu += (tu - 0x4b400000u) << 23;
    float y;
    memcpy(&y, &pu, sizeof y);
    return x < -87.0f ? 0.0f : y;
}
#endif

/* ---- row kernels (one row of a block; `omp simd` lets the compiler vectorise them) ----
 * Each is compiled twice, for AVX2 and for the x86-64 baseline (SSE2), and the loader picks one
 * for the CPU (GCC's target_clones); the vector width only changes the order of the simd sums. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NB_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NB_SIMD_CLONES
#endif

/* z_j = a · G_j · cs_j (angular: cs = 1/‖w_j‖), or a · G_j + bb_j (softmax family; bb may be NULL). */
NB_SIMD_CLONES static void row_logits(real *row, int nb, real a, const real *cs, const real *bb)
{
    if (cs) {
#pragma omp simd
        for (int j = 0; j < nb; j++)
            row[j] = a * (row[j] * cs[j]);
    } else if (bb) {
#pragma omp simd
        for (int j = 0; j < nb; j++)
            row[j] = a * row[j] + bb[j];
    } else {
#pragma omp simd
        for (int j = 0; j < nb; j++)
            row[j] = a * row[j];
    }
}

NB_SIMD_CLONES static real row_max(const real *row, int nb)
{
    real m = row[0];
#pragma omp simd reduction(max : m)
    for (int j = 1; j < nb; j++)
        m = row[j] > m ? row[j] : m;
    return m;
}

/* Σ_j exp(z_j − mx), accumulated in double. */
NB_SIMD_CLONES static double row_sumexp(const real *row, int nb, real mx)
{
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < nb; j++)
        s += (double)REXP(row[j] - mx);
    return s;
}

/* Pass 2, every element as a non-target: z_j as row_logits, ∂L/∂z_j = g·exp(z_j − lse) with
 * lse = lse_hi + lse_lo (split so the subtraction stays exact in float), row ← ∂L/∂G_j
 * (a ∂L/∂z_j · cs_j, or a ∂L/∂z_j); returns Σ_j ∂L/∂z_j u_j (u_j = G_j cs_j, or G_j). */
NB_SIMD_CLONES static double row_grad(real *row, int nb, real a, const real *cs, const real *bb, real lse_hi, real lse_lo, real g)
{
    double zdot = 0;
    if (cs) {
#pragma omp simd reduction(+ : zdot)
        for (int j = 0; j < nb; j++) {
            const real u = row[j] * cs[j];
            const real dz = g * REXP((a * u - lse_hi) - lse_lo);
            zdot += (double)(dz * u);
            row[j] = (a * dz) * cs[j];
        }
    } else if (bb) {
#pragma omp simd reduction(+ : zdot)
        for (int j = 0; j < nb; j++) {
            const real u = row[j];
            const real dz = g * REXP(((a * u + bb[j]) - lse_hi) - lse_lo);
            zdot += (double)(dz * u);
            row[j] = a * dz;
        }
    } else {
#pragma omp simd reduction(+ : zdot)
        for (int j = 0; j < nb; j++) {
            const real u = row[j];
            const real dz = g * REXP((a * u - lse_hi) - lse_lo);
            zdot += (double)(dz * u);
            row[j] = a * dz;
        }
    }
    return zdot;
}

/* per-row doubles in h->rowd */
enum { R_MAX, R_SUM, R_LSE, R_ZY, R_TU, R_TDU, R_ZDOT, R_A, R_COUNT };
/* per-thread, per-row doubles in h->rowt: running max and sum of pass 1, Σ ∂L/∂z u of pass 2, the
 * best prediction score so far and its class */
enum { T_MAX, T_SUM, T_ZDOT, T_BEST, T_ARG, T_COUNT };

/* Predictions (loss_head_predict, and the training predictions of pass 1): the argmax of the plain
 * path's score. For class j in a row of G = X W_Jᵀ it is cos θ_j = G_j · cs_j for the angular
 * losses (cs = 1/‖w_j‖; the same argmax as s cos θ_j), else the logit a·G_j + b_j (bb the biases,
 * may be NULL) computed in double and rounded to real once. row_pred_max returns a row's largest
 * score, skipping NaN as `>` does (−∞ when every score is NaN or −∞); a maximum is exact, so
 * vectorising it changes nothing. */
NB_SIMD_CLONES static real row_pred_max(const real *row, int nb, double a, const real *cs, const real *bb)
{
    real m = -INFINITY;
    if (cs) {
#pragma omp simd reduction(max : m)
        for (int j = 0; j < nb; j++) {
            const real v = row[j] * cs[j];
            m = v > m ? v : m;
        }
    } else if (bb) {
#pragma omp simd reduction(max : m)
        for (int j = 0; j < nb; j++) {
            const real v = (real)(a * (double)row[j] + (double)bb[j]);
            m = v > m ? v : m;
        }
    } else {
#pragma omp simd reduction(max : m)
        for (int j = 0; j < nb; j++) {
            const real v = (real)(a * (double)row[j]);
            m = v > m ? v : m;
        }
    }
    return m;
}

/* m[T_BEST], m[T_ARG]: a row's best score so far and its class, replaced by the block's first
 * column of largest score only when that score is strictly larger. A thread visits its blocks in
 * increasing class order, so a tie keeps the lowest class; merge_pred keeps it across threads.
 * The block's columns are classes cls[j0 + j] (cls NULL: j0 + j). */
static void row_pred_update(double *m, const real *row, int nb, double a, const real *cs, const real *bb,
                            const int *cls, int j0)
{
    const real best = row_pred_max(row, nb, a, cs, bb);
    if (!(best > m[T_BEST]))
        return;
    for (int j = 0; j < nb; j++) {
        const real v = cs   ? row[j] * cs[j]
                       : bb ? (real)(a * (double)row[j] + (double)bb[j])
                            : (real)(a * (double)row[j]);
        if (v == best) {
            m[T_BEST] = best;
            m[T_ARG] = cls ? cls[j0 + j] : j0 + j;
            return;
        }
    }
}

/* pred[i] = the class of the largest best score over the threads' slots, ties to the lowest class:
 * with the in-thread rule above, the lowest class of the largest score whatever the thread count. */
static void merge_pred(const loss_head *h, int *pred, int B, int used)
{
    for (int i = 0; i < B; i++) {
        const double *m0 = h->rowt + (size_t)i * T_COUNT;
        double bv = m0[T_BEST], bc = m0[T_ARG];
        for (int th = 1; th < used; th++) {
            const double *m = h->rowt + ((size_t)th * B + i) * T_COUNT;
            if (m[T_BEST] > bv || (m[T_BEST] == bv && m[T_ARG] < bc)) {
                bv = m[T_BEST];
                bc = m[T_ARG];
            }
        }
        pred[i] = (int)bc;
    }
}

static int is_angular(loss_type t) { return t != LOSS_SOFTMAX && t != LOSS_L2SOFTMAX; }

/* Threads that will run the block loops (nb_set_threads sets OpenMP's count). */
static int head_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int thread_num(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int thread_count(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* Classes per block when W's rows are gathered into wb. */
static int gather_block(const loss_head *h)
{
    return h->block_cap < LOSS_HEAD_GATHER_BLOCK ? h->block_cap : LOSS_HEAD_GATHER_BLOCK;
}

static void free_buffers(loss_head *h)
{
    free(h->x);
    free(h->xnorm);
    free(h->rowd);
    free(h->ty);
    free(h->wnorm);
    free(h->z);
    free(h->cs);
    free(h->col);
    free(h->rowt);
    free(h->dx);
    free(h->wb);
    h->x = h->xnorm = h->wnorm = h->z = h->cs = h->dx = h->wb = NULL;
    h->rowd = h->col = h->rowt = NULL;
    h->ty = NULL;
}

/* (Re)allocates the per-step buffers for blocks of `block` classes and T threads. The gather
 * buffers (wb, one per thread) and the sampler's arrays are allocated on first use, so a dense
 * float32 head never holds them. */
static void head_buffers(loss *l, loss_head *h, int block, int T)
{
    const size_t B = (size_t)h->max_batch, d = (size_t)l->dim, C = (size_t)l->num_classes;
    const size_t cap = (size_t)(block < l->num_classes ? block : l->num_classes), t = (size_t)T;
    const int gather = h->wb != NULL;
    free_buffers(h);
    h->block = block;
    h->block_cap = (int)cap;
    h->threads = T;
    h->x = nb_calloc(B * d, sizeof(real));
    h->xnorm = nb_calloc(B, sizeof(real));
    h->rowd = nb_calloc(B * R_COUNT, sizeof(double));
    h->ty = nb_calloc(B, sizeof(int));
    h->wnorm = nb_calloc(C, sizeof(real));
    h->z = nb_calloc(t * B * cap, sizeof(real));
    h->cs = nb_calloc(t * cap, sizeof(real));
    h->col = nb_calloc(t * cap, sizeof(double));
    h->rowt = nb_calloc(t * B * T_COUNT, sizeof(double));
    h->dx = nb_calloc(t * B * d, sizeof(real));
    h->bytes = (B * d + B + C + t * (B * cap + cap + B * d)) * sizeof(real) +
               (B * R_COUNT + t * (cap + T_COUNT * B)) * sizeof(double) + B * sizeof(int);
    if (h->perm)
        h->bytes += C * (2 * sizeof(int) + 1);
    if (gather) {
        const size_t gb = (size_t)gather_block(h);
        h->wb = nb_calloc(t * gb * d, sizeof(real));
        h->bytes += t * gb * d * sizeof(real);
    }
}

static void ensure_gather(const loss *l, loss_head *h)
{
    if (h->wb)
        return;
    const size_t n = (size_t)h->threads * (size_t)gather_block(h) * (size_t)l->dim;
    h->wb = nb_calloc(n, sizeof(real));
    h->bytes += n * sizeof(real);
}

/* Per-thread buffers for the current thread count; the gather buffers when W must be copied. */
static void ensure_buffers(loss *l, loss_head *h, int gather)
{
    const int T = head_threads();
    if (T != h->threads)
        head_buffers(l, h, h->block, T);
    if (gather)
        ensure_gather(l, h);
}

static void ensure_sampler(const loss *l, loss_head *h)
{
    if (h->perm)
        return;
    const int C = l->num_classes;
    h->perm = nb_malloc((size_t)C * sizeof(int));
    h->classes = nb_malloc((size_t)C * sizeof(int));
    h->mark = nb_calloc((size_t)C, 1);
    for (int c = 0; c < C; c++)
        h->perm[c] = c;
    h->bytes += (size_t)C * (2 * sizeof(int) + 1);
}

void loss_head_init(loss *l, int max_batch)
{
    loss_head *h = nb_calloc(1, sizeof *h);
    l->head = h;
    h->max_batch = max_batch > 0 ? max_batch : 1;
    h->use = l->num_classes > LOSS_HEAD_PLAIN_MAX_C || l->cfg.sample_rate < 1 || l->cfg.head_dtype == HEAD_BF16;
    head_buffers(l, h, LOSS_HEAD_BLOCK, head_threads());
}

void loss_head_bind(loss *l, rng_t *rng)
{
    if (l->head)
        rng_fork(&l->head->rng, rng, 0x7061727469616cULL); /* "partial" */
}

void loss_head_configure(loss *l, int block, int use)
{
    loss_head *h = l->head;
    if (!h || block < 1)
        nb_fatal("loss_head_configure: no head, or block %d < 1", block);
    if (!use && (l->cfg.head_dtype == HEAD_BF16 || l->cfg.sample_rate < 1))
        nb_fatal("loss_head_configure: bf16 storage and sampling need the blocked head");
    head_buffers(l, h, block, head_threads());
    h->use = use;
}

void loss_head_free(loss *l)
{
    loss_head *h = l->head;
    if (!h)
        return;
    free_buffers(h);
    free(h->classes);
    free(h->perm);
    free(h->mark);
    free(h);
    l->head = NULL;
}

/* ---- sampling (Partial FC) ---- */

/* Class set = distinct labels ∪ uniformly random other classes, ceil(r·C) in all (only the labels
 * when they are more); partial Fisher–Yates over the persistent permutation, skipping labels; then
 * read out in increasing class order. */
int loss_head_sample(loss *l, const int *labels, int B)
{
    loss_head *h = l->head;
    if (!h)
        nb_fatal("loss_head_sample: loss type %s has no classification head", loss_type_name(l->cfg.type));
    ensure_sampler(l, h);
    const int C = l->num_classes;
    double kd = ceil(l->cfg.sample_rate * (double)C);
    const int k = kd < 1 ? 1 : (kd > C ? C : (int)kd);
    int npos = 0;
    for (int i = 0; i < B; i++)
        if (!h->mark[labels[i]]) {
            h->mark[labels[i]] = 1;
            npos++;
        }
    const int want = k - npos;
    int got = 0;
    for (int t = 0; got < want && t < C; t++) {
        const int j = t + (int)rng_below(&h->rng, (uint64_t)(C - t));
        const int c = h->perm[j];
        h->perm[j] = h->perm[t];
        h->perm[t] = c;
        if (!h->mark[c]) {
            h->mark[c] = 2;
            got++;
        }
    }
    int n = 0;
    for (int c = 0; c < C; c++)
        if (h->mark[c]) {
            h->classes[n++] = c;
            h->mark[c] = 0;
        }
    h->n_classes = n;
    h->sampled = 1;
    if (l->ps && l->w_idx >= 0 && l->ps->t[l->w_idx].row_len)
        paramset_set_rows(l->ps, l->w_idx, h->classes, n);
    if (l->ps && l->b_idx >= 0 && l->ps->t[l->b_idx].row_len)
        paramset_set_rows(l->ps, l->b_idx, h->classes, n);
    return n;
}

const int *loss_head_classes(const loss *l, int *n)
{
    const loss_head *h = l->head;
    *n = h && h->classes ? h->n_classes : 0;
    return h && h->classes ? h->classes : NULL;
}

/* ---- blocks (each called by the one thread that owns the block) ---- */

/* Rows cls[j0 .. j0+nb) of W (cls NULL: rows j0 .. j0+nb) as real (nb, d): W itself when stored in
 * float and contiguous, else gathered / widened into the thread's wb. */
static const real *block_rows(const loss *l, real *wb, const int *cls, int j0, int nb)
{
    const int d = l->dim;
    if (!cls && l->W)
        return l->W + (size_t)j0 * d;
    for (int j = 0; j < nb; j++) {
        const size_t r = (size_t)(cls ? cls[j0 + j] : j0 + j);
        real *dst = wb + (size_t)j * d;
        if (l->W) {
            memcpy(dst, l->W + r * d, (size_t)d * sizeof(real));
        } else {
            const uint16_t *src = l->W16 + r * d;
            for (int k = 0; k < d; k++)
                dst[k] = (real)bf16_to_float(src[k]);
        }
    }
    return wb;
}

/* ⟨a, b⟩ over d values, in double. */
NB_SIMD_CLONES static double dot_d(const real *a, const real *b, int d)
{
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int k = 0; k < d; k++)
        s += (double)a[k] * b[k];
    return s;
}

/* Per-block vector cs: 1/‖w_j‖ with ‖w_j‖ = sqrt(Σ w² + ε) also stored in wn (angular), or the
 * biases of the block's classes (softmax family with bias); NULL when neither applies. */
static real *block_vector(const loss *l, real *cs, real *wn, const real *wb, const int *cls, int j0, int nb)
{
    const int d = l->dim;
    if (is_angular(l->cfg.type)) {
        for (int j = 0; j < nb; j++) {
            const double nrm = sqrt(dot_d(wb + (size_t)j * d, wb + (size_t)j * d, d) + NB_NORM_EPS);
            wn[j] = (real)nrm;
            cs[j] = (real)(1.0 / wn[j]);
        }
        return cs;
    }
    if (l->b) {
        for (int j = 0; j < nb; j++)
            cs[j] = l->b[cls ? cls[j0 + j] : j0 + j];
        return cs;
    }
    return NULL;
}

/* The scale a of the logits (a_i for sphereface is ‖f_i‖, set per row). */
static double head_scale(const loss *l)
{
    if (l->cfg.type == LOSS_SOFTMAX)
        return 1;
    if (l->cfg.type == LOSS_L2SOFTMAX)
        return l->scale ? (double)l->scale[0] : l->cfg.alpha;
    return l->scale ? (double)l->scale[0] : l->cfg.s;
}

/* X (f or f̂), ‖f‖ and a_i for the batch. */
static const real *head_inputs(const loss *l, loss_head *h, const real *feat, int B)
{
    const loss_type t = l->cfg.type;
    const int d = l->dim;
    const real *X = feat;
    if (t != LOSS_SOFTMAX) {
        loss_l2_normalize_rows(h->x, h->xnorm, feat, B, d);
        X = h->x;
    }
    const double a = head_scale(l);
    for (int i = 0; i < B; i++)
        h->rowd[(size_t)i * R_COUNT + R_A] = t == LOSS_SPHEREFACE ? (double)h->xnorm[i] : a;
    return X;
}

/* ---- forward and backward ----
 * Each pass is one OpenMP region: thread t takes blocks t, t + T, t + 2T, … and runs their GEMMs
 * single-threaded (OpenBLAS does so inside a parallel region) and their row kernels, keeping its
 * own running max/sum, Σ ∂L/∂z·u and ∂L/∂X (and, when predictions are asked for, each row's best
 * score and class); the rows of ∂L/∂W and ∂L/∂b of a block are its own.
 * The per-thread values are merged after the region in thread order. Two synchronisations per
 * pass instead of several per block: on a shared machine a barrier waits for a descheduled
 * thread, and that, not arithmetic, dominated the per-block version. */

double loss_head_forward_backward(loss *l, real *dfeat, real *per_sample, int *pred, const real *feat,
                                  const int *labels, int B, long iter)
{
    loss_head *h = l->head;
    const loss_type t = l->cfg.type;
    const int d = l->dim, ang = is_angular(t), sphere = t == LOSS_SPHEREFACE;
    if (B > h->max_batch)
        nb_fatal("loss_head_forward_backward: batch %d larger than max_batch %d", B, h->max_batch);
    const int *cls = h->sampled ? h->classes : NULL;
    const int n = cls ? h->n_classes : l->num_classes;
    h->sampled = 0;
    const int gather = cls || !l->W;
    ensure_buffers(l, h, gather);
    const int block = gather ? gather_block(h) : h->block_cap, nblk = (n + block - 1) / block, T = h->threads;
    const int in_place = !cls && l->dW; /* ∂L/∂W rows of a block are contiguous float rows */
    const double lambda = sphere ? loss_sphereface_lambda(&l->cfg, iter) : 0;
    if (sphere)
        l->lambda = lambda;

    for (int i = 0; i < B; i++) {
        int y = labels[i];
        if (cls) {
            int lo = 0, hi = n - 1;
            y = -1;
            while (lo <= hi) {
                const int mid = (lo + hi) / 2;
                if (cls[mid] == labels[i]) {
                    y = mid;
                    break;
                }
                if (cls[mid] < labels[i])
                    lo = mid + 1;
                else
                    hi = mid - 1;
            }
            if (y < 0)
                nb_fatal("loss_head_forward_backward: label %d of sample %d is not in the sampled classes", labels[i],
                         i);
        }
        h->ty[i] = y;
    }
    const real *X = head_inputs(l, h, feat, B);
    real *wn = h->wnorm;
    const size_t zs = (size_t)B * block, ws = (size_t)block * d, xs = (size_t)B * d;
    const double ap = head_scale(l); /* the prediction score's a (softmax family) */
    for (size_t k = 0; k < (size_t)T * B; k++) {
        double *m = h->rowt + k * T_COUNT;
        m[T_MAX] = -INFINITY;
        m[T_SUM] = m[T_ZDOT] = 0;
        m[T_BEST] = -INFINITY;
        m[T_ARG] = cls ? cls[0] : 0;
    }
    int used = 1; /* threads the regions actually ran with */

    /* pass 1: logits block by block, running max and sum per thread, the target logit; with pred,
     * each row's best prediction score and class per thread, from G before the logits replace it */
#pragma omp parallel num_threads(T)
    {
        const int th = thread_num(), nt = thread_count();
        if (th == 0)
            used = nt;
        real *z = h->z + th * zs, *cs = h->cs + (size_t)th * block, *wbuf = h->wb ? h->wb + th * ws : NULL;
        double *rt = h->rowt + (size_t)th * B * T_COUNT;
        for (int k = th; k < nblk; k += nt) {
            const int j0 = k * block, nb = n - j0 < block ? n - j0 : block;
            const real *wb = block_rows(l, wbuf, cls, j0, nb);
            real *v = block_vector(l, cs, wn + j0, wb, cls, j0, nb);
            gemm(0, 1, B, nb, d, 1, X, d, wb, d, 0, z, nb);
            for (int i = 0; i < B; i++) {
                real *row = z + (size_t)i * nb;
                double *r = h->rowd + (size_t)i * R_COUNT, *m = rt + (size_t)i * T_COUNT;
                const real a = (real)r[R_A];
                const int yl = h->ty[i] - j0, has_y = yl >= 0 && yl < nb;
                const real gy = has_y ? row[yl] : 0;
                if (pred)
                    row_pred_update(m, row, nb, ap, ang ? v : NULL, ang ? NULL : v, cls, j0);
                row_logits(row, nb, a, ang ? v : NULL, ang ? NULL : v);
                if (has_y) { /* the target logit: a·φ(cos θ_y) (angular), as is otherwise */
                    double u = gy, du = 1;
                    if (ang) {
                        u = loss_angular_target_u(l, (double)(real)(gy * v[yl]), lambda, &du);
                        row[yl] = (real)(a * u);
                    }
                    r[R_ZY] = row[yl];
                    r[R_TU] = u;
                    r[R_TDU] = du;
                }
                /* online softmax: rescale the running sum when the running max grows */
                const double bm = row_max(row, nb);
                if (bm > m[T_MAX]) {
                    m[T_SUM] *= exp(m[T_MAX] - bm);
                    m[T_MAX] = bm;
                }
                m[T_SUM] += row_sumexp(row, nb, (real)m[T_MAX]);
            }
        }
    }
    double total = 0;
    for (int i = 0; i < B; i++) {
        double mx = -INFINITY, sum = 0;
        for (int th = 0; th < used; th++)
            if (h->rowt[((size_t)th * B + i) * T_COUNT + T_MAX] > mx)
                mx = h->rowt[((size_t)th * B + i) * T_COUNT + T_MAX];
        for (int th = 0; th < used; th++) {
            const double *m = h->rowt + ((size_t)th * B + i) * T_COUNT;
            if (m[T_MAX] > -INFINITY)
                sum += m[T_SUM] * exp(m[T_MAX] - mx);
        }
        double *r = h->rowd + (size_t)i * R_COUNT;
        r[R_LSE] = mx + log(sum);
        const double ce = r[R_LSE] - r[R_ZY];
        total += ce;
        if (per_sample)
            per_sample[i] = (real)ce;
    }
    if (pred)
        merge_pred(h, pred, B, used);

    /* pass 2: the logits again, ∂L/∂z, ∂L/∂G, then ∂L/∂W rows and ∂L/∂X by GEMM */
    const double g = 1.0 / B;
    const int need_dx = dfeat != NULL;
    if (need_dx)
        memset(h->dx, 0, (size_t)T * xs * sizeof(real));
#pragma omp parallel num_threads(T)
    {
        const int th = thread_num(), nt = thread_count();
        real *z = h->z + th * zs, *cs = h->cs + (size_t)th * block, *wbuf = h->wb ? h->wb + th * ws : NULL;
        real *dX = h->dx + th * xs;
        double *rt = h->rowt + (size_t)th * B * T_COUNT, *col = h->col + (size_t)th * block;
        for (int k = th; k < nblk; k += nt) {
            const int j0 = k * block, nb = n - j0 < block ? n - j0 : block;
            const real *wb = block_rows(l, wbuf, cls, j0, nb);
            real *v = block_vector(l, cs, wn + j0, wb, cls, j0, nb);
            gemm(0, 1, B, nb, d, 1, X, d, wb, d, 0, z, nb);
            for (int i = 0; i < B; i++) {
                real *row = z + (size_t)i * nb;
                const double *r = h->rowd + (size_t)i * R_COUNT;
                const real a = (real)r[R_A];
                const double lse = r[R_LSE];
                const real lse_hi = (real)lse, lse_lo = (real)(lse - (double)lse_hi);
                const int yl = h->ty[i] - j0, has_y = yl >= 0 && yl < nb;
                const real gy = has_y ? row[yl] : 0;
                double zdot = row_grad(row, nb, a, ang ? v : NULL, ang ? NULL : v, lse_hi, lse_lo, (real)g);
                if (has_y) {
                    /* replace the target's non-target terms: ∂L/∂z_y = g (exp(z_y − lse) − 1), through
                     * φ'(cos θ_y) for the angular losses */
                    const real u0 = ang ? gy * v[yl] : gy;
                    const real z0 = ang ? a * u0 : (v ? a * u0 + v[yl] : a * u0);
                    const real dz0 = (real)g * REXP((z0 - lse_hi) - lse_lo);
                    const double dz = g * (exp(r[R_ZY] - lse) - 1.0);
                    zdot += dz * r[R_TU] - (double)(dz0 * u0);
                    row[yl] = (real)(ang ? a * dz * r[R_TDU] * v[yl] : a * dz);
                }
                rt[(size_t)i * T_COUNT + T_ZDOT] += zdot;
            }
            /* ∂L/∂b_j = Σ_i ∂L/∂z_ij = Σ_i (∂L/∂G_ij) / a */
            if (!ang && l->db) {
                const double a = head_scale(l);
                for (int j = 0; j < nb; j++)
                    col[j] = 0;
                for (int i = 0; i < B; i++) {
                    const real *row = z + (size_t)i * nb;
                    for (int j = 0; j < nb; j++)
                        col[j] += row[j];
                }
                for (int j = 0; j < nb; j++)
                    l->db[cls ? cls[j0 + j] : j0 + j] += (real)(col[j] / a);
            }
            /* ∂L/∂X += (∂L/∂G) W_J (this thread's share) */
            if (need_dx)
                gemm(0, 0, B, d, nb, 1, z, nb, wb, d, 1, dX, d);
            /* ∂L/∂W_J += T − κ_j w_j with T = (∂L/∂G)ᵀ X, κ_j = ⟨T_j, w_j⟩ / ‖w_j‖² for the normalised
             * losses (0 otherwise). In place, T lands on top of what the rows held, so ⟨T_j, w_j⟩ is
             * the dot after minus the dot before (the rows are zero in a training step). */
            if (in_place) {
                real *dw = l->dW + (size_t)j0 * d;
                if (ang)
                    for (int j = 0; j < nb; j++)
                        col[j] = dot_d(dw + (size_t)j * d, wb + (size_t)j * d, d);
                gemm(1, 0, nb, d, B, 1, z, nb, X, d, 1, dw, d);
                if (ang)
                    for (int j = 0; j < nb; j++) {
                        const real *w = wb + (size_t)j * d;
                        real *o = dw + (size_t)j * d;
                        const double wj = wn[j0 + j];
                        const real kj = (real)((dot_d(o, w, d) - col[j]) / (wj * wj));
                        for (int q = 0; q < d; q++)
                            o[q] -= kj * w[q];
                    }
            } else {
                /* T into the gather buffer (its W rows are no longer needed: the correction reads W) */
                real *tb = wbuf;
                gemm(1, 0, nb, d, B, 1, z, nb, X, d, 0, tb, d);
                for (int j = 0; j < nb; j++) {
                    const size_t rw = (size_t)(cls ? cls[j0 + j] : j0 + j);
                    real *tj = tb + (size_t)j * d;
                    if (ang) {
                        const double wj = wn[j0 + j];
                        double dt = 0;
                        if (l->W) {
                            dt = dot_d(tj, l->W + rw * d, d);
                        } else {
                            for (int q = 0; q < d; q++)
                                dt += (double)tj[q] * bf16_to_float(l->W16[rw * d + q]);
                        }
                        const real kj = (real)(dt / (wj * wj));
                        for (int q = 0; q < d; q++)
                            tj[q] -= kj * (l->W ? l->W[rw * d + q] : (real)bf16_to_float(l->W16[rw * d + q]));
                    }
                    if (l->dW) {
                        real *o = l->dW + rw * d;
                        for (int q = 0; q < d; q++)
                            o[q] += tj[q];
                    } else {
                        uint16_t *o = l->dW16 + rw * d;
                        for (int q = 0; q < d; q++)
                            o[q] = bf16_from_float((float)(bf16_to_float(o[q]) + tj[q]));
                    }
                }
            }
        }
    }

    /* merge the threads' ∂L/∂X and Σ ∂L/∂z u; scalars; ∂L/∂f through the normalisation */
    double zsum = 0;
    for (int i = 0; i < B; i++) {
        double zd = 0;
        for (int th = 0; th < used; th++)
            zd += h->rowt[((size_t)th * B + i) * T_COUNT + T_ZDOT];
        h->rowd[(size_t)i * R_COUNT + R_ZDOT] = zd;
        zsum += zd;
    }
    if (l->dscale)
        l->dscale[0] += (real)zsum; /* ∂L/∂s or ∂L/∂α = Σ_ij ∂L/∂z_ij u_ij */
    if (!dfeat)
        return total / B;
    real *dX = h->dx;
    for (int th = 1; th < used; th++)
        for (size_t k = 0; k < xs; k++)
            dX[k] += h->dx[th * xs + k];
    if (t == LOSS_SOFTMAX) {
        for (size_t k = 0; k < xs; k++)
            dfeat[k] += dX[k];
        return total / B;
    }
    loss_l2_normalize_backward(dfeat, dX, h->x, h->xnorm, B, d);
    if (sphere) /* ∂L/∂‖f_i‖ = Σ_j ∂L/∂z_ij u_ij, along f̂_i */
        for (int i = 0; i < B; i++) {
            const double da = h->rowd[(size_t)i * R_COUNT + R_ZDOT];
            for (int k = 0; k < d; k++)
                dfeat[(size_t)i * d + k] += (real)(da * h->x[(size_t)i * d + k]);
        }
    return total / B;
}

/* ---- prediction ---- */

void loss_head_predict(const loss *l, int *pred, const real *feat, int B)
{
    loss_head *h = l->head;
    ensure_buffers((loss *)l, h, !l->W);
    const int d = l->dim, C = l->num_classes, ang = is_angular(l->cfg.type), T = h->threads;
    const int block = l->W ? h->block_cap : gather_block(h);
    const int nblk = (C + block - 1) / block;
    const real *X = head_inputs(l, h, feat, B);
    const double a = head_scale(l);
    const size_t zs = (size_t)B * block, ws = (size_t)block * d;
    for (size_t k = 0; k < (size_t)T * B; k++) {
        h->rowt[k * T_COUNT + T_BEST] = -INFINITY;
        h->rowt[k * T_COUNT + T_ARG] = 0;
    }
    int used = 1;
#pragma omp parallel num_threads(T)
    {
        const int th = thread_num(), nt = thread_count();
        if (th == 0)
            used = nt;
        real *z = h->z + th * zs, *cs = h->cs + (size_t)th * block, *wbuf = h->wb ? h->wb + th * ws : NULL;
        double *rt = h->rowt + (size_t)th * B * T_COUNT;
        for (int k = th; k < nblk; k += nt) {
            const int j0 = k * block, nb = C - j0 < block ? C - j0 : block;
            const real *wb = block_rows(l, wbuf, NULL, j0, nb);
            const real *v = block_vector(l, cs, h->wnorm + j0, wb, NULL, j0, nb);
            gemm(0, 1, B, nb, d, 1, X, d, wb, d, 0, z, nb);
            for (int i = 0; i < B; i++)
                row_pred_update(rt + (size_t)i * T_COUNT, z + (size_t)i * nb, nb, a, ang ? v : NULL,
                                ang ? NULL : v, NULL, j0);
        }
    }
    merge_pred(h, pred, B, used);
}
