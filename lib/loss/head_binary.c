/* head_binary.c — the binary losses of binary.c (SphereFace2, UniFace) through the blocked
 * classification head of head.h, for 10^4–10^6 classes, with Partial FC sampling (uniface; its
 * reference samples the same way) and bf16 storage.
 *
 * A binary loss has no softmax over the classes: ℓ_ij and ∂ℓ_ij/∂cos_ij depend on cos θ_ij (and b)
 * alone. So one pass over blocks of classes does it all, where the softmax losses need two
 * (head_pass.c): per block G = X W_Jᵀ by GEMM (X = f̂), cos θ_ij = G_ij/‖w_j‖, the row kernel of
 * binary.c (loss_binary_row_scaled: the non-targets vectorised in head_rows.c, the target exact;
 * loss and ∂L/∂cos, in place), ∂L/∂G = ∂L/∂cos / ‖w_j‖, then ∂L/∂X += (∂L/∂G) W_J and ∂L/∂W_J
 * through the normalisation of w_j by head_pass.c's block helpers. Three GEMMs of 2·B·C·d flops
 * instead of the softmax head's four. The blocks are split over threads as in head_pass.c; each
 * thread sums its rows' losses and ∂L/∂b in its own slots, merged in thread order afterwards, so a
 * run is deterministic for a thread count. Over a sampled class set the loss is the sum over the
 * sampled classes only. tests/test_losses_binary.c checks this path against binary.c's plain one
 * to 1e-10 in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/gemm.h"
#include "loss/binary.h"
#include "loss/head.h"
#include "loss/rowops.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static int cmp_int(const void *a, const void *b)
{
    const int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* h->ty[i]: labels[i]'s position in the class set (a sampled set is sorted and holds every label). */
static void binary_targets(loss_head *h, const int *cls, int n, const int *labels, int B)
{
    for (int i = 0; i < B; i++) {
        if (!cls) {
            h->ty[i] = labels[i];
            continue;
        }
        const int *p = bsearch(&labels[i], cls, (size_t)n, sizeof(int), cmp_int);
        if (!p)
            nb_fatal("loss_head_binary_fb: label %d of sample %d is not in the sampled classes", labels[i], i);
        h->ty[i] = (int)(p - cls);
    }
}

/* One block's rows: with pred the prediction bookkeeping (from G), then cos, the loss row kernel
 * and ∂L/∂G in place. rt: the thread's per-row slots (loss in HEAD_T_SUM, ∂L/∂b in HEAD_T_ZDOT). */
static void binary_block_rows(const loss *l, loss_head *h, real *z, const real *v, double *rt, const int *cls,
                              int B, int j0, int nb, int want_pred)
{
    const double g = 1.0 / B;
    for (int i = 0; i < B; i++) {
        real *row = z + (size_t)i * nb;
        double *m = rt + (size_t)i * HEAD_T_COUNT;
        if (want_pred)
            loss_head_row_pred_update(m, row, nb, v, cls, j0);
        const int yl = h->ty[i] - j0;
        double db = 0;
        m[HEAD_T_SUM] += loss_binary_row_scaled(l, row, v, nb, yl >= 0 && yl < nb ? yl : -1, g, &db);
        m[HEAD_T_ZDOT] += db;
    }
}

/* The pass over every block, split over the threads; returns the threads the region ran with. */
static int binary_pass(loss *l, loss_head *h, const int *cls, int n, int block, const real *X, int B,
                       int need_dx, int want_pred)
{
    const int d = l->dim, nblk = (n + block - 1) / block;
    const size_t zs = (size_t)B * block, ws = (size_t)block * d, xs = (size_t)B * d;
    int used = 1;
#pragma omp parallel num_threads(h->threads)
    {
#ifdef _OPENMP
        const int th = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        const int th = 0, nt = 1;
#endif
        if (th == 0)
            used = nt;
        real *z = h->z + th * zs, *cs = h->cs + (size_t)th * block, *wbuf = h->wb ? h->wb + th * ws : NULL;
        real *dX = h->dx + th * xs;
        double *rt = h->rowt + (size_t)th * B * HEAD_T_COUNT, *col = h->col + (size_t)th * block;
        for (int k = th; k < nblk; k += nt) {
            const int j0 = k * block, nb = n - j0 < block ? n - j0 : block;
            const real *wb = loss_head_block_rows(l, wbuf, cls, j0, nb);
            const real *v = loss_head_block_vector(l, cs, h->wnorm + j0, wb, cls, j0, nb);
            gemm_block(0, 1, B, nb, d, 1, X, d, wb, d, 0, z, nb);
            binary_block_rows(l, h, z, v, rt, cls, B, j0, nb, want_pred);
            if (need_dx)
                gemm_block(0, 0, B, d, nb, 1, z, nb, wb, d, 1, dX, d);
            loss_head_block_weight_grad(l, h, cls, X, B, z, wbuf, wb, col, j0, nb);
        }
    }
    return used;
}

double loss_head_binary_fb(loss *l, real *dfeat, real *per_sample, int *pred, const real *feat, const int *labels,
                           int B)
{
    loss_head *h = l->head;
    if (B > h->max_batch)
        nb_fatal("loss_head_binary_fb: batch %d larger than max_batch %d", B, h->max_batch);
    const int *cls = h->sampled ? h->classes : NULL;
    const int n = cls ? h->n_classes : l->num_classes, d = l->dim;
    h->sampled = 0;
    const int gather = cls || !l->W;
    loss_head_ensure_buffers(l, h, gather);
    const int block = gather ? loss_head_gather_block(h) : h->block_cap;
    binary_targets(h, cls, n, labels, B);
    loss_l2_normalize_rows(h->x, h->xnorm, feat, B, d);
    for (size_t k = 0; k < (size_t)h->threads * B; k++) {
        double *m = h->rowt + k * HEAD_T_COUNT;
        m[HEAD_T_SUM] = m[HEAD_T_ZDOT] = 0;
        m[HEAD_T_BEST] = -INFINITY;
        m[HEAD_T_ARG] = cls ? cls[0] : 0;
    }
    const size_t xs = (size_t)B * d;
    if (dfeat)
        memset(h->dx, 0, (size_t)h->threads * xs * sizeof(real));
    const int used = binary_pass(l, h, cls, n, block, h->x, B, dfeat != NULL, pred != NULL);
    double total = 0, db = 0;
    for (int i = 0; i < B; i++) {
        double li = 0;
        for (int th = 0; th < used; th++) {
            const double *m = h->rowt + ((size_t)th * B + i) * HEAD_T_COUNT;
            li += m[HEAD_T_SUM];
            db += m[HEAD_T_ZDOT];
        }
        total += li;
        if (per_sample)
            per_sample[i] = (real)li;
    }
    l->dbin_b[0] += (real)db;
    if (pred)
        loss_head_merge_pred(h, pred, B, used);
    if (dfeat) {
        for (int th = 1; th < used; th++)
            for (size_t k = 0; k < xs; k++)
                h->dx[k] += h->dx[th * xs + k];
        loss_l2_normalize_backward(dfeat, h->dx, h->x, h->xnorm, B, d);
    }
    return total / B;
}
