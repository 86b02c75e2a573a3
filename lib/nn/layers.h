/* layers.h — the layers of the reference backbones, as plain forward/backward functions.
 *
 * Conventions (after karpathy/llm.c, STYLE.md):
 * - Arguments: outputs first, then caches/workspaces, then inputs and weights, then sizes. Each
 *   pointer's shape is in the comment above the function.
 * - Backward functions ACCUMULATE (+=) into every d* buffer (dinp, dw, db, …); the caller zeroes
 *   them once per step. A d* argument may be NULL when that gradient is not needed (e.g. dinp of
 *   the first layer).
 * - d* always means +∂L/∂x.
 * - Image activations are stored channel-major, (C, B, H, W): channel c of sample b is the plane
 *   at ((c·B + b)·H·W). This lets one GEMM cover a whole batch chunk in conv2d and makes
 *   batch-norm and PReLU statistics contiguous per channel. Vector activations are (B, D),
 *   row-major. flatten_* converts between the two. For C = 1, (C,B,H,W) equals (B,C,H,W).
 * - Per-channel layers (PReLU, batch-norm) see their input as (outer, C, inner): for images
 *   outer = 1, inner = B·H·W; for vectors outer = B, inner = 1.
 * - Element-wise and im2col loops run on nb_get_threads() OpenMP threads with static schedules
 *   and no cross-thread float reductions, so results are identical at a fixed thread count. */
#ifndef NB_LAYERS_H
#define NB_LAYERS_H

#include <stddef.h>

#include "core/real.h"

/* ---- conv2d: im2col + GEMM over chunks of the batch ----
 * out (OC, B, OH, OW), OH = (H + 2·pad − K)/stride + 1 (likewise OW);
 * col: workspace of col_cap reals, col_cap ≥ C·K·K·OH·OW (one sample); larger lets one GEMM
 *      cover more samples;
 * inp (C, B, H, W); w (OC, C·K·K) with the inner index (c, kh, kw); b (OC), may be NULL. */
void conv2d_forward(real *out, real *col, size_t col_cap, const real *inp, const real *w, const real *b,
                    int B, int C, int H, int W, int OC, int K, int stride, int pad);
/* dinp (C,B,H,W) may be NULL; dw (OC, C·K·K); db (OC) may be NULL; col as above;
 * dout (OC,B,OH,OW); inp, w as in forward. Accumulates. */
void conv2d_backward(real *dinp, real *dw, real *db, real *col, size_t col_cap, const real *dout,
                     const real *inp, const real *w, int B, int C, int H, int W, int OC, int K, int stride,
                     int pad);
/* Output spatial size of a conv or pool. */
int conv_out_size(int in, int K, int stride, int pad);

/* ---- linear: out (B, OUT) = inp (B, IN) · wᵀ + b; w (OUT, IN); b (OUT) may be NULL ---- */
void linear_forward(real *out, const real *inp, const real *w, const real *b, int B, int IN, int OUT);
void linear_backward(real *dinp, real *dw, real *db, const real *dout, const real *inp, const real *w, int B,
                     int IN, int OUT);

/* ---- ReLU over n values; backward uses the forward output ---- */
void relu_forward(real *out, const real *inp, size_t n);
void relu_backward(real *dinp, const real *dout, const real *out, size_t n);

/* ---- PReLU, one learned slope per channel: out = x if x > 0 else a_c·x.
 * out, inp (outer, C, inner); a (C). ---- */
void prelu_forward(real *out, const real *inp, const real *a, int outer, int C, int inner);
void prelu_backward(real *dinp, real *da, const real *dout, const real *inp, const real *a, int outer, int C,
                    int inner);

/* ---- max-pool over planes: out (P, OH, OW), argmax (P, OH, OW) index into each input plane,
 * inp (P, H, W) with P = C·B; window K, stride S, no padding, floor output size ---- */
void maxpool_forward(real *out, int *argmax, const real *inp, int P, int H, int W, int K, int S);
void maxpool_backward(real *dinp, const real *dout, const int *argmax, int P, int H, int W, int K, int S);

/* ---- batch-norm, per channel over outer × inner values, y = γ·x̂ + β ----
 * Training mode: x̂ uses the batch mean and biased variance; running_mean/var are updated as
 * r ← (1 − momentum)·r + momentum·batch_stat, with the unbiased variance for running_var
 * (PyTorch's convention). Eval mode (train = 0): x̂ uses the running statistics.
 * out, inp (outer, C, inner); xhat (outer, C, inner) cache; mean, invstd (C) caches;
 * gamma, beta (C); running_mean, running_var (C). */
void batchnorm_forward(real *out, real *xhat, real *mean, real *invstd, real *running_mean, real *running_var,
                       const real *inp, const real *gamma, const real *beta, int outer, int C, int inner,
                       int train, real momentum, real eps);
/* Training-mode backward (the exact batch-statistics Jacobian). dinp, dgamma, dbeta accumulate. */
void batchnorm_backward(real *dinp, real *dgamma, real *dbeta, const real *dout, const real *xhat,
                        const real *invstd, const real *gamma, int outer, int C, int inner);

/* ---- L2 normalisation of rows (docs/losses.md §1): y = x / ‖x‖, ‖x‖ = sqrt(Σx² + eps) ----
 * out (B, D); norm (B) cache of ‖x‖; inp (B, D). Σx² is accumulated in double and eps added in
 * double, in both builds (the losses pass NB_NORM_EPS = 1e-12, loss/rowops.h).
 * Backward: dinp += (g − y⟨y, g⟩)/‖x‖, the exact Jacobian; dinp may be NULL. */
void l2norm_forward(real *out, real *norm, const real *inp, int B, int D, double eps);
void l2norm_backward(real *dinp, const real *dout, const real *out, const real *norm, int B, int D);

/* ---- flatten: (C, B, HW) channel-major images → (B, C·HW) row vectors, and back ---- */
void flatten_forward(real *out, const real *inp, int B, int C, int HW);
void flatten_backward(real *dinp, const real *dout, int B, int C, int HW);

/* ---- residual add: out = a + b over n values; backward adds dout to both ---- */
void add_forward(real *out, const real *a, const real *b, size_t n);
void add_backward(real *da, real *db, const real *dout, size_t n);

#endif
