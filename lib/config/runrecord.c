/* runrecord.c — a run's run.yaml: written by hand as flat YAML, read back with libyaml; see
 * runrecord.h. */
#include "config/runrecord.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/gemm.h"
#include "core/memstat.h"
#include "core/real.h"
#include "io/buildinfo.h"
#include "io/fsutil.h"
#include "io/runfolder.h"
#include "nn/net.h"

/* YAML double-quoted scalar. */
static void yaml_quoted(FILE *f, const char *key, const char *v)
{
    fprintf(f, "%s: \"", key);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', f);
        if (*p == '\n')
            fputs("\\n", f);
        else
            fputc(*p, f);
    }
    fputs("\"\n", f);
}

int run_record_write(const char *dir, const nb_config *cfg, size_t head_bytes, int backend, int threads,
                     double wall, const char *status, nb_error *err)
{
    char path[1200];
    if (runfolder_file(path, sizeof path, dir, RUN_RECORD_FILE, err))
        return -1;
    atomic_file a;
    if (atomic_open(&a, path, err))
        return -1;
    FILE *f = a.f;
    fprintf(f, "seed: %llu\n", (unsigned long long)cfg->seed);
    yaml_quoted(f, "git_commit", buildinfo_commit());
    yaml_quoted(f, "compiler", buildinfo_compiler());
    yaml_quoted(f, "cflags", buildinfo_cflags());
    yaml_quoted(f, "real", NB_REAL_NAME);
    yaml_quoted(f, "openblas", nb_blas_config());
    /* what ran: the backbone's backend, the GEMM of the blas layers and the plain losses, that of
     * the blocked classification head and, where oneDNN ran, the ISA it picked (after
     * ONEDNN_MAX_CPU_ISA) and its version */
    yaml_quoted(f, "backend", backend == NET_BACKEND_DNNL ? "dnnl" : "blas");
    yaml_quoted(f, "gemm", nb_gemm_library());
    yaml_quoted(f, "head_gemm", nb_gemm_block_library());
    if (backend == NET_BACKEND_DNNL || !strncmp(nb_gemm_block_library(), "oneDNN", 6)) {
        yaml_quoted(f, "dnnl_isa", nb_dnnl_isa());
        yaml_quoted(f, "dnnl_version", nb_dnnl_version());
    }
    fprintf(f, "threads: %d\n", threads);
    yaml_quoted(f, "config_file", cfg->source);
    fprintf(f, "detach_margin: %s\n", cfg->loss.detach_margin ? "true" : "false");
    fprintf(f, "wall_seconds: %.3f\n", wall);
    /* memory: the process's peak resident set so far, and the classification head's
     * share (W, gradient, momentum in their storage type, plus the loss's per-step buffers) */
    fprintf(f, "peak_rss_bytes: %zu\n", memstat_peak_rss());
    fprintf(f, "head_bytes: %zu\n", head_bytes);
    yaml_quoted(f, "status", status);
    return atomic_commit(&a, err);
}

int run_record_read(const char *dir, double *wall_seconds, int *threads)
{
    char path[1200];
    if (runfolder_file(path, sizeof path, dir, RUN_RECORD_FILE, NULL))
        return -1;
    FILE *f = fsutil_open_read(path, "run record", CONFIG_FILE_MAX, FSUTIL_NOFOLLOW, NULL);
    if (!f)
        return -1;
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    /* run.yaml is one flat mapping: scalars alternate key, value at depth 1 */
    char key[64] = "";
    int depth = 0, is_key = 1, found = 0, ok = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev))
            break;
        yaml_event_type_t t = ev.type;
        if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT)
            depth++;
        else if (t == YAML_MAPPING_END_EVENT || t == YAML_SEQUENCE_END_EVENT)
            depth--;
        else if (t == YAML_SCALAR_EVENT && depth == 1) {
            const char *v = (const char *)ev.data.scalar.value;
            if (is_key) {
                snprintf(key, sizeof key, "%s", v);
            } else {
                char *end;
                if (!strcmp(key, "wall_seconds")) {
                    double d = strtod(v, &end);
                    if (*v && !*end) {
                        *wall_seconds = d;
                        found |= 1;
                    }
                } else if (!strcmp(key, "threads")) {
                    long n = strtol(v, &end, 10);
                    if (*v && !*end) {
                        *threads = (int)n;
                        found |= 2;
                    }
                }
            }
            is_key = !is_key;
        }
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT) {
            ok = 1;
            break;
        }
    }
    yaml_parser_delete(&p);
    fclose(f);
    return ok && found == 3 ? 0 : -1;
}
