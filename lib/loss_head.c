/* loss_head.c — the blocked classification head, sampled softmax (Partial FC) and bf16 storage;
 * the algorithm and its memory are described in loss_head.h. The loss definitions (target logit,
 * margins, clamps, SphereFace's ψ and λ) are loss_normface.c's, called per element; this file only
 * reorganises the computation of loss_softmax.c and loss_normface.c, and the tests
 * (tests/test_head.c) check it against them to ~1e-10 in double for every type and option.
 *
 * Notation as in loss_normface.c: z_ij = a_i u_ij (+ b_j for softmax, l2softmax), with
 *   softmax    X = f,  a = 1, u_ij = G_ij = x_i·w_j
 *   l2softmax  X = f̂,  a = α, u_ij = G_ij
 *   angular    X = f̂,  a = s (‖f_i‖ for sphereface), c_ij = G_ij / ‖w_j‖ = cos θ_ij, u_ij = c_ij off
 *              target and φ(c_iy) on target.
 * The normalisation of w_j is never materialised: Ŵ_J X-products are G scaled by column, and its
 * exact backward ∂L/∂w_j = (∂L/∂ŵ_j − ŵ_j ⟨ŵ_j, ∂L/∂ŵ_j⟩)/‖w_j‖ becomes
 *   ∂L/∂w_j += T_j − κ_j w_j,  T = (∂L/∂c ./ ‖w‖)ᵀ X (one GEMM),  κ_j = Σ_i ∂L/∂c_ij c_ij / ‖w_j‖²,
 * since ⟨w_j, ∂L/∂ŵ_j⟩ = Σ_i ∂L/∂c_ij G_ij. ‖w_j‖ carries loss_impl.h's ε like the plain path.
 *
 * Exponentials: exp in the double build, expf in the float build (arguments ≤ 0 after the max is
 * subtracted; sums accumulated in double). Loops over the batch rows and over a block's classes
 * run in parallel (OpenMP); every reduction is over a fixed order, so results do not depend on the
 * thread count apart from OpenBLAS's own GEMM splits. */
#include "loss_head.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bf16.h"
#include "error.h"
#include "gemm.h"
#include "loss_impl.h"

#ifdef NB_DOUBLE
#define REXP exp
#else
#define REXP expf
#endif

/* per-row doubles in h->rowd */
enum { R_MAX, R_SUM, R_LSE, R_ZY, R_TU, R_TDU, R_ZDOT, R_A, R_COUNT };

static int is_angular(loss_type t) { return t != LOSS_SOFTMAX && t != LOSS_L2SOFTMAX; }

/* (Re)allocates the per-step buffers for blocks of `block` classes. The gather buffers (wb, tb)
 * and the sampler's arrays are allocated on first use, so a dense float32 head never holds them. */
static void head_buffers(loss *l, loss_head *h, int block)
{
    const size_t B = (size_t)h->max_batch, d = (size_t)l->dim, C = (size_t)l->num_classes;
    const size_t cap = (size_t)(block < l->num_classes ? block : l->num_classes);
    free(h->x);
    free(h->xnorm);
    free(h->dx);
    free(h->rowd);
    free(h->ty);
    free(h->wnorm);
    free(h->z);
    free(h->p);
    free(h->wb);
    free(h->tb);
    free(h->col);
    h->wb = h->tb = NULL;
    h->block = block;
    h->block_cap = (int)cap;
    h->x = nb_calloc(B * d, sizeof(real));
    h->xnorm = nb_calloc(B, sizeof(real));
    h->dx = nb_calloc(B * d, sizeof(real));
    h->rowd = nb_calloc(B * R_COUNT, sizeof(double));
    h->ty = nb_calloc(B, sizeof(int));
    h->wnorm = nb_calloc(C, sizeof(real));
    h->z = nb_calloc(B * cap, sizeof(real));
    h->p = nb_calloc(B * cap, sizeof(real));
    h->col = nb_calloc(cap, sizeof(double));
    h->bytes = (2 * B * d + B + 2 * B * cap + C) * sizeof(real) + (B * R_COUNT + cap) * sizeof(double) +
               B * sizeof(int);
}

static void ensure_gather(const loss *l, loss_head *h)
{
    if (h->wb)
        return;
    const size_t n = (size_t)h->block_cap * (size_t)l->dim;
    h->wb = nb_calloc(n, sizeof(real));
    h->tb = nb_calloc(n, sizeof(real));
    h->bytes += 2 * n * sizeof(real);
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
    head_buffers(l, h, LOSS_HEAD_BLOCK);
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
    const int had_gather = h->wb != NULL;
    head_buffers(l, h, block);
    if (had_gather)
        ensure_gather(l, h);
    h->use = use;
}

void loss_head_free(loss *l)
{
    loss_head *h = l->head;
    if (!h)
        return;
    free(h->classes);
    free(h->perm);
    free(h->mark);
    free(h->x);
    free(h->xnorm);
    free(h->dx);
    free(h->rowd);
    free(h->ty);
    free(h->wnorm);
    free(h->z);
    free(h->p);
    free(h->wb);
    free(h->tb);
    free(h->col);
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

/* ---- blocks ---- */

/* Rows cls[j0 .. j0+nb) of W (cls NULL: rows j0 .. j0+nb) as real (nb, d): W itself when stored in
 * float and contiguous, else gathered / widened into h->wb. */
static const real *block_rows(const loss *l, loss_head *h, const int *cls, int j0, int nb)
{
    const int d = l->dim;
    if (!cls && l->W)
        return l->W + (size_t)j0 * d;
    ensure_gather(l, h);
    real *wb = h->wb;
#pragma omp parallel for schedule(static)
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

/* ‖w_j‖ = sqrt(Σ w² + ε) of the nb rows wb into wn (nb). */
static void row_norms(real *wn, const real *wb, int nb, int d)
{
#pragma omp parallel for schedule(static)
    for (int j = 0; j < nb; j++) {
        const real *w = wb + (size_t)j * d;
        double ss = 0;
        for (int k = 0; k < d; k++)
            ss += (double)w[k] * w[k];
        wn[j] = (real)sqrt(ss + NB_NORM_EPS);
    }
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

/* ---- forward and backward ---- */

double loss_head_forward_backward(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels,
                                  int B, long iter)
{
    loss_head *h = l->head;
    const loss_type t = l->cfg.type;
    const int d = l->dim, ang = is_angular(t), sphere = t == LOSS_SPHEREFACE;
    if (B > h->max_batch)
        nb_fatal("loss_head_forward_backward: batch %d larger than max_batch %d", B, h->max_batch);
    const int *cls = h->sampled ? h->classes : NULL;
    const int n = cls ? h->n_classes : l->num_classes;
    h->sampled = 0;
    const int block = h->block_cap;
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
        double *r = h->rowd + (size_t)i * R_COUNT;
        r[R_MAX] = -INFINITY;
        r[R_SUM] = 0;
        r[R_ZDOT] = 0;
    }
    const real *X = head_inputs(l, h, feat, B);
    real *z = h->z, *P = h->p, *wn = h->wnorm;
    const real *bias = l->b;

    /* pass 1: logits block by block, running max and sum, the target logit */
    for (int j0 = 0; j0 < n; j0 += block) {
        const int nb = n - j0 < block ? n - j0 : block;
        const real *wb = block_rows(l, h, cls, j0, nb);
        if (ang)
            row_norms(wn + j0, wb, nb, d);
        gemm(0, 1, B, nb, d, 1, X, d, wb, d, 0, z, nb);
#pragma omp parallel for schedule(static)
        for (int i = 0; i < B; i++) {
            real *row = z + (size_t)i * nb;
            double *r = h->rowd + (size_t)i * R_COUNT;
            const double a = r[R_A];
            const int yl = h->ty[i] - j0;
            double c_y = 0;
            if (yl >= 0 && yl < nb)
                c_y = ang ? (double)row[yl] / wn[j0 + yl] : (double)row[yl];
            if (ang) {
                for (int j = 0; j < nb; j++)
                    row[j] = (real)(a * ((double)row[j] / wn[j0 + j]));
            } else {
                for (int j = 0; j < nb; j++)
                    row[j] = (real)(a * row[j] + (bias ? (double)bias[cls ? cls[j0 + j] : j0 + j] : 0.0));
            }
            if (yl >= 0 && yl < nb) {
                double u = c_y, du = 1;
                if (ang)
                    u = loss_angular_target_u(l, c_y, lambda, &du);
                if (ang)
                    row[yl] = (real)(a * u);
                r[R_ZY] = row[yl];
                r[R_TU] = u;
                r[R_TDU] = du;
            }
            double bm = row[0];
            for (int j = 1; j < nb; j++)
                if (row[j] > bm)
                    bm = row[j];
            if (bm > r[R_MAX]) {
                r[R_SUM] *= exp(r[R_MAX] - bm);
                r[R_MAX] = bm;
            }
            const double mx = r[R_MAX];
            double s = 0;
            for (int j = 0; j < nb; j++)
                s += REXP((real)(row[j] - mx));
            r[R_SUM] += s;
        }
    }
    double total = 0;
    for (int i = 0; i < B; i++) {
        double *r = h->rowd + (size_t)i * R_COUNT;
        r[R_LSE] = r[R_MAX] + log(r[R_SUM]);
        const double ce = r[R_LSE] - r[R_ZY];
        total += ce;
        if (per_sample)
            per_sample[i] = (real)ce;
    }

    /* pass 2: the logits again, ∂L/∂z, ∂L/∂G, then ∂L/∂W rows and ∂L/∂X by GEMM */
    const double g = 1.0 / B;
    const int need_dx = dfeat != NULL;
    real *dX = t == LOSS_SOFTMAX ? dfeat : h->dx;
    if (need_dx && t != LOSS_SOFTMAX)
        memset(h->dx, 0, (size_t)B * d * sizeof(real));
    const int need_col = ang || bias;
    for (int j0 = 0; j0 < n; j0 += block) {
        const int nb = n - j0 < block ? n - j0 : block;
        const real *wb = block_rows(l, h, cls, j0, nb);
        gemm(0, 1, B, nb, d, 1, X, d, wb, d, 0, z, nb);
#pragma omp parallel for schedule(static)
        for (int i = 0; i < B; i++) {
            real *row = z + (size_t)i * nb, *prow = P + (size_t)i * nb;
            double *r = h->rowd + (size_t)i * R_COUNT;
            const double a = r[R_A], lse = r[R_LSE];
            const int yl = h->ty[i] - j0;
            double zdot = 0;
            for (int j = 0; j < nb; j++) {
                double u, zz;
                if (ang) {
                    u = (double)row[j] / wn[j0 + j];
                    zz = (real)(a * u);
                } else {
                    u = row[j];
                    zz = (real)(a * u + (bias ? (double)bias[cls ? cls[j0 + j] : j0 + j] : 0.0));
                }
                const double c = u;
                double du = 1;
                if (j == yl) {
                    zz = r[R_ZY];
                    u = r[R_TU];
                    du = r[R_TDU];
                }
                const double dz = g * (REXP((real)(zz - lse)) - (j == yl ? 1.0 : 0.0));
                zdot += dz * u;
                if (ang) {
                    const double dc = a * dz * du; /* ∂L/∂cos θ_ij */
                    prow[j] = (real)(dc * c);
                    row[j] = (real)(dc / wn[j0 + j]);
                } else {
                    if (bias)
                        prow[j] = (real)dz;
                    row[j] = (real)(a * dz);
                }
            }
            r[R_ZDOT] += zdot;
        }
        if (need_col) {
            /* column sums: κ_j (angular) or ∂L/∂b_j */
#pragma omp parallel for schedule(static)
            for (int j = 0; j < nb; j++) {
                double s = 0;
                for (int i = 0; i < B; i++)
                    s += P[(size_t)i * nb + j];
                if (ang) {
                    const double w = wn[j0 + j];
                    h->col[j] = s / (w * w);
                } else {
                    h->col[j] = s;
                }
            }
            if (!ang && l->db)
                for (int j = 0; j < nb; j++)
                    l->db[cls ? cls[j0 + j] : j0 + j] += (real)h->col[j];
        }
        /* ∂L/∂X += (∂L/∂G) W_J */
        if (need_dx)
            gemm(0, 0, B, d, nb, 1, z, nb, wb, d, 1, dX, d);
        /* ∂L/∂W_J += (∂L/∂G)ᵀ X, minus κ_j w_j for the normalised losses */
        if (in_place) {
            real *dw = l->dW + (size_t)j0 * d;
            gemm(1, 0, nb, d, B, 1, z, nb, X, d, 1, dw, d);
            if (ang) {
#pragma omp parallel for schedule(static)
                for (int j = 0; j < nb; j++) {
                    const real k = (real)h->col[j];
                    const real *w = wb + (size_t)j * d;
                    real *o = dw + (size_t)j * d;
                    for (int q = 0; q < d; q++)
                        o[q] -= k * w[q];
                }
            }
        } else {
            real *tb = h->tb;
            gemm(1, 0, nb, d, B, 1, z, nb, X, d, 0, tb, d);
#pragma omp parallel for schedule(static)
            for (int j = 0; j < nb; j++) {
                const size_t rw = (size_t)(cls ? cls[j0 + j] : j0 + j);
                const real k = ang ? (real)h->col[j] : 0;
                const real *w = wb + (size_t)j * d, *tj = tb + (size_t)j * d;
                if (l->dW) {
                    real *o = l->dW + rw * d;
                    for (int q = 0; q < d; q++)
                        o[q] += tj[q] - k * w[q];
                } else {
                    uint16_t *o = l->dW16 + rw * d;
                    for (int q = 0; q < d; q++)
                        o[q] = bf16_from_float((float)(bf16_to_float(o[q]) + (tj[q] - k * w[q])));
                }
            }
        }
    }

    /* scalars and the feature gradient through the normalisation */
    double zsum = 0;
    for (int i = 0; i < B; i++)
        zsum += h->rowd[(size_t)i * R_COUNT + R_ZDOT];
    if (l->dscale)
        l->dscale[0] += (real)zsum; /* ∂L/∂s or ∂L/∂α = Σ_ij ∂L/∂z_ij u_ij */
    if (dfeat && t != LOSS_SOFTMAX) {
        loss_l2_normalize_backward(dfeat, h->dx, h->x, h->xnorm, B, d);
        if (sphere) /* ∂L/∂‖f_i‖ = Σ_j ∂L/∂z_ij u_ij, along f̂_i */
            for (int i = 0; i < B; i++) {
                const double da = h->rowd[(size_t)i * R_COUNT + R_ZDOT];
                for (int k = 0; k < d; k++)
                    dfeat[(size_t)i * d + k] += (real)(da * h->x[(size_t)i * d + k]);
            }
    }
    return total / B;
}

/* ---- prediction ---- */

void loss_head_predict(const loss *l, int *pred, const real *feat, int B)
{
    loss_head *h = l->head;
    const int d = l->dim, C = l->num_classes, ang = is_angular(l->cfg.type), block = h->block_cap;
    const real *X = head_inputs(l, h, feat, B);
    double *best = h->rowd; /* R_MAX slot of each row */
    for (int i = 0; i < B; i++) {
        best[(size_t)i * R_COUNT + R_MAX] = -INFINITY;
        pred[i] = 0;
    }
    const double a = head_scale(l);
    for (int j0 = 0; j0 < C; j0 += block) {
        const int nb = C - j0 < block ? C - j0 : block;
        const real *wb = block_rows(l, h, NULL, j0, nb);
        if (ang)
            row_norms(h->wnorm + j0, wb, nb, d);
        gemm(0, 1, B, nb, d, 1, X, d, wb, d, 0, h->z, nb);
#pragma omp parallel for schedule(static)
        for (int i = 0; i < B; i++) {
            const real *row = h->z + (size_t)i * nb;
            double *bi = &best[(size_t)i * R_COUNT + R_MAX];
            for (int j = 0; j < nb; j++) {
                /* the plain path's argmax: of cos θ_j (angular), of the logits (softmax family) */
                const double v = ang ? (double)(real)((double)row[j] / h->wnorm[j0 + j])
                                     : (double)(real)(a * row[j] + (l->b ? (double)l->b[j0 + j] : 0.0));
                if (v > *bi) {
                    *bi = v;
                    pred[i] = j0 + j;
                }
            }
        }
    }
}
