/* softmax.h — the softmax and L2-softmax family (softmax.c), called by the dispatcher loss.c. */
#ifndef NB_LOSS_SOFTMAX_H
#define NB_LOSS_SOFTMAX_H

#include "core/real.h"
#include "loss/types.h"

/* Same contract as every family function (loss/types.h). */
double loss_softmax_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B);
void loss_softmax_predict(const loss *l, int *pred, const real *feat, int B);

#endif
