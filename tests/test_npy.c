/* test_npy.c — the .npy reader and writer (lib/io/npy.c) against files numpy wrote
 * (tests/fixtures/npy/, made by tools/npy_fixtures.py): every accepted dtype and layout read to
 * the value, our writer byte-identical to numpy.save, and every kind of bad file (wrong magic,
 * version, truncation, trailing bytes, a shape of 10^12 elements, object and structured dtypes,
 * Fortran order, malformed dicts, bools that are not 0/1) refused with the file named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/npy.h"
#include "test_util.h"

#define FIX "tests/fixtures/npy/"

static char tmpdir[256];

static void read_ok(const char *name, npy_array *a)
{
    nb_error err = {0};
    int rc = npy_read(a, name, &err);
    if (rc)
        fprintf(stderr, "%s: %s\n", name, err.msg);
    assert_int_equal(rc, 0);
}

static void test_matrix_types(void **state)
{
    (void)state;
    const char *files[] = {FIX "f4.npy", FIX "f8.npy", FIX "f4_big.npy", FIX "v2.npy"};
    const npy_type types[] = {NPY_FLOAT32, NPY_FLOAT64, NPY_FLOAT32, NPY_FLOAT32};
    for (int f = 0; f < 4; f++) {
        npy_array a;
        read_ok(files[f], &a);
        assert_int_equal(a.type, types[f]);
        assert_int_equal(a.ndim, 2);
        assert_int_equal(a.shape[0], 2);
        assert_int_equal(a.shape[1], 3);
        assert_int_equal(a.count, 6);
        for (int i = 0; i < 6; i++)
            assert_true(npy_value(&a, (size_t)i) == (i - 2.5) / 4); /* exact in float32 */
        npy_free(&a);
    }
}

static void test_other_types(void **state)
{
    (void)state;
    npy_array a;
    read_ok(FIX "bool.npy", &a);
    assert_int_equal(a.type, NPY_BOOL);
    assert_int_equal(a.ndim, 1);
    const double want_b[] = {1, 0, 0, 1, 1};
    for (int i = 0; i < 5; i++)
        assert_true(npy_value(&a, (size_t)i) == want_b[i]);
    npy_free(&a);
    read_ok(FIX "i8.npy", &a);
    assert_int_equal(a.type, NPY_INT64);
    assert_true(npy_value(&a, 0) == -3 && npy_value(&a, 2) == 7 && npy_value(&a, 3) == 1099511627776.0);
    npy_free(&a);
    read_ok(FIX "u1.npy", &a);
    assert_true(a.type == NPY_UINT8 && npy_value(&a, 2) == 255);
    npy_free(&a);
    read_ok(FIX "scalar.npy", &a);
    assert_true(a.ndim == 0 && a.count == 1 && npy_value(&a, 0) == 1.5);
    npy_free(&a);
    read_ok(FIX "empty.npy", &a);
    assert_true(a.ndim == 2 && a.shape[0] == 0 && a.shape[1] == 4 && a.count == 0);
    npy_free(&a);
    read_ok(FIX "fortran_1d.npy", &a); /* one dimension: Fortran order is C order */
    assert_true(a.type == NPY_INT32 && a.count == 3 && npy_value(&a, 2) == 2);
    npy_free(&a);
}

/* npy_write gives the bytes numpy.save gives. */
static void test_write_like_numpy(void **state)
{
    (void)state;
    float m[6];
    double b[6];
    for (int i = 0; i < 6; i++)
        b[i] = m[i] = (float)((i - 2.5) / 4);
    const int64_t shape[2] = {2, 3};
    const char *out = path_in(tmpdir, "w.npy");
    nb_error err = {0};
    struct {
        const char *fixture;
        npy_type type;
        const void *data;
        int ndim;
        const int64_t *shape;
    } cases[] = {{FIX "f4.npy", NPY_FLOAT32, m, 2, shape}, {FIX "f8.npy", NPY_FLOAT64, b, 2, shape}};
    for (int c = 0; c < 2; c++) {
        assert_int_equal(npy_write(out, cases[c].type, cases[c].ndim, cases[c].shape, cases[c].data, &err), 0);
        size_t n1, n2;
        unsigned char *x = (unsigned char *)slurp_n(out, &n1), *y = (unsigned char *)slurp_n(cases[c].fixture, &n2);
        assert_non_null(x);
        assert_non_null(y);
        assert_int_equal(n1, n2);
        assert_memory_equal(x, y, n1);
        free(x);
        free(y);
    }
    const unsigned char bools[5] = {1, 0, 0, 1, 1};
    const int64_t n5 = 5;
    assert_int_equal(npy_write(out, NPY_BOOL, 1, &n5, bools, &err), 0);
    size_t n1, n2;
    char *x = slurp_n(out, &n1), *y = slurp_n(FIX "bool.npy", &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(x, y, n1);
    free(x);
    free(y);
}

/* A valid version-1.0 file around header text h with data of `data` bytes. */
static size_t make_file(unsigned char *buf, const char *h, size_t data)
{
    size_t hl = strlen(h);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hl & 0xff);
    buf[9] = (unsigned char)(hl >> 8);
    memcpy(buf + 10, h, hl);
    memset(buf + 10 + hl, 0, data);
    return 10 + hl + data;
}

static void expect_bad(const unsigned char *buf, size_t len, const char *needle)
{
    npy_array a;
    nb_error err = {0};
    assert_int_equal(npy_parse(&a, buf, len, "x.npy", &err), -1);
    assert_null(a.data);
    assert_string_equal(err.file, "x.npy");
    if (!strstr(err.msg, needle)) {
        fprintf(stderr, "expected \"%s\" in: %s\n", needle, err.msg);
        fail();
    }
    /* the same bytes through a file */
    const char *p = path_in(tmpdir, "bad.npy");
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fwrite(buf, 1, len, f);
    fclose(f);
    assert_int_equal(npy_read(&a, p, &err), -1);
    assert_null(a.data);
    assert_string_equal(err.file, p);
}

static void test_bad_headers(void **state)
{
    (void)state;
    static unsigned char buf[4096];
    size_t n;
    expect_bad((const unsigned char *)"\x93NUMPZ\x01\x00\x00\x00", 10, "magic");
    expect_bad((const unsigned char *)"\x93NUMPY", 6, "magic");
    n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", 8);
    buf[6] = 4;
    expect_bad(buf, n, "version");
    n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", 7);
    expect_bad(buf, n, "need 8");
    n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", 9);
    expect_bad(buf, n, "trailing");
    n = make_file(buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }\n", 8);
    expect_bad(buf, n, "need 8000000000000");
    n = make_file(buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }\n", 8);
    expect_bad(buf, n, "too large");
    n = make_file(buf, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }\n", 16);
    expect_bad(buf, n, "pickle");
    n = make_file(buf, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }\n", 8);
    expect_bad(buf, n, "structured");
    n = make_file(buf, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }\n", 4);
    expect_bad(buf, n, "unsupported dtype");
    n = make_file(buf, "{'descr': '|f4', 'fortran_order': False, 'shape': (2,), }\n", 8);
    expect_bad(buf, n, "one-byte");
    n = make_file(buf, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }\n", 16);
    expect_bad(buf, n, "Fortran");
    n = make_file(buf, "{'descr': '<f4', 'shape': (2,), }\n", 8);
    expect_bad(buf, n, "missing key fortran_order");
    n = make_file(buf, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", 8);
    expect_bad(buf, n, "repeated");
    n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}\n", 8);
    expect_bad(buf, n, "unknown key");
    n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }\n", 8);
    expect_bad(buf, n, "trailing comma");
    n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }\n", 8);
    expect_bad(buf, n, "non-negative");
    n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8);
    expect_bad(buf, n, "newline");
    n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x\n", 8);
    expect_bad(buf, n, "newline");
    n = make_file(buf, "{'descr': '<f4', 'fortran_order': Fals, 'shape': (2,), }\n", 8);
    expect_bad(buf, n, "True or False");
    n = make_file(buf, "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }\n", 2);
    buf[n - 1] = 2;
    expect_bad(buf, n, "not 0 or 1");
    n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", 8);
    expect_bad(buf, 30, "truncated npy header");
    /* a header length beyond the limit */
    n = make_file(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", 8);
    buf[6] = 2;
    memmove(buf + 12, buf + 10, n - 10);
    buf[8] = 0, buf[9] = 0, buf[10] = 0, buf[11] = 0x10;
    expect_bad(buf, n + 2, "header of");
    /* and a good one, to show the helper's files are otherwise valid */
    n = make_file(buf, "{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(2,)}   \n", 8);
    npy_array a;
    nb_error err = {0};
    assert_int_equal(npy_parse(&a, buf, n, "x.npy", &err), 0);
    assert_int_equal(a.count, 2);
    npy_free(&a);
}

static void test_refused_fixtures(void **state)
{
    (void)state;
    npy_array a;
    nb_error err = {0};
    assert_int_equal(npy_read(&a, FIX "bad_fortran_2d.npy", &err), -1);
    assert_non_null(strstr(err.msg, "Fortran"));
    assert_int_equal(npy_read(&a, FIX "bad_object.npy", &err), -1);
    assert_non_null(strstr(err.msg, "pickle"));
    assert_int_equal(npy_read(&a, FIX "no_such_file.npy", &err), -1);
    assert_non_null(strstr(err.msg, "cannot open"));
    assert_int_equal(npy_read(&a, FIX, &err), -1);
}

static int setup(void **state)
{
    (void)state;
    return make_tmpdir(tmpdir, sizeof tmpdir, "/tmp/nb_npy_XXXXXX");
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
        cmocka_unit_test(test_matrix_types),     cmocka_unit_test(test_other_types),
        cmocka_unit_test(test_write_like_numpy), cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_refused_fixtures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
