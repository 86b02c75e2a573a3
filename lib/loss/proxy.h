/* proxy.h — Circle loss (pairs of the batch) and Proxy-Anchor (one learnable proxy per class)
 * (proxy.c). Called by the dispatcher loss.c. */
#ifndef NB_LOSS_PROXY_H
#define NB_LOSS_PROXY_H

#include "core/real.h"
#include "loss/types.h"

/* Same contract as every family function (loss/types.h), for circle and proxy_anchor. */
double loss_proxy_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B);

#endif
