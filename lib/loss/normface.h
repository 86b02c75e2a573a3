/* normface.h — the angular family (normface.c): normface, sphereface, cosface, arcface, combined.
 * Called by the dispatcher loss.c; the blocked head (head.c) uses its target logit and λ. */
#ifndef NB_LOSS_NORMFACE_H
#define NB_LOSS_NORMFACE_H

#include "core/real.h"
#include "loss/types.h"

/* Same contract as every family function (loss/types.h). */
double loss_angular_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B,
                       long iter);
void loss_angular_predict(const loss *l, int *pred, const real *feat, int B);
/* Target "cosine" u = φ(c) of an angular loss's target logit a·u and du/dc (1 when detached). */
double loss_angular_target_u(const loss *l, double c, double lambda, double *du);
/* SphereFace's λ at step iter. */
double loss_sphereface_lambda(const loss_config *c, long iter);

#endif
