/* agents.h — the agent-based losses c_contrastive and c_triplet (agents.c), called by loss.c. */
#ifndef NB_LOSS_AGENTS_H
#define NB_LOSS_AGENTS_H

#include "core/real.h"
#include "loss/types.h"

/* Same contract as every family function (loss/types.h). */
double loss_agents_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B);

#endif
