/* head_pass.c — the two passes of the blocked classification head (forward and backward) and its
 * blocked prediction; the algorithm and its memory are described in head.h, the buffers and the
 * Partial FC sampler are head.c's. The loss definitions (target logit,
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
 * Exponentials: exp in the double build, nb_expf (head_rows.h) in the float build (arguments ≤ 0 after the
 * max is subtracted; sums accumulated in double). Threads split the blocks (see the forward pass);
 * every merge is in thread order, so a run is deterministic for a thread count. */
/* FP exceptions are never inspected in normbench; without this GCC will not if-convert the
 * selects in nb_expf (inlined here into pass2_row) and the code stays scalar. It changes no result (unlike -ffast-math,
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
#include "loss/head_rows.h"
#include "loss/margin.h"
#include "loss/normface.h"
#include "loss/rowops.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Predictions (loss_head_predict, and the training predictions of pass 1): the argmax of the plain
 * path's score. For class j in a row of G = X W_Jᵀ it is cos θ_j = G_j · cs_j for the angular
 * losses (cs = 1/‖w_j‖; the same argmax as s cos θ_j), else the logit a·G_j + b_j (bb the biases,
 * may be NULL) computed in double and rounded to real once. head_row_pred_max returns a row's largest
 * score, skipping NaN as `>` does (−∞ when every score is NaN or −∞); a maximum is exact, so
 * vectorising it changes nothing. */
/* m[HEAD_T_BEST], m[HEAD_T_ARG]: a row's best score so far and its class, replaced by the block's first
 * column of largest score only when that score is strictly larger. A thread visits its blocks in
 * increasing class order, so a tie keeps the lowest class; merge_pred keeps it across threads.
 * The block's columns are classes cls[j0 + j] (cls NULL: j0 + j). */
static void row_pred_update(double *m, const real *row, int nb, double a, const real *cs, const real *bb,
                            const int *cls, int j0)
{
    const real best = head_row_pred_max(row, nb, a, cs, bb);
    if (!(best > m[HEAD_T_BEST]))
        return;
    for (int j = 0; j < nb; j++) {
        const real v = cs   ? row[j] * cs[j]
                       : bb ? (real)(a * (double)row[j] + (double)bb[j])
                            : (real)(a * (double)row[j]);
        if (v == best) {
            m[HEAD_T_BEST] = best;
            m[HEAD_T_ARG] = cls ? cls[j0 + j] : j0 + j;
            return;
        }
    }
}

/* pred[i] = the class of the largest best score over the threads' slots, ties to the lowest class:
 * with the in-thread rule above, the lowest class of the largest score whatever the thread count. */
static void merge_pred(const loss_head *h, int *pred, int B, int used)
{
    for (int i = 0; i < B; i++) {
        const double *m0 = h->rowt + (size_t)i * HEAD_T_COUNT;
        double bv = m0[HEAD_T_BEST], bc = m0[HEAD_T_ARG];
        for (int th = 1; th < used; th++) {
            const double *m = h->rowt + ((size_t)th * B + i) * HEAD_T_COUNT;
            if (m[HEAD_T_BEST] > bv || (m[HEAD_T_BEST] == bv && m[HEAD_T_ARG] < bc)) {
                bv = m[HEAD_T_BEST];
                bc = m[HEAD_T_ARG];
            }
        }
        pred[i] = (int)bc;
    }
}

static int is_angular(loss_type t) { return t != LOSS_SOFTMAX && t != LOSS_L2SOFTMAX; }

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

/* ---- blocks (each called by the one thread that owns the block) ---- */

/* The W rows of classes cls[j0 .. j0+nb) (cls NULL: classes j0 .. j0+nb), kr rows per class
 * (subcenter_arcface's sub-centres, else 1), as real (nb·kr, d): W itself when stored in float and
 * contiguous, else gathered / widened into the thread's wb. */
static const real *block_rows(const loss *l, real *wb, const int *cls, int j0, int nb, int kr)
{
    const int d = l->dim;
    if (!cls && l->W)
        return l->W + (size_t)j0 * kr * d;
    for (int j = 0; j < nb * kr; j++) {
        const size_t r = (size_t)(cls ? cls[j0 + j / kr] : j0 + j / kr) * kr + (size_t)(j % kr);
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

/* Per-block vector cs: 1/‖w_j‖ with ‖w_j‖ = sqrt(Σ w² + ε) also stored in wn (angular; known:
 * wn already holds them, from pass 1 of this step), or the biases of the block's classes (softmax
 * family with bias); NULL when neither applies. */
static real *block_vector(const loss *l, real *cs, real *wn, const real *wb, const int *cls, int j0, int nb,
                          int known)
{
    const int d = l->dim;
    if (is_angular(l->cfg.type)) {
        for (int j = 0; j < nb; j++) {
            if (!known)
                wn[j] = (real)sqrt(head_dot(wb + (size_t)j * d, wb + (size_t)j * d, d) + NB_NORM_EPS);
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
        h->rowd[(size_t)i * HEAD_R_COUNT + HEAD_R_A] = t == LOSS_SPHEREFACE ? (double)h->xnorm[i] : a;
    return X;
}

/* ---- forward and backward ----
 * Each pass is one OpenMP region: thread t takes blocks t, t + T, t + 2T, … and runs their GEMMs
 * single-threaded (gemm_block: oneDNN's dnnl_sgemm in the float build, which does not nest inside a
 * parallel region) and their row kernels, keeping its
 * own running max/sum, Σ ∂L/∂z·u and ∂L/∂X (and, when predictions are asked for, each row's best
 * score and class); the rows of ∂L/∂W and ∂L/∂b of a block are its own.
 * The per-thread values are merged after the region in thread order. Two synchronisations per
 * pass instead of several per block: on a shared machine a barrier waits for a descheduled
 * thread, and that, not arithmetic, dominated the per-block version. */

/* What both passes of one step share. */
typedef struct {
    const int *cls; /* the step's class set (sorted), NULL: every class */
    int n;          /* classes in the step */
    int B, d, block, nblk, T;
    int ang;        /* normalised-weight (angular) loss */
    int margin;     /* a docs/losses.md §1b margin loss: logits through margin.h's row kernels */
    int pre;        /* adacos's pre-pass: pass 1 over the non-targets only, at the old s */
    int kr;         /* rows of W per class: subcenter_arcface's K, else 1 (a block is nb·kr rows) */
    int in_place;   /* ∂L/∂W rows of a block are contiguous float rows, written by the GEMM itself */
    int stash;      /* in place and B ≤ d: a block's G may be kept in its own ∂L/∂W rows (head.h) */
    double lambda;  /* sphereface's λ of this step */
    const real *X;  /* (B, d) f or f̂ */
    size_t zs, ws, xs; /* per-thread strides of z (B·block), wb (block·d), dx (B·d) */
} head_step;

/* The step's class set, block size and λ; the per-step buffers for them. */
static void step_open(loss *l, loss_head *h, head_step *s, int B, long iter)
{
    const loss_type t = l->cfg.type;
    if (B > h->max_batch)
        nb_fatal("loss_head_forward_backward: batch %d larger than max_batch %d", B, h->max_batch);
    s->cls = h->sampled ? h->classes : NULL;
    s->n = s->cls ? h->n_classes : l->num_classes;
    h->sampled = 0;
    const int gather = s->cls || !l->W;
    loss_head_ensure_buffers(l, h, gather);
    s->B = B;
    s->d = l->dim;
    s->block = gather ? loss_head_gather_block(h) : h->block_cap;
    s->nblk = (s->n + s->block - 1) / s->block;
    s->T = h->threads;
    s->ang = is_angular(t);
    s->margin = loss_is_margin(t);
    s->pre = 0;
    s->kr = loss_margin_rows_per_class(&l->cfg);
    s->in_place = !s->cls && l->dW;
    s->stash = s->in_place && B <= s->d;
    s->lambda = t == LOSS_SPHEREFACE ? loss_sphereface_lambda(&l->cfg, iter) : 0;
    if (t == LOSS_SPHEREFACE)
        l->lambda = s->lambda;
    s->zs = (size_t)B * s->block * s->kr;
    s->ws = (size_t)s->block * s->kr * s->d;
    s->xs = (size_t)B * s->d;
}

/* h->ty[i]: the position of labels[i] in the class set (binary search in a sampled set). */
static void step_targets(loss_head *h, const head_step *s, const int *labels)
{
    const int *cls = s->cls;
    for (int i = 0; i < s->B; i++) {
        int y = labels[i];
        if (cls) {
            int lo = 0, hi = s->n - 1;
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
}

/* Every thread's running values of every row at their start. */
static void step_reset_rows(loss_head *h, const head_step *s)
{
    for (size_t k = 0; k < (size_t)s->T * s->B; k++) {
        double *m = h->rowt + k * HEAD_T_COUNT;
        m[HEAD_T_MAX] = -INFINITY;
        m[HEAD_T_SUM] = m[HEAD_T_ZDOT] = 0;
        m[HEAD_T_BEST] = -INFINITY;
        m[HEAD_T_ARG] = s->cls ? s->cls[0] : 0;
    }
}

/* ---- the stash: G of a block kept in its own rows of ∂L/∂W between the passes (head.h) ----
 * Block k's G (B × nr) is stored in the first B·nr values of its nr rows of ∂L/∂W (nr·d values,
 * so B ≤ d), which pass 2 overwrites with ∂L/∂W only after it has read G back. A block is stashed
 * only when its rows are all zero on entry (as paramset_zero_grad leaves them); pass 2 then writes
 * its ∂L/∂W rows instead of adding to them (the sum with zero, without reading it). A block with
 * anything in its rows (a gradient accumulated over calls) has its G recomputed and is added to.
 * Same G either way (the same GEMM on the same operands), so the results do not depend on which
 * blocks were stashed. */

static real *stash_rows(const loss *l, const head_step *s, int j0) { return l->dW + (size_t)j0 * s->kr * s->d; }

/* Every byte of p[0 .. n) zero (so +0.0 only). */
static int all_zero(const real *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    const size_t bytes = n * sizeof(real);
    return bytes == 0 || (b[0] == 0 && memcmp(b, b + 1, bytes - 1) == 0);
}

/* G = X W_Jᵀ of block k (classes from j0, nr rows, wb) into z for pass 1: from the stash when an
 * earlier pass of this step (adacos's pre-pass) left it there; else by GEMM, then stashed if the
 * step allows it and the block's rows of ∂L/∂W are zero. */
static void pass1_products(const loss *l, loss_head *h, const head_step *s, int k, int j0, int nr, const real *wb,
                           real *z)
{
    const size_t n = (size_t)s->B * nr;
    real *st = s->stash ? stash_rows(l, s, j0) : NULL;
    if (st && h->stashed[k]) {
        memcpy(z, st, n * sizeof(real));
        return;
    }
    gemm_block(0, 1, s->B, nr, s->d, 1, s->X, s->d, wb, s->d, 0, z, nr);
    if (st && all_zero(st, (size_t)nr * s->d)) {
        memcpy(st, z, n * sizeof(real));
        h->stashed[k] = 1;
    }
}

/* The same for pass 2: a stashed G is taken out, any other recomputed. Returns whether the block
 * was stashed (its ∂L/∂W rows are then to be written, not added to). */
static int pass2_products(const loss *l, loss_head *h, const head_step *s, int k, int j0, int nr, const real *wb,
                          real *z)
{
    if (s->stash && h->stashed[k]) {
        memcpy(z, stash_rows(l, s, j0), (size_t)s->B * nr * sizeof(real));
        h->stashed[k] = 0;
        return 1;
    }
    gemm_block(0, 1, s->B, nr, s->d, 1, s->X, s->d, wb, s->d, 0, z, nr);
    return 0;
}

/* Pass 1 on row i of a block of nb classes from j0 (row: G, replaced by the logits; v: the block's
 * cs or biases; rt: this thread's running values): with pred, the row's best prediction score
 * from G; the logits; the target logit a·φ(cos θ_y) (angular), as is otherwise; the online
 * softmax, rescaling the running sum when the running max grows. */
static void pass1_row(const loss *l, loss_head *h, const head_step *s, real *row, const real *v, double *rt, int i,
                      int j0, int nb, double ap, int want_pred)
{
    double *r = h->rowd + (size_t)i * HEAD_R_COUNT, *m = rt + (size_t)i * HEAD_T_COUNT;
    const int ang = s->ang;
    const real a = (real)r[HEAD_R_A];
    const int yl = h->ty[i] - j0, has_y = yl >= 0 && yl < nb;
    if (s->kr > 1) { /* the row's nb·kr sub-centre cosines to nb class cosines (cs then 1) */
        loss_margin_row_reduce(row, nb, s->kr, v);
        v = NULL;
    }
    const real gy = has_y ? row[yl] : 0;
    if (want_pred)
        row_pred_update(m, row, nb, ap, ang ? v : NULL, ang ? NULL : v, s->cls, j0);
    if (s->margin) {
        loss_margin_row_logits(l, &l->margin->rows[i], row, nb, v, has_y ? yl : -1, s->pre);
        if (has_y)
            r[HEAD_R_ZY] = row[yl];
    } else {
        head_row_logits(row, nb, a, ang ? v : NULL, ang ? NULL : v);
    }
    if (has_y && !s->margin) {
        double u = gy, du = 1;
        if (ang) {
            u = loss_angular_target_u(l, (double)(real)(gy * v[yl]), s->lambda, &du);
            row[yl] = (real)(a * u);
        }
        r[HEAD_R_ZY] = row[yl];
        r[HEAD_R_TU] = u;
        r[HEAD_R_TDU] = du;
    }
    const double bm = head_row_max(row, nb);
    if (bm > m[HEAD_T_MAX]) {
        m[HEAD_T_SUM] *= exp(m[HEAD_T_MAX] - bm);
        m[HEAD_T_MAX] = bm;
    }
    if (m[HEAD_T_MAX] > -INFINITY) /* a block of −∞ only (adacos's pre-pass: the target alone) adds 0 */
        m[HEAD_T_SUM] += head_row_sumexp(row, nb, (real)m[HEAD_T_MAX]);
}

/* Pass 1: logits block by block, running max and sum per thread, the target logit; with pred,
 * each row's best prediction score and class per thread, from G before the logits replace it.
 * Returns the number of threads the region ran with. */
static int pass1(const loss *l, loss_head *h, const head_step *s, int want_pred)
{
    const int B = s->B, block = s->block, n = s->n;
    const double ap = head_scale(l); /* the prediction score's a (softmax family) */
    int used = 1;
#pragma omp parallel num_threads(s->T)
    {
        const int th = thread_num(), nt = thread_count();
        if (th == 0)
            used = nt;
        real *z = h->z + th * s->zs, *cs = h->cs + (size_t)th * block * s->kr, *wbuf = h->wb ? h->wb + th * s->ws : NULL;
        double *rt = h->rowt + (size_t)th * B * HEAD_T_COUNT;
        for (int k = th; k < s->nblk; k += nt) {
            const int j0 = k * block, nb = n - j0 < block ? n - j0 : block;
            const int kr = s->kr, nr = nb * kr;
            const real *wb = block_rows(l, wbuf, s->cls, j0, nb, kr);
            real *v = block_vector(l, cs, h->wnorm + (size_t)j0 * kr, wb, s->cls, j0, nr, 0);
            pass1_products(l, h, s, k, j0, nr, wb, z);
            for (int i = 0; i < B; i++)
                pass1_row(l, h, s, z + (size_t)i * nr, v, rt, i, j0, nb, ap, want_pred);
        }
    }
    return used;
}

/* Merges the threads' running max and sum of row i into log Σ_j exp z_ij. */
static double merge_lse(const loss_head *h, const head_step *s, int used, int i)
{
    const int B = s->B;
    double mx = -INFINITY, sum = 0;
    for (int th = 0; th < used; th++)
        if (h->rowt[((size_t)th * B + i) * HEAD_T_COUNT + HEAD_T_MAX] > mx)
            mx = h->rowt[((size_t)th * B + i) * HEAD_T_COUNT + HEAD_T_MAX];
    for (int th = 0; th < used; th++) {
        const double *m = h->rowt + ((size_t)th * B + i) * HEAD_T_COUNT;
        if (m[HEAD_T_MAX] > -INFINITY)
            sum += m[HEAD_T_SUM] * exp(m[HEAD_T_MAX] - mx);
    }
    return mx + log(sum);
}

/* Merges the threads' running max and sum into lse_i; per-sample CE; returns Σ_i CE_i (with the
 * margin losses' extra per-sample term). */
static double step_loss(const loss *l, loss_head *h, const head_step *s, real *per_sample, int used)
{
    const int B = s->B;
    double total = 0;
    for (int i = 0; i < B; i++) {
        double *r = h->rowd + (size_t)i * HEAD_R_COUNT;
        r[HEAD_R_LSE] = merge_lse(h, s, used, i);
        if (s->margin)
            l->margin->rows[i].lse = r[HEAD_R_LSE];
        const double ce = r[HEAD_R_LSE] - r[HEAD_R_ZY];
        total += ce;
        if (per_sample)
            per_sample[i] = (real)ce;
    }
    if (s->margin)
        total += loss_margin_extra(l, per_sample, B);
    return total;
}

/* Pass 2 on row i of a block (row: G, replaced by ∂L/∂G): every element as a non-target, then the
 * target's non-target terms replaced by ∂L/∂z_y = g (exp(z_y − lse) − 1), through φ'(cos θ_y) for
 * the angular losses. Adds Σ_j ∂L/∂z_ij u_ij to the thread's running value. */
static void pass2_row(const loss *l, loss_head *h, const head_step *s, real *row, const real *v, double *rt, int i,
                      int j0, int nb, double g)
{
    const double *r = h->rowd + (size_t)i * HEAD_R_COUNT;
    if (s->margin) {
        const int yl = h->ty[i] - j0;
        const margin_row *mr = &l->margin->rows[i];
        const int y = yl >= 0 && yl < nb ? yl : -1;
        rt[(size_t)i * HEAD_T_COUNT + HEAD_T_ZDOT] += s->kr > 1 ? loss_margin_row_grad_sub(l, mr, row, nb, s->kr, v, y, g)
                                                               : loss_margin_row_grad(l, mr, row, nb, v, y, g);
        return;
    }
    const int ang = s->ang;
    const real a = (real)r[HEAD_R_A];
    const double lse = r[HEAD_R_LSE];
    const real lse_hi = (real)lse, lse_lo = (real)(lse - (double)lse_hi);
    const int yl = h->ty[i] - j0, has_y = yl >= 0 && yl < nb;
    const real gy = has_y ? row[yl] : 0;
    double zdot = head_row_grad(row, nb, a, ang ? v : NULL, ang ? NULL : v, lse_hi, lse_lo, (real)g);
    if (has_y) {
        const real u0 = ang ? gy * v[yl] : gy;
        const real z0 = ang ? a * u0 : (v ? a * u0 + v[yl] : a * u0);
        const real dz0 = (real)g * REXP((z0 - lse_hi) - lse_lo);
        const double dz = g * (exp(r[HEAD_R_ZY] - lse) - 1.0);
        zdot += dz * r[HEAD_R_TU] - (double)(dz0 * u0);
        row[yl] = (real)(ang ? a * dz * r[HEAD_R_TDU] * v[yl] : a * dz);
    }
    rt[(size_t)i * HEAD_T_COUNT + HEAD_T_ZDOT] += zdot;
}

/* ∂L/∂b_j = Σ_i ∂L/∂z_ij = Σ_i (∂L/∂G_ij) / a, for the block's classes (col: per-class sums). */
static void block_bias_grad(const loss *l, const head_step *s, const real *z, double *col, int j0, int nb)
{
    const double a = head_scale(l);
    for (int j = 0; j < nb; j++)
        col[j] = 0;
    for (int i = 0; i < s->B; i++) {
        const real *row = z + (size_t)i * nb;
        for (int j = 0; j < nb; j++)
            col[j] += row[j];
    }
    for (int j = 0; j < nb; j++)
        l->db[s->cls ? s->cls[j0 + j] : j0 + j] += (real)(col[j] / a);
}

/* ∂L/∂W_J += T − κ_j w_j with T = (∂L/∂G)ᵀ X, κ_j = ⟨T_j, w_j⟩ / ‖w_j‖² for the normalised losses
 * (0 otherwise), in place: T lands on top of what the rows held, so ⟨T_j, w_j⟩ is the dot after
 * minus the dot before; zero: the rows held zeros (a stashed block), T is written over them and
 * the dot before is 0. */
static void block_weight_grad_in_place(const loss *l, const loss_head *h, const head_step *s, const real *z,
                                       const real *wb, double *col, int j0, int nb, int zero)
{
    const int d = s->d;
    real *dw = l->dW + (size_t)j0 * d;
    if (s->ang)
        for (int j = 0; j < nb; j++)
            col[j] = zero ? 0 : head_dot(dw + (size_t)j * d, wb + (size_t)j * d, d);
    gemm_block(1, 0, nb, d, s->B, 1, z, nb, s->X, d, zero ? 0 : 1, dw, d);
    if (s->ang)
        for (int j = 0; j < nb; j++) {
            const real *w = wb + (size_t)j * d;
            real *o = dw + (size_t)j * d;
            const double wj = h->wnorm[j0 + j];
            const real kj = (real)((head_dot(o, w, d) - col[j]) / (wj * wj));
            for (int q = 0; q < d; q++)
                o[q] -= kj * w[q];
        }
}

/* The same for gathered rows (sampled or bf16): T into the gather buffer tb (its W rows are no
 * longer needed: the correction reads W), corrected, then added to the class's row of ∂L/∂W (in
 * float, or rounded back to bf16). */
static void block_weight_grad_scatter(const loss *l, const loss_head *h, const head_step *s, const real *z,
                                      real *tb, int j0, int nb)
{
    const int d = s->d, kr = s->kr, nr = nb * kr;
    gemm_block(1, 0, nr, d, s->B, 1, z, nr, s->X, d, 0, tb, d);
    for (int j = 0; j < nr; j++) {
        const size_t rw = (size_t)(s->cls ? s->cls[j0 + j / kr] : j0 + j / kr) * kr + (size_t)(j % kr);
        real *tj = tb + (size_t)j * d;
        if (s->ang) {
            const double wj = h->wnorm[(size_t)j0 * kr + j];
            double dt = 0;
            if (l->W) {
                dt = head_dot(tj, l->W + rw * d, d);
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

/* Pass 2: the logits again, ∂L/∂z, ∂L/∂G, then ∂L/∂b, ∂L/∂X (this thread's share) and ∂L/∂W rows
 * by GEMM. */
static void pass2(const loss *l, loss_head *h, const head_step *s, int need_dx)
{
    const int B = s->B, d = s->d, block = s->block, n = s->n;
    const double g = 1.0 / B;
    if (need_dx)
        memset(h->dx, 0, (size_t)s->T * s->xs * sizeof(real));
#pragma omp parallel num_threads(s->T)
    {
        const int th = thread_num(), nt = thread_count();
        real *z = h->z + th * s->zs, *cs = h->cs + (size_t)th * block * s->kr, *wbuf = h->wb ? h->wb + th * s->ws : NULL;
        real *dX = h->dx + th * s->xs;
        double *rt = h->rowt + (size_t)th * B * HEAD_T_COUNT, *col = h->col + (size_t)th * block * s->kr;
        for (int k = th; k < s->nblk; k += nt) {
            const int j0 = k * block, nb = n - j0 < block ? n - j0 : block;
            const int kr = s->kr, nr = nb * kr;
            const real *wb = block_rows(l, wbuf, s->cls, j0, nb, kr);
            real *v = block_vector(l, cs, h->wnorm + (size_t)j0 * kr, wb, s->cls, j0, nr, 1);
            const int zero = pass2_products(l, h, s, k, j0, nr, wb, z);
            for (int i = 0; i < B; i++)
                pass2_row(l, h, s, z + (size_t)i * nr, v, rt, i, j0, nb, g);
            if (!s->ang && l->db)
                block_bias_grad(l, s, z, col, j0, nb);
            if (need_dx)
                gemm_block(0, 0, B, d, nr, 1, z, nr, wb, d, 1, dX, d);
            if (s->in_place)
                block_weight_grad_in_place(l, h, s, z, wb, col, j0 * kr, nr, zero);
            else
                block_weight_grad_scatter(l, h, s, z, wbuf, j0, nb);
        }
    }
}

/* Merges the threads' Σ ∂L/∂z u into ∂L/∂s or ∂L/∂α = Σ_ij ∂L/∂z_ij u_ij (and per row, for
 * sphereface's ∂L/∂‖f_i‖). */
static void step_scale_grad(loss *l, loss_head *h, const head_step *s, int used)
{
    const int B = s->B;
    double zsum = 0;
    for (int i = 0; i < B; i++) {
        double zd = 0;
        for (int th = 0; th < used; th++)
            zd += h->rowt[((size_t)th * B + i) * HEAD_T_COUNT + HEAD_T_ZDOT];
        h->rowd[(size_t)i * HEAD_R_COUNT + HEAD_R_ZDOT] = zd;
        zsum += zd;
    }
    if (l->dscale)
        l->dscale[0] += (real)zsum;
}

/* Merges the threads' ∂L/∂X and takes it to ∂L/∂f through the normalisation (softmax: X = f);
 * sphereface adds ∂L/∂‖f_i‖ = Σ_j ∂L/∂z_ij u_ij along f̂_i. Accumulates into dfeat. */
static void step_feature_grad(const loss *l, loss_head *h, const head_step *s, real *dfeat, int used)
{
    const int B = s->B, d = s->d;
    const size_t xs = s->xs;
    real *dX = h->dx;
    for (int th = 1; th < used; th++)
        for (size_t k = 0; k < xs; k++)
            dX[k] += h->dx[th * xs + k];
    if (l->cfg.type == LOSS_SOFTMAX) {
        for (size_t k = 0; k < xs; k++)
            dfeat[k] += dX[k];
        return;
    }
    loss_l2_normalize_backward(dfeat, dX, h->x, h->xnorm, B, d);
    if (s->margin)
        loss_margin_radial(l, dfeat, h->x, B, d, 1.0 / B);
    if (l->cfg.type == LOSS_SPHEREFACE)
        for (int i = 0; i < B; i++) {
            const double da = h->rowd[(size_t)i * HEAD_R_COUNT + HEAD_R_ZDOT];
            for (int k = 0; k < d; k++)
                dfeat[(size_t)i * d + k] += (real)(da * h->x[(size_t)i * d + k]);
        }
}

/* The margin losses' row quantities (margin.h) before pass 1: each target cosine by its own dot
 * product x_i·w_y/‖w_y‖; for dynamic adacos first a pass 1 at the old s over the non-targets
 * (the target's logit −∞), whose log-sum-exp gives Σ_{j≠y} exp(s_old cos θ_j) over the step's
 * classes — a third pass over W, the price of using the new s in the same step as the reference
 * does (with the stash it takes G from there and only the first pass runs GEMMs). Sets each row's
 * scale a_i. */
static void step_margin_rows(loss *l, loss_head *h, head_step *s, const int *labels)
{
    loss_margin *g = l->margin;
    const int B = s->B, d = s->d;
    for (int i = 0; i < B; i++) {
        g->cy[i] = -INFINITY;
        for (int q = 0; q < s->kr; q++) { /* the best sub-centre (kr > 1) */
            const size_t y = (size_t)labels[i] * s->kr + (size_t)q;
            double dot = 0, ww = 0;
            for (int k = 0; k < d; k++) {
                const double w = l->W ? (double)l->W[y * d + k] : (double)bf16_to_float(l->W16[y * d + k]);
                dot += (double)s->X[(size_t)i * d + k] * w;
                ww += w * w;
            }
            const double c = dot / (double)(real)sqrt(ww + NB_NORM_EPS);
            if (c > g->cy[i])
                g->cy[i] = c;
        }
    }
    if (l->cfg.type == LOSS_ADACOS && l->cfg.dynamic) {
        for (int i = 0; i < B; i++)
            g->rows[i].a = g->s;
        s->pre = 1;
        step_reset_rows(h, s);
        const int used = pass1(l, h, s, 0);
        for (int i = 0; i < B; i++)
            g->negsum[i] = exp(merge_lse(h, s, used, i));
        s->pre = 0;
    }
    loss_margin_rows(l, g->cy, h->xnorm, g->negsum, B);
    for (int i = 0; i < B; i++)
        h->rowd[(size_t)i * HEAD_R_COUNT + HEAD_R_A] = g->rows[i].a;
}

double loss_head_forward_backward(loss *l, real *dfeat, real *per_sample, int *pred, const real *feat,
                                  const int *labels, int B, long iter)
{
    loss_head *h = l->head;
    head_step s;
    step_open(l, h, &s, B, iter);
    step_targets(h, &s, labels);
    s.X = head_inputs(l, h, feat, B);
    if (s.margin)
        step_margin_rows(l, h, &s, labels);
    step_reset_rows(h, &s);
    const int used = pass1(l, h, &s, pred != NULL);
    const double total = step_loss(l, h, &s, per_sample, used);
    if (pred)
        merge_pred(h, pred, B, used);
    h->stashed_blocks = 0;
    for (int k = 0; s.stash && k < s.nblk; k++)
        h->stashed_blocks += h->stashed[k];
    pass2(l, h, &s, dfeat != NULL);
    step_scale_grad(l, h, &s, used);
    if (dfeat)
        step_feature_grad(l, h, &s, dfeat, used);
    return total / B;
}

/* ---- prediction ---- */

void loss_head_predict(const loss *l, int *pred, const real *feat, int B)
{
    loss_head *h = l->head;
    loss_head_ensure_buffers((loss *)l, h, !l->W);
    const int d = l->dim, C = l->num_classes, ang = is_angular(l->cfg.type), T = h->threads;
    const int block = l->W ? h->block_cap : loss_head_gather_block(h);
    const int nblk = (C + block - 1) / block;
    const real *X = head_inputs(l, h, feat, B);
    const double a = head_scale(l);
    const int kr = loss_margin_rows_per_class(&l->cfg);
    const size_t zs = (size_t)B * block * kr, ws = (size_t)block * kr * d;
    for (size_t k = 0; k < (size_t)T * B; k++) {
        h->rowt[k * HEAD_T_COUNT + HEAD_T_BEST] = -INFINITY;
        h->rowt[k * HEAD_T_COUNT + HEAD_T_ARG] = 0;
    }
    int used = 1;
#pragma omp parallel num_threads(T)
    {
        const int th = thread_num(), nt = thread_count();
        if (th == 0)
            used = nt;
        real *z = h->z + th * zs, *cs = h->cs + (size_t)th * block * kr, *wbuf = h->wb ? h->wb + th * ws : NULL;
        double *rt = h->rowt + (size_t)th * B * HEAD_T_COUNT;
        for (int k = th; k < nblk; k += nt) {
            const int j0 = k * block, nb = C - j0 < block ? C - j0 : block;
            const int nr = nb * kr;
            const real *wb = block_rows(l, wbuf, NULL, j0, nb, kr);
            const real *v = block_vector(l, cs, h->wnorm + (size_t)j0 * kr, wb, NULL, j0, nr, 0);
            gemm_block(0, 1, B, nr, d, 1, X, d, wb, d, 0, z, nr);
            if (kr > 1) { /* sub-centre cosines to class cosines, then scored as such */
                for (int i = 0; i < B; i++)
                    loss_margin_row_reduce(z + (size_t)i * nr, nb, kr, v);
                v = NULL;
            }
            for (int i = 0; i < B; i++)
                row_pred_update(rt + (size_t)i * HEAD_T_COUNT, z + (size_t)i * nr, nb, a, ang ? v : NULL,
                                ang ? NULL : v, NULL, j0);
        }
    }
    merge_pred(h, pred, B, used);
}

/* ---- the block helpers, for the binary losses' head (head_binary.c) ---- */

const real *loss_head_block_rows(const loss *l, real *wb, const int *cls, int j0, int nb)
{
    return block_rows(l, wb, cls, j0, nb, 1);
}

real *loss_head_block_vector(const loss *l, real *cs, real *wn, const real *wb, const int *cls, int j0, int nb)
{
    return block_vector(l, cs, wn, wb, cls, j0, nb, 0);
}

void loss_head_block_weight_grad(const loss *l, const loss_head *h, const int *cls, const real *X, int B,
                                 const real *z, real *wbuf, const real *wb, double *col, int j0, int nb)
{
    head_step s;
    memset(&s, 0, sizeof s);
    s.cls = cls;
    s.B = B;
    s.d = l->dim;
    s.ang = is_angular(l->cfg.type);
    s.X = X;
    s.kr = 1; /* one row of W per class */
    if (!cls && l->dW)
        block_weight_grad_in_place(l, h, &s, z, wb, col, j0, nb, 0);
    else
        block_weight_grad_scatter(l, h, &s, z, wbuf, j0, nb);
}

void loss_head_row_pred_update(double *m, const real *row, int nb, const real *cs, const int *cls, int j0)
{
    row_pred_update(m, row, nb, 1.0, cs, NULL, cls, j0);
}

void loss_head_merge_pred(const loss_head *h, int *pred, int B, int used) { merge_pred(h, pred, B, used); }
