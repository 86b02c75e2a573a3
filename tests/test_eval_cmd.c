/* test_eval_cmd.c — `normbench eval` end to end on the committed 6,000-pair fixture
 * (tests/fixtures/eval/, tools/golden_eval.py): every headline number of final.csv equals the
 * golden value of the anchors' own rules (to the 9 digits it is printed with), without and with
 * the flip features; the same inputs as CSV and as text with a byte-order mark and CRLF / CR-only
 * line endings, and as an LFW pairs.txt with a names file, give byte-identical results; a View 1
 * pairs file (single-number header) is read; labels alone give drawn pairs and identification,
 * deterministically; a training run's exported features.npy / features_flip.npy / labels.npy
 * evaluated again give the run's own numbers; bad input gives one error naming the file and a
 * non-zero status. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/csvread.h"
#include "io/npy.h"
#include "test_util.h"

#define FIX "tests/fixtures/eval/"

static char tmpdir[256];

static double gold(const char *key)
{
    FILE *f = fopen(FIX "golden.txt", "r");
    assert_non_null(f);
    char line[256], k[128];
    double v, out = NAN;
    while (fgets(line, sizeof line, f))
        if (line[0] != '#' && sscanf(line, "%127s %lf", k, &v) == 2 && !strcmp(k, key))
            out = v;
    fclose(f);
    if (isnan(out))
        fprintf(stderr, "no golden %s\n", key);
    assert_false(isnan(out));
    return out;
}

/* final.csv of run `name` as a table */
static void load_final(csvread_table *t, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/eval/%s/final.csv", tmpdir, name);
    nb_error err = {0};
    assert_int_equal(csvread_load(t, p, &err), 0);
    assert_int_equal(t->nrows, 1);
}

static double final_value(const csvread_table *t, const char *col)
{
    int c = csvread_col(t, col);
    assert_true(c >= 0);
    double v;
    nb_error err = {0};
    assert_int_equal(csvread_number(t, 0, c, &v, &err), 0);
    return v;
}

static void check_against_golden(const char *run, const char *prefix)
{
    static const char *const map[][2] = {
        {"verify_acc", "exact.acc_mean"},
        {"verify_acc_sd", "exact.acc_sd"},
        {"verify_youden_acc", "youden.acc_mean"},
        {"verify_youden_acc_sd", "youden.acc_sd"},
        {"verify_optimistic_acc", "optimistic.acc"},
        {"auc", "auc"},
        {"eer", "eer"},
        {"tar_at_far_1e-1", "tar_at_far_0.1"},
        {"tar_at_far_1e-2", "tar_at_far_0.01"},
        {"tar_at_far_1e-3", "tar_at_far_0.001"},
        {"insightface_acc", "insightface.acc_mean"},
        {"insightface_acc_sd", "insightface.acc_sd"},
        {"insightface_val", "insightface.val_mean"},
        {"insightface_val_sd", "insightface.val_sd"},
        {"insightface_far", "insightface.far_mean"},
        {"opensphere_acc", "opensphere.acc"},
        {"opensphere_tpr_at_fpr_1e-1", "opensphere.tpr_at_fpr_0.1"},
        {"opensphere_tpr_at_fpr_1e-2", "opensphere.tpr_at_fpr_0.01"},
        {"opensphere_tpr_at_fpr_1e-3", "opensphere.tpr_at_fpr_0.001"},
    };
    csvread_table t;
    load_final(&t, run);
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        char key[128];
        snprintf(key, sizeof key, "%s.%s", prefix, map[i][1]);
        double want = gold(key), got = final_value(&t, map[i][0]);
        /* final.csv prints %.9g: equal to that digit */
        char a[40], b[40];
        snprintf(a, sizeof a, "%.9g", want);
        snprintf(b, sizeof b, "%.9g", got);
        if (strcmp(a, b) && fabs(got - want) > 1e-9 * fabs(want)) {
            fprintf(stderr, "%s: %s = %s, golden %s\n", run, map[i][0], b, a);
            fail();
        }
    }
    assert_true(final_value(&t, "pairs") == 6000);
    csvread_free(&t);
}

static int run(const char *cmd) { return sh(in_tmp(tmpdir, cmd)); }

static int same_file(const char *a, const char *b)
{
    char *x = slurp(in_tmp(tmpdir, a)), *y = slurp(in_tmp(tmpdir, b));
    int same = x && y && !strcmp(x, y);
    free(x);
    free(y);
    return same;
}

static void test_golden_npy(void **state)
{
    (void)state;
    assert_int_equal(run("bin/normbench eval --features " FIX "features.npy --issame " FIX
                         "issame.npy --results {tmp} --name plain --quiet > /dev/null"),
                     0);
    check_against_golden("plain", "plain");
    assert_int_equal(run("bin/normbench eval --features " FIX "features.npy --flip-features " FIX
                         "features_flip.npy --issame " FIX "issame.npy --results {tmp} --name flip --quiet > /dev/null"),
                     0);
    check_against_golden("flip", "flip");
    /* the folder holds what a run's evaluation holds, and plot finds it */
    char *ev = slurp(in_tmp(tmpdir, "{tmp}/eval/plain/eval.csv"));
    assert_non_null(ev);
    assert_non_null(strstr(ev, "verification-insightface,accuracy_mean"));
    assert_non_null(strstr(ev, "verification-opensphere,accuracy"));
    free(ev);
    char *erc = slurp(in_tmp(tmpdir, "{tmp}/eval/plain/erc.csv"));
    assert_non_null(erc);
    assert_true(!strncmp(erc, "reject,pairs_kept,fnmr_at_fmr_1e-2,", 35));
    int lines = 0;
    for (char *p = erc; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 12); /* header + r = 0, 0.05, …, 0.5 */
    free(erc);
    char *roc = slurp(in_tmp(tmpdir, "{tmp}/eval/plain/roc.csv"));
    assert_non_null(roc);
    assert_true(!strncmp(roc, "far,tar,threshold\n", 18));
    free(roc);
}

/* The fixture as CSV features, text issame (BOM, CRLF and CR-only lines), and LFW pairs.txt +
 * names: the same final.csv byte for byte. */
static void write_text_inputs(void)
{
    npy_array f, s;
    nb_error err = {0};
    assert_int_equal(npy_read(&f, FIX "features.npy", &err), 0);
    assert_int_equal(npy_read(&s, FIX "issame.npy", &err), 0);
    FILE *csv = fopen(in_tmp(tmpdir, "{tmp}/features.csv"), "w");
    FILE *txt = fopen(in_tmp(tmpdir, "{tmp}/issame.txt"), "wb");
    FILE *pairs = fopen(in_tmp(tmpdir, "{tmp}/pairs.txt"), "wb");
    FILE *names = fopen(in_tmp(tmpdir, "{tmp}/names.txt"), "wb");
    FILE *labels = fopen(in_tmp(tmpdir, "{tmp}/labels.txt"), "w");
    FILE *view1 = fopen(in_tmp(tmpdir, "{tmp}/view1.txt"), "wb");
    assert_true(csv && txt && pairs && names && labels && view1);
    int d = (int)f.shape[1];
    for (size_t r = 0; r < (size_t)f.shape[0]; r++)
        for (int c = 0; c < d; c++)
            fprintf(csv, "%.9g%s", npy_value(&f, r * d + c), c + 1 < d ? "," : "\n");
    fputs("\xEF\xBB\xBF", txt);
    fputs("\xEF\xBB\xBF" "10\t300\r\n", pairs);
    fputs("300\r", view1);
    for (size_t i = 0; i < s.count; i++) {
        int same = npy_value(&s, i) != 0;
        fprintf(txt, "%s%s", same ? (i % 2 ? "True" : "1") : (i % 2 ? "false" : "0"), i % 3 ? "\r\n" : "\r");
        if (same) {
            fprintf(pairs, "P%zu 1 2\n", i);
            fprintf(names, "P%zu/P%zu_0001.jpg\nP%zu_0002\n", i, i, i);
            fprintf(labels, "%zu\n%zu\n", i, i);
        } else {
            fprintf(pairs, "A%zu  1\tB%zu 1\n", i, i);
            fprintf(names, "A%zu 1\r\nB%zu 1\r\n", i, i);
            fprintf(labels, "%zu\n%zu\n", i, i + 100000);
        }
        if (i < 600)
            fprintf(view1, same ? "P%zu 1 2\r" : "A%zu 1 B%zu 1\r", i, i);
    }
    fclose(csv);
    fclose(txt);
    fclose(pairs);
    fclose(names);
    fclose(labels);
    fclose(view1);
    npy_free(&f);
    npy_free(&s);
}

static void test_text_inputs(void **state)
{
    (void)state;
    write_text_inputs();
    assert_int_equal(run("bin/normbench eval --features " FIX "features.npy --issame " FIX
                         "issame.npy --results {tmp} --name ref --quiet > /dev/null"),
                     0);
    assert_int_equal(run("bin/normbench eval --features {tmp}/features.csv --issame {tmp}/issame.txt --results {tmp} "
                         "--name text --quiet > /dev/null"),
                     0);
    assert_true(same_file("{tmp}/eval/ref/final.csv", "{tmp}/eval/text/final.csv"));
    assert_true(same_file("{tmp}/eval/ref/eval.csv", "{tmp}/eval/text/eval.csv"));
    assert_int_equal(run("bin/normbench eval --features {tmp}/features.csv --pairs {tmp}/pairs.txt --names "
                         "{tmp}/names.txt --results {tmp} --name lfw --quiet > /dev/null"),
                     0);
    assert_true(same_file("{tmp}/eval/ref/final.csv", "{tmp}/eval/lfw/final.csv"));
    assert_true(same_file("{tmp}/eval/ref/roc.csv", "{tmp}/eval/lfw/roc.csv"));
    /* View 1: one fold of 300 + 300 pairs */
    assert_int_equal(run("bin/normbench eval --features {tmp}/features.csv --pairs {tmp}/view1.txt --names "
                         "{tmp}/names.txt --results {tmp} --name view1 --quiet > /dev/null"),
                     0);
    csvread_table t;
    load_final(&t, "view1");
    assert_true(final_value(&t, "pairs") == 600);
    assert_true(final_value(&t, "verify_optimistic_acc") > 0.5);
    csvread_free(&t);
}

/* Labels alone: 6,000 pairs drawn LFW-style and the gallery/probe split, both seeded. */
static void test_labels(void **state)
{
    (void)state;
    write_text_inputs();
    for (int k = 0; k < 2; k++)
        assert_int_equal(run(k ? "bin/normbench eval --features " FIX "features.npy --labels {tmp}/labels.txt "
                                 "--results {tmp} --name lab2 --quiet > /dev/null"
                               : "bin/normbench eval --features " FIX "features.npy --labels {tmp}/labels.txt "
                                 "--results {tmp} --name lab1 --quiet > /dev/null"),
                         0);
    assert_true(same_file("{tmp}/eval/lab1/eval.csv", "{tmp}/eval/lab2/eval.csv"));
    assert_true(same_file("{tmp}/eval/lab1/cmc.csv", "{tmp}/eval/lab2/cmc.csv"));
    csvread_table t;
    load_final(&t, "lab1");
    assert_true(final_value(&t, "pairs") == 6000);
    assert_true(final_value(&t, "probes") == 3000 && final_value(&t, "gallery") == 3000);
    double r1 = final_value(&t, "rank1");
    assert_true(r1 > 0 && r1 <= 1);
    assert_true(final_value(&t, "verify_acc") > 0.8);
    csvread_free(&t);
    /* another seed draws other pairs */
    assert_int_equal(run("bin/normbench eval --features " FIX "features.npy --labels {tmp}/labels.txt --seed 2 "
                         "--results {tmp} --name lab3 --quiet > /dev/null"),
                     0);
    assert_false(same_file("{tmp}/eval/lab1/eval.csv", "{tmp}/eval/lab3/eval.csv"));
}

/* A training run's export (eval.features, eval.flip) evaluated again by `normbench eval` with the
 * run's seed, pair count and CMC ranks: the same pairs, scores and numbers — every verification
 * and identification row of its eval.csv, its roc.csv and cmc.csv. */
static void test_run_export(void **state)
{
    (void)state;
    assert_int_equal(run("bin/normbench train tests/fixtures/tiny_train.yaml --quiet --results {tmp}/train --set "
                         "eval.features=true --set eval.flip=true > /dev/null"),
                     0);
    const char *dir = "{tmp}/train/tiny/softmax_seed3";
    char p[600];
    npy_array a;
    nb_error err = {0};
    const char *arrays[] = {"features.npy", "features_flip.npy", "labels.npy", "weights.npy"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, arrays[i]);
        assert_int_equal(npy_read(&a, in_tmp(tmpdir, p), &err), 0);
        assert_int_equal(a.shape[0], i == 3 ? 10 : 256);
        assert_int_equal(a.ndim, i == 2 ? 1 : 2);
        npy_free(&a);
    }
    assert_int_equal(run("bin/normbench eval --features {tmp}/train/tiny/softmax_seed3/features.npy --flip-features "
                         "{tmp}/train/tiny/softmax_seed3/features_flip.npy --labels "
                         "{tmp}/train/tiny/softmax_seed3/labels.npy --seed 3 --cmc-ranks 10 --results {tmp} --name "
                         "again --quiet > /dev/null"),
                     0);
    assert_true(same_file("{tmp}/train/tiny/softmax_seed3/roc.csv", "{tmp}/eval/again/roc.csv"));
    assert_true(same_file("{tmp}/train/tiny/softmax_seed3/cmc.csv", "{tmp}/eval/again/cmc.csv"));
    csvread_table tr, ev;
    assert_int_equal(csvread_load(&tr, in_tmp(tmpdir, "{tmp}/train/tiny/softmax_seed3/eval.csv"), &err), 0);
    assert_int_equal(csvread_load(&ev, in_tmp(tmpdir, "{tmp}/eval/again/eval.csv"), &err), 0);
    int compared = 0;
    for (int i = 0; i < ev.nrows; i++) {
        if (!strcmp(ev.rows[i][0], "geometry"))
            continue;
        int found = 0;
        for (int j = 0; j < tr.nrows && !found; j++)
            if (!strcmp(ev.rows[i][0], tr.rows[j][0]) && !strcmp(ev.rows[i][1], tr.rows[j][1]) &&
                !strcmp(ev.rows[i][2], tr.rows[j][2])) {
                found = 1;
                if (strcmp(ev.rows[i][3], tr.rows[j][3]))
                    fprintf(stderr, "%s %s: run %s, eval %s\n", ev.rows[i][0], ev.rows[i][1], tr.rows[j][3],
                            ev.rows[i][3]);
                assert_string_equal(ev.rows[i][3], tr.rows[j][3]);
            }
        assert_true(found);
        compared++;
    }
    assert_true(compared >= 27);
    csvread_free(&tr);
    csvread_free(&ev);
}

static void expect_error(const char *cmd, int status, const char *needle)
{
    char full[2048];
    snprintf(full, sizeof full, "%s 2> {tmp}/err.txt > /dev/null", cmd);
    assert_int_equal(run(full), status);
    char *e = slurp(in_tmp(tmpdir, "{tmp}/err.txt"));
    assert_non_null(e);
    if (!strstr(e, needle)) {
        fprintf(stderr, "expected \"%s\" in: %s\n", needle, e);
        fail();
    }
    free(e);
}

static void test_errors(void **state)
{
    (void)state;
    FILE *f = fopen(in_tmp(tmpdir, "{tmp}/short.txt"), "w");
    fputs("1\n0\nmaybe\n", f);
    fclose(f);
    expect_error("bin/normbench eval --features " FIX "features.npy --issame {tmp}/short.txt --results {tmp}", 1,
                 "short.txt:3: issame");
    f = fopen(in_tmp(tmpdir, "{tmp}/short.txt"), "w");
    fputs("1\n0\n", f);
    fclose(f);
    expect_error("bin/normbench eval --features " FIX "features.npy --issame {tmp}/short.txt --results {tmp}", 1,
                 "2 pairs need 4 feature rows");
    expect_error("bin/normbench eval --features " FIX "issame.npy --issame " FIX "issame.npy --results {tmp}", 1,
                 "2-D numeric");
    expect_error("bin/normbench eval --features " FIX "features.npy --issame " FIX "issame.npy --pairs x --names y", 2,
                 "not both");
    expect_error("bin/normbench eval --issame " FIX "issame.npy", 2, "--features is required");
    expect_error("bin/normbench eval --features " FIX "features.npy --pairs " FIX "golden.txt --names {tmp}/names.txt "
                 "--results {tmp}",
                 1, "golden.txt:1: expected a header");
    f = fopen(in_tmp(tmpdir, "{tmp}/dup.txt"), "w");
    for (int i = 0; i < 12000; i++)
        fprintf(f, "X_%04d\n", i < 2 ? 1 : i);
    fclose(f);
    expect_error("bin/normbench eval --features " FIX "features.npy --pairs {tmp}/view1.txt --names {tmp}/dup.txt "
                 "--results {tmp}",
                 1, "dup.txt:2: X 1 names a second row");
}

static int setup(void **state)
{
    (void)state;
    return make_tmpdir(tmpdir, sizeof tmpdir, "/tmp/nb_evalcmd_XXXXXX");
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
        cmocka_unit_test(test_golden_npy),
        cmocka_unit_test(test_text_inputs),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_run_export),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
