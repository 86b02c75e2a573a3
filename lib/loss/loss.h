/* loss.h — one interface for every loss of the suite (docs/losses.md §1).
 *
 * A loss takes features (B, d) and labels, returns the batch-mean loss, per-sample losses and
 * ∂L/∂features, and owns its own parameters (class weights, bias, agents, learned s/α) which it
 * registers in the model's paramset, plus non-gradient state (center-loss centres). Exact
 * gradients by default; cfg.detach_margin reproduces the straight-through margin gradient of
 * OpenSphere/InsightFace. The types are in loss/types.h, the table of loss types (names, traits,
 * keys) in loss/table.h; each family lives in its own file (softmax.c, normface.c, agents.c,
 * pairs.c, the blocked head in head.c) and this header's loss.c dispatches to them by type. */
#ifndef NB_LOSS_H
#define NB_LOSS_H

#include "core/real.h"
#include "core/rng.h"
#include "loss/table.h"
#include "loss/types.h"
#include "nn/paramset.h"

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
/* The learned s or α (adacos: its fixed or dynamic s), or NAN when the loss has none. */
double loss_learned_scale(const loss *l);
/* The learned scalar bias b of sphereface2 / uniface, or NAN when the loss has none. */
double loss_learned_bias(const loss *l);
/* The values a loss carries from step to step without gradient (docs/losses.md §1b, "State":
 * curricularface t; adaface mu, sd; adacos s): how many (at most LOSS_STATE_MAX), their names,
 * their values, and setting them (a run restored from saved state continues exactly). */
#define LOSS_STATE_MAX 2
int loss_state_count(const loss *l);
const char *loss_state_name(const loss *l, int k);
double loss_state_get(const loss *l, int k);
void loss_state_set(loss *l, int k, double v);
void loss_free(loss *l);

/* docs/theory.md §2 theory. */
/* α_low = log(p (C − 2) / (1 − p)) (Ranjan §3.4). */
double l2softmax_alpha_low(int num_classes, double p);
/* NormFace Prop. 2: log(1 + (n − 1) exp(−s n / (n − 1))), computed with log1p. */
double normface_loss_bound(int n, double s);

#endif
