/* sweep.h — experiments: a base configuration plus a `sweep:` block, expanded into runs.
 *
 *   sweep:
 *     seed: [1, 2, 3]                 # axes: every key path with a list; Cartesian product
 *     loss.type: [softmax, normface]
 *     zip:                            # groups whose lists advance together (one axis each);
 *       - loss.type: [cosface, arcface]   # ~ (null) leaves a key unset for that point
 *         loss.m: [0.35, 0.5]
 *     overrides:                      # per loss type: keys applied to every run of that type
 *       arcface: {loss.s: 30}
 *
 * A run's configuration is: defaults, the run's loss type with its defaults, the base keys (those
 * that apply to the run's loss type when loss.type is swept), the overrides for its type, then
 * the sweep point. Every run is resolved and checked when the experiment is loaded, so a bad
 * value fails before any run starts. A run is named by its sweep point, e.g.
 * `arcface_m0.5_seed2` (loss type first, then each other swept key as <last name><value>, then
 * seed), so a rerun finds and skips it (OpenSphere-style YAML, without its timestamped folders). */
#ifndef NB_SWEEP_H
#define NB_SWEEP_H

#include "config/config.h"
#include "core/error.h"

typedef struct {
    char id[128];
    config_entries point; /* the swept keys' values for this run (in axis order) */
    nb_config cfg;        /* resolved */
} sweep_run;

typedef struct {
    char file[CONFIG_PATH_MAX];
    char name[128];
    config_entries base;
    char (*keys)[128]; /* swept key paths in column order */
    int n_keys;
    sweep_run *runs;
    int n_runs;
} experiment;

/* Loads and expands an experiment file (a file without a sweep is one run). Returns 0, or −1
 * with err naming file:line:col and the key. */
int experiment_load(experiment *x, const char *path, nb_error *err);
/* The value of swept key k in run r, or "" when the run leaves it unset. */
const char *experiment_value(const experiment *x, int r, int k);
void experiment_free(experiment *x);

#endif
