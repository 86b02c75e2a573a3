/* test_insightface_bin.c — the restricted pickle reader of InsightFace .bin files
 * (lib/data/insightface_bin.c) on fixtures made by Python's pickle (tools/make_bin_fixture.py:
 * protocol 2 as Python 2 writes it, with BINSTRING images, and protocol 4 with FRAME, BINBYTES and
 * MEMOIZE, both with memo GETs for repeated images): both give the same images and issame list;
 * decoded, the images are pixel for pixel those of the same JPEGs laid out as an LFW folder
 * (lfw_load_pairs), so any model scores the .bin's pairs as it scores the folder's. Refused: a
 * pickle that imports a class (STACK_GLOBAL), REDUCE, a string claiming 10^12 bytes, a memo GET of
 * an empty slot, truncation, bytes after STOP, a PNG image, a non-pickle; and `normbench eval
 * --issame X.bin` takes the file's pair list. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "data/insightface_bin.h"
#include "data/lfw.h"
#include "io/npy.h"
#include "test_util.h"

#define FIX "tests/fixtures/bin/"

static char tmpdir[256];

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *b = malloc(1 << 20);
    *n = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

static void test_both_protocols(void **state)
{
    (void)state;
    ifbin a, b;
    nb_error err = {0};
    assert_int_equal(ifbin_read(&a, FIX "lfw_p2.bin", &err), 0);
    assert_int_equal(ifbin_read(&b, FIX "lfw_p4.bin", &err), 0);
    assert_int_equal(a.n_pairs, 4);
    assert_int_equal(a.n_images, 8);
    assert_int_equal(b.n_images, 8);
    const unsigned char want[4] = {1, 1, 0, 0};
    assert_memory_equal(a.issame, want, 4);
    assert_memory_equal(b.issame, want, 4);
    /* image 0 and 4 are Ann_0001.jpg (a memo GET in both files) */
    size_t n;
    unsigned char *ann = read_all(FIX "lfw/Ann/Ann_0001.jpg", &n);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(a.img_len[i], b.img_len[i]);
        assert_memory_equal(a.buf + a.img_off[i], b.buf + b.img_off[i], a.img_len[i]);
    }
    assert_int_equal(a.img_len[4], n);
    assert_memory_equal(a.buf + a.img_off[4], ann, n);
    free(ann);
    ifbin_free(&a);
    ifbin_free(&b);
}

/* The decoded .bin images are the LFW folder's, pair by pair. */
static void test_same_as_lfw_folder(void **state)
{
    (void)state;
    lfw_options o;
    lfw_defaults(&o);
    o.crop_w = o.crop_h = 16;
    o.width = o.height = 8;
    o.channels = 3;
    dataset lfw, bin;
    pair_list lp, bp;
    nb_error err = {0};
    assert_int_equal(lfw_load_pairs(&lfw, &lp, FIX "lfw", FIX "pairs.txt", &o, &err), 0);
    const char *files[2] = {FIX "lfw_p2.bin", FIX "lfw_p4.bin"};
    size_t per = (size_t)3 * 8 * 8;
    for (int f = 0; f < 2; f++) {
        assert_int_equal(ifbin_load(&bin, &bp, files[f], 1, &o, &err), 0);
        assert_int_equal(bp.n, lp.n);
        for (int k = 0; k < lp.n; k++) {
            assert_int_equal(bp.p[k].same, lp.p[k].same);
            assert_memory_equal(bin.images + bp.p[k].a * per, lfw.images + lp.p[k].a * per, per * sizeof(float));
            assert_memory_equal(bin.images + bp.p[k].b * per, lfw.images + lp.p[k].b * per, per * sizeof(float));
        }
        dataset_free(&bin);
        free(bp.p);
    }
    dataset_free(&lfw);
    lfw_pairs_free(&lp);
}

static void expect_bad(const unsigned char *buf, size_t len, const char *needle)
{
    ifbin b;
    nb_error err = {0};
    assert_int_equal(ifbin_parse(&b, buf, len, "x.bin", &err), -1);
    assert_null(b.buf);
    assert_string_equal(err.file, "x.bin");
    if (!strstr(err.msg, needle)) {
        fprintf(stderr, "expected \"%s\" in: %s\n", needle, err.msg);
        fail();
    }
}

static void test_refused(void **state)
{
    (void)state;
    size_t n;
    unsigned char *g = read_all(FIX "bad_global.bin", &n);
    expect_bad(g, n, "STACK_GLOBAL");
    free(g);
    /* cos.system('x') the protocol-2 way: GLOBAL, then REDUCE */
    const char glob[] = "\x80\x02" "cos\nsystem\n" "U\x01xR.";
    expect_bad((const unsigned char *)glob, sizeof glob - 1, "GLOBAL");
    const unsigned char reduce[] = {0x80, 2, ']', ']', 'R', '.'};
    expect_bad(reduce, sizeof reduce, "REDUCE");
    /* BINBYTES8 claiming 10^12 bytes */
    unsigned char huge[32] = {0x80, 4, ']', 0x8e};
    uint64_t big = 1000000000000ull;
    for (int k = 0; k < 8; k++)
        huge[4 + k] = (unsigned char)(big >> (8 * k));
    expect_bad(huge, 20, "only 8 remain");
    const unsigned char get[] = {0x80, 2, 'h', 0, '.'};
    expect_bad(get, sizeof get, "empty slot");
    const unsigned char put[] = {0x80, 2, ']', 'q', 5, '.'};
    expect_bad(put, sizeof put, "out of order");
    unsigned char *p4 = read_all(FIX "lfw_p4.bin", &n);
    expect_bad(p4, n / 2, "");
    expect_bad(p4, n - 1, "frame longer than the file");
    size_t n2;
    unsigned char *p2 = read_all(FIX "lfw_p2.bin", &n2);
    expect_bad(p2, n2 - 1, "no STOP");
    expect_bad(p2, n2 - 200, "only");
    free(p2);
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, p4, n);
    longer[n] = '.';
    expect_bad(longer, n + 1, "after STOP");
    free(longer);
    free(p4);
    expect_bad((const unsigned char *)"hello", 5, "not a pickle");
    /* ([b'\x89PNG...', b'x'], [True]): decodes to a PNG error */
    const unsigned char png[] = {0x80, 4, ']', '(', 'C', 8, 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                 'C', 1, 'x', 'e', ']', 0x88, 'a', 0x86, '.'};
    ifbin b;
    nb_error err = {0};
    assert_int_equal(ifbin_parse(&b, png, sizeof png, "png.bin", &err), 0);
    lfw_options o;
    lfw_defaults(&o);
    float out[32 * 32];
    assert_int_equal(lfw_decode_image(out, b.buf + b.img_off[0], b.img_len[0], "png.bin (image 0)", &o, &err), -1);
    assert_non_null(strstr(err.msg, "PNG"));
    assert_int_equal(lfw_decode_image(out, b.buf + b.img_off[1], b.img_len[1], "png.bin (image 1)", &o, &err), -1);
    assert_non_null(strstr(err.msg, "JPEG"));
    ifbin_free(&b);
    /* not a pair of lists */
    const unsigned char one[] = {0x80, 4, ']', '.'};
    expect_bad(one, sizeof one, "not a pair");
}

/* normbench eval --issame lfw_p4.bin on 8 feature rows */
static void test_eval_issame_bin(void **state)
{
    (void)state;
    float f[8 * 4];
    for (int i = 0; i < 32; i++)
        f[i] = (float)((i * 7) % 5) - 2 + (i / 4 == 1 || i / 4 == 3 ? 0 : 0.1f * (float)(i % 4));
    const int64_t shape[2] = {8, 4};
    nb_error err = {0};
    assert_int_equal(npy_write(path_in(tmpdir, "f.npy"), NPY_FLOAT32, 2, shape, f, &err), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "bin/normbench eval --features %s/f.npy --issame " FIX "lfw_p4.bin --folds 2 --results %s --name b "
             "--quiet > /dev/null",
             tmpdir, tmpdir);
    assert_int_equal(sh(cmd), 0);
    char *fin = slurp(path_in(tmpdir, "eval/b/final.csv"));
    assert_non_null(fin);
    assert_non_null(strstr(fin, "\n4,")); /* 4 pairs */
    free(fin);
}

static int setup(void **state)
{
    (void)state;
    return make_tmpdir(tmpdir, sizeof tmpdir, "/tmp/nb_ifbin_XXXXXX");
}

static int teardown(void **state)
{
    (void)state;
    remove_tree(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_protocols),
        cmocka_unit_test(test_same_as_lfw_folder),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_eval_issame_bin),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
