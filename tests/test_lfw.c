/* test_lfw.c — the LFW-format loader (lib/data/lfw.c): a tiny tree of identity folders is written with
 * libjpeg (gray and RGB, 40×40 and 48×40, quality 100, smooth gradients) plus a 2-fold pairs.txt;
 * loading it must decode, crop and resize every image to within JPEG loss of the pixels written,
 * load each referenced image once, and give the right labels, pairs and folds; training sets come
 * from an identity list or from every folder the pairs do not use. Broken inputs — a missing
 * image, an unknown identity, a bad index, a non-JPEG, a truncated or empty JPEG, malformed
 * headers, short lines, too few or too many lines, a crop box larger than the image, bad identity
 * lists — must each return −1 with the file (and the pairs.txt line) and a useful message, never
 * crash. Everything lives in a mkdtemp folder under /tmp that is removed afterwards. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jpeglib.h>

#include "data/degrade.h"
#include "data/lfw.h"
#include "test_util.h"

static char tmpdir[256];
static char good[512], bad[512];

static const char *tmp_path(const char *name) { return path_in(tmpdir, name); }

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* pix (h, w, comps) bytes → a quality-100 JPEG without chroma subsampling. */
static void write_jpeg(const char *path, const uint8_t *pix, int w, int h, int comps)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr je;
    ci.err = jpeg_std_error(&je);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = comps;
    ci.in_color_space = comps == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 100, TRUE);
    for (int k = 0; k < ci.num_components; k++)
        ci.comp_info[k].h_samp_factor = ci.comp_info[k].v_samp_factor = 1;
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)(pix + (size_t)ci.next_scanline * w * comps);
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    assert_int_equal(fclose(f), 0);
}

/* The test images: identity id (0 Alice, 1 Bob, 2 Carol, 3 Dan), index k (1-based). Bob's are
 * RGB 40×40, Carol's 48 wide × 40 high, the others gray 40×40; all smooth gradients. */
static int img_w(int id) { return id == 2 ? 48 : 40; }
static int img_comps(int id) { return id == 1 ? 3 : 1; }

static void img_pixels(uint8_t *pix, int id, int k)
{
    int w = img_w(id), h = 40, c = img_comps(id);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = pix + ((size_t)y * w + x) * c;
            if (c == 3) {
                p[0] = (uint8_t)(30 + 10 * k + 3 * x);
                p[1] = (uint8_t)(60 + 2 * y);
                p[2] = (uint8_t)(200 - x - y);
            } else {
                p[0] = (uint8_t)(30 + 20 * id + 10 * k + 2 * x + y);
            }
        }
}

static const char *names[4] = {"Alice_A", "Bob_B", "Carol_C", "Dan_D"};
static const int counts[4] = {3, 2, 2, 2};

static void write_identity(const char *root, int id)
{
    char path[900];
    snprintf(path, sizeof path, "%s/%s", root, names[id]);
    assert_int_equal(mkdir(path, 0700), 0);
    uint8_t pix[48 * 40 * 3];
    for (int k = 1; k <= counts[id]; k++) {
        img_pixels(pix, id, k);
        snprintf(path, sizeof path, "%s/%s/%s_%04d.jpg", root, names[id], names[id], k);
        write_jpeg(path, pix, img_w(id), 40, img_comps(id));
    }
}

/* Expected sample: crop + resize of the written pixels (as value/255) for channels c, with
 * libjpeg's luminance Y = 0.299 R + 0.587 G + 0.114 B for RGB read as gray and gray replicated
 * for gray read as RGB. */
static void expected(float *out, int id, int k, const lfw_options *o)
{
    int w = img_w(id), h = 40, ic = img_comps(id), c = o->channels;
    uint8_t pix[48 * 40 * 3];
    img_pixels(pix, id, k);
    int cw = o->crop_w ? o->crop_w : w, ch = o->crop_h ? o->crop_h : h, x0 = (w - cw) / 2, y0 = (h - ch) / 2;
    float *crop = malloc((size_t)c * cw * ch * sizeof *crop);
    for (int q = 0; q < c; q++)
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++) {
                const uint8_t *p = pix + ((size_t)(y0 + y) * w + x0 + x) * ic;
                double v = ic == 1 ? p[0] : c == 3 ? p[q] : 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
                crop[((size_t)q * ch + y) * cw + x] = (float)(v / 255.0);
            }
    if (o->resize == LFW_RESIZE_BILINEAR)
        image_resize_bilinear(out, crop, c, ch, cw, o->height, o->width);
    else
        image_resize_area(out, crop, c, ch, cw, o->height, o->width);
    free(crop);
}

/* Max |loaded − expected| ≤ 4/255 (JPEG at quality 100 on smooth gradients). */
static void check_sample(const dataset *d, int s, int id, int k, const lfw_options *o)
{
    size_t per = (size_t)d->c * d->h * d->w;
    float *want = malloc(per * sizeof *want);
    expected(want, id, k, o);
    double worst = 0.0;
    for (size_t p = 0; p < per; p++) {
        double e = fabs(d->images[s * per + p] - want[p]);
        worst = e > worst ? e : worst;
    }
    free(want);
    if (worst > 4.0 / 255.0)
        fail_msg("sample %d (%s %d): max error %.4f", s, names[id], k, worst);
}

static int setup(void **state)
{
    (void)state;
    if (make_tmpdir(tmpdir, sizeof tmpdir, "/tmp/normbench_test_lfw_XXXXXX"))
        return -1;
    snprintf(good, sizeof good, "%s/good", tmpdir);
    snprintf(bad, sizeof bad, "%s/bad", tmpdir);
    if (mkdir(good, 0700) || mkdir(bad, 0700))
        return -1;
    for (int id = 0; id < 4; id++)
        write_identity(good, id);
    /* files that are not <name>_NNNN.jpg are ignored by the training loader */
    char path[900];
    snprintf(path, sizeof path, "%s/Carol_C/notes.txt", good);
    write_text(path, "not an image\n");
    snprintf(path, sizeof path, "%s/Carol_C/Carol_C_0001.jpg.bak", good);
    write_text(path, "backup\n");
    write_text(tmp_path("pairs.txt"), "2\t2\n"
                                      "Alice_A\t1\t2\n"
                                      "Bob_B\t1\t2\n"
                                      "Alice_A\t1\tBob_B\t2\n"
                                      "Carol_C\t1\tAlice_A\t3\n"
                                      "Carol_C 1 2\r\n"
                                      "Alice_A 2 3\n"
                                      "Bob_B 1 Carol_C 2\n"
                                      "Alice_A 1 Carol_C 1\n"
                                      "\n");

    /* the bad tree: Alice (good), Eve (a text file named .jpg), Fay (truncated and empty JPEGs) */
    write_identity(bad, 0);
    snprintf(path, sizeof path, "%s/Eve_E", bad);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/Eve_E/Eve_E_0001.jpg", bad);
    write_text(path, "hello, I am not a JPEG\n");
    snprintf(path, sizeof path, "%s/Fay_F", bad);
    mkdir(path, 0700);
    char full[900];
    snprintf(full, sizeof full, "%s/Alice_A/Alice_A_0001.jpg", bad);
    FILE *f = fopen(full, "rb");
    uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/Fay_F/Fay_F_0001.jpg", bad);
    f = fopen(path, "wb");
    fwrite(buf, 1, n / 2, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/Fay_F/Fay_F_0002.jpg", bad);
    write_text(path, "");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return remove_tree(tmpdir);
}

static void opts(lfw_options *o, int crop, int size, int channels, lfw_resize rs)
{
    lfw_defaults(o);
    o->crop_w = o->crop_h = crop;
    o->width = o->height = size;
    o->channels = channels;
    o->resize = rs;
}

static void load_pairs_ok(dataset *d, pair_list *pl, const char *root, const char *pairs, const lfw_options *o)
{
    nb_error err = {0};
    int rc = lfw_load_pairs(d, pl, root, pairs, o, &err);
    if (rc)
        nb_error_print(&err, stderr);
    assert_int_equal(rc, 0);
}

/* samples sorted by (name, index): A1 A2 A3 B1 B2 C1 C2 */
static const int sample_id[7] = {0, 0, 0, 1, 1, 2, 2}, sample_k[7] = {1, 2, 3, 1, 2, 1, 2};

static void test_pairs_gray(void **state)
{
    (void)state;
    lfw_options o;
    opts(&o, 30, 10, 1, LFW_RESIZE_AREA);
    dataset d;
    pair_list pl;
    load_pairs_ok(&d, &pl, good, tmp_path("pairs.txt"), &o);
    assert_int_equal(d.n, 7); /* each referenced image once */
    assert_int_equal(d.c, 1);
    assert_int_equal(d.h, 10);
    assert_int_equal(d.w, 10);
    assert_int_equal(d.num_classes, 3);
    assert_non_null(d.images);
    for (int s = 0; s < 7; s++) {
        assert_int_equal(d.labels[s], sample_id[s]);
        check_sample(&d, s, sample_id[s], sample_k[s], &o);
    }
    assert_int_equal(pl.n, 8);
    assert_int_equal(pl.folds, 2);
    static const int a[8] = {0, 3, 0, 5, 5, 1, 3, 0}, b[8] = {1, 4, 4, 2, 6, 2, 6, 5};
    for (int k = 0; k < 8; k++) {
        assert_int_equal(pl.p[k].a, a[k]);
        assert_int_equal(pl.p[k].b, b[k]);
        assert_int_equal(pl.p[k].same, k % 4 < 2);
        assert_int_equal(pl.p[k].fold, k / 4);
        assert_int_equal(pl.p[k].same, d.labels[a[k]] == d.labels[b[k]]);
    }
    dataset_free(&d);
    lfw_pairs_free(&pl);
    lfw_pairs_free(&pl);
    pair_list z = {0};
    lfw_pairs_free(&z);
}

static void test_pairs_rgb_bilinear(void **state)
{
    (void)state;
    lfw_options o;
    opts(&o, 0, 20, 3, LFW_RESIZE_BILINEAR);
    dataset d;
    pair_list pl;
    load_pairs_ok(&d, &pl, good, tmp_path("pairs.txt"), &o);
    assert_int_equal(d.c, 3);
    assert_int_equal(d.h, 20);
    for (int s = 0; s < 7; s++)
        check_sample(&d, s, sample_id[s], sample_k[s], &o);
    /* a gray JPEG read as RGB has three equal channels; Bob's RGB channels differ */
    for (int p = 0; p < 400; p++) {
        assert_true(d.images[p] == d.images[400 + p] && d.images[p] == d.images[800 + p]);
    }
    size_t bob = 3 * 3 * 400;
    assert_true(fabs(d.images[bob + 0] - d.images[bob + 800]) > 0.2);
    dataset_free(&d);
    lfw_pairs_free(&pl);
}

static void test_read_image_crop(void **state)
{
    (void)state;
    /* Carol is 48×40: the 30×30 crop starts at (9, 5); the whole-image read keeps the aspect */
    char path[900];
    snprintf(path, sizeof path, "%s/Carol_C/Carol_C_0002.jpg", good);
    lfw_options o;
    opts(&o, 30, 30, 1, LFW_RESIZE_AREA);
    float x[48 * 40];
    nb_error err = {0};
    assert_int_equal(lfw_read_image(x, path, &o, &err), 0);
    /* value at (0, 0) of the crop is the written pixel (9, 5): 30 + 40 + 20 + 18 + 5 */
    assert_true(fabs(x[0] * 255.0 - 113.0) < 2.0);
    assert_true(fabs(x[29 * 30 + 29] * 255.0 - (113.0 + 2 * 29 + 29)) < 2.0);
    opts(&o, 0, 48, 1, LFW_RESIZE_AREA);
    o.height = 40;
    assert_int_equal(lfw_read_image(x, path, &o, &err), 0);
    assert_true(fabs(x[39 * 48 + 47] * 255.0 - (90.0 + 2 * 47 + 39)) < 2.0);
}

static void load_train_ok(dataset *d, const char *list, const char *exclude, const lfw_options *o)
{
    nb_error err = {0};
    int rc = lfw_load_train(d, good, list, exclude, o, &err);
    if (rc)
        nb_error_print(&err, stderr);
    assert_int_equal(rc, 0);
}

static void test_train_list(void **state)
{
    (void)state;
    write_text(tmp_path("train_ids.txt"), "Dan_D\n# a comment\n\n  Alice_A  \n");
    lfw_options o;
    opts(&o, 30, 12, 1, LFW_RESIZE_AREA);
    dataset d;
    load_train_ok(&d, tmp_path("train_ids.txt"), NULL, &o);
    assert_int_equal(d.n, 5);
    assert_int_equal(d.num_classes, 2);
    static const int lab[5] = {0, 0, 0, 1, 1}, id[5] = {0, 0, 0, 3, 3}, k[5] = {1, 2, 3, 1, 2};
    for (int s = 0; s < 5; s++) {
        assert_int_equal(d.labels[s], lab[s]);
        check_sample(&d, s, id[s], k[s], &o);
    }
    dataset_free(&d);
}

static void test_train_folders(void **state)
{
    (void)state;
    lfw_options o;
    opts(&o, 30, 8, 1, LFW_RESIZE_AREA);
    dataset d;
    /* every folder not used by pairs.txt: only Dan */
    load_train_ok(&d, NULL, tmp_path("pairs.txt"), &o);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.num_classes, 1);
    check_sample(&d, 0, 3, 1, &o);
    check_sample(&d, 1, 3, 2, &o);
    dataset_free(&d);
    /* every folder */
    load_train_ok(&d, NULL, NULL, &o);
    assert_int_equal(d.n, 9);
    assert_int_equal(d.num_classes, 4);
    static const int lab[9] = {0, 0, 0, 1, 1, 2, 2, 3, 3};
    for (int s = 0; s < 9; s++)
        assert_int_equal(d.labels[s], lab[s]);
    check_sample(&d, 6, 2, 2, &o);
    dataset_free(&d);
}

/* Loading pairs text (written to a file) must fail at file:line with every needle in the message. */
static void expect_pairs_error(const char *root, const char *text, const lfw_options *o, const char *file_part,
                               int line, const char *needle1, const char *needle2)
{
    const char *pp = tmp_path("bad_pairs.txt");
    if (text)
        write_text(pp, text);
    else
        unlink(pp);
    dataset d;
    pair_list pl;
    nb_error err = {0};
    assert_int_equal(lfw_load_pairs(&d, &pl, root, pp, o, &err), -1);
    nb_error_print(&err, stdout);
    assert_null(d.images);
    assert_null(d.labels);
    assert_null(pl.p);
    assert_int_equal(pl.n, 0);
    dataset_free(&d);
    lfw_pairs_free(&pl);
    if (!strstr(err.file, file_part ? file_part : "bad_pairs.txt"))
        fail_msg("error file '%s' is not '%s'", err.file, file_part ? file_part : "bad_pairs.txt");
    if (line >= 0)
        assert_int_equal(err.line, line);
    if (needle1 && !strstr(err.msg, needle1))
        fail_msg("error '%s' does not mention '%s'", err.msg, needle1);
    if (needle2 && !strstr(err.msg, needle2))
        fail_msg("error '%s' does not mention '%s'", err.msg, needle2);
}

static void test_bad_pairs_files(void **state)
{
    (void)state;
    lfw_options o;
    opts(&o, 30, 10, 1, LFW_RESIZE_AREA);
    /* a missing image: the path is named */
    expect_pairs_error(good, "1 1\nAlice_A 1 9\nAlice_A 1 Bob_B 1\n", &o, NULL, 2, "Alice_A/Alice_A_0009.jpg",
                       "does not exist");
    /* an unknown identity */
    expect_pairs_error(good, "1 1\nAlice_A 1 2\nAlice_A 1 Zed_Z 1\n", &o, NULL, 3, "unknown identity 'Zed_Z'",
                       "no folder");
    /* indices out of range or not numbers */
    expect_pairs_error(good, "1 1\nAlice_A 0 2\nAlice_A 1 Bob_B 1\n", &o, NULL, 2, "index '0'", "positive");
    expect_pairs_error(good, "1 1\nAlice_A 1 x2\nAlice_A 1 Bob_B 1\n", &o, NULL, 2, "index 'x2'", NULL);
    expect_pairs_error(good, "1 1\nAlice_A 1 2\nAlice_A -1 Bob_B 1\n", &o, NULL, 3, "index '-1'", NULL);
    expect_pairs_error(good, "1 1\nAlice_A 1 2\nAlice_A 1 ../Bob_B 1\n", &o, NULL, 3, "invalid identity name", NULL);
    /* malformed headers */
    expect_pairs_error(good, "10\nAlice_A 1 2\n", &o, NULL, 1, "header", "got 1 field");
    expect_pairs_error(good, "a b\nAlice_A 1 2\n", &o, NULL, 1, "header", "'a b'");
    expect_pairs_error(good, "2 0\n", &o, NULL, 1, "two positive integers", NULL);
    expect_pairs_error(good, "2 3 4\n", &o, NULL, 1, "header", "3 fields");
    expect_pairs_error(good, "-1 3\n", &o, NULL, 1, "header", NULL);
    expect_pairs_error(good, "", &o, NULL, 0, "empty pairs file", NULL);
    expect_pairs_error(good, NULL, &o, NULL, 0, "cannot open", NULL);
    /* short lines and lines of the wrong kind */
    expect_pairs_error(good, "1 1\nAlice_A 1\nAlice_A 1 Bob_B 1\n", &o, NULL, 2, "2 fields, expected 3",
                       "matched");
    expect_pairs_error(good, "1 1\nAlice_A 1 2\nAlice_A 1 Bob_B\n", &o, NULL, 3, "3 fields, expected 4",
                       "mismatched");
    /* too few and too many lines for the header */
    expect_pairs_error(good, "2 1\nAlice_A 1 2\nAlice_A 1 Bob_B 1\n", &o, NULL, -1, "file ends after 2 pairs",
                       "= 4 pairs");
    expect_pairs_error(good, "1 1\nAlice_A 1 2\nAlice_A 1 Bob_B 1\nAlice_A 1 2\n", &o, NULL, 4, "extra line",
                       NULL);
    /* a crop box larger than the image: the image is named, and the pairs line */
    lfw_options big;
    opts(&big, 41, 10, 1, LFW_RESIZE_AREA);
    expect_pairs_error(good, "1 1\nAlice_A 1 2\nAlice_A 1 Bob_B 1\n", &big, "Alice_A_0001.jpg", 0,
                       "smaller than the crop box 41×41", "bad_pairs.txt:2");
}

static void test_bad_images(void **state)
{
    (void)state;
    lfw_options o;
    opts(&o, 30, 10, 1, LFW_RESIZE_AREA);
    /* a text file named .jpg */
    expect_pairs_error(bad, "1 1\nAlice_A 1 2\nEve_E 1 Alice_A 1\n", &o, "Eve_E/Eve_E_0001.jpg", 0,
                       "Not a JPEG file", "bad_pairs.txt:3");
    /* a truncated JPEG (libjpeg's "premature end" warning is an error here) */
    expect_pairs_error(bad, "1 1\nFay_F 1 1\nAlice_A 1 Alice_A 2\n", &o, "Fay_F/Fay_F_0001.jpg", 0,
                       "Premature end of JPEG file", "bad_pairs.txt:2");
    /* an empty file */
    expect_pairs_error(bad, "1 1\nAlice_A 1 2\nFay_F 2 Alice_A 1\n", &o, "Fay_F/Fay_F_0002.jpg", 0,
                       "JPEG", "bad_pairs.txt:3");
    /* the same through lfw_read_image and the training loader (which scans every folder) */
    char path[900];
    snprintf(path, sizeof path, "%s/Fay_F/Fay_F_0001.jpg", bad);
    float x[100];
    nb_error err = {0};
    assert_int_equal(lfw_read_image(x, path, &o, &err), -1);
    assert_string_equal(err.file, path);
    dataset d;
    assert_int_equal(lfw_load_train(&d, bad, NULL, NULL, &o, &err), -1);
    assert_non_null(strstr(err.file, "_0001.jpg"));
    assert_non_null(strstr(err.msg, "JPEG"));
    assert_null(d.images);
    dataset_free(&d);
}

static void test_bad_train(void **state)
{
    (void)state;
    lfw_options o;
    opts(&o, 30, 10, 1, LFW_RESIZE_AREA);
    struct {
        const char *text;
        int line;
        const char *needle;
    } cases[] = {
        {"Alice_A\nBob_B\nZed_Z\n", 3, "unknown identity 'Zed_Z'"},
        {"Alice_A\nBob_B\nAlice_A\n", 3, "'Alice_A' listed twice (first at line 1)"},
        {"Alice_A 3\n", 1, "2 fields, expected one identity name per line"},
        {"# nothing\n\n", 0, "no training identities listed"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        write_text(tmp_path("bad_ids.txt"), cases[c].text);
        dataset d;
        nb_error err = {0};
        assert_int_equal(lfw_load_train(&d, good, tmp_path("bad_ids.txt"), NULL, &o, &err), -1);
        nb_error_print(&err, stdout);
        assert_non_null(strstr(err.file, "bad_ids.txt"));
        assert_int_equal(err.line, cases[c].line);
        if (!strstr(err.msg, cases[c].needle))
            fail_msg("error '%s' does not mention '%s'", err.msg, cases[c].needle);
        assert_null(d.labels);
        dataset_free(&d);
    }
    /* an empty identity folder, a missing root, bad options */
    char path[900];
    snprintf(path, sizeof path, "%s/empty_root", tmpdir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/empty_root/Nobody_N", tmpdir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/empty_root", tmpdir);
    dataset d;
    nb_error err = {0};
    assert_int_equal(lfw_load_train(&d, path, NULL, NULL, &o, &err), -1);
    assert_non_null(strstr(err.msg, "'Nobody_N' has no images"));
    snprintf(path, sizeof path, "%s/no_such_root", tmpdir);
    assert_int_equal(lfw_load_train(&d, path, NULL, NULL, &o, &err), -1);
    assert_non_null(strstr(err.msg, "cannot open data folder"));
    assert_string_equal(err.file, path);
    o.channels = 2;
    assert_int_equal(lfw_load_train(&d, good, NULL, NULL, &o, &err), -1);
    assert_non_null(strstr(err.msg, "'channels' = 2"));
    opts(&o, 30, 10, 1, LFW_RESIZE_AREA);
    o.crop_h = 0;
    assert_int_equal(lfw_load_train(&d, good, NULL, NULL, &o, &err), -1);
    assert_non_null(strstr(err.msg, "'crop'"));
    dataset_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pairs_gray),
        cmocka_unit_test(test_pairs_rgb_bilinear),
        cmocka_unit_test(test_read_image_crop),
        cmocka_unit_test(test_train_list),
        cmocka_unit_test(test_train_folders),
        cmocka_unit_test(test_bad_pairs_files),
        cmocka_unit_test(test_bad_images),
        cmocka_unit_test(test_bad_train),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
