/* yamlfile.h — the YAML side of lib/config/, for its own files only: an experiment file parsed
 * with libyaml under the limits of config.h, and a mapping flattened into a key list. Nothing
 * outside lib/config/ sees a libyaml type (docs/architecture.md). */
#ifndef NB_YAMLFILE_H
#define NB_YAMLFILE_H

#include <yaml.h>

#include "config/config.h"
#include "core/error.h"

/* Parses a YAML file whose top level is a mapping. Anchors and aliases, a second document, and
 * files beyond the limits above are errors naming the line. On success the caller owns doc
 * (yaml_document_delete). */
int config_parse_file(const char *path, yaml_document_t *doc, yaml_node_t **root, nb_error *err);
/* Flattens the mapping `map` into out. Every key must exist in the schema and appear once;
 * skip_key (may be NULL) is a top-level key left for the caller (an experiment's "sweep"). */
int config_entries_from_node(config_entries *out, yaml_document_t *doc, yaml_node_t *map, const char *prefix,
                             const char *skip_key, const char *file, nb_error *err);

#endif
