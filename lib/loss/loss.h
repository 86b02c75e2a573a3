/* loss.h — one interface for every loss of the suite (docs/losses.md §1).
 *
 * A loss takes features (B, d) and labels, returns the batch-mean loss, per-sample losses and
 * ∂L/∂features, and owns its own parameters (class weights, bias, agents, learned s/α) which it
 * registers in the model's paramset, plus non-gradient state (center-loss centres). Exact
 * gradients by default; cfg.detach_margin reproduces the straight-through margin gradient of
 * OpenSphere/InsightFace. Each loss type lives in its own file lib/loss_<type>.c; this header and
 * lib/loss/loss.c dispatch by type. */
#ifndef NB_LOSS_H
#define NB_LOSS_H

#include "nn/paramset.h"
#include "core/real.h"
#include "core/rng.h"

typedef enum {
    LOSS_SOFTMAX,
    LOSS_L2SOFTMAX,
    LOSS_NORMFACE,
    LOSS_SPHEREFACE,
    LOSS_COSFACE,
    LOSS_ARCFACE,
    LOSS_COMBINED,
    LOSS_C_CONTRASTIVE,
    LOSS_C_TRIPLET,
    LOSS_CONTRASTIVE,
    LOSS_TRIPLET,
    LOSS_TYPE_COUNT
} loss_type;

typedef enum { MINING_BATCH_ALL, MINING_BATCH_HARD } triplet_mining;

/* Storage of the classification head's W, its gradient and momentum. */
typedef enum { HEAD_FLOAT32, HEAD_BF16 } head_dtype;

typedef struct {
    loss_type type;
    /* softmax, l2softmax: keep the bias b_j (default 1) */
    int bias;
    /* l2softmax: scale α; alpha_auto picks α = α_low(C, alpha_p) (Ranjan §3.4) */
    double alpha;
    int alpha_auto;
    double alpha_p;
    int learn_alpha;
    /* normface, cosface, arcface, combined: scale s; normface may learn it */
    double s;
    int learn_s;
    /* learned s/α: lr multiplier and lower clamp (docs/losses.md §1: s ≥ 0.01) */
    double scale_lr_mult;
    double scale_min;
    /* margin m: cosface/arcface additive margin, sphereface integer m, contrastive/triplet/
     * c_triplet margin */
    double m;
    /* combined margin: s (cos(m1 θ_y + m2) − m3) */
    double m1, m2, m3;
    /* arcface / combined: easy_margin (margin only where cos θ > 0); otherwise the π − m
     * fallback cos θ − m·sin m where cos θ < cos(π − m) */
    int easy_margin;
    /* margin term without gradient (straight-through), as OpenSphere / InsightFace */
    int detach_margin;
    /* sphereface: λ = max(lambda_min, lambda_base · (1 + lambda_gamma·iter)^(−lambda_power)) */
    double lambda_base, lambda_gamma, lambda_power, lambda_min;
    /* c_contrastive hinges */
    double m_pos, m_neg;
    /* c_triplet: add d_{i,y_i} always (NormFace's add_center_loss) */
    int pull_positive;
    /* triplet mining */
    triplet_mining mining;
    /* center loss (Wen 2016) added to any loss when center_weight > 0:
     * center_weight/2 · mean ‖f_i − c_{y_i}‖², centres moved by rate center_rate */
    double center_weight, center_rate;
    /* classification family, large C (lib/loss/head.c, docs/losses.md §1): sampled softmax / Partial FC
     * keeps each step's positive classes and seeded random negatives, ceil(sample_rate · C)
     * classes in all (0 < r ≤ 1, 1 = every class); head_dtype stores W, ∂W and momentum in bf16 */
    double sample_rate;
    head_dtype head_dtype;
} loss_config;

struct loss_head; /* lib/loss/head.h */

typedef struct {
    loss_config cfg;
    int dim, num_classes, max_batch;
    int w_idx, b_idx, scale_idx; /* paramset indices, −1 where the loss has none */
    real *W, *dW;                /* (C, d): class weights or agents, one row per class */
    real *b, *db;                /* (C) */
    real *scale, *dscale;        /* learned s or α: one value */
    real *centers;               /* (C, d) center-loss centres, or NULL */
    real *scratch;               /* per-type workspace, sized in loss_init */
    size_t scratch_n;
    double lambda; /* sphereface: the λ used by the last forward */
    /* classification family: the blocked head (lib/loss/head.h), used instead of the plain path
     * above LOSS_HEAD_PLAIN_MAX_C classes, with sampling or with bf16 storage; NULL otherwise */
    struct loss_head *head;
    paramset *ps;          /* where W is registered (the head sets its row list each step) */
    uint16_t *W16, *dW16;  /* (C, d) W and ∂L/∂W in bf16 when head_dtype is bf16 (W, dW NULL) */
} loss;

const char *loss_type_name(loss_type t);
/* Returns the type for a config name ("softmax", "arcface", …), or −1. */
int loss_type_from_name(const char *name);
/* Has a classifier (argmax of logits gives closed-set predictions)? */
int loss_has_classifier(loss_type t);
/* Needs P×K batches (contrastive, triplet)? */
int loss_needs_pk(loss_type t);
/* Does the loss use key `key` of the loss config section (e.g. "m" for arcface)? Lets the config
 * reader reject options that do not apply to the chosen type. */
int loss_uses_key(loss_type t, const char *key);

/* Fills cfg with the defaults of docs/losses.md §1 for type t. */
void loss_config_defaults(loss_config *cfg, loss_type t);
/* Checks ranges (s > 0, m ≥ 0, an m that makes the loss undefined, …). Returns 0, or −1 with a
 * message naming the key (e.g. "loss.m: must be in [0, π) for arcface, got 3.5") in msg. */
int loss_config_check(const loss_config *cfg, int num_classes, char *msg, size_t msg_size);

/* Registers parameters in ps and allocates scratch for batches of up to max_batch. */
void loss_init(loss *l, const loss_config *cfg, int dim, int num_classes, int max_batch, paramset *ps);
/* After paramset_alloc: fetches parameter pointers and initialises them from rng. */
void loss_bind(loss *l, const paramset *ps, rng_t *rng);
/* Forward and backward on a batch: feat (B, d), labels (B). Returns the batch-mean loss; writes
 * per_sample (B) if non-NULL; ACCUMULATES ∂L/∂feat into dfeat (B, d) if non-NULL and ∂L/∂params
 * into the paramset gradients. iter is the global step (SphereFace λ annealing). */
double loss_forward_backward(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B,
                             long iter);
/* loss_forward_backward, plus the batch's predictions in pred (B) when pred is non-NULL (NULL: the
 * same as loss_forward_backward). They are loss_predict's on the parameters before the step,
 * except through the blocked head with sampling (cfg.sample_rate < 1), where they are the argmax
 * among the step's sampled classes only. The blocked head takes them from its forward pass
 * instead of a separate loss_predict, which would cost a GEMM over every class; the other paths
 * call loss_predict. The loss, per_sample and gradients are those of loss_forward_backward. */
double loss_forward_backward_predict(loss *l, real *dfeat, real *per_sample, int *pred, const real *feat,
                                     const int *labels, int B, long iter);
/* Closed-set prediction: argmax of the logits, or the nearest class agent. pred (B). */
void loss_predict(const loss *l, int *pred, const real *feat, int B);
/* After the optimizer step: clamps learned scalars (s, α ≥ scale_min) and moves center-loss
 * centres with the batch (feat, labels as passed to loss_forward_backward). */
void loss_after_step(loss *l, const real *feat, const int *labels, int B);
/* Bytes of the classification head: W, its gradient and momentum (and the bias's), in their
 * storage type, plus the loss's per-step buffers. 0 for losses without class weights. */
size_t loss_head_memory(const loss *l);
/* The learned s or α, or NAN when the loss has none. */
double loss_learned_scale(const loss *l);
void loss_free(loss *l);

/* docs/theory.md §2 theory. */
/* α_low = log(p (C − 2) / (1 − p)) (Ranjan §3.4). */
double l2softmax_alpha_low(int num_classes, double p);
/* NormFace Prop. 2: log(1 + (n − 1) exp(−s n / (n − 1))), computed with log1p. */
double normface_loss_bound(int n, double s);

#endif
