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
#include <stdint.h>

#include "core/real.h"

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
    /* Row tensors (the classification head at large C, lib/loss/head.c); zero for every
     * tensor registered with paramset_add, whose dense path is unchanged.
     * row_len > 0: the tensor is a matrix of n / row_len rows. rows == NULL means every row;
     *   otherwise sgd_step updates, and paramset_zero_grad zeroes, only rows[0..n_rows) — Partial
     *   FC's sampled classes: the values, gradient and momentum of the other rows are not touched
     *   (no weight decay, no momentum decay). The owner keeps the list valid from the forward pass
     *   that fills the gradient rows through the next paramset_zero_grad.
     * bf16: values, gradient and momentum are stored as bf16 (lib/core/bf16.h) in data16/grad16/mom16
     *   at offset off (and n does not count toward total); paramset_data/grad return NULL for it. */
    size_t row_len;
    const int *rows;
    int n_rows;
    int bf16;
} param_tensor;

typedef struct {
    param_tensor *t;
    int count, cap;
    size_t total;
    real *data, *grad, *mom; /* each `total` long once allocated; NULL before */
    size_t total16;                   /* bf16 row tensors: */
    uint16_t *data16, *grad16, *mom16; /* each `total16` long once allocated; NULL if none */
} paramset;

/* Registers a tensor of n values; returns its index. Must be called before paramset_alloc. */
int paramset_add(paramset *ps, const char *name, size_t n, param_group group, double lr_mult);
/* Registers a row tensor (see param_tensor) of n_rows × row_len values, float (real) or bf16;
 * returns its index. Until paramset_set_rows, every row is updated. */
int paramset_add_rows(paramset *ps, const char *name, size_t n_rows, size_t row_len, param_group group,
                      double lr_mult, int bf16);
/* Restricts a row tensor's updates to rows[0..n_rows) (NULL: every row). The list is not copied. */
void paramset_set_rows(paramset *ps, int idx, const int *rows, int n_rows);
/* bf16 row tensors' storage; NULL for other tensors. */
uint16_t *paramset_data16(const paramset *ps, int idx);
uint16_t *paramset_grad16(const paramset *ps, int idx);
/* Allocates data, grad and momentum (all zero). */
void paramset_alloc(paramset *ps);
real *paramset_data(const paramset *ps, int idx);
real *paramset_grad(const paramset *ps, int idx);
/* Zeroes every gradient (the one place gradients are zeroed); of a row tensor with a row list,
 * only the listed rows. */
void paramset_zero_grad(paramset *ps);
/* Frees everything; safe on a zeroed struct. */
void paramset_free(paramset *ps);

#endif
