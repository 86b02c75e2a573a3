/* config.h — the experiment configuration: one YAML tree (name, seed, data, model, loss, train),
 * read strictly through libyaml.
 *
 * Every key of the file is checked against one schema table (config.c) that also holds the
 * defaults: unknown keys, duplicate keys, wrong types and out-of-range values are errors naming
 * file:line:col and the key path. Loss options that do not apply to the chosen loss.type are
 * errors too (loss_uses_key). The resolved configuration — every key, defaults included — is
 * written beside the results so that a run can be redone from its folder alone. */
#ifndef NB_CONFIG_H
#define NB_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "loss.h"

#define CONFIG_PATH_MAX 512
#define CONFIG_MAX_MILESTONES 32
#define CONFIG_MAX_KEYS 96

typedef enum { DATA_FASHION_MNIST, DATA_MNIST, DATA_IDX } data_type;
typedef enum { BACKBONE_CONVNET_SMALL, BACKBONE_LENETPP, BACKBONE_RESNET_MINI } backbone_type;
typedef enum { SCHEDULE_CONSTANT, SCHEDULE_STEP, SCHEDULE_COSINE } schedule_type;
typedef enum { SAMPLER_RANDOM, SAMPLER_PK } sampler_type;

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
        int normalize;                 /* standardise pixels with the training set's mean and sd */
    } data;

    struct {
        backbone_type backbone;
        int feature_dim;
        int width; /* base channel count; 0: the backbone's own default */
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
    } train;

    char source[CONFIG_PATH_MAX]; /* the file it was read from */
    /* Where each key of the schema was set in source (1-based line, column; 0 = not in the
     * file), so that checks made after loading can still point at the line. */
    int key_line[CONFIG_MAX_KEYS], key_col[CONFIG_MAX_KEYS];
} nb_config;

/* All defaults (loss defaults for loss type softmax). */
void config_defaults(nb_config *cfg);
/* Reads and checks path. Returns 0, or −1 with err naming path, line, column and key. */
int config_load(nb_config *cfg, const char *path, nb_error *err);
/* Sets one key from its text, as a "key=value" override on the command line would. */
int config_set(nb_config *cfg, const char *key, const char *value, nb_error *err);
/* Checks cross-key constraints (after loading or overrides). */
int config_check(const nb_config *cfg, nb_error *err);
/* Writes the resolved configuration as YAML (libyaml emitter). Returns 0 or −1. */
int config_write(const nb_config *cfg, FILE *f);

const char *backbone_name(backbone_type b);
const char *data_type_name(data_type t);

#endif
