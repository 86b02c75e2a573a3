/* head.c — the blocked classification head's memory and class set: its per-step buffers (sized
 * for the block and the thread count), its lifecycle, and the Partial FC sampler that draws each
 * step's classes (An et al. 2021, arXiv 2010.05222). The algorithm is described in head.h; the
 * two passes that use the buffers are head_pass.c's. */
#include "loss/head.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "loss/margin.h"
#include "loss/table.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Threads that will run the block loops (nb_set_threads sets OpenMP's count). */
static int head_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Classes per block when W's rows are gathered into wb. */
int loss_head_gather_block(const loss_head *h)
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
    free(h->stashed);
    h->stashed = NULL;
    h->x = h->xnorm = h->wnorm = h->z = h->cs = h->dx = h->wb = NULL;
    h->rowd = h->col = h->rowt = NULL;
    h->ty = NULL;
}

/* (Re)allocates the per-step buffers for blocks of `block` classes and T threads. The gather
 * buffers (wb, one per thread) and the sampler's arrays are allocated on first use, so a dense
 * float32 head never holds them. */
static void head_buffers(loss *l, loss_head *h, int block, int T)
{
    const size_t B = (size_t)h->max_batch, d = (size_t)l->dim;
    /* kr rows of W per class (subcenter_arcface): the block buffers hold cap·kr rows, C·kr norms */
    const size_t kr = (size_t)loss_margin_rows_per_class(&l->cfg), C = (size_t)l->num_classes * kr;
    const size_t cap = (size_t)(block < l->num_classes ? block : l->num_classes), t = (size_t)T;
    const size_t capr = cap * kr;
    const int gather = h->wb != NULL;
    free_buffers(h);
    h->block = block;
    h->block_cap = (int)cap;
    h->threads = T;
    h->x = nb_calloc(B * d, sizeof(real));
    h->xnorm = nb_calloc(B, sizeof(real));
    h->rowd = nb_calloc(B * HEAD_R_COUNT, sizeof(double));
    h->ty = nb_calloc(B, sizeof(int));
    h->wnorm = nb_calloc(C, sizeof(real));
    h->z = nb_calloc(t * B * capr, sizeof(real));
    h->cs = nb_calloc(t * capr, sizeof(real));
    h->col = nb_calloc(t * capr, sizeof(double));
    h->rowt = nb_calloc(t * B * HEAD_T_COUNT, sizeof(double));
    h->dx = nb_calloc(t * B * d, sizeof(real));
    const size_t nblk = ((size_t)l->num_classes + cap - 1) / cap;
    h->stashed = nb_calloc(nblk, 1);
    h->bytes = (B * d + B + C + t * (B * capr + capr + B * d)) * sizeof(real) +
               (B * HEAD_R_COUNT + t * (capr + HEAD_T_COUNT * B)) * sizeof(double) + B * sizeof(int) + nblk;
    if (h->perm)
        h->bytes += (size_t)l->num_classes * (2 * sizeof(int) + 1);
    if (gather) {
        const size_t gb = (size_t)loss_head_gather_block(h) * kr;
        h->wb = nb_calloc(t * gb * d, sizeof(real));
        h->bytes += t * gb * d * sizeof(real);
    }
}

static void ensure_gather(const loss *l, loss_head *h)
{
    if (h->wb)
        return;
    const size_t n = (size_t)h->threads * (size_t)loss_head_gather_block(h) *
                     (size_t)loss_margin_rows_per_class(&l->cfg) * (size_t)l->dim;
    h->wb = nb_calloc(n, sizeof(real));
    h->bytes += n * sizeof(real);
}

void loss_head_ensure_buffers(loss *l, loss_head *h, int gather)
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
