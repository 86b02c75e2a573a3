/* test_png_image.c — the PNG decoder (lib/data/png_image.c) and PNG images in LFW-style folders.
 * The four PNGs of tests/fixtures/bin/lfw_mixed/ (tools/make_bin_fixture.py writes them chunk by
 * chunk: 8-bit RGB with the Sub filter, 16-bit RGBA Adam7-interlaced, a 4-bit palette with tRNS,
 * 8-bit gray with alpha) decode to png_expected.npy's pixels exactly, as RGB, and to libjpeg's
 * BT.601 luma as gray; lfw_read_image finds a PNG by its signature whatever the file's name.
 * Refused with an error naming the file and nothing allocated: every truncation, a CRC error, an
 * IHDR claiming 10^6 × 10^6 pixels, an image over the value limit. A folder holding both
 * <name>_0001.jpg and <name>_0001.png is refused, naming both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "data/lfw.h"
#include "data/png_image.h"
#include "io/npy.h"
#include "test_util.h"

#define FIX "tests/fixtures/bin/"

static const char *pngs[4] = {FIX "lfw_mixed/Bob/Bob_0001.png", FIX "lfw_mixed/Bob/Bob_0002.png",
                              FIX "lfw_mixed/Cy/Cy_0001.png", FIX "lfw_mixed/Dee/Dee_0001.png"};

static unsigned char *read_all(const char *path, size_t *n)
{
    unsigned char *b = (unsigned char *)slurp_n(path, n);
    assert_non_null(b);
    return b;
}

static void expect_error(const unsigned char *data, size_t len, const char *want)
{
    uint8_t *pix = (uint8_t *)1;
    int w, h;
    nb_error err = {0};
    assert_int_equal(png_image_decode(&pix, &w, &h, data, len, "x.png", 3, 1L << 28, &err), -1);
    assert_null(pix);
    assert_string_equal(err.file, "x.png");
    if (want && !strstr(err.msg, want)) {
        fprintf(stderr, "expected \"%s\" in: %s\n", want, err.msg);
        fail();
    }
}

static void test_decodes_every_form(void **state)
{
    (void)state;
    npy_array want;
    nb_error err = {0};
    assert_int_equal(npy_read(&want, FIX "png_expected.npy", &err), 0);
    assert_int_equal(want.ndim, 4);
    assert_int_equal(want.shape[0], 4);
    const uint8_t *ref = want.data;
    for (int k = 0; k < 4; k++) {
        size_t n;
        unsigned char *data = read_all(pngs[k], &n);
        assert_true(png_image_is_png(data, n));
        uint8_t *pix;
        int w, h;
        assert_int_equal(png_image_decode(&pix, &w, &h, data, n, pngs[k], 3, 1L << 28, &err), 0);
        assert_int_equal(w, 20);
        assert_int_equal(h, 20);
        assert_memory_equal(pix, ref + (size_t)k * 1200, 1200);
        free(pix);
        assert_int_equal(png_image_decode(&pix, &w, &h, data, n, pngs[k], 1, 1L << 28, &err), 0);
        for (int i = 0; i < 400; i++) {
            const uint8_t *p = ref + (size_t)k * 1200 + 3 * i;
            const unsigned y = (19595u * p[0] + 38470u * p[1] + 7471u * p[2] + 32768u) >> 16;
            assert_int_equal(pix[i], k == 3 ? p[0] : y); /* a gray image stays as it is */
        }
        free(pix);
        /* through lfw_decode_image (no crop, same size: value / 255) */
        lfw_options o;
        lfw_defaults(&o);
        o.crop_w = o.crop_h = 0;
        o.width = o.height = 20;
        o.channels = 3;
        float out[1200];
        assert_int_equal(lfw_decode_image(out, data, n, pngs[k], &o, &err), 0);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 400; i++)
                assert_true(out[c * 400 + i] == ref[(size_t)k * 1200 + 3 * i + c] / 255.0f);
        free(data);
    }
    npy_free(&want);
}

/* A file named .jpg that holds a PNG is decoded as the PNG it is. */
static void test_found_by_signature(void **state)
{
    (void)state;
    char dir[256];
    assert_int_equal(make_tmpdir(dir, sizeof dir, "/tmp/nb_png_XXXXXX"), 0);
    size_t n;
    unsigned char *data = read_all(pngs[0], &n);
    const char *p = path_in(dir, "a.jpg");
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fwrite(data, 1, n, f);
    fclose(f);
    lfw_options o;
    lfw_defaults(&o);
    o.crop_w = o.crop_h = 10;
    o.width = o.height = 7;
    o.channels = 3;
    float a[3 * 49], b[3 * 49];
    nb_error err = {0};
    assert_int_equal(lfw_read_image(a, p, &o, &err), 0);
    assert_int_equal(lfw_decode_image(b, data, n, "mem", &o, &err), 0);
    assert_memory_equal(a, b, sizeof a);
    free(data);
    remove_tree(dir);
}

static void put_crc(unsigned char *chunk, size_t len) /* chunk: length, type, data; CRC after */
{
    const uLong c = crc32(0, chunk + 4, (uInt)(len + 4));
    unsigned char *q = chunk + 8 + len;
    q[0] = (unsigned char)(c >> 24);
    q[1] = (unsigned char)(c >> 16);
    q[2] = (unsigned char)(c >> 8);
    q[3] = (unsigned char)c;
}

static void test_refuses_bad_files(void **state)
{
    (void)state;
    size_t n;
    unsigned char *data = read_all(pngs[1], &n);
    for (size_t cut = 0; cut < n; cut += cut < 64 ? 1 : 97)
        expect_error(data, cut, cut < 8 ? "no PNG signature" : NULL);
    expect_error(data, n - 1, NULL);
    unsigned char *bad = malloc(n);
    memcpy(bad, data, n);
    bad[n / 2] ^= 0x40; /* inside IDAT: its CRC no longer matches */
    expect_error(bad, n, "not a valid PNG image");
    /* IHDR width and height: 10^6 each (libpng's user limit, 2^20, lets them through), CRC fixed */
    memcpy(bad, data, n);
    const unsigned char big[8] = {0x00, 0x0f, 0x42, 0x40, 0x00, 0x0f, 0x42, 0x40};
    memcpy(bad + 16, big, 8);
    put_crc(bad + 8, 13);
    expect_error(bad, n, "larger than the limit");
    /* beyond libpng's user limit */
    bad[16] = 0x10;
    bad[20] = 0x10;
    put_crc(bad + 8, 13);
    expect_error(bad, n, "not a valid PNG image");
    /* a small image over a small limit */
    uint8_t *pix = (uint8_t *)1;
    int w, h;
    nb_error err = {0};
    assert_int_equal(png_image_decode(&pix, &w, &h, data, n, "x.png", 3, 1199, &err), -1);
    assert_null(pix);
    assert_non_null(strstr(err.msg, "20×20 pixels, larger than the limit of 1199"));
    free(bad);
    free(data);
}

/* <name>_0001.jpg and <name>_0001.png side by side: which image is meant is not known. */
static void test_two_images_of_one_index(void **state)
{
    (void)state;
    char dir[256], cmd[1024];
    assert_int_equal(make_tmpdir(dir, sizeof dir, "/tmp/nb_png_XXXXXX"), 0);
    snprintf(cmd, sizeof cmd, "cp -r " FIX "lfw_mixed %s/lfw && cp " FIX "lfw/Bob/Bob_0001.jpg %s/lfw/Bob/", dir, dir);
    assert_int_equal(sh(cmd), 0);
    lfw_options o;
    lfw_defaults(&o);
    o.crop_w = o.crop_h = 18;
    o.width = o.height = 12;
    dataset d;
    pair_list pl;
    nb_error err = {0};
    assert_int_equal(lfw_load_train(&d, path_in(dir, "lfw"), NULL, NULL, &o, &err), -1);
    assert_non_null(strstr(err.msg, "two images of index 1"));
    assert_non_null(strstr(err.msg, "Bob_0001.jpg"));
    assert_non_null(strstr(err.msg, "Bob_0001.png"));
    char root[300];
    snprintf(root, sizeof root, "%s/lfw", dir);
    assert_int_equal(lfw_load_pairs(&d, &pl, root, FIX "pairs_2folds.txt", &o, &err), -1);
    assert_non_null(strstr(err.file, "pairs_2folds.txt"));
    assert_int_equal(err.line, 3); /* Bob 1 2 */
    assert_non_null(strstr(err.msg, "two images 1"));
    /* without the duplicate both load, the PNGs included */
    snprintf(cmd, sizeof cmd, "rm %s/lfw/Bob/Bob_0001.jpg", dir);
    assert_int_equal(sh(cmd), 0);
    assert_int_equal(lfw_load_pairs(&d, &pl, root, FIX "pairs_2folds.txt", &o, &err), 0);
    assert_int_equal(d.n, 6);
    dataset_free(&d);
    free(pl.p);
    assert_int_equal(lfw_load_train(&d, root, NULL, NULL, &o, &err), 0);
    assert_int_equal(d.n, 6);
    dataset_free(&d);
    remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decodes_every_form),
        cmocka_unit_test(test_found_by_signature),
        cmocka_unit_test(test_refuses_bad_files),
        cmocka_unit_test(test_two_images_of_one_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
