/* schema.h — the configuration schema, internal to lib/config/ (schema.c, reader.c, check.c,
 * writer.c): one table of every key path with its kind, its place in nb_config, its range and its
 * default, and the parsing of one value into its place. Not part of config.h's interface. */
#ifndef NB_CONFIG_SCHEMA_H
#define NB_CONFIG_SCHEMA_H

#include <stddef.h>

#include "config/config.h"
#include "core/error.h"

/* K_LOSS_TYPE: an enum whose names are the loss table's (loss_type_name, loss/table.h). */
typedef enum {
    K_SECTION,
    K_INT,
    K_U64,
    K_FLOAT,
    K_BOOL,
    K_STRING,
    K_ENUM,
    K_LOSS_TYPE,
    K_ALPHA,
    K_MILESTONES,
    K_GROUPS
} key_kind;

typedef struct {
    const char *path;
    key_kind kind;
    size_t off;               /* offset in nb_config */
    size_t size;              /* K_STRING: buffer size */
    double min, max;          /* numeric range, inclusive */
    const char *const *names; /* K_ENUM: value names, NULL-terminated, index = enum value */
    const char *def;          /* default as text; NULL: none (loss keys: per-type defaults) */
} key_spec;

/* The schema, in the order config_write writes it. */
extern const key_spec schema_keys[];
extern const size_t schema_n_keys;

/* Where the value being set came from, for error messages. */
typedef struct {
    const char *file;
    int line, col;
} origin;

/* The key of the schema with this path, or NULL. */
const key_spec *schema_find(const char *path);
/* Fills err with fmt (two %s: path and detail) at o; returns −1. */
int schema_fail(nb_error *err, const origin *o, const char *fmt, const char *path, const char *detail);
/* Sets scalar (or flow-list) key k of cfg from text. Returns 0, or −1 with err at o. */
int schema_set_scalar(nb_config *cfg, const key_spec *k, const char *text, const origin *o, nb_error *err);
/* Name of value i of an enum key (K_ENUM, K_LOSS_TYPE), or NULL past the last. */
const char *schema_enum_name(const key_spec *k, int i);
/* Does key k apply to cfg's data.type (keys of other data types are errors)? */
int schema_data_key_applies(const nb_config *cfg, const key_spec *k);

#endif
