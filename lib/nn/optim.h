/* optim.h — SGD with momentum and weight decay, and learning-rate schedules.
 *
 * Update (PyTorch's SGD convention): v ← μ·v + (g + wd·p), p ← p − lr·lr_mult·v, where wd is 0
 * for the parameter groups listed in no_decay (by default PReLU slopes, batch-norm γ/β and
 * learned scales). Schedules give the learning rate at a fractional epoch t ∈ [0, epochs):
 * linear warm-up from 0 over warmup_epochs, then constant, step (×gamma at each milestone) or
 * cosine (lr·(1 + cos(π·t'/T'))/2 over the epochs after warm-up). */
#ifndef NB_OPTIM_H
#define NB_OPTIM_H

#include "nn/paramset.h"

#define LR_MAX_MILESTONES 32

typedef enum { SCHEDULE_CONSTANT, SCHEDULE_STEP, SCHEDULE_COSINE } schedule_type;

/* A learning-rate schedule over epochs [0, epochs): base rate lr, warm-up, then type. */
typedef struct {
    schedule_type type;
    double lr;
    int epochs;
    int milestones[LR_MAX_MILESTONES]; /* SCHEDULE_STEP: epochs where the rate is multiplied by gamma */
    int n_milestones;
    double gamma;
    double warmup_epochs;
} lr_schedule;

/* One SGD step over every tensor of ps. */
void sgd_step(paramset *ps, double lr, double momentum, double weight_decay, unsigned no_decay_mask);
/* Learning rate at fractional epoch t of schedule s. */
double lr_at(const lr_schedule *s, double t);

#endif
