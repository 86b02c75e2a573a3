/* test_regress.c — `make regress` inside `make test`: the quick experiment's seed-1 runs are
 * rerun and every metric must stay within its tolerance of results/reference/ (tolerances derived
 * from the spread over seeds); and the check can fail: a reference that a metric no longer
 * matches gives exit status 1 and a REGRESSION row; a tolerances.csv that checks fewer metrics
 * than the reference holds (header only, a row missing or twice) or a non-finite tolerance is
 * refused before anything runs; and on the reference's own platform the rule is exact (a metric
 * 1e-6 away fails), with the verdicts also written as JUnit XML. Always runs the optimised bin/normbench (the
 * numbers are the point here, not memory safety; the sanitizer pass covers the code). Scratch
 * references and results go to this process's own folder (mkdtemp, removed by the group
 * teardown), written "{tmp}/…" in the commands, so that concurrent runs of the suite never meet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "test_util.h"

static char scratch[64];
static int scratch_not_removed;

/* cmd, with "{tmp}" standing for this process's folder (in_tmp, test_util.h), run through popen;
 * its output in out and its exit status. */
static int run(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(in_tmp(scratch, cmd), "r");
    assert_non_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The sanitizer pass (NB_BIN set) re-runs every test program; the numbers were already checked
 * by the plain pass, so there these tests are skipped. */
#define SKIP_IN_SANITIZER_PASS()                                                                                       \
    do {                                                                                                               \
        if (getenv("NB_BIN"))                                                                                          \
            skip();                                                                                                    \
    } while (0)

static void test_regress_against_reference(void **state)
{
    (void)state;
    SKIP_IN_SANITIZER_PASS();
    static char out[1 << 16];
    int rc = run("bin/normbench regress -j 2 --results build/regress --junit {tmp}/junit.xml 2>&1", out, sizeof out);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "beyond tolerance (ok)"));
    /* every run says which rule judged it, and the JUnit report has one passing testcase per run */
    assert_non_null(strstr(out, "softmax_seed1                        rule: "));
    static char xml[1 << 16];
    assert_int_equal(run("cat {tmp}/junit.xml", xml, sizeof xml), 0);
    assert_non_null(strstr(xml, "<testsuite name=\"regress_quick\" tests=\"22\" failures=\"0\""));
    assert_non_null(strstr(xml, "<testcase classname=\"regress_quick\" name=\"adaface_s16_m0.3_seed1\">"));
    assert_null(strstr(xml, "<failure"));
}

static void make_ref(const char *edit);

/* The exact rule, independent of the machine the suite runs on: softmax_seed1 is run once, its
 * own test_acc becomes the reference and --adopt-platform records this platform for it; then a
 * reference 1e-6 away (far inside any statistical tolerance) must fail, and pass again once the
 * platform record is gone (the statistical rule). */
static void test_regress_exact_on_same_platform(void **state)
{
    (void)state;
    SKIP_IN_SANITIZER_PASS();
    static char out[1 << 16];
    const char *ref = "{tmp}/ref/regress_quick";
    char cmd[2048];
    /* the reference cut to the softmax runs, softmax_seed1's test_acc tolerance 1 (so that only the
     * rule decides) */
    make_ref("s/^softmax_seed1,test_acc,\\([^,]*\\),[^,]*,/softmax_seed1,test_acc,\\1,1,/");
    int rc = run("bin/normbench regress --reference {tmp}/ref --results {tmp}/xout --junit {tmp}/x.xml 2>&1", out,
                 sizeof out);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "rule: statistical (the reference records no platform"));
    rc = run("bin/normbench regress --compare-only --adopt-platform --reference {tmp}/ref --results {tmp}/xout "
             "--junit {tmp}/x.xml 2>&1",
             out, sizeof out);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "this platform recorded in"));
    /* test_acc's reference 1e-6 away: a regression under the exact rule, reported in the JUnit XML */
    snprintf(cmd, sizeof cmd,
             "awk -F, -v OFS=, '$1==\"softmax_seed1\" && $2==\"test_acc\" {$3 = sprintf(\"%%.9g\", $3 + 1e-6)} {print}' "
             "%s/tolerances.csv > %s/t.csv && mv %s/t.csv %s/tolerances.csv && "
             "bin/normbench regress --compare-only --reference {tmp}/ref --results {tmp}/xout --junit {tmp}/x.xml 2>&1",
             ref, ref, ref, ref);
    rc = run(cmd, out, sizeof out);
    printf("%s", out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "softmax_seed1                        rule: exact"));
    assert_non_null(strstr(out, "REGRESSION"));
    static char xml[1 << 14];
    assert_int_equal(run("cat {tmp}/x.xml", xml, sizeof xml), 0);
    assert_non_null(strstr(xml, "failures=\"1\""));
    assert_non_null(strstr(xml, "metrics beyond the exact rule\">test_acc"));
    /* --adopt-platform refuses a reference that is not reproduced exactly */
    rc = run("bin/normbench regress --compare-only --adopt-platform --reference {tmp}/ref --results {tmp}/xout "
             "--junit {tmp}/x.xml 2>&1",
             out, sizeof out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "platform not recorded"));
    /* without the platform record, the same 1e-6 is within the statistical tolerance */
    snprintf(cmd, sizeof cmd,
             "rm %s/platform.csv && bin/normbench regress --compare-only --reference {tmp}/ref --results {tmp}/xout "
             "--junit {tmp}/x.xml 2>&1",
             ref);
    rc = run(cmd, out, sizeof out);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "rule: statistical"));
    assert_non_null(strstr(out, "1 moved within tolerance, 0 beyond tolerance (ok)"));
    assert_int_equal(system(in_tmp(scratch, "rm -rf {tmp}/ref {tmp}/xout {tmp}/x.xml")), 0);
}

/* {tmp}/ref/regress_quick/: the reference cut down to the softmax runs (summary.csv: its five
 * seeds; tolerances.csv: the rows of softmax_seed1, the run that is checked), tolerances.csv
 * passed through the sed script edit. */
static void make_ref(const char *edit)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "rm -rf {tmp}/ref {tmp}/out && mkdir -p {tmp}/ref/regress_quick && "
             "grep -E '^(run_id|softmax_seed)' results/reference/regress_quick/summary.csv "
             "> {tmp}/ref/regress_quick/summary.csv && "
             "grep -E '^(run_id|softmax_seed1,)' results/reference/regress_quick/tolerances.csv | sed -e '%s' "
             "> {tmp}/ref/regress_quick/tolerances.csv",
             edit);
    assert_int_equal(system(in_tmp(scratch, cmd)), 0);
}

static void test_regress_detects_a_change(void **state)
{
    (void)state;
    SKIP_IN_SANITIZER_PASS();
    /* a reference that claims softmax_seed1 reached a test accuracy it does not reach */
    make_ref("s/^softmax_seed1,test_acc,[^,]*,[^,]*,/softmax_seed1,test_acc,0.1,0.01,/");
    static char out[1 << 16];
    int rc = run("bin/normbench regress --reference {tmp}/ref --results {tmp}/out 2>&1", out, sizeof out);
    printf("%s", out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "REGRESSION"));
    assert_non_null(strstr(out, "softmax_seed1"));
    assert_non_null(strstr(out, "test_acc"));
    assert_int_equal(system(in_tmp(scratch, "rm -rf {tmp}/ref {tmp}/out")), 0);
}

/* A check that compares less than the reference holds fails before any run starts, naming the
 * file and what is wrong: a header-only tolerances.csv, a row missing, a tolerance of inf or nan
 * (which would pass anything), a row listed twice. */
static void test_regress_refuses_an_incomplete_check(void **state)
{
    (void)state;
    static const struct {
        const char *edit, *want;
    } cases[] = {
        {"1!d", "lists no metric"},
        {"/^softmax_seed1,auc,/d", "has no row for softmax_seed1 auc"},
        {"s/^softmax_seed1,test_acc,[^,]*,[^,]*,/softmax_seed1,test_acc,0.1,inf,/", "tolerance: 'inf'"},
        {"s/^softmax_seed1,eer,\\([^,]*\\),[^,]*,/softmax_seed1,eer,\\1,nan,/", "tolerance: 'nan'"},
        {"2p", "listed twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_ref(cases[i].edit);
        static char out[1 << 16];
        double t0 = now();
        int rc = run("bin/normbench regress --reference {tmp}/ref --results {tmp}/out 2>&1", out, sizeof out);
        printf("%s", out);
        assert_int_equal(rc, 1);
        if (!strstr(out, cases[i].want) || !strstr(out, "tolerances.csv"))
            fail_msg("case %zu: expected '%s' naming tolerances.csv in: %s", i, cases[i].want, out);
        assert_null(strstr(out, "metrics checked")); /* refused before running anything */
        assert_true(now() - t0 < 20);
    }
    assert_int_equal(system(in_tmp(scratch, "rm -rf {tmp}/ref {tmp}/out")), 0);
}

static void test_regress_nan_metrics(void **state)
{
    (void)state;
    SKIP_IN_SANITIZER_PASS();
    /* A metric a run does not produce is empty (NaN) in the summaries: NaN against NaN is
     * unchanged (softmax has no diverged_step), NaN against a number is a regression both ways
     * (a reference without test_acc; a reference with a learned_scale softmax does not have). */
    make_ref("s/^softmax_seed1,diverged_step,[^,]*,[^,]*,/softmax_seed1,diverged_step,,1e-06,/;"
             "s/^softmax_seed1,test_acc,[^,]*,[^,]*,/softmax_seed1,test_acc,,1e-06,/;"
             "s/^softmax_seed1,learned_scale,[^,]*,[^,]*,/softmax_seed1,learned_scale,5,1e-06,/");
    static char out[1 << 16];
    int rc = run("bin/normbench regress --reference {tmp}/ref --results {tmp}/out 2>&1", out, sizeof out);
    printf("%s", out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "25 metrics checked, 0 moved within tolerance, 2 beyond tolerance"));
    assert_null(strstr(out, "diverged_step"));
    assert_int_equal(system(in_tmp(scratch, "rm -rf {tmp}/ref {tmp}/out")), 0);
}

static void test_missing_reference(void **state)
{
    (void)state;
    SKIP_IN_SANITIZER_PASS();
    static char out[1 << 14];
    int rc = run("bin/normbench regress --reference {tmp}/no_such_ref --results {tmp}/out 2>&1", out, sizeof out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "normbench regress --update"));
}

static int make_scratch(void **state)
{
    (void)state;
    return make_tmpdir(scratch, sizeof scratch, "/tmp/nb_test_regress.XXXXXX");
}

static int remove_scratch(void **state)
{
    (void)state;
    scratch_not_removed = remove_tree(scratch) != 0;
    return scratch_not_removed ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regress_against_reference),
        cmocka_unit_test(test_regress_detects_a_change),
        cmocka_unit_test(test_regress_refuses_an_incomplete_check),
        cmocka_unit_test(test_regress_nan_metrics),
        cmocka_unit_test(test_regress_exact_on_same_platform),
        cmocka_unit_test(test_missing_reference),
    };
    int rc = cmocka_run_group_tests(tests, make_scratch, remove_scratch);
    /* cmocka reports a failed group teardown but does not count it in rc */
    if (scratch_not_removed)
        rc = 1;
    return rc;
}
