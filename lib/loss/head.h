/* head.h — the classification head at 10^4–10^6 classes: the classification
 * family of docs/losses.md §1 (softmax, l2softmax, normface, cosface, arcface, combined, sphereface)
 * and the margin losses of §1b (margin.h: their logits and gradients come from margin.c's row
 * kernels; subcenter_arcface's blocks are nb·K rows of W reduced to nb class cosines per row;
 * dynamic adacos adds a pass 1 at the old scale), computed over blocks of classes, with sampled
 * softmax (Partial FC) and bf16 storage. The binary
 * losses (sphereface2, uniface) use the same buffers and block helpers in one pass of their own
 * (head_binary.c), declared at the end of this header.
 *
 * The plain implementation (softmax.c, normface.c) materialises the (B, C) logits and,
 * for the normalised-weight losses, two (C, d) copies of W (Ŵ and ∂L/∂Ŵ): at C = 10^6, d = 512
 * that is 4 GB on top of W itself. The blocked head instead makes two passes over blocks of
 * `block` classes:
 *   pass 1  G = X W_Jᵀ (B, block) by GEMM; logits z fused from G (normalisation by ‖w_j‖ as a
 *           column scale, scale s, margin, bias); online softmax: per row a running max m_i and
 *           running sum S_i = Σ exp(z_ij − m_i), rescaled when m_i grows; the target logit.
 *           Then lse_i = m_i + log S_i and the loss. When the caller wants the training
 *           predictions (loss_forward_backward_predict), also each row's argmax over the visited
 *           classes of loss_head_predict's score, taken from G, so they cost no GEMM of their own.
 *   pass 2  G again: taken back from the stash, or recomputed (one extra GEMM);
 *           ∂L/∂z_ij = (exp(z_ij − lse_i) − [j = y_i]) / B, through margin, scale and the column
 *           normalisation; ∂L/∂W_J = (∂L/∂G)ᵀ X by GEMM written straight into the rows of ∂L/∂W
 *           (the normalisation's backward applied in place), ∂L/∂X += (∂L/∂G) W_J by GEMM.
 * The stash: pass 1 keeps each block's G in that block's own rows of ∂L/∂W, which are zero until
 * pass 2 writes the block's gradient there, right after reading G back. A block's nb rows hold
 * nb·d values and its G needs B·nb, so this works whenever B ≤ d (batch 256 at d 512; not at
 * d 128) and ∂L/∂W is float and dense (no sampling, no bf16); the head then does the plain path's
 * three GEMMs of 2·B·C·d flops (dynamic adacos's extra pass takes G from the stash too) in no more
 * memory. Otherwise pass 2 recomputes G: four GEMMs. Memory O(B·block + B·d + C) per step besides
 * W, ∂W and momentum either way. (A separate
 * loss_predict for the training accuracy would be a fifth, over every class even when sampling.)
 *
 * Sampling (loss.sample_rate r < 1, InsightFace's Partial FC, An et al. 2021, arXiv 2010.05222):
 * each step the class set is the batch's distinct labels plus uniformly random other classes up to
 * ceil(r·C) (just the labels if they are more), drawn by a partial Fisher–Yates shuffle of a
 * persistent permutation with the loss's own generator (forked from the run's seed), sorted. The
 * loss is softmax cross-entropy over that set; only its rows of W (and b) get gradients, and the
 * paramset's row list makes sgd_step update only those rows and their momentum. The training
 * predictions of such a step are the argmax over that set too (loss_predict, for evaluation,
 * always takes every class).
 *
 * bf16 (loss.head_dtype: bf16): W, ∂W and momentum stored as bf16 (lib/core/bf16.h), blocks widened to
 * real for the GEMMs; the bias stays float. Half the head's memory (6 bytes per weight instead of
 * 12 with gradient and momentum), at a price in accuracy: bf16 keeps 8 significant bits, so each
 * stored value is off by up to 2^-9 ≈ 0.2% relative (round to nearest even), logits computed
 * from bf16 weights carry that error (s·cos θ at s = 64 moves by ~0.1 per 0.2% of the cosine),
 * and an SGD update smaller than half a bf16 spacing of the weight (lr·v < 0.2%·|w|) is rounded
 * away entirely — late in a cosine schedule most updates are. Use it to fit a C that float32
 * cannot; the tests check a bf16 head against a float head on the same (rounded) weights.
 *
 * Which path: loss_init picks the blocked head above LOSS_HEAD_PLAIN_MAX_C classes, or when
 * sampling or bf16 is asked for; below, the plain path (whose results the golden tests pin) is
 * kept, so small-C experiments are unchanged. `normbench bench head` measures the path normbench
 * takes at each C (the "path" column). */
#ifndef NB_LOSS_HEAD_H
#define NB_LOSS_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "loss/types.h"

/* Classes per block. Each thread holds a (B, block) logit block; 2048 measured as fast as 4096 and
 * 8192 at B = 256, d = 512 (single-threaded GEMMs of 256 × 2048 × 512 are past their knee) with
 * half the buffers. When W's rows must be gathered (sampling, bf16) each thread also holds a
 * (block, d) copy, so those blocks are LOSS_HEAD_GATHER_BLOCK (measured as fast again). */
#define LOSS_HEAD_BLOCK 2048
#define LOSS_HEAD_GATHER_BLOCK 1024
/* Up to this many classes loss_forward_backward uses the plain path (unless sampling or bf16 is
 * on): its (B, C) buffers are small there and its results are the golden-tested ones. */
#define LOSS_HEAD_PLAIN_MAX_C 4096

/* per-row doubles in h->rowd */
enum { HEAD_R_MAX, HEAD_R_SUM, HEAD_R_LSE, HEAD_R_ZY, HEAD_R_TU, HEAD_R_TDU, HEAD_R_ZDOT, HEAD_R_A, HEAD_R_COUNT };
/* per-thread, per-row doubles in h->rowt: running max and sum of pass 1, Σ ∂L/∂z u of pass 2, the
 * best prediction score so far and its class */
enum { HEAD_T_MAX, HEAD_T_SUM, HEAD_T_ZDOT, HEAD_T_BEST, HEAD_T_ARG, HEAD_T_COUNT };

typedef struct loss_head {
    int use;        /* loss_forward_backward / loss_predict go through the blocked head */
    int block;      /* classes per block */
    int block_cap;  /* block the buffers are sized for */
    int max_batch;
    /* sampled class set of the current step (sorted), valid when `sampled` */
    int sampled;
    int *classes, n_classes;
    int *perm;       /* (C) persistent permutation for the partial Fisher–Yates draw */
    uint8_t *mark;   /* (C) scratch marks, zero between steps */
    rng_t rng;
    /* per-step buffers */
    int threads;                 /* T: the per-thread buffers are sized for it */
    real *x, *xnorm;             /* (B, d) f̂, (B) ‖f‖ */
    double *rowd;                /* (B, R): lse, target logit, its u and du/dc, Σ ∂L/∂z u, a_i */
    int *ty;                     /* (B) target position in the class set */
    real *wnorm;                 /* (C) ‖w_j‖ of the class set (normalised-weight losses) */
    real *z;                     /* (T, B, block) logits, then ∂L/∂G */
    real *cs;                    /* (T, block) 1/‖w_j‖ or the block's biases */
    double *col;                 /* (T, block) per-class sums and dot products */
    double *rowt;                /* (T, B, 5) running max, running sum, Σ ∂L/∂z u, best score, its class */
    real *dx;                    /* (T, B, d) ∂L/∂X, merged into the first */
    real *wb;                    /* (T, block, d) gathered W rows, then ∂L/∂W rows before the scatter */
    unsigned char *stashed;      /* (blocks) block k's G is in the stash (head_pass.c), between the passes */
    int stashed_blocks;          /* blocks of the last step whose G pass 2 took from the stash */
    size_t bytes;                /* of all the above */
} loss_head;

/* Allocates l->head for a classification loss (loss_init calls it): use is set when
 * C > LOSS_HEAD_PLAIN_MAX_C, cfg.sample_rate < 1 or head_dtype is bf16. */
void loss_head_init(loss *l, int max_batch);
/* Seeds the sampler (loss_bind calls it). */
void loss_head_bind(loss *l, rng_t *rng);
void loss_head_free(loss *l);
/* Sets the block size (re-sizing the buffers) and whether the blocked head is used; tests force
 * the blocked path at small C with it. block ≥ 1. */
void loss_head_configure(loss *l, int block, int use);

/* Draws this step's class set for labels (B) with rate r = l->cfg.sample_rate (r = 1 gives every
 * class, through the sampled code path) and points the paramset's row lists of W and b at it.
 * Returns the set's size. */
int loss_head_sample(loss *l, const int *labels, int B);
/* The classes of the last draw (sorted), or NULL before any. */
const int *loss_head_classes(const loss *l, int *n);
/* Same contract as loss_forward_backward_predict, over the sampled set if loss_head_sample ran for
 * this step (the next call goes back to every class unless it runs again). pred (B), if non-NULL,
 * gets each row's argmax over the step's classes of loss_head_predict's score, ties to the lowest
 * class, independent of the thread count: over every class it equals loss_head_predict's result;
 * over a sampled set it is the argmax among the sampled classes only. Asking for pred changes no
 * other output. */
double loss_head_forward_backward(loss *l, real *dfeat, real *per_sample, int *pred, const real *feat,
                                  const int *labels, int B, long iter);
/* Argmax over every class (ties to the lowest index), blocked. */
void loss_head_predict(const loss *l, int *pred, const real *feat, int B);

/* ---- between head.c (buffers, sampler) and head_pass.c (the passes) ---- */
/* Per-thread buffers for the current thread count; the gather buffers when W must be copied. */
void loss_head_ensure_buffers(loss *l, loss_head *h, int gather);
/* Classes per block when W's rows are gathered into the per-thread copies. */
int loss_head_gather_block(const loss_head *h);

/* ---- between head_pass.c (the block helpers) and head_binary.c (the binary losses' pass) ---- */
/* Rows cls[j0 .. j0+nb) of W (cls NULL: j0 .. j0+nb) as real (nb, d): W itself or copied into wb. */
const real *loss_head_block_rows(const loss *l, real *wb, const int *cls, int j0, int nb);
/* 1/‖w_j‖ of the block's rows wb into cs (‖w_j‖ into wn); returns cs. */
real *loss_head_block_vector(const loss *l, real *cs, real *wn, const real *wb, const int *cls, int j0, int nb);
/* ∂L/∂W of the block's classes from z = ∂L/∂G (B, nb) and X (B, d), through the normalisation of
 * w_j (h->wnorm + j0 from loss_head_block_vector): in place in a float W (cls NULL), or through
 * wbuf (the thread's gather buffer, overwritten) into the sampled / bf16 rows. col: nb doubles. */
void loss_head_block_weight_grad(const loss *l, const loss_head *h, const int *cls, const real *X, int B,
                                 const real *z, real *wbuf, const real *wb, double *col, int j0, int nb);
/* Prediction bookkeeping of the passes: a row of G with cs = 1/‖w_j‖ (argmax of cos θ), and the
 * merge of the threads' best classes into pred (B). */
void loss_head_row_pred_update(double *m, const real *row, int nb, const real *cs, const int *cls, int j0);
void loss_head_merge_pred(const loss_head *h, int *pred, int B, int used);
/* The binary losses (sphereface2, uniface) through the blocked head (head_binary.c): same contract
 * as loss_head_forward_backward. */
double loss_head_binary_fb(loss *l, real *dfeat, real *per_sample, int *pred, const real *feat, const int *labels,
                           int B);

#endif
