/* schema.c — the configuration schema: one table, `keys`, lists every key path with its kind,
 * its place in nb_config, its range and its default (as text, parsed by the same code that parses
 * the file). Loss keys take their defaults from loss_config_defaults() for the chosen loss.type
 * (docs/losses.md §1), loss.type's names come from the loss table (loss/table.h), and which loss
 * keys apply to a type is loss_uses_key's answer; the schema only says where each value goes and
 * its range. Also the parsing of one value (numbers by strtod/strtol with an end check). */
#include "config/schema.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nn/paramset.h"

static const char *const data_names[] = {"fashion-mnist", "mnist", "idx", "synthetic", "lfw", "insightface-bin", NULL};
static const char *const resize_names[] = {"area", "bilinear", NULL};
static const char *const schedule_names[] = {"constant", "step", "cosine", NULL};
static const char *const sampler_names[] = {"random", "pk", NULL};
static const char *const mining_names[] = {"batch_all", "batch_hard", NULL};
static const char *const head_dtype_names[] = {"float32", "bf16", NULL};
static const char *const variant_names[] = {"am", "arc", "cos", "c", "a", "m", NULL}; /* loss_variant's order */
static const char *const backend_names[] = {"auto", "blas", "dnnl", NULL}; /* model_backend's order */

#define OFF(field) offsetof(nb_config, field)
#define STR(field) OFF(field), sizeof(((nb_config *)0)->field)
#define BIG 1e300

const key_spec schema_keys[] = {
    {"name", K_STRING, STR(name), 0, 0, NULL, ""},
    {"run_id", K_STRING, STR(run_id), 0, 0, NULL, ""},
    {"seed", K_U64, OFF(seed), 0, 0, 0, NULL, "1"},
    {"threads", K_INT, OFF(threads), 0, 0, 256, NULL, "0"},

    {"data", K_SECTION, 0, 0, 0, 0, NULL, NULL},
    {"data.type", K_ENUM, OFF(data.type), 0, 0, 0, data_names, "fashion-mnist"},
    {"data.train_images", K_STRING, STR(data.train_images), 0, 0, NULL, ""},
    {"data.train_labels", K_STRING, STR(data.train_labels), 0, 0, NULL, ""},
    {"data.test_images", K_STRING, STR(data.test_images), 0, 0, NULL, ""},
    {"data.test_labels", K_STRING, STR(data.test_labels), 0, 0, NULL, ""},
    {"data.train_subset", K_INT, OFF(data.train_subset), 0, 0, INT_MAX, NULL, "0"},
    {"data.test_subset", K_INT, OFF(data.test_subset), 0, 0, INT_MAX, NULL, "0"},
    {"data.num_classes", K_INT, OFF(data.num_classes), 0, 0, 1000000, NULL, "0"},
    {"data.normalize", K_BOOL, OFF(data.normalize), 0, 0, 1, NULL, "true"},
    {"data.seed", K_U64, OFF(data.seed), 0, 0, 0, NULL, "1"},
    {"data.size", K_INT, OFF(data.size), 0, 8, 256, NULL, "32"},
    /* synthetic identities (docs/data.md §3) */
    {"data.identities", K_INT, OFF(data.synthetic.identities), 0, 10, 100000, NULL, "100"},
    {"data.test_identities", K_INT, OFF(data.synthetic.test_identities), 0, 2, 100000, NULL, "100"},
    {"data.images_per_identity", K_INT, OFF(data.synthetic.images_per_identity), 0, 1, 100000, NULL, "20"},
    {"data.test_images_per_identity", K_INT, OFF(data.synthetic.test_images_per_identity), 0, 1, 100000, NULL, "10"},
    {"data.quality_levels", K_INT, OFF(data.synthetic.quality_levels), 0, 1, 255, NULL, "4"},
    {"data.noise", K_FLOAT, OFF(data.synthetic.noise), 0, 0, 10, NULL, "0.02"},
    {"data.shift", K_FLOAT, OFF(data.synthetic.shift), 0, 0, 128, NULL, "2"},
    {"data.rotation", K_FLOAT, OFF(data.synthetic.rotation), 0, 0, 180, NULL, "10"},
    {"data.illumination", K_FLOAT, OFF(data.synthetic.illumination), 0, 0, 0.999, NULL, "0.2"},
    {"data.quality_blur", K_FLOAT, OFF(data.synthetic.quality_blur), 0, 0, 256, NULL, "0.8"},
    {"data.quality_noise", K_FLOAT, OFF(data.synthetic.quality_noise), 0, 0, 10, NULL, "0.05"},
    /* LFW-format folders */
    {"data.root", K_STRING, STR(data.root), 0, 0, NULL, ""},
    {"data.pairs", K_STRING, STR(data.pairs), 0, 0, NULL, ""},
    {"data.train_list", K_STRING, STR(data.train_list), 0, 0, NULL, ""},
    /* InsightFace .bin verification sets (docs/data.md §3), training from an LFW-layout data.root */
    {"data.bin", K_STRING, STR(data.bin), 0, 0, NULL, ""},
    {"data.crop_width", K_INT, OFF(data.lfw.crop_w), 0, 0, 65535, NULL, "150"},
    {"data.crop_height", K_INT, OFF(data.lfw.crop_h), 0, 0, 65535, NULL, "150"},
    {"data.channels", K_INT, OFF(data.lfw.channels), 0, 1, 3, NULL, "1"},
    {"data.resize", K_ENUM, OFF(data.lfw.resize), 0, 0, 0, resize_names, "area"},
    /* degradations of any dataset */
    {"data.degrade_fraction", K_FLOAT, OFF(data.degrade.fraction), 0, 0, 1, NULL, "0.5"},
    {"data.degrade_levels", K_INT, OFF(data.degrade.levels), 0, 1, 255, NULL, "1"},
    {"data.degrade_blur", K_FLOAT, OFF(data.degrade.blur), 0, 0, 100, NULL, "0"},
    {"data.degrade_noise", K_FLOAT, OFF(data.degrade.noise), 0, 0, 100, NULL, "0"},
    {"data.degrade_downscale", K_FLOAT, OFF(data.degrade.downscale), 0, 1, 1000, NULL, "1"},
    {"data.degrade_occlusion", K_FLOAT, OFF(data.degrade.occlusion), 0, 0, 1, NULL, "0"},
    {"data.degrade_train", K_BOOL, OFF(data.degrade_train), 0, 0, 1, NULL, "true"},
    {"data.degrade_test", K_BOOL, OFF(data.degrade_test), 0, 0, 1, NULL, "true"},

    {"model", K_SECTION, 0, 0, 0, 0, NULL, NULL},
    {"model.backbone", K_ENUM, OFF(model.backbone), 0, 0, 0, net_backbone_names, "convnet-small"},
    {"model.feature_dim", K_INT, OFF(model.feature_dim), 0, 1, 65536, NULL, "128"},
    {"model.width", K_INT, OFF(model.width), 0, 0, 4096, NULL, "0"},
    {"model.backend", K_ENUM, OFF(model.backend), 0, 0, 0, backend_names, "auto"},

    /* the loss options: where each goes and its range; which apply to a type is the loss table's
     * (loss_uses_key), their defaults and checks loss.c's */
    {"loss", K_SECTION, 0, 0, 0, 0, NULL, NULL},
    {"loss.type", K_LOSS_TYPE, OFF(loss.type), 0, 0, 0, NULL, NULL},
    {"loss.bias", K_BOOL, OFF(loss.bias), 0, 0, 1, NULL, NULL},
    {"loss.alpha", K_ALPHA, OFF(loss.alpha), 0, -BIG, BIG, NULL, NULL},
    {"loss.alpha_p", K_FLOAT, OFF(loss.alpha_p), 0, -BIG, BIG, NULL, NULL},
    {"loss.learn_alpha", K_BOOL, OFF(loss.learn_alpha), 0, 0, 1, NULL, NULL},
    {"loss.s", K_FLOAT, OFF(loss.s), 0, -BIG, BIG, NULL, NULL},
    {"loss.learn_s", K_BOOL, OFF(loss.learn_s), 0, 0, 1, NULL, NULL},
    {"loss.scale_lr_mult", K_FLOAT, OFF(loss.scale_lr_mult), 0, 0, 1e6, NULL, NULL},
    {"loss.scale_min", K_FLOAT, OFF(loss.scale_min), 0, -BIG, BIG, NULL, NULL},
    {"loss.m", K_FLOAT, OFF(loss.m), 0, -BIG, BIG, NULL, NULL},
    {"loss.m1", K_FLOAT, OFF(loss.m1), 0, -BIG, BIG, NULL, NULL},
    {"loss.m2", K_FLOAT, OFF(loss.m2), 0, -BIG, BIG, NULL, NULL},
    {"loss.m3", K_FLOAT, OFF(loss.m3), 0, -BIG, BIG, NULL, NULL},
    {"loss.easy_margin", K_BOOL, OFF(loss.easy_margin), 0, 0, 1, NULL, NULL},
    {"loss.detach_margin", K_BOOL, OFF(loss.detach_margin), 0, 0, 1, NULL, NULL},
    {"loss.lambda_base", K_FLOAT, OFF(loss.lambda_base), 0, -BIG, BIG, NULL, NULL},
    {"loss.lambda_gamma", K_FLOAT, OFF(loss.lambda_gamma), 0, -BIG, BIG, NULL, NULL},
    {"loss.lambda_power", K_FLOAT, OFF(loss.lambda_power), 0, -BIG, BIG, NULL, NULL},
    {"loss.lambda_min", K_FLOAT, OFF(loss.lambda_min), 0, -BIG, BIG, NULL, NULL},
    {"loss.m_pos", K_FLOAT, OFF(loss.m_pos), 0, -BIG, BIG, NULL, NULL},
    {"loss.m_neg", K_FLOAT, OFF(loss.m_neg), 0, -BIG, BIG, NULL, NULL},
    {"loss.pull_positive", K_BOOL, OFF(loss.pull_positive), 0, 0, 1, NULL, NULL},
    {"loss.mining", K_ENUM, OFF(loss.mining), 0, 0, 0, mining_names, NULL},
    {"loss.center_weight", K_FLOAT, OFF(loss.center_weight), 0, 0, 1e6, NULL, NULL},
    {"loss.center_rate", K_FLOAT, OFF(loss.center_rate), 0, 0, 1, NULL, NULL},
    /* classification head at large C: Partial FC rate in (0, 1], bf16 storage */
    {"loss.sample_rate", K_FLOAT, OFF(loss.sample_rate), 0, 0, 1, NULL, NULL},
    {"loss.head_dtype", K_ENUM, OFF(loss.head_dtype), 0, 0, 0, head_dtype_names, NULL},
    /* sphereface2, uniface (loss/binary.c): λ, r, lw (t and variant below); circle's γ,
     * proxy_anchor's δ (loss/proxy.c) */
    {"loss.lambda", K_FLOAT, OFF(loss.bin_lambda), 0, -BIG, BIG, NULL, NULL},
    {"loss.r", K_FLOAT, OFF(loss.bin_r), 0, -BIG, BIG, NULL, NULL},
    {"loss.lw", K_FLOAT, OFF(loss.bin_lw), 0, -BIG, BIG, NULL, NULL},
    {"loss.gamma", K_FLOAT, OFF(loss.gamma), 0, -BIG, BIG, NULL, NULL},
    {"loss.delta", K_FLOAT, OFF(loss.delta), 0, -BIG, BIG, NULL, NULL},
    {"loss.proxy_lr_mult", K_FLOAT, OFF(loss.proxy_lr_mult), 0, -BIG, BIG, NULL, NULL},
    /* docs/losses.md §1b margin losses (variant and t also sphereface2's); ranges in loss.c / margin.c */
    {"loss.variant", K_ENUM, OFF(loss.variant), 0, 0, 0, variant_names, NULL},
    {"loss.t", K_FLOAT, OFF(loss.t), 0, -BIG, BIG, NULL, NULL},
    {"loss.K", K_INT, OFF(loss.K), 0, 1, 64, NULL, NULL},
    {"loss.sigma", K_FLOAT, OFF(loss.sigma), 0, -BIG, BIG, NULL, NULL},
    {"loss.plus", K_BOOL, OFF(loss.plus), 0, 0, 1, NULL, NULL},
    {"loss.dynamic", K_BOOL, OFF(loss.dynamic), 0, 0, 1, NULL, NULL},
    {"loss.l_a", K_FLOAT, OFF(loss.l_a), 0, -BIG, BIG, NULL, NULL},
    {"loss.u_a", K_FLOAT, OFF(loss.u_a), 0, -BIG, BIG, NULL, NULL},
    {"loss.l_m", K_FLOAT, OFF(loss.l_m), 0, -BIG, BIG, NULL, NULL},
    {"loss.u_m", K_FLOAT, OFF(loss.u_m), 0, -BIG, BIG, NULL, NULL},
    {"loss.lambda_g", K_FLOAT, OFF(loss.lambda_g), 0, -BIG, BIG, NULL, NULL},
    {"loss.h", K_FLOAT, OFF(loss.h), 0, -BIG, BIG, NULL, NULL},
    {"loss.t_alpha", K_FLOAT, OFF(loss.t_alpha), 0, -BIG, BIG, NULL, NULL},

    {"train", K_SECTION, 0, 0, 0, 0, NULL, NULL},
    {"train.epochs", K_INT, OFF(train.epochs), 0, 1, 100000, NULL, "10"},
    {"train.batch_size", K_INT, OFF(train.batch_size), 0, 1, 65536, NULL, "128"},
    {"train.lr", K_FLOAT, OFF(train.lr), 0, 1e-12, 100, NULL, "0.01"},
    {"train.momentum", K_FLOAT, OFF(train.momentum), 0, 0, 0.999999, NULL, "0.9"},
    {"train.weight_decay", K_FLOAT, OFF(train.weight_decay), 0, 0, 1, NULL, "5e-4"},
    {"train.no_decay", K_GROUPS, OFF(train.no_decay), 0, 0, 0, NULL, "[prelu, bn, scale]"},
    {"train.schedule", K_ENUM, OFF(train.schedule), 0, 0, 0, schedule_names, "cosine"},
    {"train.milestones", K_MILESTONES, OFF(train.milestones), 0, 1, 100000, NULL, "[]"},
    {"train.gamma", K_FLOAT, OFF(train.gamma), 0, 1e-9, 1, NULL, "0.1"},
    {"train.warmup_epochs", K_FLOAT, OFF(train.warmup_epochs), 0, 0, 100000, NULL, "0"},
    {"train.sampler", K_ENUM, OFF(train.sampler), 0, 0, 0, sampler_names, "random"},
    {"train.pk_p", K_INT, OFF(train.pk_p), 0, 2, 100000, NULL, "16"},
    {"train.pk_k", K_INT, OFF(train.pk_k), 0, 2, 100000, NULL, "8"},
    {"train.log_every", K_INT, OFF(train.log_every), 0, 1, 100000000, NULL, "50"},

    {"eval", K_SECTION, 0, 0, 0, 0, NULL, NULL},
    {"eval.pairs", K_INT, OFF(eval.pairs), 0, 0, 10000000, NULL, "6000"},
    {"eval.folds", K_INT, OFF(eval.folds), 0, 2, 100, NULL, "10"},
    {"eval.flip", K_BOOL, OFF(eval.flip), 0, 0, 1, NULL, "false"},
    {"eval.cmc_ranks", K_INT, OFF(eval.cmc_ranks), 0, 1, 1000, NULL, "10"},
    {"eval.features", K_BOOL, OFF(eval.features), 0, 0, 1, NULL, "false"},
    {"eval.theta_bins", K_INT, OFF(eval.theta_bins), 0, 1, 3600, NULL, "36"},
};
const size_t schema_n_keys = sizeof schema_keys / sizeof schema_keys[0];
_Static_assert(sizeof schema_keys / sizeof schema_keys[0] <= CONFIG_MAX_KEYS, "raise CONFIG_MAX_KEYS");

const char *data_type_name(data_type t) { return data_names[t]; }

const key_spec *schema_find(const char *path)
{
    for (size_t i = 0; i < schema_n_keys; i++)
        if (strcmp(schema_keys[i].path, path) == 0)
            return &schema_keys[i];
    return NULL;
}

int schema_fail(nb_error *err, const origin *o, const char *fmt, const char *path, const char *detail)
{
    char msg[900];
    snprintf(msg, sizeof msg, fmt, path, detail);
    return nb_error_set(err, o->file, o->line, o->col, "%s", msg);
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int parse_long(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on")) {
        *out = 1;
        return 0;
    }
    if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off")) {
        *out = 0;
        return 0;
    }
    return -1;
}

const char *schema_enum_name(const key_spec *k, int i)
{
    if (k->kind == K_LOSS_TYPE)
        return i < LOSS_TYPE_COUNT ? loss_type_name((loss_type)i) : NULL;
    return k->names[i];
}

static int enum_index(const key_spec *k, const char *s)
{
    for (int i = 0; schema_enum_name(k, i); i++)
        if (strcmp(schema_enum_name(k, i), s) == 0)
            return i;
    return -1;
}

static void enum_list(const key_spec *k, char *buf, size_t n)
{
    buf[0] = '\0';
    for (int i = 0; schema_enum_name(k, i); i++) {
        strncat(buf, i ? ", " : "", n - strlen(buf) - 1);
        strncat(buf, schema_enum_name(k, i), n - strlen(buf) - 1);
    }
}

/* A list value: either parsed YAML items or the text "[a, b]" of a default/override. */
typedef struct {
    const char *item[CONFIG_MAX_MILESTONES + 1];
    origin where[CONFIG_MAX_MILESTONES + 1];
    int n;
    char buf[1024];
} list_value;

static int split_flow_list(list_value *lv, const char *text, const origin *o)
{
    size_t len = strlen(text);
    if (len < 2 || text[0] != '[' || text[len - 1] != ']' || len >= sizeof lv->buf)
        return -1;
    memcpy(lv->buf, text + 1, len - 2);
    lv->buf[len - 2] = '\0';
    lv->n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(lv->buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        char *e = tok + strlen(tok);
        while (e > tok && e[-1] == ' ')
            *--e = '\0';
        if (lv->n > CONFIG_MAX_MILESTONES)
            return -1;
        lv->where[lv->n] = *o;
        lv->item[lv->n++] = tok;
    }
    return 0;
}

static int set_list(nb_config *cfg, const key_spec *k, const list_value *lv, const origin *o, nb_error *err)
{
    char *base = (char *)cfg;
    if (k->kind == K_MILESTONES) {
        if (lv->n > CONFIG_MAX_MILESTONES)
            return schema_fail(err, o, "%s: at most %s milestones", k->path, "32");
        int *ms = (int *)(base + k->off);
        for (int i = 0; i < lv->n; i++) {
            long long v;
            if (parse_long(lv->item[i], &v) || v < k->min || v > k->max)
                return schema_fail(err, &lv->where[i], "%s: expected an epoch number ≥ 1, got '%s'", k->path, lv->item[i]);
            if (i > 0 && v <= ms[i - 1])
                return schema_fail(err, &lv->where[i], "%s: milestones must increase, got '%s'", k->path, lv->item[i]);
            ms[i] = (int)v;
        }
        cfg->train.n_milestones = lv->n;
        return 0;
    }
    unsigned mask = 0;
    for (int i = 0; i < lv->n; i++) {
        int g = param_group_from_name(lv->item[i]);
        if (g < 0)
            return schema_fail(err, &lv->where[i],
                        "%s: unknown parameter group '%s' (expected weight, bias, prelu, bn, head or scale)", k->path,
                        lv->item[i]);
        mask |= 1u << g;
    }
    *(unsigned *)(base + k->off) = mask;
    return 0;
}

/* Sets scalar key k from text. */
int schema_set_scalar(nb_config *cfg, const key_spec *k, const char *text, const origin *o, nb_error *err)
{
    char *base = (char *)cfg;
    char range[128];
    switch (k->kind) {
    case K_INT: {
        long long v;
        if (parse_long(text, &v))
            return schema_fail(err, o, "%s: expected an integer, got '%s'", k->path, text);
        if (v < k->min || v > k->max) {
            snprintf(range, sizeof range, "%s; must be in [%.0f, %.0f]", text, k->min, k->max);
            return schema_fail(err, o, "%s: value out of range: %s", k->path, range);
        }
        *(int *)(base + k->off) = (int)v;
        return 0;
    }
    case K_U64: {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        if (end == text || *end || errno == ERANGE || text[0] < '0' || text[0] > '9') /* " -1" wraps */
            return schema_fail(err, o, "%s: expected a non-negative integer, got '%s'", k->path, text);
        *(uint64_t *)(base + k->off) = v;
        return 0;
    }
    case K_FLOAT:
    case K_ALPHA: {
        if (k->kind == K_ALPHA && strcmp(text, "auto") == 0) {
            cfg->loss.alpha_auto = 1;
            return 0;
        }
        double v;
        if (parse_double(text, &v))
            return schema_fail(err, o, k->kind == K_ALPHA ? "%s: expected a number or 'auto', got '%s'"
                                                   : "%s: expected a number, got '%s'",
                        k->path, text);
        if (v < k->min || v > k->max) {
            snprintf(range, sizeof range, "%s; must be in [%g, %g]", text, k->min, k->max);
            return schema_fail(err, o, "%s: value out of range: %s", k->path, range);
        }
        if (k->kind == K_ALPHA)
            cfg->loss.alpha_auto = 0;
        *(double *)(base + k->off) = v;
        return 0;
    }
    case K_BOOL: {
        int v;
        if (parse_bool(text, &v))
            return schema_fail(err, o, "%s: expected true or false, got '%s'", k->path, text);
        *(int *)(base + k->off) = v;
        return 0;
    }
    case K_STRING: {
        if (strlen(text) >= k->size) {
            char limit[64];
            snprintf(limit, sizeof limit, "%zu bytes; at most %zu", strlen(text), (size_t)k->size - 1);
            return schema_fail(err, o, "%s: value too long (%s)", k->path, limit);
        }
        memcpy(base + k->off, text, strlen(text) + 1);
        return 0;
    }
    case K_ENUM:
    case K_LOSS_TYPE: {
        int v = enum_index(k, text);
        if (v < 0) {
            char list[512], detail[700];
            enum_list(k, list, sizeof list);
            snprintf(detail, sizeof detail, "'%s' (expected one of: %s)", text, list);
            return schema_fail(err, o, "%s: unknown value %s", k->path, detail);
        }
        *(int *)(base + k->off) = v;
        return 0;
    }
    case K_MILESTONES:
    case K_GROUPS: {
        list_value lv;
        if (split_flow_list(&lv, text, o))
            return schema_fail(err, o, "%s: expected a list such as [a, b], got '%s'", k->path, text);
        return set_list(cfg, k, &lv, o, err);
    }
    case K_SECTION:
        return schema_fail(err, o, "%s: is a section; expected a mapping, got '%s'", k->path, text);
    }
    return -1;
}

void config_defaults(nb_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    origin o = {"(defaults)", 0, 0};
    nb_error err;
    for (size_t i = 0; i < schema_n_keys; i++)
        if (schema_keys[i].def && schema_set_scalar(cfg, &schema_keys[i], schema_keys[i].def, &o, &err))
            nb_fatal("bad default for %s: %s", schema_keys[i].path, err.msg);
    loss_config_defaults(&cfg->loss, LOSS_SOFTMAX);
}

int config_key_exists(const char *path)
{
    const key_spec *k = schema_find(path);
    return k && k->kind != K_SECTION;
}

/* Data keys that only some data types use (bit mask over data_type); other keys apply to all. */
#define T_(t) (1u << (t))
#define T_IDX (T_(DATA_FASHION_MNIST) | T_(DATA_MNIST) | T_(DATA_IDX))
#define T_SYN T_(DATA_SYNTHETIC)
#define T_FOLDER (T_(DATA_LFW) | T_(DATA_INSIGHTFACE_BIN)) /* images read from an LFW-layout folder */
static const struct {
    const char *path;
    unsigned types;
} data_keys[] = {
    {"data.train_images", T_IDX}, {"data.train_labels", T_IDX}, {"data.test_images", T_IDX},
    {"data.test_labels", T_IDX}, {"data.train_subset", T_IDX}, {"data.test_subset", T_IDX},
    {"data.size", T_SYN | T_FOLDER}, {"data.identities", T_SYN}, {"data.test_identities", T_SYN},
    {"data.images_per_identity", T_SYN}, {"data.test_images_per_identity", T_SYN}, {"data.quality_levels", T_SYN},
    {"data.noise", T_SYN}, {"data.shift", T_SYN}, {"data.rotation", T_SYN}, {"data.illumination", T_SYN},
    {"data.quality_blur", T_SYN}, {"data.quality_noise", T_SYN}, {"data.root", T_FOLDER},
    {"data.pairs", T_(DATA_LFW)}, {"data.train_list", T_FOLDER}, {"data.bin", T_(DATA_INSIGHTFACE_BIN)},
    {"data.crop_width", T_FOLDER}, {"data.crop_height", T_FOLDER}, {"data.channels", T_FOLDER},
    {"data.resize", T_FOLDER}};

int schema_data_key_applies(const nb_config *cfg, const key_spec *k)
{
    for (size_t i = 0; i < sizeof data_keys / sizeof data_keys[0]; i++)
        if (!strcmp(data_keys[i].path, k->path))
            return (data_keys[i].types >> cfg->data.type) & 1u;
    return 1;
}
