/* loss_impl.h — internal interface between lib/loss/loss.c (dispatch, configs, center loss) and the
 * per-family loss files (lib/loss/softmax.c, lib/loss/normface.c, lib/loss/agents.c,
 * lib/loss/pairs.c). Not part of the public API: only those files include it.
 *
 * Every family function has the same contract as loss_forward_backward (loss.h): it returns the
 * batch-mean loss of its own term (without the center loss), writes per_sample (B) if non-NULL
 * such that the mean of per_sample equals the returned value, ACCUMULATES ∂L/∂feat into dfeat (if
 * non-NULL) and ∂L/∂params into l->dW, l->db, l->dscale (those that exist). Scratch comes from
 * l->scratch, sized by loss_scratch_size. */
#ifndef NB_LOSS_IMPL_H
#define NB_LOSS_IMPL_H

#include <stddef.h>

#include "loss/loss.h"
#include "core/real.h"

/* ε inside every norm: ‖x‖ = sqrt(Σ x² + NB_NORM_EPS). 1e-12 keeps x = 0 finite (‖0‖ = 1e-6) and
 * changes ‖x‖ by a relative 5e-13 at ‖x‖ = 1, far below float resolution and below the 1e-7 of the
 * double finite-difference checks. The same ε in both builds. */
#define NB_NORM_EPS 1e-12

/* Reals of scratch the loss type needs for batches of B (shared by forward_backward and predict). */
size_t loss_scratch_size(loss_type t, int B, int C, int d);

/* y (n, d) = x / ‖x‖ row by row, norms (n) = ‖x_i‖ with the ε above; sums in double. */
void loss_l2_normalize_rows(real *y, real *norms, const real *x, int n, int d);
/* Exact backward of the row normalisation: dx_i += (dy_i − y_i ⟨y_i, dy_i⟩) / ‖x_i‖ (docs/losses.md §1,
 * "Normalisation layer"); exact with the ε too, since ∂(x/n)/∂x = I/n − x xᵀ/n³ for n = sqrt(Σx²+ε).
 * Accumulates into dx (n, d). */
void loss_l2_normalize_backward(real *dx, const real *dy, const real *y, const real *norms, int n, int d);

/* Softmax cross-entropy of one row of logits z (C) with label y, in double with the max
 * subtracted: returns CE(z, y) = −z_y + log Σ_j exp(z_j). Overwrites z with g · (p − onehot(y)),
 * i.e. g · ∂CE/∂z (g is the 1/B of the batch mean). If zdot is non-NULL it receives
 * Σ_j (new z_j)(old z_j), which is ∂L/∂a for logits of the form z = a·u (a scale, u fixed). */
double loss_ce_row(real *z, int C, int y, double g, double *zdot);

/* Argmax of each row of m (B, C) into pred (B); ties go to the lowest index. */
void loss_argmax_rows(int *pred, const real *m, int B, int C);

/* Families. */
double loss_softmax_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B);
void loss_softmax_predict(const loss *l, int *pred, const real *feat, int B);
double loss_angular_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B,
                       long iter);
void loss_angular_predict(const loss *l, int *pred, const real *feat, int B);
/* Target "cosine" u = φ(c) of an angular loss's target logit a·u and du/dc (1 when detached);
 * SphereFace's λ at step iter (normface.c). */
double loss_angular_target_u(const loss *l, double c, double lambda, double *du);
double loss_sphereface_lambda(const loss_config *c, long iter);
double loss_agents_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B);
double loss_pairs_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B);

#endif
