/* test_insightface_bin.c — the restricted pickle reader of InsightFace .bin files
 * (lib/data/insightface_bin.c) on fixtures made by Python's pickle (tools/make_bin_fixture.py:
 * protocol 2 as Python 2 writes it, with BINSTRING images, and protocol 4 with FRAME, BINBYTES and
 * MEMOIZE, both with memo GETs for repeated images): both give the same images and issame list;
 * decoded, the images are pixel for pixel those of the same JPEGs laid out as an LFW folder
 * (lfw_load_pairs), so any model scores the .bin's pairs as it scores the folder's. Refused: a
 * pickle that imports a class (STACK_GLOBAL), REDUCE, a string claiming 10^12 bytes, a memo GET of
 * an empty slot, truncation, bytes after STOP, a PNG cut after its signature, a non-pickle; and
 * `normbench eval --issame X.bin` takes the file's pair list. End to end (`data.type:
 * insightface-bin`): a model trained by normbench and verified on folds2_p2.bin / folds2_p4.bin
 * gives the verification rows of eval.csv, roc.csv and erc.csv of the same model verified on the
 * same JPEGs as an LFW folder with pairs_2folds.txt, and so do mixed2_p2.bin / mixed2_p4.bin
 * against lfw_mixed/ (JPEG and PNG images of four PNG forms); and the configuration's required
 * keys. */
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
#include "io/csvread.h"
#include "io/npy.h"
#include "test_util.h"

#define FIX "tests/fixtures/bin/"

static char tmpdir[256];

static unsigned char *read_all(const char *path, size_t *n)
{
    unsigned char *b = (unsigned char *)slurp_n(path, n);
    assert_non_null(b);
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
    /* ([b'\x89PNG\r\n\x1a\n', b'x'], [True]): a PNG cut after its signature, a PNG error */
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

/* A tiny training run on the fixture's four identities (normface, 2 epochs), verified on `data`
 * (the data section's verification lines), run id `id`, with 2-fold verification and flip. */
static int train_with_root(const char *id, const char *root, const char *data)
{
    char cfg[2000], cmd[2400];
    snprintf(cfg, sizeof cfg,
             "name: binrun\nrun_id: %s\nseed: 5\nthreads: 1\ndata:\n  root: %s\n  train_list: %s/ids.txt\n"
             "  crop_width: 18\n  crop_height: 18\n  size: 12\n  channels: 3\n%s"
             "model:\n  backbone: convnet-small\n  feature_dim: 8\n  width: 4\nloss:\n  type: normface\n"
             "train:\n  epochs: 2\n  batch_size: 6\n  lr: 0.05\n  schedule: constant\neval:\n  folds: 2\n  flip: true\n",
             id, root, tmpdir, data);
    FILE *f = fopen(path_in(tmpdir, "run.yaml"), "w");
    assert_non_null(f);
    fputs(cfg, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "bin/normbench train %s/run.yaml --quiet --results %s/res > /dev/null 2> %s/err.txt",
             tmpdir, tmpdir, tmpdir);
    return sh(cmd);
}

static int train_with(const char *id, const char *data) { return train_with_root(id, FIX "lfw", data); }

/* The rows of a run's eval.csv whose protocol starts with "verification" or is "erc", as one text. */
static char *verification_rows(const char *id)
{
    char p[600];
    snprintf(p, sizeof p, "res/binrun/%s/eval.csv", id);
    csvread_table t;
    nb_error err = {0};
    assert_int_equal(csvread_load(&t, path_in(tmpdir, p), &err), 0);
    size_t cap = 1 << 16, n = 0;
    char *out = calloc(cap, 1);
    int rows = 0;
    for (int i = 0; i < t.nrows; i++) {
        if (strncmp(t.rows[i][0], "verification", 12) && strcmp(t.rows[i][0], "erc"))
            continue;
        n += (size_t)snprintf(out + n, cap - n, "%s,%s,%s,%s\n", t.rows[i][0], t.rows[i][1], t.rows[i][2], t.rows[i][3]);
        assert_true(n < cap);
        rows++;
    }
    assert_true(rows >= 30);
    csvread_free(&t);
    return out;
}

static char *run_file(const char *id, const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "res/binrun/%s/%s", id, name);
    char *s = slurp(path_in(tmpdir, p));
    assert_non_null(s);
    return s;
}

/* The verification rows of eval.csv, roc.csv and erc.csv of runs ids[0], ids[1] equal run folder's. */
static void expect_same_as_folder(const char *folder, const char *ids[2])
{
    char *want = verification_rows(folder);
    assert_non_null(strstr(want, "verification,pairs,image + flip features,8\n"));
    assert_non_null(strstr(want, "2-fold, max-accuracy threshold"));
    const char *files[2] = {"roc.csv", "erc.csv"};
    for (int k = 0; k < 2; k++) {
        char *got = verification_rows(ids[k]);
        assert_string_equal(got, want);
        free(got);
        for (int j = 0; j < 2; j++) {
            char *a = run_file(folder, files[j]), *b = run_file(ids[k], files[j]);
            assert_string_equal(a, b);
            free(a);
            free(b);
        }
    }
    free(want);
}

/* A normbench-trained model: the .bin's numbers are the LFW folder's. */
static void test_trained_model_on_bin(void **state)
{
    (void)state;
    FILE *f = fopen(path_in(tmpdir, "ids.txt"), "w");
    assert_non_null(f);
    fputs("Ann\nBob\nCy\nDee\n", f);
    fclose(f);
    assert_int_equal(train_with("lfw", "  type: lfw\n  pairs: " FIX "pairs_2folds.txt\n"), 0);
    assert_int_equal(train_with("p2", "  type: insightface-bin\n  bin: " FIX "folds2_p2.bin\n"), 0);
    assert_int_equal(train_with("p4", "  type: insightface-bin\n  bin: " FIX "folds2_p4.bin\n"), 0);
    expect_same_as_folder("lfw", (const char *[]){"p2", "p4"});
    /* PNG and JPEG images in one folder and in one .bin (tools/make_bin_fixture.py: 16-bit,
     * interlaced, palette and gray-alpha PNGs beside JPEGs) */
    assert_int_equal(train_with_root("mixed", FIX "lfw_mixed", "  type: lfw\n  pairs: " FIX "pairs_2folds.txt\n"), 0);
    assert_int_equal(train_with_root("mp2", FIX "lfw_mixed", "  type: insightface-bin\n  bin: " FIX "mixed2_p2.bin\n"), 0);
    assert_int_equal(train_with_root("mp4", FIX "lfw_mixed", "  type: insightface-bin\n  bin: " FIX "mixed2_p4.bin\n"), 0);
    expect_same_as_folder("mixed", (const char *[]){"mp2", "mp4"});
    char *a = verification_rows("lfw"), *b = verification_rows("mixed");
    assert_string_not_equal(a, b); /* the PNGs are other images: another model, other numbers */
    free(a);
    free(b);
    /* the configuration: data.bin is required, data.pairs belongs to lfw, a bad .bin names its file */
    const char *bad[3][2] = {
        {"  type: insightface-bin\n", "data.bin: required for data.type insightface-bin"},
        {"  type: insightface-bin\n  bin: " FIX "folds2_p4.bin\n  pairs: " FIX "pairs.txt\n",
         "data.pairs: does not apply to data.type insightface-bin"},
        {"  type: insightface-bin\n  bin: " FIX "bad_global.bin\n", "bad_global.bin"},
    };
    for (int k = 0; k < 3; k++) {
        assert_int_not_equal(train_with("bad", bad[k][0]), 0);
        char *e = slurp(path_in(tmpdir, "err.txt"));
        assert_non_null(e);
        if (!strstr(e, bad[k][1])) {
            fprintf(stderr, "expected \"%s\" in: %s\n", bad[k][1], e);
            fail();
        }
        free(e);
    }
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
        cmocka_unit_test(test_trained_model_on_bin),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
