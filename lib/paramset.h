/* paramset.h — all learnable parameters of a model in one buffer (STYLE rule 3).
 *
 * Modules (backbone layers, loss heads) register named tensors with a group during their *_init;
 * paramset_alloc then lays out one contiguous buffer each for values, gradients and momentum,
 * and modules fetch their pointers with paramset_data/paramset_grad (their *_bind step). The
 * optimizer is then one flat loop per tensor, with the tensor's group deciding weight decay and
 * its lr multiplier scaling the learning rate. */
#ifndef NB_PARAMSET_H
#define NB_PARAMSET_H

#include <stddef.h>

#include "real.h"

typedef enum {
    PARAM_WEIGHT, /* conv / linear weights */
    PARAM_BIAS,   /* conv / linear biases */
    PARAM_PRELU,  /* PReLU slopes */
    PARAM_BN,     /* batch-norm γ and β */
    PARAM_HEAD,   /* class weights, agents, loss biases */
    PARAM_SCALE,  /* learned scalars: NormFace s, L2-softmax α */
    PARAM_GROUP_COUNT
} param_group;

/* Name used in configs ("weight", "bias", "prelu", "bn", "head", "scale"). */
const char *param_group_name(param_group g);
/* Returns the group for a name, or -1. */
int param_group_from_name(const char *name);

typedef struct {
    char name[64];
    size_t off, n;
    param_group group;
    double lr_mult; /* 1 unless the module says otherwise (e.g. a learned scale) */
} param_tensor;

typedef struct {
    param_tensor *t;
    int count, cap;
    size_t total;
    real *data, *grad, *mom; /* each `total` long once allocated; NULL before */
} paramset;

/* Registers a tensor of n values; returns its index. Must be called before paramset_alloc. */
int paramset_add(paramset *ps, const char *name, size_t n, param_group group, double lr_mult);
/* Allocates data, grad and momentum (all zero). */
void paramset_alloc(paramset *ps);
real *paramset_data(const paramset *ps, int idx);
real *paramset_grad(const paramset *ps, int idx);
/* Zeroes every gradient (the one place gradients are zeroed). */
void paramset_zero_grad(paramset *ps);
/* Frees everything; safe on a zeroed struct. */
void paramset_free(paramset *ps);

#endif
