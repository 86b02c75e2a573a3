/* writer.c — writing the resolved configuration (config_write) with libyaml's emitter: every key
 * of the schema that applies to the data and loss types, defaults included, so that a run can be
 * redone from its folder alone. */
#include "config/config.h"

#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "config/schema.h"
#include "nn/paramset.h"

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
    case K_LOSS_TYPE:
        return emit_scalar(em, schema_enum_name(k, *(const int *)(base + k->off)));
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
    for (size_t i = 0; ok && i < schema_n_keys; i++) {
        const key_spec *k = &schema_keys[i];
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
        if (!schema_data_key_applies(cfg, k))
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

