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
    fprintf(f, "log_every: %d\n", cfg->train.log_every); /* steps per row of steps.csv */
    fprintf(f, "wall_seconds: %.3f\n", wall);
    /* memory: the process's peak resident set so far, and the classification head's
     * share (W, gradient, momentum in their storage type, plus the loss's per-step buffers) */
    fprintf(f, "peak_rss_bytes: %zu\n", memstat_peak_rss());
    fprintf(f, "head_bytes: %zu\n", head_bytes);
    yaml_quoted(f, "status", status);
    return atomic_commit(&a, err);
}

/* Calls cb(key, value, ctx) for each scalar pair of dir/run.yaml (one flat mapping: scalars
 * alternate key, value at depth 1). Returns 0 when the whole file parsed, −1 otherwise. */
static int scan_record(const char *dir, void (*cb)(const char *key, const char *v, void *ctx), void *ctx)
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
    char key[64] = "";
    int depth = 0, is_key = 1, ok = 0;
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
            if (is_key)
                snprintf(key, sizeof key, "%s", v);
            else
                cb(key, v, ctx);
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
    return ok ? 0 : -1;
}

typedef struct {
    double *wall;
    int *threads, found;
} wall_threads;

static void take_wall_threads(const char *key, const char *v, void *ctx)
{
    wall_threads *w = ctx;
    char *end;
    if (!strcmp(key, "wall_seconds")) {
        double d = strtod(v, &end);
        if (*v && !*end) {
            *w->wall = d;
            w->found |= 1;
        }
    } else if (!strcmp(key, "threads")) {
        long n = strtol(v, &end, 10);
        if (*v && !*end) {
            *w->threads = (int)n;
            w->found |= 2;
        }
    }
}

int run_record_read(const char *dir, double *wall_seconds, int *threads)
{
    wall_threads w = {wall_seconds, threads, 0};
    return scan_record(dir, take_wall_threads, &w) == 0 && w.found == 3 ? 0 : -1;
}

/* The keys of run.yaml that decide a run's floating-point results bit for bit (docs/regress.md). */
static const char *const platform_keys[] = {"compiler", "cflags", "real",     "openblas",     "backend",
                                            "gemm",     "head_gemm", "dnnl_isa", "dnnl_version", "threads"};
#define N_PLATFORM_KEYS (int)(sizeof platform_keys / sizeof *platform_keys)

typedef struct {
    const char *v[N_PLATFORM_KEYS];
    char *store[N_PLATFORM_KEYS];
} platform_values;

static void take_platform(const char *key, const char *v, void *ctx)
{
    platform_values *p = ctx;
    for (int i = 0; i < N_PLATFORM_KEYS; i++)
        if (!strcmp(key, platform_keys[i]) && !p->store[i])
            p->store[i] = nb_strdup(v);
}

int run_record_platform(const char *dir, char *buf, size_t size)
{
    platform_values p = {0};
    int rc = scan_record(dir, take_platform, &p), n = 0;
    buf[0] = '\0';
    for (int i = 0; i < N_PLATFORM_KEYS; i++) {
        /* dnnl_isa and dnnl_version are written only where oneDNN ran: absent is a value too */
        if (rc == 0 && (p.store[i] || !strncmp(platform_keys[i], "dnnl_", 5))) {
            int w = snprintf(buf + n, size - (size_t)n, "%s%s=%s", n ? "; " : "", platform_keys[i],
                             p.store[i] ? p.store[i] : "-");
            if (w < 0 || (size_t)w >= size - (size_t)n)
                rc = -1;
            else
                n += w;
        } else {
            rc = -1;
        }
        free(p.store[i]);
    }
    if (rc)
        buf[0] = '\0';
    return rc;
}
