/* train.h — a model (backbone + loss head in one paramset) and the training loop that writes a
 * run's folder.
 *
 * A run folder results/<name>/<run_id>/ holds: config.yaml (the resolved configuration),
 * run.yaml (seed, git commit, compiler and flags, scalar type, OpenBLAS configuration, threads,
 * data files, wall time) and metrics.csv (one row per epoch: epoch, step, lr, train_loss,
 * train_acc, test_acc, feature_norm, feature_norm_sd, learned_scale, seconds). Every file is
 * replaced atomically after each epoch, so an interrupted run leaves valid files behind.
 * final.csv (status, epochs, steps, diverged_step and the final metrics) is written last: a run
 * is complete exactly when it exists. A run whose loss becomes NaN/Inf stops and is complete
 * with status "diverged". */
#ifndef NB_TRAIN_H
#define NB_TRAIN_H

#include "config/config.h"
#include "data/dataset.h"
#include "core/error.h"
#include "loss/loss.h"
#include "nn/net.h"
#include "data/pairs.h"
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

/* Builds backbone and loss for inputs (c, h, w) and num_classes; initialises from rng. */
int model_init(model *m, const nb_config *cfg, int c, int h, int w, int num_classes, int max_batch, rng_t *rng,
               nb_error *err);
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
/* Closed-set accuracy on a dataset (eval mode); NAN when the loss has no classifier. */
double model_evaluate(model *m, const dataset *d, int batch);

/* Loads the training and test sets named by cfg->data (IDX files, synthetic identities or an
 * LFW-format folder), applies the configured degradations and the normalisation. pairs gets the
 * verification pairs of a dataset that has a pairs file (LFW), else stays empty. */
int data_load(const nb_config *cfg, dataset *train, dataset *test, pair_list *pairs, nb_error *err);

typedef struct {
    const char *results_root; /* "results" by default */
    int threads;
    int progress_tty;         /* live progress line on stderr (a terminal); else a line per epoch */
    int quiet;
} train_options;

typedef struct {
    char run_dir[1100];
    int epochs;
    long steps;
    double train_loss, train_acc, test_acc, seconds, images_per_second;
    double verify_acc;  /* 10-fold verification accuracy of the final model */
    int num_classes;       /* classes of the classifier / agents */
    double min_train_loss; /* the lowest epoch-mean training loss */
    int diverged;       /* the loss (or the features) became NaN/Inf */
    long diverged_step;
    int interrupted;    /* the signal that stopped the run (train_request_stop), else 0 */
} train_result;

/* Trains cfg and writes its run folder. Returns 0 (also for a diverged run: see res->diverged),
 * or −1 with err: a data file that cannot be read or holds a non-finite pixel, a folder that
 * cannot be written (disk full: the files written before stay valid), a run folder reached
 * through a symbolic link (results_path_check), or a stop request (res->interrupted; run.yaml
 * then says "interrupted" and there is no final.csv). */
int train_run(const nb_config *cfg, const train_options *opt, train_result *res, nb_error *err);
/* Asks every train_run of this process to stop before its next step (or before and after the
 * final evaluation), leaving its run incomplete. Async-signal-safe: made for a SIGINT/SIGTERM
 * handler; sig is reported in the error. */
void train_request_stop(int sig);
/* The signal of a pending stop request, or 0. */
int train_stop_requested(void);
/* An in-memory dataset's images must be finite: returns 0, or −1 with err naming file, the
 * split (what) and the first image holding NaN/Inf. Streamed datasets are checked per batch. */
int data_check_finite(const dataset *d, const char *file, const char *what, nb_error *err);
/* Reads wall_seconds and threads back from a run folder's run.yaml (written by train_run).
 * Returns 0, or −1 when the file is missing, is not YAML, or lacks either key. */
int run_record_read(const char *dir, double *wall_seconds, int *threads);

#endif
