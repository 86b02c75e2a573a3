/* test_model_backend.c — model.backend in the float build: model_init puts the backbone on oneDNN
 * for auto (the default) and dnnl, on the OpenBLAS layers for blas; run.yaml records the backend
 * used, the GEMM libraries, oneDNN's ISA and version; the ISA follows ONEDNN_MAX_CPU_ISA. (The
 * double build's behaviour — auto and blas run BLAS, dnnl is an error — is tests/test_train.c's.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "config/runrecord.h"
#include "core/gemm.h"
#include "train/model.h"

/* oneDNN reads ONEDNN_MAX_CPU_ISA once, at its first use: a child that sets it before any oneDNN
 * call reports AVX2 (this test runs first, so the parent has not touched oneDNN yet either). */
static void test_isa_follows_environment(void **state)
{
    (void)state;
    fflush(NULL);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("ONEDNN_MAX_CPU_ISA", "AVX2", 1);
        _exit(strcmp(nb_dnnl_isa(), "avx2") == 0 ? 0 : 3);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void init_with(model *m, nb_config *cfg, model_backend b)
{
    nb_error err = {0};
    cfg->model.backend = b;
    rng_t rng;
    rng_seed(&rng, 5);
    if (model_init(m, cfg, 1, 28, 28, 10, 8, &rng, &err)) {
        nb_error_print(&err, stderr);
        fail();
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 14];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_backend_selection_and_record(void **state)
{
    (void)state;
    nb_config cfg;
    nb_error err = {0};
    assert_int_equal(config_load(&cfg, "tests/fixtures/tiny_train.yaml", &err), 0);
    assert_int_equal(cfg.model.backend, MODEL_BACKEND_AUTO); /* the default */
    char dir[] = "/tmp/nb_backend_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, RUN_RECORD_FILE);
    const model_backend bs[] = {MODEL_BACKEND_AUTO, MODEL_BACKEND_DNNL, MODEL_BACKEND_BLAS};
    const int want[] = {NET_BACKEND_DNNL, NET_BACKEND_DNNL, NET_BACKEND_BLAS};
    for (int i = 0; i < 3; i++) {
        model m;
        init_with(&m, &cfg, bs[i]);
        assert_int_equal(m.net.backend, want[i]);
        assert_int_equal(run_record_write(dir, &cfg, 0, m.net.backend, 2, 1.0, "complete", &err), 0);
        const char *t = slurp(path);
        printf("%s", i == 0 ? t : "");
        assert_non_null(strstr(t, want[i] == NET_BACKEND_DNNL ? "\nbackend: \"dnnl\"\n" : "\nbackend: \"blas\"\n"));
        assert_non_null(strstr(t, "\ngemm: \"OpenBLAS cblas_sgemm\"\n"));
        assert_non_null(strstr(t, "\nhead_gemm: \"oneDNN dnnl_sgemm\"\n"));
        char line[128];
        snprintf(line, sizeof line, "\ndnnl_isa: \"%s\"\n", nb_dnnl_isa());
        assert_non_null(strstr(t, line));
        snprintf(line, sizeof line, "\ndnnl_version: \"%s\"\n", nb_dnnl_version());
        assert_non_null(strstr(t, line));
        double wall = 0;
        int threads = 0;
        assert_int_equal(run_record_read(dir, &wall, &threads), 0);
        assert_int_equal(threads, 2);
        /* a step runs on the chosen backend */
        for (size_t k = 0; k < (size_t)8 * 28 * 28; k++)
            m.x[k] = (real)((k % 13) * 0.1 - 0.6);
        for (int k = 0; k < 8; k++)
            m.y[k] = k % 10;
        step_stats st;
        model_train_step(&m, &cfg, 8, 0.01, 0, &st);
        assert_true(st.loss > 0 && st.loss < 10);
        model_free(&m);
    }
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isa_follows_environment),
        cmocka_unit_test(test_backend_selection_and_record),
    };
    nb_set_threads(2);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
