/* test_idx.c — the IDX reader (lib/data/idx.c) on files written here, plain and gzip: exact round
 * trips, and every kind of bad file (wrong magic, unsupported type, bad ndim, zero dimension,
 * truncation, trailing bytes, absurd sizes, corrupt or cut gzip, missing file) returning -1 with
 * the path in err.file and a message saying what was wrong. Files live in a mkdtemp directory
 * under /tmp that is removed afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "data/dataset.h"
#include "data/idx.h"
#include "test_util.h"

static char tmpdir[256];

static const char *tmp_path(const char *name) { return path_in(tmpdir, name); }

static void write_bytes(const char *path, const uint8_t *b, size_t n, int gzip)
{
    if (gzip) {
        gzFile gz = gzopen(path, "wb");
        assert_non_null(gz);
        if (n)
            assert_int_equal(gzwrite(gz, b, (unsigned)n), (int)n);
        assert_int_equal(gzclose(gz), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(b, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
    }
}

/* Builds header + data bytes into buf (caller frees); returns total length. */
static size_t make_idx(uint8_t **buf, uint8_t type, int ndim, const uint32_t *dims, const uint8_t *data,
                       size_t ndata)
{
    size_t n = 4 + 4 * (size_t)ndim + ndata;
    uint8_t *b = malloc(n);
    b[0] = 0;
    b[1] = 0;
    b[2] = type;
    b[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        b[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        b[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        b[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        b[7 + 4 * i] = (uint8_t)dims[i];
    }
    if (ndata)
        memcpy(b + 4 + 4 * ndim, data, ndata);
    *buf = b;
    return n;
}

static void write_idx(const char *path, uint8_t type, int ndim, const uint32_t *dims, const uint8_t *data,
                      size_t ndata, int gzip)
{
    uint8_t *b;
    size_t n = make_idx(&b, type, ndim, dims, data, ndata);
    write_bytes(path, b, n, gzip);
    free(b);
}

/* Asserts idx_read(path) fails with err.file == path and msg containing phrase. */
static void expect_fail(const char *path, size_t max_items, const char *phrase)
{
    idx_array a;
    nb_error err = {0};
    int rc = idx_read(&a, path, max_items, &err);
    if (getenv("NB_TEST_VERBOSE"))
        fprintf(stderr, "  %s: %s\n", err.file, err.msg);
    if (rc != -1 || strcmp(err.file, path) != 0 || !strstr(err.msg, phrase))
        fprintf(stderr, "expected failure with \"%s\" for %s; got rc=%d file=\"%s\" msg=\"%s\"\n", phrase,
                path, rc, err.file, err.msg);
    assert_int_equal(rc, -1);
    assert_string_equal(err.file, path);
    assert_non_null(strstr(err.msg, phrase));
    assert_null(a.data);
}

static int setup(void **state)
{
    (void)state;
    return make_tmpdir(tmpdir, sizeof tmpdir, "/tmp/normbench_test_idx_XXXXXX");
}

static int teardown(void **state)
{
    (void)state;
    return remove_tree(tmpdir);
}

/* Deterministic bytes that do not compress (so gzip corruption lands in real deflate data). */
static void fill_noise(uint8_t *b, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (uint8_t)(x >> 11);
    }
}

static void roundtrip(int gzip)
{
    const char *path = tmp_path(gzip ? "rt.idx.gz" : "rt.idx");
    uint32_t dims[3] = {5, 3, 4};
    uint8_t data[60];
    for (int i = 0; i < 60; i++)
        data[i] = (uint8_t)(i * 37 + 11);
    write_idx(path, 0x08, 3, dims, data, 60, gzip);

    idx_array a;
    nb_error err = {0};
    assert_int_equal(idx_read(&a, path, 1000, &err), 0);
    assert_int_equal(a.ndim, 3);
    assert_int_equal(a.dims[0], 5);
    assert_int_equal(a.dims[1], 3);
    assert_int_equal(a.dims[2], 4);
    assert_int_equal(a.count, 60);
    assert_memory_equal(a.data, data, 60);
    idx_free(&a);
    assert_null(a.data);

    /* Exactly max_items is allowed, one fewer is not. */
    assert_int_equal(idx_read(&a, path, 60, &err), 0);
    idx_free(&a);
    expect_fail(path, 59, "too many items");
}

static void test_roundtrip_plain(void **state)
{
    (void)state;
    roundtrip(0);
}

static void test_roundtrip_gzip(void **state)
{
    (void)state;
    roundtrip(1);
}

/* Larger than the reader's 1 MiB chunk, so the growing buffer is exercised; 1-D and 4-D. */
static void test_roundtrip_large_and_shapes(void **state)
{
    (void)state;
    size_t n = 3u << 20;
    uint8_t *data = malloc(n);
    fill_noise(data, n, 7);
    const char *path = tmp_path("big.idx.gz");
    uint32_t d1[1] = {(uint32_t)n};
    write_idx(path, 0x08, 1, d1, data, n, 1);
    idx_array a;
    nb_error err = {0};
    assert_int_equal(idx_read(&a, path, n, &err), 0);
    assert_int_equal(a.ndim, 1);
    assert_int_equal(a.count, n);
    assert_memory_equal(a.data, data, n);
    idx_free(&a);

    const char *p4 = tmp_path("four.idx");
    uint32_t d4[4] = {2, 1, 3, 2};
    write_idx(p4, 0x08, 4, d4, data, 12, 0);
    assert_int_equal(idx_read(&a, p4, 100, &err), 0);
    assert_int_equal(a.ndim, 4);
    assert_int_equal(a.count, 12);
    assert_memory_equal(a.data, data, 12);
    idx_free(&a);
    free(data);
}

static void test_bad_magic(void **state)
{
    (void)state;
    const char *path = tmp_path("magic.idx");
    uint8_t b[12] = {0x01, 0x00, 0x08, 0x01, 0, 0, 0, 4, 1, 2, 3, 4};
    write_bytes(path, b, sizeof b, 0);
    expect_fail(path, 100, "not an IDX file (bad magic");

    /* Right zero bytes, unknown type byte. */
    b[0] = 0;
    b[2] = 0x07;
    write_bytes(path, b, sizeof b, 0);
    expect_fail(path, 100, "not an IDX file (bad magic");

    /* A text file. */
    const char *txt = tmp_path("text.idx");
    write_bytes(txt, (const uint8_t *)"hello world\n", 12, 0);
    expect_fail(txt, 100, "not an IDX file");

    /* Too short for a header; empty. */
    write_bytes(path, b, 3, 0);
    expect_fail(path, 100, "truncated header");
    write_bytes(path, b, 0, 1);
    expect_fail(path, 100, "truncated header");
}

static void test_unsupported_type(void **state)
{
    (void)state;
    const char *path = tmp_path("f32.idx");
    uint32_t dims[1] = {2};
    uint8_t data[8] = {0};
    write_idx(path, 0x0D, 1, dims, data, 8, 0);
    expect_fail(path, 100, "type 0x0D (float32) not supported, expected 0x08 (unsigned byte)");
    write_idx(path, 0x09, 1, dims, data, 2, 1);
    expect_fail(path, 100, "type 0x09 (int8) not supported");
    write_idx(path, 0x0B, 1, dims, data, 4, 0);
    expect_fail(path, 100, "(int16) not supported");
    write_idx(path, 0x0C, 1, dims, data, 8, 0);
    expect_fail(path, 100, "(int32) not supported");
    write_idx(path, 0x0E, 1, dims, data, 8, 0);
    expect_fail(path, 100, "(float64) not supported");
}

static void test_bad_ndim(void **state)
{
    (void)state;
    const char *path = tmp_path("ndim.idx");
    uint32_t dims[5] = {1, 1, 1, 1, 1};
    uint8_t data[1] = {9};
    write_idx(path, 0x08, 0, dims, data, 1, 0);
    expect_fail(path, 100, "header gives 0 dimensions, expected 1 to 4");
    write_idx(path, 0x08, 5, dims, data, 1, 0);
    expect_fail(path, 100, "header gives 5 dimensions, expected 1 to 4");

    /* Header cut inside the dimension sizes. */
    uint8_t *b;
    size_t n = make_idx(&b, 0x08, 3, dims, data, 0);
    write_bytes(path, b, n - 2, 0);
    free(b);
    expect_fail(path, 100, "truncated header");
}

static void test_zero_dim(void **state)
{
    (void)state;
    const char *path = tmp_path("zero.idx");
    uint32_t dims[3] = {4, 0, 2};
    write_idx(path, 0x08, 3, dims, NULL, 0, 0);
    expect_fail(path, 100, "dimension 2 of 3 is 0");
}

static void test_truncated(void **state)
{
    (void)state;
    uint32_t dims[2] = {3, 4};
    uint8_t data[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const char *path = tmp_path("trunc.idx");
    write_idx(path, 0x08, 2, dims, data, 7, 0);
    expect_fail(path, 100, "truncated: header says 12 bytes of data, file has 7");
    const char *gz = tmp_path("trunc.idx.gz");
    write_idx(gz, 0x08, 2, dims, data, 0, 1);
    expect_fail(gz, 100, "truncated: header says 12 bytes of data, file has 0");
}

static void test_trailing(void **state)
{
    (void)state;
    uint32_t dims[2] = {3, 4};
    uint8_t data[15] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const char *path = tmp_path("trail.idx");
    write_idx(path, 0x08, 2, dims, data, 15, 0);
    expect_fail(path, 100, "3 trailing bytes after the data");
    const char *gz = tmp_path("trail.idx.gz");
    write_idx(gz, 0x08, 2, dims, data, 13, 1);
    expect_fail(gz, 100, "1 trailing byte after the data: header says 12 bytes of data, file has 13");
}

/* 10^12 items must be rejected from the header alone. The address space is capped at ~512 MiB
 * above the current size meanwhile, so an attempt to allocate for the header dies (exit 2). */
static void test_huge_header(void **state)
{
    (void)state;
    const char *path = tmp_path("huge.idx");
    uint32_t dims[3] = {1000000, 1000, 1000};
    uint8_t data[16] = {0};
    write_idx(path, 0x08, 3, dims, data, 16, 0);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    lim = old;
    if (pages > 0) {
        rlim_t want = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)512 << 20);
        if (old.rlim_max == RLIM_INFINITY || want < old.rlim_max)
            lim.rlim_cur = want;
        assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
    }
    expect_fail(path, (size_t)1 << 31, "too many items: header shape 1000000x1000x1000");
    /* No item limit at all: four dimensions of 2^32 − 1 overflow size_t and must still fail. */
    uint32_t dmax[4] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    write_idx(path, 0x08, 4, dmax, data, 16, 0);
    expect_fail(path, SIZE_MAX, "too many items");
    /* A header within the limit but lying about the data: no allocation of its size either. */
    uint32_t dbig[1] = {0xFFFFFFFFu};
    write_idx(path, 0x08, 1, dbig, data, 16, 0);
    expect_fail(path, SIZE_MAX, "truncated: header says 4294967295 bytes of data, file has 16");
    assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
}

static void test_missing_file(void **state)
{
    (void)state;
    const char *path = tmp_path("does-not-exist.idx");
    expect_fail(path, 100, "cannot open");
    expect_fail(tmpdir, 100, "it is a folder; expected a regular file"); /* refused before reading */
}

/* Writes an IDX file through gzip and returns its compressed bytes (caller frees). Noise is
 * stored by deflate nearly verbatim; the smooth pattern is Huffman- and LZ77-coded. */
static uint8_t *gzip_file(const char *path, size_t ndata, int noise, size_t *len)
{
    uint8_t *data = malloc(ndata);
    if (noise)
        fill_noise(data, ndata, 3);
    else
        for (size_t i = 0; i < ndata; i++)
            data[i] = (uint8_t)((i * i / 7 + i / 13) % 251);
    uint32_t dims[2] = {(uint32_t)(ndata / 100), 100};
    write_idx(path, 0x08, 2, dims, data, ndata, 1);
    free(data);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void test_corrupt_gzip(void **state)
{
    (void)state;
    const char *path = tmp_path("corrupt.idx.gz");
    size_t len;
    idx_array a;
    nb_error err = {0};

    /* Flipped bytes in the middle of the deflate stream, at several places. */
    for (int noise = 0; noise <= 1; noise++) {
        uint8_t *b = gzip_file(path, 20000, noise, &len);
        assert_int_equal(idx_read(&a, path, 1u << 20, &err), 0);
        idx_free(&a);
        for (size_t at = len / 4; at < len - 16; at += len / 7) {
            uint8_t *c = malloc(len);
            memcpy(c, b, len);
            for (size_t i = 0; i < 8; i++)
                c[at + i] ^= 0xA5;
            write_bytes(path, c, len, 0);
            free(c);
            expect_fail(path, 1u << 20, "corrupt gzip stream");
        }
        free(b);
    }
    uint8_t *b = gzip_file(path, 20000, 1, &len);
    /* The CRC trailer itself wrong. */
    b[len - 6] ^= 0xFF;
    write_bytes(path, b, len, 0);
    expect_fail(path, 1u << 20, "corrupt gzip stream");
    b[len - 6] ^= 0xFF;

    /* Cut in the middle and just before the trailer. */
    write_bytes(path, b, len / 2, 0);
    expect_fail(path, 1u << 20, "corrupt gzip stream: truncated");
    write_bytes(path, b, len - 4, 0);
    expect_fail(path, 1u << 20, "corrupt gzip stream");
    /* Cut inside the compressed header: only the gzip magic and method survive. */
    write_bytes(path, b, 12, 0);
    expect_fail(path, 1u << 20, "gzip");
    free(b);
}

/* dataset_load_idx must reject image and label files that disagree, naming both. */
static void test_count_mismatch(void **state)
{
    (void)state;
    const char *ip = tmp_path("mm-images.idx");
    const char *lp = tmp_path("mm-labels.idx.gz");
    uint32_t idims[3] = {4, 2, 2};
    uint8_t px[16] = {0};
    write_idx(ip, 0x08, 3, idims, px, 16, 0);
    uint32_t ldims[1] = {3};
    uint8_t lab[3] = {0, 1, 2};
    write_idx(lp, 0x08, 1, ldims, lab, 3, 1);

    dataset d;
    nb_error err = {0};
    assert_int_equal(dataset_load_idx(&d, ip, lp, 0, &err), -1);
    assert_string_equal(err.file, lp);
    assert_non_null(strstr(err.msg, "count mismatch"));
    assert_non_null(strstr(err.msg, ip));
    assert_non_null(strstr(err.msg, lp));
    assert_null(d.images);
    assert_null(d.labels);
    dataset_free(&d);

    /* Labels with two dimensions; images with two dimensions; a bad images file. */
    uint32_t l2[2] = {4, 1};
    uint8_t lab4[4] = {0, 1, 2, 3};
    write_idx(lp, 0x08, 2, l2, lab4, 4, 1);
    assert_int_equal(dataset_load_idx(&d, ip, lp, 0, &err), -1);
    assert_string_equal(err.file, lp);
    assert_non_null(strstr(err.msg, "expected 1"));
    uint32_t i2[2] = {4, 4};
    write_idx(ip, 0x08, 2, i2, px, 16, 0);
    assert_int_equal(dataset_load_idx(&d, ip, lp, 0, &err), -1);
    assert_string_equal(err.file, ip);
    assert_non_null(strstr(err.msg, "expected 3 (n, h, w) or 4 (n, c, h, w)"));
    write_idx(ip, 0x0D, 3, idims, px, 16, 0);
    assert_int_equal(dataset_load_idx(&d, ip, lp, 0, &err), -1);
    assert_string_equal(err.file, ip);
    assert_non_null(strstr(err.msg, "not supported"));
    dataset_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_plain),
        cmocka_unit_test(test_roundtrip_gzip),
        cmocka_unit_test(test_roundtrip_large_and_shapes),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_unsupported_type),
        cmocka_unit_test(test_bad_ndim),
        cmocka_unit_test(test_zero_dim),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_trailing),
        cmocka_unit_test(test_huge_header),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_corrupt_gzip),
        cmocka_unit_test(test_count_mismatch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
