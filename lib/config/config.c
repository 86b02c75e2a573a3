/* config.c — strict YAML experiment configuration; see config.h.
 *
 * One table, `keys`, lists every key path with its kind, its place in nb_config, its range and
 * its default (as text, parsed by the same code that parses the file). Loss keys take their
 * defaults from loss_config_defaults() for the chosen loss.type (docs/losses.md §1). The YAML is loaded
 * with libyaml's document API so that every node keeps its line and column for error messages. */
#include "config/config.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "nn/paramset.h"

typedef enum { K_SECTION, K_INT, K_U64, K_FLOAT, K_BOOL, K_STRING, K_ENUM, K_ALPHA, K_MILESTONES, K_GROUPS } key_kind;

typedef struct {
    const char *path;
    key_kind kind;
    size_t off;               /* offset in nb_config */
    size_t size;              /* K_STRING: buffer size */
    double min, max;          /* numeric range, inclusive */
    const char *const *names; /* K_ENUM: value names, NULL-terminated, index = enum value */
    const char *def;          /* default as text; NULL: none (loss keys: per-type defaults) */
} key_spec;

static const char *const data_names[] = {"fashion-mnist", "mnist", "idx", "synthetic", "lfw", NULL};
static const char *const resize_names[] = {"area", "bilinear", NULL};
static const char *const backbone_names[] = {"convnet-small", "lenetpp", "resnet-mini", NULL};
static const char *const schedule_names[] = {"constant", "step", "cosine", NULL};
static const char *const sampler_names[] = {"random", "pk", NULL};
static const char *const mining_names[] = {"batch_all", "batch_hard", NULL};
static const char *const head_dtype_names[] = {"float32", "bf16", NULL};
static const char *const loss_names[] = {"softmax",       "l2softmax", "normface",    "sphereface",
                                         "cosface",       "arcface",   "combined",    "c_contrastive",
                                         "c_triplet",     "contrastive", "triplet",   NULL};

#define OFF(field) offsetof(nb_config, field)
#define STR(field) OFF(field), sizeof(((nb_config *)0)->field)
#define BIG 1e300

static const key_spec keys[] = {
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
    {"model.backbone", K_ENUM, OFF(model.backbone), 0, 0, 0, backbone_names, "convnet-small"},
    {"model.feature_dim", K_INT, OFF(model.feature_dim), 0, 1, 65536, NULL, "128"},
    {"model.width", K_INT, OFF(model.width), 0, 0, 4096, NULL, "0"},

    {"loss", K_SECTION, 0, 0, 0, 0, NULL, NULL},
    {"loss.type", K_ENUM, OFF(loss.type), 0, 0, 0, loss_names, NULL},
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

    {"eval", K_SECTION, 0, 0, 0, 0, NULL, NULL},
    {"eval.pairs", K_INT, OFF(eval.pairs), 0, 0, 10000000, NULL, "6000"},
    {"eval.folds", K_INT, OFF(eval.folds), 0, 2, 100, NULL, "10"},
    {"eval.flip", K_BOOL, OFF(eval.flip), 0, 0, 1, NULL, "false"},
    {"eval.cmc_ranks", K_INT, OFF(eval.cmc_ranks), 0, 1, 1000, NULL, "10"},
    {"eval.features", K_BOOL, OFF(eval.features), 0, 0, 1, NULL, "false"},
    {"eval.theta_bins", K_INT, OFF(eval.theta_bins), 0, 1, 3600, NULL, "36"},
};
#define N_KEYS (sizeof keys / sizeof keys[0])
_Static_assert(N_KEYS <= CONFIG_MAX_KEYS, "raise CONFIG_MAX_KEYS");

const char *backbone_name(backbone_type b) { return backbone_names[b]; }
const char *data_type_name(data_type t) { return data_names[t]; }

static const key_spec *find_key(const char *path)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].path, path) == 0)
            return &keys[i];
    return NULL;
}

/* Where the value being set came from, for error messages. */
typedef struct {
    const char *file;
    int line, col;
} origin;

static int fail(nb_error *err, const origin *o, const char *fmt, const char *path, const char *detail)
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

static int enum_index(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static void enum_list(const char *const *names, char *buf, size_t n)
{
    buf[0] = '\0';
    for (int i = 0; names[i]; i++) {
        strncat(buf, i ? ", " : "", n - strlen(buf) - 1);
        strncat(buf, names[i], n - strlen(buf) - 1);
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
            return fail(err, o, "%s: at most %s milestones", k->path, "32");
        int *ms = (int *)(base + k->off);
        for (int i = 0; i < lv->n; i++) {
            long long v;
            if (parse_long(lv->item[i], &v) || v < k->min || v > k->max)
                return fail(err, &lv->where[i], "%s: expected an epoch number ≥ 1, got '%s'", k->path, lv->item[i]);
            if (i > 0 && v <= ms[i - 1])
                return fail(err, &lv->where[i], "%s: milestones must increase, got '%s'", k->path, lv->item[i]);
            ms[i] = (int)v;
        }
        cfg->train.n_milestones = lv->n;
        return 0;
    }
    unsigned mask = 0;
    for (int i = 0; i < lv->n; i++) {
        int g = param_group_from_name(lv->item[i]);
        if (g < 0)
            return fail(err, &lv->where[i],
                        "%s: unknown parameter group '%s' (expected weight, bias, prelu, bn, head or scale)", k->path,
                        lv->item[i]);
        mask |= 1u << g;
    }
    *(unsigned *)(base + k->off) = mask;
    return 0;
}

/* Sets scalar key k from text. */
static int set_scalar(nb_config *cfg, const key_spec *k, const char *text, const origin *o, nb_error *err)
{
    char *base = (char *)cfg;
    char range[128];
    switch (k->kind) {
    case K_INT: {
        long long v;
        if (parse_long(text, &v))
            return fail(err, o, "%s: expected an integer, got '%s'", k->path, text);
        if (v < k->min || v > k->max) {
            snprintf(range, sizeof range, "%s; must be in [%.0f, %.0f]", text, k->min, k->max);
            return fail(err, o, "%s: value out of range: %s", k->path, range);
        }
        *(int *)(base + k->off) = (int)v;
        return 0;
    }
    case K_U64: {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        if (end == text || *end || errno == ERANGE || text[0] == '-')
            return fail(err, o, "%s: expected a non-negative integer, got '%s'", k->path, text);
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
            return fail(err, o, k->kind == K_ALPHA ? "%s: expected a number or 'auto', got '%s'"
                                                   : "%s: expected a number, got '%s'",
                        k->path, text);
        if (v < k->min || v > k->max) {
            snprintf(range, sizeof range, "%s; must be in [%g, %g]", text, k->min, k->max);
            return fail(err, o, "%s: value out of range: %s", k->path, range);
        }
        if (k->kind == K_ALPHA)
            cfg->loss.alpha_auto = 0;
        *(double *)(base + k->off) = v;
        return 0;
    }
    case K_BOOL: {
        int v;
        if (parse_bool(text, &v))
            return fail(err, o, "%s: expected true or false, got '%s'", k->path, text);
        *(int *)(base + k->off) = v;
        return 0;
    }
    case K_STRING: {
        if (strlen(text) >= k->size)
            return fail(err, o, "%s: value too long (%s)", k->path, "limit exceeded");
        memcpy(base + k->off, text, strlen(text) + 1);
        return 0;
    }
    case K_ENUM: {
        int v = enum_index(k->names, text);
        if (v < 0) {
            char list[512], detail[700];
            enum_list(k->names, list, sizeof list);
            snprintf(detail, sizeof detail, "'%s' (expected one of: %s)", text, list);
            return fail(err, o, "%s: unknown value %s", k->path, detail);
        }
        *(int *)(base + k->off) = v;
        return 0;
    }
    case K_MILESTONES:
    case K_GROUPS: {
        list_value lv;
        if (split_flow_list(&lv, text, o))
            return fail(err, o, "%s: expected a list such as [a, b], got '%s'", k->path, text);
        return set_list(cfg, k, &lv, o, err);
    }
    case K_SECTION:
        return fail(err, o, "%s: is a section; expected a mapping, got '%s'", k->path, text);
    }
    return -1;
}

void config_defaults(nb_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    origin o = {"(defaults)", 0, 0};
    nb_error err;
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].def && set_scalar(cfg, &keys[i], keys[i].def, &o, &err))
            nb_fatal("bad default for %s: %s", keys[i].path, err.msg);
    loss_config_defaults(&cfg->loss, LOSS_SOFTMAX);
}

/* ---- key lists: what a YAML file (or a sweep point, or --set) says ---- */

void config_entries_add(config_entries *l, const char *path, const char *text, int line, int col)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 32;
        l->e = nb_realloc(l->e, (size_t)l->cap * sizeof *l->e);
    }
    config_entry *e = &l->e[l->n++];
    snprintf(e->path, sizeof e->path, "%s", path);
    e->text = nb_strdup(text);
    e->line = line;
    e->col = col;
}

void config_entries_free(config_entries *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->e[i].text);
    free(l->e);
    memset(l, 0, sizeof *l);
}

int config_key_exists(const char *path)
{
    const key_spec *k = find_key(path);
    return k && k->kind != K_SECTION;
}

static origin node_origin(const char *file, const yaml_node_t *n)
{
    origin o = {file, (int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
    return o;
}

static const char *node_text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

int config_entries_from_node(config_entries *out, yaml_document_t *doc, yaml_node_t *map, const char *prefix,
                             const char *skip_key, const char *file, nb_error *err)
{
    snprintf(out->file, sizeof out->file, "%s", file);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        origin ko = node_origin(file, kn), vo = node_origin(file, vn);
        if (kn->type != YAML_SCALAR_NODE)
            return fail(err, &ko, "%s: keys must be plain names%s", prefix[0] ? prefix : "(top level)", "");
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", node_text(kn));
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *prev = yaml_document_get_node(doc, q->key);
            if (prev->type == YAML_SCALAR_NODE && strcmp(node_text(prev), node_text(kn)) == 0)
                return fail(err, &ko, "%s: duplicate key%s", path, "");
        }
        if (skip_key && !prefix[0] && strcmp(path, skip_key) == 0)
            continue;
        const key_spec *k = find_key(path);
        if (!k)
            return fail(err, &ko, "unknown key '%s'%s", path, "");
        if (k->kind == K_SECTION) {
            if (vn->type != YAML_MAPPING_NODE)
                return fail(err, &vo, "%s: expected a mapping of keys%s", path, "");
            if (config_entries_from_node(out, doc, vn, path, NULL, file, err))
                return -1;
            continue;
        }
        if (k->kind == K_MILESTONES || k->kind == K_GROUPS) {
            if (vn->type != YAML_SEQUENCE_NODE)
                return fail(err, &vo, "%s: expected a list%s", path, "");
            char text[1024] = "[";
            for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
                yaml_node_t *item = yaml_document_get_node(doc, *it);
                origin io = node_origin(file, item);
                if (item->type != YAML_SCALAR_NODE || strpbrk(node_text(item), ",[]"))
                    return fail(err, &io, "%s: expected a list of plain values%s", path, "");
                if (strlen(text) + strlen(node_text(item)) + 4 >= sizeof text)
                    return fail(err, &io, "%s: list too long%s", path, "");
                if (it > vn->data.sequence.items.start)
                    strcat(text, ", ");
                strcat(text, node_text(item));
            }
            strcat(text, "]");
            config_entries_add(out, path, text, vo.line, vo.col);
            continue;
        }
        if (vn->type != YAML_SCALAR_NODE)
            return fail(err, &vo, "%s: expected a single value, not a %s", path,
                        vn->type == YAML_MAPPING_NODE ? "mapping" : "list");
        config_entries_add(out, path, node_text(vn), vo.line, vo.col);
    }
    return 0;
}

static const config_entry *entries_find(const config_entries *l, const char *path)
{
    if (!l)
        return NULL;
    for (int i = l->n - 1; i >= 0; i--)
        if (strcmp(l->e[i].path, path) == 0)
            return &l->e[i];
    return NULL;
}

/* Applies one list on top of cfg. Loss keys that do not apply to cfg's loss type are errors,
 * or skipped when lenient. */
static int apply_entries(nb_config *cfg, const config_entries *l, int lenient, nb_error *err)
{
    for (int i = 0; i < l->n; i++) {
        const config_entry *e = &l->e[i];
        origin o = {l->file[0] ? l->file : "(command line)", e->line, e->col};
        const key_spec *k = find_key(e->path);
        if (!k || k->kind == K_SECTION)
            return fail(err, &o, "unknown key '%s'%s", e->path, "");
        if (strcmp(e->path, "loss.type") == 0)
            continue; /* applied first, by config_resolve */
        if (strncmp(e->path, "loss.", 5) == 0 && !loss_uses_key(cfg->loss.type, e->path + 5)) {
            if (lenient)
                continue;
            return fail(err, &o, "%s: does not apply to loss type '%s'", e->path, loss_type_name(cfg->loss.type));
        }
        if (set_scalar(cfg, k, e->text, &o, err))
            return -1;
        cfg->key_set[k - keys] = 1;
        cfg->key_line[k - keys] = e->line;
        cfg->key_col[k - keys] = e->col;
    }
    return 0;
}

int config_resolve(nb_config *cfg, const config_entries *base, const config_entries *over, int lenient, nb_error *err)
{
    config_defaults(cfg);
    snprintf(cfg->source, sizeof cfg->source, "%s", base && base->file[0] ? base->file : "");
    const config_entry *t = entries_find(over, "loss.type");
    const config_entries *tl = over;
    if (!t) {
        t = entries_find(base, "loss.type");
        tl = base;
    }
    if (t) {
        const key_spec *k = find_key("loss.type");
        origin o = {tl->file[0] ? tl->file : "(command line)", t->line, t->col};
        if (set_scalar(cfg, k, t->text, &o, err))
            return -1;
        loss_config_defaults(&cfg->loss, cfg->loss.type);
        cfg->key_line[k - keys] = t->line;
        cfg->key_col[k - keys] = t->col;
    }
    if (base && apply_entries(cfg, base, lenient, err))
        return -1;
    if (over && apply_entries(cfg, over, 0, err))
        return -1;
    if (!cfg->name[0] && cfg->source[0]) {
        const char *b = strrchr(cfg->source, '/');
        b = b ? b + 1 : cfg->source;
        snprintf(cfg->name, sizeof cfg->name, "%.*s", (int)strcspn(b, "."), b);
    }
    if (!cfg->name[0])
        snprintf(cfg->name, sizeof cfg->name, "normbench");
    if (config_check(cfg, err)) {
        if (!err->file[0] && cfg->source[0])
            snprintf(err->file, sizeof err->file, "%s", cfg->source);
        return -1;
    }
    return 0;
}

static int yaml_syntax_error(nb_error *err, const char *path, const yaml_parser_t *p)
{
    return nb_error_set(err, path, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
                        "YAML syntax error: %s%s%s", p->problem ? p->problem : "unknown", p->context ? " " : "",
                        p->context ? p->context : "");
}

/* Reads the whole file (at most CONFIG_FILE_MAX bytes) into *text. */
static int read_experiment_file(const char *path, unsigned char **text, size_t *n, nb_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return nb_error_set(err, path, 0, 0, "cannot open experiment file: %s", strerror(errno));
    *text = nb_malloc(CONFIG_FILE_MAX + 1);
    *n = fread(*text, 1, CONFIG_FILE_MAX + 1, f);
    int bad = ferror(f), e = errno;
    fclose(f);
    if (bad || *n > CONFIG_FILE_MAX) {
        free(*text);
        *text = NULL;
        if (bad)
            return nb_error_set(err, path, 0, 0, "cannot read experiment file: %s", strerror(e));
        return nb_error_set(err, path, 0, 0, "experiment file is larger than %d bytes (the limit for an experiment file)",
                            CONFIG_FILE_MAX);
    }
    return 0;
}

/* The hazards of YAML, refused before the document is built, each with its line: anchors and
 * aliases (the "billion laughs" expansion; experiment files have no use for them), nesting
 * deeper than CONFIG_DEPTH_MAX, a value longer than CONFIG_SCALAR_MAX, more than
 * CONFIG_NODES_MAX values, and a second document. Time and memory stay linear in the file size. */
static int yaml_precheck(const char *path, const unsigned char *text, size_t n, nb_error *err)
{
    yaml_parser_t p;
    yaml_event_t ev;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, text, n);
    int depth = 0, docs = 0, rc = 0;
    long nodes = 0;
    for (;;) {
        if (!yaml_parser_parse(&p, &ev)) {
            rc = yaml_syntax_error(err, path, &p);
            break;
        }
        origin o = {path, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1};
        const yaml_char_t *anchor = NULL;
        switch (ev.type) {
        case YAML_ALIAS_EVENT:
            rc = fail(err, &o, "anchors/aliases are not supported in experiment files (alias '*%s'): write the "
                      "value out in full%s", (const char *)ev.data.alias.anchor, "");
            break;
        case YAML_SCALAR_EVENT:
            anchor = ev.data.scalar.anchor;
            if (ev.data.scalar.length > CONFIG_SCALAR_MAX) {
                char detail[64];
                snprintf(detail, sizeof detail, "%zu bytes, more than %d", ev.data.scalar.length, CONFIG_SCALAR_MAX);
                rc = fail(err, &o, "a value is too long (%s%s)", detail, "");
            }
            nodes++;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            anchor = ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.anchor : ev.data.mapping_start.anchor;
            nodes++;
            if (++depth > CONFIG_DEPTH_MAX) {
                char detail[16];
                snprintf(detail, sizeof detail, "%d", CONFIG_DEPTH_MAX);
                rc = fail(err, &o, "lists and mappings are nested more than %s levels deep%s", detail, "");
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                rc = fail(err, &o, "a second YAML document ('---'): an experiment file holds one%s%s", "", "");
            break;
        default:
            break;
        }
        if (!rc && anchor)
            rc = fail(err, &o, "anchors/aliases are not supported in experiment files (anchor '&%s'): write the "
                      "value out in full%s", (const char *)anchor, "");
        if (!rc && nodes > CONFIG_NODES_MAX) {
            char detail[16];
            snprintf(detail, sizeof detail, "%d", CONFIG_NODES_MAX);
            rc = fail(err, &o, "more than %s values in one experiment file%s", detail, "");
        }
        int end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (rc || end)
            break;
    }
    yaml_parser_delete(&p);
    return rc;
}

int config_parse_file(const char *path, yaml_document_t *doc, yaml_node_t **root, nb_error *err)
{
    unsigned char *text = NULL;
    size_t n = 0;
    if (read_experiment_file(path, &text, &n, err))
        return -1;
    if (yaml_precheck(path, text, n, err)) {
        free(text);
        return -1;
    }
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, text, n);
    int ok = yaml_parser_load(&parser, doc);
    if (!ok)
        yaml_syntax_error(err, path, &parser);
    yaml_parser_delete(&parser);
    free(text);
    if (!ok)
        return -1;
    *root = yaml_document_get_root_node(doc);
    if (!*root) {
        yaml_document_delete(doc);
        return nb_error_set(err, path, 0, 0, "empty experiment file (expected a mapping with data, model, loss, train)");
    }
    if ((*root)->type != YAML_MAPPING_NODE) {
        origin o = node_origin(path, *root);
        yaml_document_delete(doc);
        return fail(err, &o, "%s: the top level must be a mapping of keys%s", "(top level)", "");
    }
    return 0;
}

int config_load(nb_config *cfg, const char *path, nb_error *err)
{
    yaml_document_t doc;
    yaml_node_t *root;
    config_defaults(cfg);
    if (config_parse_file(path, &doc, &root, err))
        return -1;
    config_entries base = {0};
    int rc = config_entries_from_node(&base, &doc, root, "", NULL, path, err);
    yaml_document_delete(&doc);
    if (rc == 0)
        rc = config_resolve(cfg, &base, NULL, 0, err);
    config_entries_free(&base);
    return rc;
}

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

/* Data keys that only some data types use (bit mask over data_type); other keys apply to all. */
static const struct {
    const char *path;
    unsigned types;
} data_keys[] = {
    {"data.train_images", 7}, {"data.train_labels", 7}, {"data.test_images", 7}, {"data.test_labels", 7},
    {"data.train_subset", 7}, {"data.test_subset", 7}, {"data.size", 24},
    {"data.identities", 8}, {"data.test_identities", 8}, {"data.images_per_identity", 8},
    {"data.test_images_per_identity", 8}, {"data.quality_levels", 8}, {"data.noise", 8}, {"data.shift", 8},
    {"data.rotation", 8}, {"data.illumination", 8}, {"data.quality_blur", 8}, {"data.quality_noise", 8},
    {"data.root", 16}, {"data.pairs", 16}, {"data.train_list", 16}, {"data.crop_width", 16},
    {"data.crop_height", 16}, {"data.channels", 16}, {"data.resize", 16}};

static int data_key_applies(const nb_config *cfg, const key_spec *k)
{
    for (size_t i = 0; i < sizeof data_keys / sizeof data_keys[0]; i++)
        if (!strcmp(data_keys[i].path, k->path))
            return (data_keys[i].types >> cfg->data.type) & 1u;
    return 1;
}

/* An error about key `path`, pointing at where the file set it (if it did). */
static int key_error(const nb_config *cfg, nb_error *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int key_error(const nb_config *cfg, nb_error *err, const char *path, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const key_spec *k = find_key(path);
    int i = k ? (int)(k - keys) : -1;
    return nb_error_set(err, cfg->source[0] ? cfg->source : NULL, i >= 0 ? cfg->key_line[i] : 0,
                        i >= 0 ? cfg->key_col[i] : 0, "%s", msg);
}

int config_check(const nb_config *cfg, nb_error *err)
{
    if (!safe_name(cfg->name))
        return key_error(cfg, err, "name", "name: '%s' cannot be a folder name (use letters, digits, '.', '_', '-', not starting with '.')",
                            cfg->name);
    if (cfg->run_id[0] && !safe_name(cfg->run_id))
        return key_error(cfg, err, "run_id", "run_id: '%s' cannot be a folder name (use letters, digits, '.', '_', '-', not starting with '.')",
                            cfg->run_id);
    /* keys that belong to other data types are mistakes worth reporting */
    for (size_t i = 0; i < N_KEYS; i++)
        if (cfg->key_set[i] && !data_key_applies(cfg, &keys[i]))
            return key_error(cfg, err, keys[i].path, "%s: does not apply to data.type %s", keys[i].path,
                             data_type_name(cfg->data.type));
    if (cfg->data.type == DATA_LFW && !cfg->data.root[0])
        return key_error(cfg, err, "data.type", "data.root: required for data.type lfw (the folder of identity folders)");
    if (cfg->data.type == DATA_LFW && !cfg->data.pairs[0])
        return key_error(cfg, err, "data.type", "data.pairs: required for data.type lfw (an LFW pairs.txt)");
    if ((cfg->data.lfw.crop_w == 0) != (cfg->data.lfw.crop_h == 0))
        return key_error(cfg, err, "data.crop_width", "data.crop_width, data.crop_height: both 0 (no crop) or both > 0");
    if (cfg->data.synthetic.shift > cfg->data.size / 2.0)
        return key_error(cfg, err, "data.shift", "data.shift: %g is more than half of data.size (%d)",
                         cfg->data.synthetic.shift, cfg->data.size);
    if (cfg->data.type == DATA_IDX || cfg->data.type == DATA_MNIST) {
        const char *need[4] = {cfg->data.train_images, cfg->data.train_labels, cfg->data.test_images,
                               cfg->data.test_labels};
        const char *names[4] = {"train_images", "train_labels", "test_images", "test_labels"};
        for (int i = 0; i < 4; i++)
            if (!need[i][0])
                return key_error(cfg, err, "data.type", "data.%s: required for data.type %s (path to an IDX file)",
                                    names[i], data_type_name(cfg->data.type));
    }
    char msg[512];
    /* The class count is not known before the data is read: check what does not depend on it
     * now (a huge count passes every class-count rule); model_init checks again with the real one. */
    if (loss_config_check(&cfg->loss, 1 << 30, msg, sizeof msg)) {
        char path[64];
        snprintf(path, sizeof path, "%.*s", (int)strcspn(msg, ":"), msg);
        return key_error(cfg, err, path, "%s", msg);
    }
    if (cfg->train.warmup_epochs >= cfg->train.epochs)
        return key_error(cfg, err, "train.warmup_epochs", "train.warmup_epochs: %g must be less than train.epochs (%d)",
                            cfg->train.warmup_epochs, cfg->train.epochs);
    for (int i = 0; i < cfg->train.n_milestones; i++)
        if (cfg->train.milestones[i] > cfg->train.epochs)
            return key_error(cfg, err, "train.milestones", "train.milestones: %d is after the last epoch (%d)",
                                cfg->train.milestones[i], cfg->train.epochs);
    if (cfg->train.schedule == SCHEDULE_STEP && cfg->train.n_milestones == 0)
        return key_error(cfg, err, "train.milestones", "train.milestones: schedule 'step' needs at least one milestone");
    if (cfg->eval.pairs % (2 * cfg->eval.folds))
        return key_error(cfg, err, "eval.pairs", "eval.pairs: %d is not a multiple of 2 × eval.folds (%d): each fold holds "
                         "equal numbers of matched and mismatched pairs", cfg->eval.pairs, 2 * cfg->eval.folds);
    if (cfg->train.sampler == SAMPLER_PK && (long)cfg->train.pk_p * cfg->train.pk_k > cfg->train.batch_size)
        return key_error(cfg, err, "train.pk_p", "train.pk_p × train.pk_k = %ld is larger than train.batch_size (%d): "
                         "a P×K batch must fit in one batch", (long)cfg->train.pk_p * cfg->train.pk_k,
                         cfg->train.batch_size);
    if (loss_needs_pk(cfg->loss.type) && cfg->train.sampler != SAMPLER_PK)
        return key_error(cfg, err, "train.sampler", "train.sampler: loss type '%s' needs sampler: pk (P classes × K samples)",
                            loss_type_name(cfg->loss.type));
    return 0;
}

/* ---- writing the resolved configuration ---- */

static int emit_scalar(yaml_emitter_t *em, const char *s)
{
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1, YAML_ANY_SCALAR_STYLE);
    return yaml_emitter_emit(em, &ev);
}

static int emit_value(yaml_emitter_t *em, const nb_config *cfg, const key_spec *k)
{
    const char *base = (const char *)cfg;
    char buf[1024];
    yaml_event_t ev;
    switch (k->kind) {
    case K_INT:
    case K_BOOL:
        if (k->kind == K_BOOL)
            snprintf(buf, sizeof buf, "%s", *(const int *)(base + k->off) ? "true" : "false");
        else
            snprintf(buf, sizeof buf, "%d", *(const int *)(base + k->off));
        return emit_scalar(em, buf);
    case K_U64:
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)*(const uint64_t *)(base + k->off));
        return emit_scalar(em, buf);
    case K_ALPHA:
        if (cfg->loss.alpha_auto)
            return emit_scalar(em, "auto");
        /* fall through */
    case K_FLOAT:
        snprintf(buf, sizeof buf, "%.17g", *(const double *)(base + k->off));
        return emit_scalar(em, buf);
    case K_STRING:
        return emit_scalar(em, base + k->off);
    case K_ENUM:
        return emit_scalar(em, k->names[*(const int *)(base + k->off)]);
    case K_MILESTONES:
    case K_GROUPS: {
        if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(em, &ev))
            return 0;
        if (k->kind == K_MILESTONES) {
            for (int i = 0; i < cfg->train.n_milestones; i++) {
                snprintf(buf, sizeof buf, "%d", cfg->train.milestones[i]);
                if (!emit_scalar(em, buf))
                    return 0;
            }
        } else {
            for (int g = 0; g < PARAM_GROUP_COUNT; g++)
                if ((cfg->train.no_decay >> g) & 1u)
                    if (!emit_scalar(em, param_group_name((param_group)g)))
                        return 0;
        }
        yaml_sequence_end_event_initialize(&ev);
        return yaml_emitter_emit(em, &ev);
    }
    case K_SECTION:
        break;
    }
    return 0;
}

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
    return fwrite(buffer, 1, size, (FILE *)data) == size;
}

int config_write(const nb_config *cfg, FILE *f)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    int ok = yaml_emitter_initialize(&em);
    yaml_emitter_set_output(&em, write_handler, f);
    yaml_emitter_set_unicode(&em, 1);
    ok = ok && yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) && yaml_emitter_emit(&em, &ev);
    ok = ok && yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) && yaml_emitter_emit(&em, &ev);
    ok = ok && yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) &&
         yaml_emitter_emit(&em, &ev);
    int in_section = 0;
    for (size_t i = 0; ok && i < N_KEYS; i++) {
        const key_spec *k = &keys[i];
        int top = strchr(k->path, '.') == NULL;
        if (top && in_section) {
            ok = yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(&em, &ev);
            in_section = 0;
        }
        if (!ok)
            break;
        if (!top && strncmp(k->path, "loss.", 5) == 0 && strcmp(k->path, "loss.type") &&
            !loss_uses_key(cfg->loss.type, k->path + 5))
            continue;
        if (!data_key_applies(cfg, k))
            continue;
        ok = emit_scalar(&em, top ? k->path : strchr(k->path, '.') + 1);
        if (ok && k->kind == K_SECTION) {
            ok = yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) &&
                 yaml_emitter_emit(&em, &ev);
            in_section = 1;
        } else if (ok) {
            ok = emit_value(&em, cfg, k);
        }
    }
    if (ok && in_section)
        ok = yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(&em, &ev);
    ok = ok && yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(&em, &ev);
    ok = ok && yaml_document_end_event_initialize(&ev, 1) && yaml_emitter_emit(&em, &ev);
    ok = ok && yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&em, &ev);
    ok = ok && yaml_emitter_flush(&em);
    yaml_emitter_delete(&em);
    return ok ? 0 : -1;
}
