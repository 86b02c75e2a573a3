/* model.h — a model: backbone and loss head in one paramset, with the batch buffers of a
 * training step, built from an experiment's configuration; one SGD step; closed-set accuracy. */
#ifndef NB_MODEL_H
#define NB_MODEL_H

#include "config/config.h"
#include "core/error.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "eval/evaluate.h"
#include "loss/loss.h"
#include "nn/net.h"
#include "nn/optim.h"
#include "nn/paramset.h"

typedef struct {
    paramset ps;
    net net;
    loss loss;
    real *x;     /* (max_batch, c, h, w) batch buffer */
    int *y;      /* (max_batch) */
    real *dfeat; /* (max_batch, d) */
    int *pred;   /* (max_batch) */
} model;

/* Builds backbone and loss for inputs (c, h, w) and num_classes; initialises from rng; puts the
 * backbone on model.backend's backend (config.h: auto is oneDNN in the float build, the OpenBLAS
 * layers in the double build; m->net.backend says which ran). Returns 0, or −1 with err (inputs
 * too small for the backbone, loss options that do not suit num_classes, model.backend dnnl in
 * the double build or refused by oneDNN); m is then zeroed, with nothing left to free. */
int model_init(model *m, const nb_config *cfg, int c, int h, int w, int num_classes, int max_batch, rng_t *rng,
               nb_error *err);
/* Frees what model_init allocated and zeroes m; safe on a zeroed model and twice. */
void model_free(model *m);

/* Statistics of one training step. */
typedef struct {
    double loss;
    int correct;         /* closed-set predictions right in this batch (−1: no classifier) */
    double norm_sum;     /* Σ‖f_i‖ over the batch (features before any normalisation) */
    double norm_sq_sum;  /* Σ‖f_i‖² */
} step_stats;

/* One SGD step on the batch already in m->x, m->y: forward, loss, backward, update. */
void model_train_step(model *m, const nb_config *cfg, int B, double lr, long step, step_stats *st);
/* The model as the evaluation sees it (its parts; valid while m is). */
eval_model model_view(model *m);
/* Closed-set accuracy on a dataset (eval mode); NAN when the loss has no classifier. */
double model_evaluate(model *m, const dataset *d, int batch);
/* The learning-rate schedule of cfg->train. */
void model_schedule(lr_schedule *s, const nb_config *cfg);

#endif
