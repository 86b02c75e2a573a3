/* check.c — the rules between keys of a resolved configuration (config_check): folder-safe
 * names, keys of other data types, required paths, the loss's own range checks
 * (loss_config_check), schedule, evaluation folds and P×K batches. Each error points at the line
 * that set the key, when a file did. */
#include "config/config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/schema.h"

/* A run id or experiment name becomes a folder: letters, digits, '.', '_', '-' and '=' only,
 * not starting with '.', so it can never leave the results folder. */
static int safe_name(const char *s)
{
    if (!s[0] || s[0] == '.')
        return 0;
    for (const char *p = s; *p; p++)
        if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') || *p == '.' ||
              *p == '_' || *p == '-' || *p == '='))
            return 0;
    return 1;
}


/* An error about key `path`, pointing at where the file set it (if it did); see config.h. */
int config_key_error(const nb_config *cfg, nb_error *err, const char *path, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const key_spec *k = schema_find(path);
    int i = k ? (int)(k - schema_keys) : -1;
    if (i >= 0 && cfg->key_cmdline[i]) /* given by --set: the file is not to blame */
        return nb_error_set(err, "(command line)", 0, 0, "%s", msg);
    return nb_error_set(err, cfg->source[0] ? cfg->source : NULL, i >= 0 ? cfg->key_line[i] : 0,
                        i >= 0 ? cfg->key_col[i] : 0, "%s", msg);
}

int config_check(const nb_config *cfg, nb_error *err)
{
    if (!safe_name(cfg->name))
        return config_key_error(cfg, err, "name", "name: '%s' cannot be a folder name (use letters, digits, '.', '_', '-', not starting with '.')",
                            cfg->name);
    if (cfg->run_id[0] && !safe_name(cfg->run_id))
        return config_key_error(cfg, err, "run_id", "run_id: '%s' cannot be a folder name (use letters, digits, '.', '_', '-', not starting with '.')",
                            cfg->run_id);
    /* keys that belong to other data types are mistakes worth reporting */
    for (size_t i = 0; i < schema_n_keys; i++)
        if (cfg->key_set[i] && !schema_data_key_applies(cfg, &schema_keys[i]))
            return config_key_error(cfg, err, schema_keys[i].path, "%s: does not apply to data.type %s", schema_keys[i].path,
                             data_type_name(cfg->data.type));
    if (cfg->data.type == DATA_LFW && !cfg->data.root[0])
        return config_key_error(cfg, err, "data.type", "data.root: required for data.type lfw (the folder of identity folders)");
    if (cfg->data.type == DATA_LFW && !cfg->data.pairs[0])
        return config_key_error(cfg, err, "data.type", "data.pairs: required for data.type lfw (an LFW pairs.txt)");
    if (cfg->data.type == DATA_INSIGHTFACE_BIN && !cfg->data.root[0])
        return config_key_error(cfg, err, "data.type", "data.root: required for data.type insightface-bin (the training "
                                "images: a folder of identity folders)");
    if (cfg->data.type == DATA_INSIGHTFACE_BIN && !cfg->data.bin[0])
        return config_key_error(cfg, err, "data.type", "data.bin: required for data.type insightface-bin (an InsightFace "
                                ".bin verification set, e.g. lfw.bin)");
    if ((cfg->data.lfw.crop_w == 0) != (cfg->data.lfw.crop_h == 0))
        return config_key_error(cfg, err, "data.crop_width", "data.crop_width, data.crop_height: both 0 (no crop) or both > 0");
    if (cfg->data.synthetic.shift > cfg->data.size / 2.0)
        return config_key_error(cfg, err, "data.shift", "data.shift: %g is more than half of data.size (%d)",
                         cfg->data.synthetic.shift, cfg->data.size);
    if (cfg->data.type == DATA_IDX || cfg->data.type == DATA_MNIST) {
        const char *need[4] = {cfg->data.train_images, cfg->data.train_labels, cfg->data.test_images,
                               cfg->data.test_labels};
        const char *names[4] = {"train_images", "train_labels", "test_images", "test_labels"};
        for (int i = 0; i < 4; i++)
            if (!need[i][0])
                return config_key_error(cfg, err, "data.type", "data.%s: required for data.type %s (path to an IDX file)",
                                    names[i], data_type_name(cfg->data.type));
    }
    char msg[512];
    /* The class count is not known before the data is read: check what does not depend on it
     * now (a huge count passes every class-count rule); model_init checks again with the real one. */
    if (loss_config_check(&cfg->loss, 1 << 30, msg, sizeof msg)) {
        char path[64];
        snprintf(path, sizeof path, "%.*s", (int)strcspn(msg, ":"), msg);
        return config_key_error(cfg, err, path, "%s", msg);
    }
    if (cfg->train.warmup_epochs >= cfg->train.epochs)
        return config_key_error(cfg, err, "train.warmup_epochs", "train.warmup_epochs: %g must be less than train.epochs (%d)",
                            cfg->train.warmup_epochs, cfg->train.epochs);
    for (int i = 0; i < cfg->train.n_milestones; i++)
        if (cfg->train.milestones[i] > cfg->train.epochs)
            return config_key_error(cfg, err, "train.milestones", "train.milestones: %d is after the last epoch (%d)",
                                cfg->train.milestones[i], cfg->train.epochs);
    if (cfg->train.schedule == SCHEDULE_STEP && cfg->train.n_milestones == 0)
        return config_key_error(cfg, err, "train.milestones", "train.milestones: schedule 'step' needs at least one milestone");
    if (cfg->eval.pairs % (2 * cfg->eval.folds))
        return config_key_error(cfg, err, "eval.pairs", "eval.pairs: %d is not a multiple of 2 × eval.folds (%d): each fold holds "
                         "equal numbers of matched and mismatched pairs", cfg->eval.pairs, 2 * cfg->eval.folds);
    if (cfg->train.sampler == SAMPLER_PK && (long)cfg->train.pk_p * cfg->train.pk_k > cfg->train.batch_size)
        return config_key_error(cfg, err, "train.pk_p", "train.pk_p × train.pk_k = %ld is larger than train.batch_size (%d): "
                         "a P×K batch must fit in one batch", (long)cfg->train.pk_p * cfg->train.pk_k,
                         cfg->train.batch_size);
    if (loss_needs_pk(cfg->loss.type) && cfg->train.sampler != SAMPLER_PK)
        return config_key_error(cfg, err, "train.sampler", "train.sampler: loss type '%s' needs sampler: pk (P classes × K samples)",
                            loss_type_name(cfg->loss.type));
    return 0;
}
