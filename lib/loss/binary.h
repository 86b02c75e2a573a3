/* binary.h — the per-class binary losses with a learned scalar bias b (binary.c): SphereFace2 and
 * UniFace. Called by the dispatcher loss.c; the blocked head (head_binary.c) uses the row kernel. */
#ifndef NB_LOSS_BINARY_H
#define NB_LOSS_BINARY_H

#include "core/real.h"
#include "loss/types.h"

/* Is t one of the binary losses (sphereface2, uniface)? */
int loss_is_binary(loss_type t);
/* The reference's initial b for C classes (SphereFace2: the value that balances the two terms at
 * cos θ = 0; UniFace: log(C·r·10)). */
double loss_binary_initial_b(const loss_config *cfg, int num_classes);
/* One row of the loss: cos (n) holds cos θ_ij of one sample for n classes, yl the target's position
 * in it (−1: the target is not among them). Returns Σ_j ℓ_ij; overwrites cos with g·∂ℓ/∂cos_ij
 * and adds g·Σ_j ∂ℓ_ij/∂b to *db (g: the 1/B of the batch mean). */
double loss_binary_row(const loss *l, real *cos, int n, int yl, double g, double *db);
/* The same for a row of G = X W_Jᵀ of the blocked head, cs (n) the block's 1/‖w_j‖: the cosines
 * are G_j cs_j, the row gets g·∂ℓ/∂G_j. Its non-target terms go through head_rows.h's vectorised
 * kernel (nb_expf and nb_log1pf_unit in the float build), the target's through the exact scalar
 * term; sphereface2 with a t that is not an integer takes loss_binary_row. */
double loss_binary_row_scaled(const loss *l, real *row, const real *cs, int n, int yl, double g, double *db);
/* Same contract as every family function (loss/types.h): the plain path over every class. */
double loss_binary_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B);

#endif
