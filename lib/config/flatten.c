/* flatten.c — a YAML file as its key list; see flatten.h. */
#include "config/flatten.h"

#include <string.h>

#include "config/yamlfile.h"

int config_entries_read(config_entries *out, const char *path, nb_error *err)
{
    memset(out, 0, sizeof *out);
    yaml_document_t doc;
    yaml_node_t *root;
    if (config_parse_file(path, &doc, &root, err))
        return -1;
    int rc = config_entries_from_node(out, &doc, root, "", NULL, path, err);
    yaml_document_delete(&doc);
    if (rc)
        config_entries_free(out);
    return rc;
}

const char *config_entries_get(const config_entries *l, const char *path)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->e[i].path, path))
            return l->e[i].text;
    return NULL;
}
