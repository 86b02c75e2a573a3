/* sweep.c — experiment files: expansion of a sweep block into runs; see sweep.h. */
#include "config/sweep.h"

#include <stdlib.h>
#include <string.h>

#include "config/yamlfile.h"

#define MAX_AXES 32
#define MAX_RUNS 10000 /* runs of one experiment: memory and the expansion time stay small */

typedef struct {
    int n_keys, n_vals;
    char keys[MAX_AXES][128];
    char ***vals; /* n_vals × n_keys; NULL = leave unset */
    int **line, **col;
} axis;

static const char *text_of(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int is_null(const yaml_node_t *n)
{
    const char *s = text_of(n);
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (!s[0] || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"));
}

static int err_at(nb_error *err, const char *file, const yaml_node_t *n, const char *fmt, const char *a, const char *b)
{
    char msg[800];
    snprintf(msg, sizeof msg, fmt, a, b);
    return nb_error_set(err, file, (int)n->start_mark.line + 1, (int)n->start_mark.column + 1, "%s", msg);
}

static void axis_alloc(axis *a, int n_vals)
{
    a->n_vals = n_vals;
    a->vals = nb_calloc((size_t)n_vals, sizeof *a->vals);
    a->line = nb_calloc((size_t)n_vals, sizeof *a->line);
    a->col = nb_calloc((size_t)n_vals, sizeof *a->col);
    for (int v = 0; v < n_vals; v++) {
        a->vals[v] = nb_calloc(MAX_AXES, sizeof(char *));
        a->line[v] = nb_calloc(MAX_AXES, sizeof(int));
        a->col[v] = nb_calloc(MAX_AXES, sizeof(int));
    }
}

static void axis_free(axis *a)
{
    for (int v = 0; v < a->n_vals; v++) {
        for (int k = 0; k < a->n_keys; k++)
            free(a->vals[v][k]);
        free(a->vals[v]);
        free(a->line[v]);
        free(a->col[v]);
    }
    free(a->vals);
    free(a->line);
    free(a->col);
}

/* Adds key (with its list node) as column k of axis a; all lists of an axis have one length. */
static int axis_add_key(axis *a, yaml_document_t *doc, const yaml_node_t *kn, const yaml_node_t *list,
                        const char *file, int allow_null, nb_error *err)
{
    const char *key = text_of(kn);
    if (!config_key_exists(key))
        return err_at(err, file, kn, "sweep: unknown key '%s'%s", key, "");
    if (!strcmp(key, "name") || !strcmp(key, "run_id"))
        return err_at(err, file, kn, "sweep: '%s' cannot be swept (runs are named by their sweep point)%s", key, "");
    if (list->type != YAML_SEQUENCE_NODE)
        return err_at(err, file, list, "sweep.%s: expected a list of values%s", key, "");
    int n = (int)(list->data.sequence.items.top - list->data.sequence.items.start);
    if (n == 0)
        return err_at(err, file, list, "sweep.%s: the list of values is empty%s", key, "");
    if (n > MAX_RUNS) {
        char detail[64];
        snprintf(detail, sizeof detail, "%d values, more than %d", n, MAX_RUNS);
        return err_at(err, file, list, "sweep.%s: too many values (%s)", key, detail);
    }
    if (a->n_keys == 0)
        axis_alloc(a, n);
    else if (n != a->n_vals) {
        char detail[64];
        snprintf(detail, sizeof detail, "%d values, the group's first list has %d", n, a->n_vals);
        return err_at(err, file, list, "sweep.zip: %s has %s", key, detail);
    }
    if (a->n_keys == MAX_AXES)
        return err_at(err, file, kn, "sweep: too many keys in one group (%s)%s", key, "");
    int k = a->n_keys++;
    snprintf(a->keys[k], sizeof a->keys[k], "%s", key);
    for (int v = 0; v < n; v++) {
        yaml_node_t *item = yaml_document_get_node(doc, list->data.sequence.items.start[v]);
        if (item->type != YAML_SCALAR_NODE)
            return err_at(err, file, item, "sweep.%s: expected plain values%s", key, "");
        a->line[v][k] = (int)item->start_mark.line + 1;
        a->col[v][k] = (int)item->start_mark.column + 1;
        if (is_null(item)) {
            if (!allow_null)
                return err_at(err, file, item, "sweep.%s: a null value is only allowed inside zip groups%s", key, "");
            continue;
        }
        a->vals[v][k] = nb_strdup(text_of(item));
    }
    return 0;
}

/* Characters a run id may contain; anything else becomes '-'. */
static void append_safe(char *id, size_t size, const char *s)
{
    size_t n = strlen(id);
    for (; *s && n + 1 < size; s++, n++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                 c == '-' || c == '=';
        id[n] = ok ? c : '-';
    }
    id[n] = '\0';
}

const char *experiment_value(const experiment *x, int r, int k)
{
    const config_entries *p = &x->runs[r].point;
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->e[i].path, x->keys[k]))
            return p->e[i].text;
    return "";
}

static int parse_sweep(yaml_document_t *doc, yaml_node_t *sw, const char *file, axis *axes, int *n_axes,
                       config_entries *overrides, yaml_node_t **override_nodes, nb_error *err)
{
    if (sw->type != YAML_MAPPING_NODE)
        return err_at(err, file, sw, "sweep: expected a mapping of key paths to lists%s%s", "", "");
    for (yaml_node_pair_t *p = sw->data.mapping.pairs.start; p < sw->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        if (kn->type != YAML_SCALAR_NODE)
            return err_at(err, file, kn, "sweep: keys must be plain key paths%s%s", "", "");
        const char *key = text_of(kn);
        if (!strcmp(key, "overrides")) {
            if (vn->type != YAML_MAPPING_NODE)
                return err_at(err, file, vn, "sweep.overrides: expected a mapping of loss types%s%s", "", "");
            for (yaml_node_pair_t *q = vn->data.mapping.pairs.start; q < vn->data.mapping.pairs.top; q++) {
                yaml_node_t *tn = yaml_document_get_node(doc, q->key);
                yaml_node_t *mn = yaml_document_get_node(doc, q->value);
                int t = tn->type == YAML_SCALAR_NODE ? loss_type_from_name(text_of(tn)) : -1;
                if (t < 0)
                    return err_at(err, file, tn, "sweep.overrides: '%s' is not a loss type%s",
                                  tn->type == YAML_SCALAR_NODE ? text_of(tn) : "?", "");
                if (override_nodes[t])
                    return err_at(err, file, tn, "sweep.overrides: '%s' given twice%s", text_of(tn), "");
                if (mn->type != YAML_MAPPING_NODE)
                    return err_at(err, file, mn, "sweep.overrides.%s: expected a mapping of keys%s", text_of(tn), "");
                override_nodes[t] = mn;
                for (yaml_node_pair_t *r = mn->data.mapping.pairs.start; r < mn->data.mapping.pairs.top; r++) {
                    yaml_node_t *ok = yaml_document_get_node(doc, r->key);
                    yaml_node_t *ov = yaml_document_get_node(doc, r->value);
                    if (ok->type != YAML_SCALAR_NODE || !config_key_exists(text_of(ok)))
                        return err_at(err, file, ok, "sweep.overrides: unknown key '%s'%s",
                                      ok->type == YAML_SCALAR_NODE ? text_of(ok) : "?", "");
                    if (!strcmp(text_of(ok), "loss.type"))
                        return err_at(err, file, ok, "sweep.overrides.%s: cannot override loss.type%s", text_of(tn), "");
                    if (ov->type != YAML_SCALAR_NODE)
                        return err_at(err, file, ov, "sweep.overrides: %s: expected a single value%s", text_of(ok), "");
                    for (yaml_node_pair_t *q2 = mn->data.mapping.pairs.start; q2 < r; q2++)
                        if (!strcmp(text_of(yaml_document_get_node(doc, q2->key)), text_of(ok)))
                            return err_at(err, file, ok, "sweep.overrides.%s: duplicate key %s", text_of(tn),
                                          text_of(ok));
                    config_entries_add(&overrides[t], text_of(ok), text_of(ov), (int)ov->start_mark.line + 1,
                                       (int)ov->start_mark.column + 1);
                }
            }
        } else if (!strcmp(key, "zip")) {
            if (vn->type != YAML_SEQUENCE_NODE)
                return err_at(err, file, vn, "sweep.zip: expected a list of groups%s%s", "", "");
            for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
                yaml_node_t *g = yaml_document_get_node(doc, *it);
                if (g->type != YAML_MAPPING_NODE)
                    return err_at(err, file, g, "sweep.zip: each group is a mapping of key paths to lists%s%s", "", "");
                if (*n_axes == MAX_AXES)
                    return err_at(err, file, g, "sweep: too many axes%s%s", "", "");
                axis *a = &axes[(*n_axes)++];
                for (yaml_node_pair_t *q = g->data.mapping.pairs.start; q < g->data.mapping.pairs.top; q++) {
                    yaml_node_t *zk = yaml_document_get_node(doc, q->key);
                    if (zk->type != YAML_SCALAR_NODE)
                        return err_at(err, file, zk, "sweep.zip: keys must be key paths%s%s", "", "");
                    if (axis_add_key(a, doc, zk, yaml_document_get_node(doc, q->value), file, 1, err))
                        return -1;
                }
                if (a->n_keys == 0)
                    return err_at(err, file, g, "sweep.zip: empty group%s%s", "", "");
            }
        } else {
            if (*n_axes == MAX_AXES)
                return err_at(err, file, kn, "sweep: too many axes%s%s", "", "");
            if (axis_add_key(&axes[(*n_axes)++], doc, kn, vn, file, 0, err))
                return -1;
        }
    }
    return 0;
}

/* x->keys: the swept keys in order, each once (the sweep table's columns); *type_swept says
 * whether loss.type is one of them. Returns 0, or −1 with err at the second mention of a key. */
static int sweep_columns(experiment *x, const axis *axes, int n_axes, int *type_swept, const char *path,
                         nb_error *err)
{
    x->keys = nb_calloc(MAX_AXES * MAX_AXES, sizeof *x->keys);
    *type_swept = 0;
    for (int a = 0; a < n_axes; a++)
        for (int k = 0; k < axes[a].n_keys; k++) {
            for (int j = 0; j < x->n_keys; j++)
                if (!strcmp(x->keys[j], axes[a].keys[k]))
                    return nb_error_set(err, path, axes[a].line[0][k], axes[a].col[0][k],
                                        "sweep: %s is swept twice (one key can be on one axis only)", axes[a].keys[k]);
            *type_swept |= !strcmp(axes[a].keys[k], "loss.type");
            snprintf(x->keys[x->n_keys++], sizeof x->keys[0], "%s", axes[a].keys[k]);
        }
    return 0;
}

/* The loss type of a run: its sweep point's loss.type, else the base file's, else softmax; −1
 * for an unknown name (config_resolve reports it). */
static int run_loss_type(const experiment *x, const sweep_run *run)
{
    const char *type_text = NULL;
    for (int i = 0; i < run->point.n; i++)
        if (!strcmp(run->point.e[i].path, "loss.type"))
            type_text = run->point.e[i].text;
    for (int i = 0; !type_text && i < x->base.n; i++)
        if (!strcmp(x->base.e[i].path, "loss.type"))
            type_text = x->base.e[i].text;
    return type_text ? loss_type_from_name(type_text) : LOSS_SOFTMAX;
}

/* run->id: run_id when there is no sweep, else the loss type, the other swept keys and the
 * seed (arcface_m0.3_s30_seed2). Returns 0, or −1 with err when a sweep sets run_id. */
static int run_name(sweep_run *run, int n_axes, const char *path, nb_error *err)
{
    if (n_axes == 0 && run->cfg.run_id[0]) {
        snprintf(run->id, sizeof run->id, "%s", run->cfg.run_id);
        return 0;
    }
    if (n_axes && run->cfg.run_id[0])
        return nb_error_set(err, path, 0, 0, "run_id: cannot be set in an experiment with a sweep");
    snprintf(run->id, sizeof run->id, "%s", loss_type_name(run->cfg.loss.type));
    for (int i = 0; i < run->point.n; i++) {
        const char *k = run->point.e[i].path;
        if (!strcmp(k, "loss.type") || !strcmp(k, "seed"))
            continue;
        const char *last = strrchr(k, '.');
        append_safe(run->id, sizeof run->id, "_");
        append_safe(run->id, sizeof run->id, last ? last + 1 : k);
        append_safe(run->id, sizeof run->id, run->point.e[i].text);
    }
    char seed[40];
    snprintf(seed, sizeof seed, "_seed%llu", (unsigned long long)run->cfg.seed);
    append_safe(run->id, sizeof run->id, seed);
    return 0;
}

/* One run at the sweep point idx (one value index per axis): its point, its configuration
 * (base, then the per-type overrides of its loss type, then the point) and its name. */
static int make_run(experiment *x, sweep_run *run, const axis *axes, int n_axes, const int *idx,
                    const config_entries *overrides, int type_swept, const char *path, nb_error *err)
{
    snprintf(run->point.file, sizeof run->point.file, "%s", path);
    for (int a = 0; a < n_axes; a++)
        for (int k = 0; k < axes[a].n_keys; k++) {
            const char *v = axes[a].vals[idx[a]][k];
            if (v)
                config_entries_add(&run->point, axes[a].keys[k], v, axes[a].line[idx[a]][k], axes[a].col[idx[a]][k]);
        }
    const int t = run_loss_type(x, run);
    config_entries over = {0};
    snprintf(over.file, sizeof over.file, "%s", path);
    if (t >= 0)
        for (int i = 0; i < overrides[t].n; i++)
            config_entries_add(&over, overrides[t].e[i].path, overrides[t].e[i].text, overrides[t].e[i].line,
                               overrides[t].e[i].col);
    for (int i = 0; i < run->point.n; i++)
        config_entries_add(&over, run->point.e[i].path, run->point.e[i].text, run->point.e[i].line,
                           run->point.e[i].col);
    int bad = config_resolve(&run->cfg, &x->base, &over, type_swept, err);
    config_entries_free(&over);
    if (bad || run_name(run, n_axes, path, err))
        return -1;
    snprintf(run->cfg.run_id, sizeof run->cfg.run_id, "%s", run->id);
    return 0;
}

/* Run ids must be unique (the id is the folder). */
static int check_unique_ids(const experiment *x, const char *path, nb_error *err)
{
    for (int i = 0; i < x->n_runs; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(x->runs[i].id, x->runs[j].id))
                return nb_error_set(err, path, 0, 0, "sweep: runs %d and %d would both be named '%s'", j + 1, i + 1,
                                    x->runs[i].id);
    return 0;
}

/* Every point of the grid of axes, the last axis fastest. */
static int make_runs(experiment *x, const axis *axes, int n_axes, const config_entries *overrides, int type_swept,
                     const char *path, nb_error *err)
{
    long total = 1;
    for (int a = 0; a < n_axes; a++) {
        total *= axes[a].n_vals;
        if (total > MAX_RUNS)
            return nb_error_set(err, path, 0, 0, "sweep: more than %d runs", MAX_RUNS);
    }
    x->runs = nb_calloc((size_t)total, sizeof *x->runs);
    int idx[MAX_AXES] = {0};
    for (long r = 0; r < total; r++) {
        sweep_run *run = &x->runs[x->n_runs++];
        if (make_run(x, run, axes, n_axes, idx, overrides, type_swept, path, err))
            return -1;
        for (int a = n_axes - 1; a >= 0; a--) {
            if (++idx[a] < axes[a].n_vals)
                break;
            idx[a] = 0;
        }
    }
    return check_unique_ids(x, path, err);
}

int experiment_load(experiment *x, const char *path, nb_error *err)
{
    memset(x, 0, sizeof *x);
    snprintf(x->file, sizeof x->file, "%s", path);
    yaml_document_t doc;
    yaml_node_t *root;
    if (config_parse_file(path, &doc, &root, err))
        return -1;
    axis axes[MAX_AXES];
    memset(axes, 0, sizeof axes);
    int n_axes = 0, rc = -1, type_swept = 0;
    config_entries overrides[LOSS_TYPE_COUNT];
    yaml_node_t *override_nodes[LOSS_TYPE_COUNT] = {0};
    memset(overrides, 0, sizeof overrides);
    if (config_entries_from_node(&x->base, &doc, root, "", "sweep", path, err))
        goto out;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, p->key);
        if (kn->type == YAML_SCALAR_NODE && !strcmp(text_of(kn), "sweep") &&
            parse_sweep(&doc, yaml_document_get_node(&doc, p->value), path, axes, &n_axes, overrides, override_nodes,
                        err))
            goto out;
    }
    for (int t = 0; t < LOSS_TYPE_COUNT; t++)
        snprintf(overrides[t].file, sizeof overrides[t].file, "%s", path);
    if (sweep_columns(x, axes, n_axes, &type_swept, path, err) ||
        make_runs(x, axes, n_axes, overrides, type_swept, path, err))
        goto out;
    snprintf(x->name, sizeof x->name, "%s", x->runs[0].cfg.name);
    rc = 0;
out:
    for (int a = 0; a < n_axes; a++)
        axis_free(&axes[a]);
    for (int t = 0; t < LOSS_TYPE_COUNT; t++)
        config_entries_free(&overrides[t]);
    yaml_document_delete(&doc);
    if (rc)
        experiment_free(x);
    return rc;
}

void experiment_free(experiment *x)
{
    config_entries_free(&x->base);
    for (int i = 0; i < x->n_runs; i++)
        config_entries_free(&x->runs[i].point);
    free(x->runs);
    free(x->keys);
    memset(x, 0, sizeof *x);
}
