/* pairs.h — the metric-learning losses contrastive and triplet on P×K batches (pairs.c), called
 * by loss.c. */
#ifndef NB_LOSS_PAIRS_H
#define NB_LOSS_PAIRS_H

#include "core/real.h"
#include "loss/types.h"

/* Same contract as every family function (loss/types.h). */
double loss_pairs_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B);

#endif
