/* rowops.h — the row operations every loss family shares (rowops.c): L2 normalisation of rows
 * with its exact backward (nn/l2norm.c's layer, with the losses' ε), one row of softmax
 * cross-entropy, and the argmax of rows. */
#ifndef NB_LOSS_ROWOPS_H
#define NB_LOSS_ROWOPS_H

#include "core/real.h"

/* ε inside every norm: ‖x‖ = sqrt(Σ x² + NB_NORM_EPS). 1e-12 keeps x = 0 finite (‖0‖ = 1e-6) and
 * changes ‖x‖ by a relative 5e-13 at ‖x‖ = 1, far below float resolution and below the 1e-7 of the
 * double finite-difference checks. The same ε (a double) in both builds. */
#define NB_NORM_EPS 1e-12

/* y (n, d) = x / ‖x‖ row by row, norms (n) = ‖x_i‖ with the ε above; sums in double
 * (l2norm_forward). */
void loss_l2_normalize_rows(real *y, real *norms, const real *x, int n, int d);
/* Exact backward of the row normalisation: dx_i += (dy_i − y_i ⟨y_i, dy_i⟩) / ‖x_i‖ (docs/losses.md §1,
 * "Normalisation layer"); exact with the ε too, since ∂(x/n)/∂x = I/n − x xᵀ/n³ for n = sqrt(Σx²+ε).
 * Accumulates into dx (n, d) (l2norm_backward). */
void loss_l2_normalize_backward(real *dx, const real *dy, const real *y, const real *norms, int n, int d);

/* Softmax cross-entropy of one row of logits z (C) with label y, in double with the max
 * subtracted: returns CE(z, y) = −z_y + log Σ_j exp(z_j). Overwrites z with g · (p − onehot(y)),
 * i.e. g · ∂CE/∂z (g is the 1/B of the batch mean). If zdot is non-NULL it receives
 * Σ_j (new z_j)(old z_j), which is ∂L/∂a for logits of the form z = a·u (a scale, u fixed). */
double loss_ce_row(real *z, int C, int y, double g, double *zdot);

/* Argmax of each row of m (B, C) into pred (B); ties go to the lowest index. */
void loss_argmax_rows(int *pred, const real *m, int B, int C);

#endif
