/* train.h — the training loop that writes a run's folder (the model it trains: model.h), and
 * the loading of a run's data.
 *
 * A run folder results/<name>/<run_id>/ holds: config.yaml (the resolved configuration),
 * run.yaml (config/runrecord.h: seed, git commit, compiler and flags, scalar type, OpenBLAS
 * configuration, threads, data files, wall time) and metrics.csv (one row per epoch: epoch, step,
 * lr, train_loss, train_acc, test_acc, feature_norm, feature_norm_sd, learned_scale, learned_bias,
 * seconds) and steps.csv (a row every train.log_every steps and at each epoch's end: step,
 * fractional epoch, lr, the window's mean train_loss, train_acc, feature_norm and its sd, then
 * learned_scale, learned_bias; both files end with the loss's carried state). Every file is
 * replaced atomically after each epoch, so an interrupted run leaves valid files behind; a rerun
 * starts from step 0 (no checkpoint) and removes the earlier attempt's steps.csv first.
 * final.csv (status, epochs, steps, diverged_step and the final metrics) is written last: a run
 * is complete exactly when it exists. A run whose loss becomes NaN/Inf stops and is complete
 * with status "diverged". */
#ifndef NB_TRAIN_H
#define NB_TRAIN_H

#include "config/config.h"
#include "core/error.h"
#include "data/dataset.h"
#include "data/pairs.h"
#include "train/model.h"

/* Loads the training and test sets named by cfg->data (IDX files, synthetic identities or an
 * LFW-format folder), applies the configured degradations and the normalisation. pairs gets the
 * verification pairs of a dataset that has a pairs file (LFW), else stays empty. */
int data_load(const nb_config *cfg, dataset *train, dataset *test, pair_list *pairs, nb_error *err);

typedef struct {
    const char *results_root; /* "results" by default */
    int threads;
    int progress_tty;         /* live progress line on stderr (a terminal); else a line per epoch */
    int quiet;
    /* What to do with the run folder found (train_run decides while it holds the folder's lock,
     * runfolder_lock_take): */
    int force;         /* redo a run whose folder holds a different configuration */
    int keep_complete; /* a complete run of this configuration is kept (res->already_complete),
                          and an incomplete one of a different configuration is refused too */
    int wait_lock;     /* wait while another process trains the run, instead of refusing */
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
    int busy;             /* refused: another process holds the run's lock (err names it) */
    int changed;          /* refused: the folder holds a different configuration (without force) */
    int already_complete; /* keep_complete and the folder already held this run, complete */
} train_result;

/* Trains cfg and writes its run folder, holding the folder's lock (io/runfolder.h) from before
 * anything of it is read to after final.csv is written. Under the lock it decides: a folder
 * whose config.yaml differs from cfg's resolved configuration is refused (res->changed) when it
 * is complete, or with keep_complete whatever its state, unless force; with keep_complete a
 * complete folder of cfg is kept (res->already_complete, nothing trained). Returns 0 (also for a
 * diverged run: see res->diverged, and for a kept one), or −1 with err: another process
 * training the run (res->busy, err naming its pid), a refused folder (res->changed), a data file that cannot be read or holds a non-finite pixel, a folder that
 * cannot be written (disk full: the files written before stay valid), a run folder path that
 * does not fit (runfolder_path), a run folder reached through a symbolic link
 * (results_path_check), or a stop request (res->interrupted; run.yaml then says "interrupted"
 * and there is no final.csv). */
int train_run(const nb_config *cfg, const train_options *opt, train_result *res, nb_error *err);
/* Does run folder dir hold a config.yaml other than cfg's resolved configuration? The same is
 * byte for byte, or a file that, loaded with today's defaults for the keys it lacks (one written
 * before a key existed), writes out byte for byte as cfg does. 0 when it holds none (or the
 * same), 1 when it holds another configuration, 2 when what it holds is not a configuration at
 * all (it cannot be read or does not load). */
int train_folder_differs(const char *dir, const nb_config *cfg);
/* What the folder holds, for a message, by train_folder_differs's non-zero answer. */
const char *train_folder_difference(int differs);
/* Asks every train_run of this process to stop before its next step (or before and after the
 * final evaluation), leaving its run incomplete. Async-signal-safe: made for a SIGINT/SIGTERM
 * handler; sig is reported in the error. */
void train_request_stop(int sig);
/* The signal of a pending stop request, or 0. */
int train_stop_requested(void);
/* An in-memory dataset's images must be finite: returns 0, or −1 with err naming file, the
 * split (what) and the first image holding NaN/Inf. Streamed datasets are checked per batch. */
int data_check_finite(const dataset *d, const char *file, const char *what, nb_error *err);

#endif
