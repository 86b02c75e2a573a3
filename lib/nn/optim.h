/* optim.h — SGD with momentum and weight decay, and learning-rate schedules.
 *
 * Update (PyTorch's SGD convention): v ← μ·v + (g + wd·p), p ← p − lr·lr_mult·v, where wd is 0
 * for the parameter groups listed in no_decay (by default PReLU slopes, batch-norm γ/β and
 * learned scales). Schedules give the learning rate at a fractional epoch t ∈ [0, epochs):
 * linear warm-up from 0 over warmup_epochs, then constant, step (×gamma at each milestone) or
 * cosine (lr·(1 + cos(π·t'/T'))/2 over the epochs after warm-up). */
#ifndef NB_OPTIM_H
#define NB_OPTIM_H

#include "config/config.h"
#include "nn/paramset.h"

/* One SGD step over every tensor of ps. */
void sgd_step(paramset *ps, double lr, double momentum, double weight_decay, unsigned no_decay_mask);
/* Learning rate at fractional epoch t for the schedule in cfg->train. */
double lr_at(const nb_config *cfg, double t);

#endif
