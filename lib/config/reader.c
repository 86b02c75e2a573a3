/* reader.c — reading an experiment: the YAML file (libyaml's document API, so every node keeps
 * its line and column; the hazards of YAML refused first), flattened into key lists, and the
 * lists resolved into an nb_config on top of the schema's defaults (schema.c), then checked
 * (check.c). */
#include "config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/schema.h"
#include "config/yamlfile.h"
#include "io/fsutil.h"

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
            return schema_fail(err, &ko, "%s: keys must be plain names%s", prefix[0] ? prefix : "(top level)", "");
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", node_text(kn));
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *prev = yaml_document_get_node(doc, q->key);
            if (prev->type == YAML_SCALAR_NODE && strcmp(node_text(prev), node_text(kn)) == 0)
                return schema_fail(err, &ko, "%s: duplicate key%s", path, "");
        }
        if (skip_key && !prefix[0] && strcmp(path, skip_key) == 0)
            continue;
        const key_spec *k = schema_find(path);
        if (!k)
            return schema_fail(err, &ko, "unknown key '%s'%s", path, "");
        if (k->kind == K_SECTION) {
            if (vn->type != YAML_MAPPING_NODE)
                return schema_fail(err, &vo, "%s: expected a mapping of keys%s", path, "");
            if (config_entries_from_node(out, doc, vn, path, NULL, file, err))
                return -1;
            continue;
        }
        if (k->kind == K_MILESTONES || k->kind == K_GROUPS) {
            if (vn->type != YAML_SEQUENCE_NODE)
                return schema_fail(err, &vo, "%s: expected a list%s", path, "");
            char text[1024] = "[";
            for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
                yaml_node_t *item = yaml_document_get_node(doc, *it);
                origin io = node_origin(file, item);
                if (item->type != YAML_SCALAR_NODE || strpbrk(node_text(item), ",[]"))
                    return schema_fail(err, &io, "%s: expected a list of plain values%s", path, "");
                if (strlen(text) + strlen(node_text(item)) + 4 >= sizeof text)
                    return schema_fail(err, &io, "%s: list too long%s", path, "");
                if (it > vn->data.sequence.items.start)
                    strcat(text, ", ");
                strcat(text, node_text(item));
            }
            strcat(text, "]");
            config_entries_add(out, path, text, vo.line, vo.col);
            continue;
        }
        if (vn->type != YAML_SCALAR_NODE)
            return schema_fail(err, &vo, "%s: expected a single value, not a %s", path,
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
        const key_spec *k = schema_find(e->path);
        if (!k || k->kind == K_SECTION)
            return schema_fail(err, &o, "unknown key '%s'%s", e->path, "");
        if (strcmp(e->path, "loss.type") == 0)
            continue; /* applied first, by config_resolve */
        if (strncmp(e->path, "loss.", 5) == 0 && !loss_uses_key(cfg->loss.type, e->path + 5)) {
            if (lenient)
                continue;
            return schema_fail(err, &o, "%s: does not apply to loss type '%s'", e->path, loss_type_name(cfg->loss.type));
        }
        if (schema_set_scalar(cfg, k, e->text, &o, err))
            return -1;
        cfg->key_set[k - schema_keys] = 1;
        cfg->key_line[k - schema_keys] = e->line;
        cfg->key_col[k - schema_keys] = e->col;
        cfg->key_cmdline[k - schema_keys] = !l->file[0];
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
        const key_spec *k = schema_find("loss.type");
        origin o = {tl->file[0] ? tl->file : "(command line)", t->line, t->col};
        if (schema_set_scalar(cfg, k, t->text, &o, err))
            return -1;
        loss_config_defaults(&cfg->loss, cfg->loss.type);
        cfg->key_line[k - schema_keys] = t->line;
        cfg->key_col[k - schema_keys] = t->col;
        cfg->key_cmdline[k - schema_keys] = !tl->file[0];
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
    FILE *f = fsutil_open_read(path, "experiment file", 0, 0, err); /* the size limit: below */
    if (!f)
        return -1;
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
            rc = schema_fail(err, &o, "anchors/aliases are not supported in experiment files (alias '*%s'): write the "
                      "value out in full%s", (const char *)ev.data.alias.anchor, "");
            break;
        case YAML_SCALAR_EVENT:
            anchor = ev.data.scalar.anchor;
            if (ev.data.scalar.length > CONFIG_SCALAR_MAX) {
                char detail[64];
                snprintf(detail, sizeof detail, "%zu bytes, more than %d", ev.data.scalar.length, CONFIG_SCALAR_MAX);
                rc = schema_fail(err, &o, "a value is too long (%s%s)", detail, "");
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
                rc = schema_fail(err, &o, "lists and mappings are nested more than %s levels deep%s", detail, "");
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                rc = schema_fail(err, &o, "a second YAML document ('---'): an experiment file holds one%s%s", "", "");
            break;
        default:
            break;
        }
        if (!rc && anchor)
            rc = schema_fail(err, &o, "anchors/aliases are not supported in experiment files (anchor '&%s'): write the "
                      "value out in full%s", (const char *)anchor, "");
        if (!rc && nodes > CONFIG_NODES_MAX) {
            char detail[16];
            snprintf(detail, sizeof detail, "%d", CONFIG_NODES_MAX);
            rc = schema_fail(err, &o, "more than %s values in one experiment file%s", detail, "");
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
        return schema_fail(err, &o, "%s: the top level must be a mapping of keys%s", "(top level)", "");
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

int config_load_run(nb_config *cfg, const char *file, const config_entries *over, nb_error *err)
{
    yaml_document_t doc;
    yaml_node_t *root;
    if (config_parse_file(file, &doc, &root, err))
        return -1;
    config_entries base = {0};
    int rc = config_entries_from_node(&base, &doc, root, "", "sweep", file, err);
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; rc == 0 && p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, "sweep"))
            rc = nb_error_set(err, file, (int)k->start_mark.line + 1, (int)k->start_mark.column + 1,
                              "sweep: this file describes a sweep; run it with 'normbench run %s'", file);
    }
    yaml_document_delete(&doc);
    if (rc == 0)
        rc = config_resolve(cfg, &base, over, 0, err);
    config_entries_free(&base);
    return rc;
}
