/* fuzz_config.c — libFuzzer target: an experiment file through experiment_load (libyaml document,
 * strict schema, sweep expansion into resolved runs); the first run's resolved configuration is
 * written (config_write), read back and written again, which must give the same bytes. */
#include "fuzz_common.h"
#include "config/sweep.h"

static char *write_config_text(const nb_config *cfg, size_t *n)
{
    char *buf = NULL;
    FILE *m = open_memstream(&buf, n);
    if (!m || config_write(cfg, m) != 0) {
        fprintf(stderr, "fuzz_config: config_write failed\n");
        abort();
    }
    fclose(m);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("config", ".yaml", data, size);
    experiment x;
    nb_error err = {0};
    if (experiment_load(&x, path, &err) != 0) {
        fuzz_check_error(&err, path);
        return 0;
    }
    /* round trip: the resolved configuration, as written beside a run, loads to itself */
    size_t n1, n2;
    char *t1 = write_config_text(&x.runs[0].cfg, &n1);
    char back[512];
    snprintf(back, sizeof back, "%s/%s.yaml", fuzz_workdir("config"), x.runs[0].cfg.name);
    FILE *f = fopen(back, "wb");
    if (!f || fwrite(t1, 1, n1, f) != n1 || fclose(f) != 0)
        abort();
    nb_config c2;
    if (config_load(&c2, back, &err) != 0) {
        fprintf(stderr, "fuzz_config: the written configuration does not load: %s:%d:%d: %s\n%s", err.file,
                err.line, err.col, err.msg, t1);
        abort();
    }
    char *t2 = write_config_text(&c2, &n2);
    if (n1 != n2 || memcmp(t1, t2, n1) != 0) {
        fprintf(stderr, "fuzz_config: round trip changed the configuration:\n%s---\n%s", t1, t2);
        abort();
    }
    unlink(back);
    free(t1);
    free(t2);
    experiment_free(&x);
    return 0;
}
