/* config.h — the experiment configuration: one YAML tree (name, seed, data, model, loss, train),
 * read strictly through libyaml.
 *
 * Every key of the file is checked against one schema table (schema.c) that also holds the
 * defaults: unknown keys, duplicate keys, wrong types and out-of-range values are errors naming
 * file:line:col and the key path. Loss options that do not apply to the chosen loss.type are
 * errors too (loss_uses_key). The resolved configuration — every key, defaults included — is
 * written beside the results so that a run can be redone from its folder alone. reader.c reads
 * and resolves, check.c checks, writer.c writes; schema.h is their internal interface. */
#ifndef NB_CONFIG_H
#define NB_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

#include "data/degrade.h"
#include "data/lfw.h"
#include "data/synthetic.h"
#include "eval/evaluate.h" /* eval_options */
#include "loss/loss.h"
#include "nn/net.h"   /* backbone_type */
#include "nn/optim.h" /* schedule_type */

#define CONFIG_PATH_MAX 512
#define CONFIG_MAX_MILESTONES 32
#define CONFIG_MAX_KEYS 128
/* Limits on an experiment file (config_parse_file refuses more, naming the line): */
#define CONFIG_FILE_MAX (1 << 20) /* bytes */
#define CONFIG_DEPTH_MAX 16       /* mappings and lists nested in one another */
#define CONFIG_SCALAR_MAX 4096    /* bytes of one value */
#define CONFIG_NODES_MAX 100000   /* values, lists and mappings */

typedef enum { DATA_FASHION_MNIST, DATA_MNIST, DATA_IDX, DATA_SYNTHETIC, DATA_LFW, DATA_INSIGHTFACE_BIN } data_type;
typedef enum { SAMPLER_RANDOM, SAMPLER_PK } sampler_type;
/* model.backend: what runs the backbone (model_init picks it; run.yaml records the one used).
 * auto: oneDNN in the float build, falling back to the OpenBLAS layers if oneDNN refuses a layer;
 * the OpenBLAS layers in the double build (the unit tests'), which has no oneDNN backend.
 * blas: the layer functions of nn/layers.h over the GEMM wrapper, in either build.
 * dnnl: oneDNN primitives; an error (model_init fails) in the double build or if oneDNN refuses. */
typedef enum { MODEL_BACKEND_AUTO, MODEL_BACKEND_BLAS, MODEL_BACKEND_DNNL } model_backend;

typedef struct {
    char name[128];   /* experiment name: results/<name>/ */
    char run_id[128]; /* run folder: results/<name>/<run_id>/ */
    uint64_t seed;
    int threads; /* 0: decided by the command line or the machine */

    struct {
        data_type type;
        char train_images[CONFIG_PATH_MAX], train_labels[CONFIG_PATH_MAX];
        char test_images[CONFIG_PATH_MAX], test_labels[CONFIG_PATH_MAX];
        int train_subset, test_subset; /* 0: all */
        int num_classes;               /* the label files' classes, checked against the labels; 0: the largest label + 1 */
        int normalize;                 /* standardise pixels with the training set's mean and sd */
        uint64_t seed;                 /* synthetic identities and degradations */
        int size;                      /* synthetic / LFW image side */
        synthetic_options synthetic;   /* data.type synthetic (size and seed from above) */
        char root[CONFIG_PATH_MAX], pairs[CONFIG_PATH_MAX], train_list[CONFIG_PATH_MAX]; /* lfw */
        char bin[CONFIG_PATH_MAX];     /* insightface-bin: the .bin verification set (training from root) */
        lfw_options lfw;               /* data.type lfw and insightface-bin (output size from data.size) */
        degrade_options degrade;       /* degradations of any dataset */
        int degrade_train, degrade_test;
    } data;

    struct {
        backbone_type backbone;
        int feature_dim;
        int width; /* base channel count; 0: the backbone's own default */
        model_backend backend;
    } model;

    loss_config loss;

    struct {
        int epochs, batch_size;
        double lr, momentum, weight_decay;
        unsigned no_decay; /* bit mask over param_group */
        schedule_type schedule;
        int milestones[CONFIG_MAX_MILESTONES];
        int n_milestones;
        double gamma;
        double warmup_epochs;
        sampler_type sampler;
        int pk_p, pk_k;
        int log_every; /* steps per row of steps.csv (train/train.h) */
    } train;

    eval_options eval; /* eval/evaluate.h */

    char source[CONFIG_PATH_MAX]; /* the file it was read from */
    /* Where each key of the schema was set in source (1-based line, column; 0 = not in the
     * file), so that checks made after loading can still point at the line. */
    int key_line[CONFIG_MAX_KEYS], key_col[CONFIG_MAX_KEYS];
    unsigned char key_set[CONFIG_MAX_KEYS]; /* set by a file, a sweep or --set (not a default) */
    unsigned char key_cmdline[CONFIG_MAX_KEYS]; /* set last by --set: its errors name the command line */
} nb_config;

/* All defaults (loss defaults for loss type softmax). */
void config_defaults(nb_config *cfg);
/* Reads and checks path. Returns 0, or −1 with err naming path, line, column and key. */
int config_load(nb_config *cfg, const char *path, nb_error *err);
/* ---- building a configuration from key lists ----
 * A key list is what a YAML file says, flattened to key paths ("train.lr" → "0.1"; lists as
 * "[1, 2]"), each with the line and column it came from. Experiment sweeps and command-line overrides
 * are key lists too, applied on top of the file's. */
typedef struct {
    char path[128];
    char *text;
    int line, col; /* 0 when not from a file */
} config_entry;

typedef struct {
    config_entry *e;
    int n, cap;
    char file[CONFIG_PATH_MAX]; /* where the entries came from ("" for the command line) */
} config_entries;

void config_entries_add(config_entries *l, const char *path, const char *text, int line, int col);
void config_entries_free(config_entries *l);
/* Reads the one-run experiment file path with the command-line overrides over on top (may be
 * NULL), as `normbench train` does. A file with a sweep is an error naming its line (it is run
 * with `normbench run`). Returns 0, or −1 with err. */
int config_load_run(nb_config *cfg, const char *path, const config_entries *over, nb_error *err);
/* Is path a settable key of the schema? */
int config_key_exists(const char *path);
/* Builds cfg: defaults; loss.type (from over if it sets it, else base) with that type's loss
 * defaults; base's keys; over's keys; then config_check. A loss key that does not apply to
 * the loss type is an error — in base it is skipped instead when lenient (an experiment whose
 * sweep changes loss.type keeps the base options that apply to each type). */
int config_resolve(nb_config *cfg, const config_entries *base, const config_entries *over, int lenient,
                   nb_error *err);
/* Fills err with the message (printf format) about key `path`, pointing at the file, line and
 * column that set it when a file did (just the message otherwise); returns −1. For checks made
 * after loading (model_init's). */
int config_key_error(const nb_config *cfg, nb_error *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Checks cross-key constraints (after loading or overrides). */
int config_check(const nb_config *cfg, nb_error *err);
/* Writes the resolved configuration as YAML (libyaml emitter). Returns 0 or −1. */
int config_write(const nb_config *cfg, FILE *f);

const char *data_type_name(data_type t);

#endif
