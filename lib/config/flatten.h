/* flatten.h — a YAML file read as its key list ("loss.s" → "16"), for the parts that only look
 * values up in a file normbench wrote (a run's config.yaml) rather than build a configuration from
 * it. The YAML is parsed by config_parse_file and flattened by config_entries_from_node, so every
 * reading of YAML stays in lib/config/ and follows the same schema. */
#ifndef NB_FLATTEN_H
#define NB_FLATTEN_H

#include "config/config.h"
#include "core/error.h"

/* out ← the key list of the YAML file path (zeroed first). Returns 0, or −1 with err naming file,
 * line and column (a syntax error, an unknown or duplicate key); out is then empty. The caller
 * frees out with config_entries_free either way. */
int config_entries_read(config_entries *out, const char *path, nb_error *err);
/* The text of key path in l ("loss.type"), or NULL when l does not set it. */
const char *config_entries_get(const config_entries *l, const char *path);

#endif
