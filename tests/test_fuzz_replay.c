/* test_fuzz_replay.c — the libFuzzer targets of tests/fuzz/ as a unit test: every seed input
 * (tests/fuzz/<target>/) and every input that once crashed a parser (tests/fixtures/fuzz/<target>/,
 * kept as a regression fixture) goes through the same target function, so the normal and the
 * sanitizer builds of the suite replay them without clang's libFuzzer. A target aborts on a
 * crash, a broken invariant or an error without a message or file; the test fails loudly then. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define LLVMFuzzerTestOneInput fuzz_config_one
#include "fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_idx_one
#include "fuzz/fuzz_idx.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_pairs_one
#include "fuzz/fuzz_pairs.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_image_one
#include "fuzz/fuzz_image.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_csv_one
#include "fuzz/fuzz_csv.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_npy_one
#include "fuzz/fuzz_npy.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_bin_one
#include "fuzz/fuzz_bin.c"
#undef LLVMFuzzerTestOneInput

/* Feeds every regular file of dir to one; returns how many. */
static int replay_dir(const char *dir, int (*one)(const uint8_t *, size_t))
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[800];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        uint8_t *buf = malloc(1 << 20);
        size_t len = fread(buf, 1, 1 << 20, f);
        fclose(f);
        one(buf, len);
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

static void replay(const char *target, int (*one)(const uint8_t *, size_t))
{
    char seeds[256], crashes[256];
    snprintf(seeds, sizeof seeds, "tests/fuzz/%s", target);
    snprintf(crashes, sizeof crashes, "tests/fixtures/fuzz/%s", target);
    int ns = replay_dir(seeds, one), nc = replay_dir(crashes, one);
    printf("fuzz_%s: %d seed inputs and %d crash fixtures replayed\n", target, ns, nc);
    assert_true(ns > 0);
}

static void test_replay_config(void **s) { (void)s; replay("config", fuzz_config_one); }
static void test_replay_idx(void **s) { (void)s; replay("idx", fuzz_idx_one); }
static void test_replay_pairs(void **s) { (void)s; replay("pairs", fuzz_pairs_one); }
static void test_replay_image(void **s) { (void)s; replay("image", fuzz_image_one); }
static void test_replay_csv(void **s) { (void)s; replay("csv", fuzz_csv_one); }
static void test_replay_npy(void **s) { (void)s; replay("npy", fuzz_npy_one); }
static void test_replay_bin(void **s) { (void)s; replay("bin", fuzz_bin_one); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_config), cmocka_unit_test(test_replay_idx), cmocka_unit_test(test_replay_pairs),
        cmocka_unit_test(test_replay_image),   cmocka_unit_test(test_replay_csv),
        cmocka_unit_test(test_replay_npy),
        cmocka_unit_test(test_replay_bin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
