/* test_regress.c — `make regress` inside `make test`: the quick experiment's seed-1 runs are
 * rerun and every metric must stay within its tolerance of results/reference/ (tolerances derived
 * from the spread over seeds); and the check can fail: a reference that a metric no longer
 * matches gives exit status 1 and a REGRESSION row; and on the reference's own platform the rule
 * is exact (a metric 1e-6 away fails), with the verdicts also written as JUnit XML. Always runs the optimised bin/normbench (the
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
    assert_non_null(strstr(xml, "<testsuite name=\"regress_quick\" tests=\"18\" failures=\"0\""));
    assert_non_null(strstr(xml, "<testcase classname=\"regress_quick\" name=\"adaface_s16_m0.3_seed1\">"));
    assert_null(strstr(xml, "<failure"));
}

/* The exact rule, independent of the machine the suite runs on: softmax_seed1 is run once, its
 * own test_acc becomes the reference and --adopt-platform records this platform for it; then a
 * reference 1e-6 away (far inside any statistical tolerance) must fail, and pass again once the
 * platform record is gone (the statistical rule). */
static void test_regress_exact_on_same_platform(void **state)
{
    (void)state;
    SKIP_IN_SANITIZER_PASS();
    static char out[1 << 16];
    const char *ref = "{tmp}/xref/regress_quick";
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "rm -rf {tmp}/xref {tmp}/xout && mkdir -p %s && cp results/reference/regress_quick/summary.csv %s/ && "
             "printf 'run_id,metric,reference,tolerance\\nsoftmax_seed1,test_acc,0.5,1\\n' > %s/tolerances.csv && "
             "bin/normbench regress --reference {tmp}/xref --results {tmp}/xout --junit {tmp}/x.xml 2>&1",
             ref, ref, ref);
    int rc = run(cmd, out, sizeof out);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "rule: statistical (the reference records no platform"));
    /* the reference ← the value just measured (its CSV text), tolerance 1 */
    const char *own = "v=$(awk -F, 'NR==1{for(i=1;i<=NF;i++)if($i==\"test_acc\")c=i} $1==\"softmax_seed1\"{print $c}' "
                      "{tmp}/xout/regress_quick/summary.csv)";
    snprintf(cmd, sizeof cmd,
             "%s && printf 'run_id,metric,reference,tolerance\\nsoftmax_seed1,test_acc,%%s,1\\n' \"$v\" > "
             "%s/tolerances.csv && bin/normbench regress --compare-only --adopt-platform --reference {tmp}/xref "
             "--results {tmp}/xout --junit {tmp}/x.xml 2>&1",
             own, ref);
    rc = run(cmd, out, sizeof out);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "this platform recorded in"));
    /* 1e-6 away: a regression under the exact rule, reported in the JUnit XML */
    snprintf(cmd, sizeof cmd,
             "%s && awk -v v=\"$v\" 'BEGIN{printf \"run_id,metric,reference,tolerance\\nsoftmax_seed1,test_acc,%%.9g,1\\n\", "
             "v + 1e-6}' > %s/tolerances.csv && bin/normbench regress --compare-only --reference {tmp}/xref "
             "--results {tmp}/xout --junit {tmp}/x.xml 2>&1",
             own, ref);
    rc = run(cmd, out, sizeof out);
    printf("%s", out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "softmax_seed1                        rule: exact"));
    assert_non_null(strstr(out, "REGRESSION"));
    static char xml[1 << 14];
    assert_int_equal(run("cat {tmp}/x.xml", xml, sizeof xml), 0);
    assert_non_null(strstr(xml, "tests=\"1\" failures=\"1\""));
    assert_non_null(strstr(xml, "<failure type=\"regression\" message=\"1 of 1 metrics beyond the exact rule\">test_acc"));
    /* --adopt-platform refuses a reference that is not reproduced exactly */
    rc = run("bin/normbench regress --compare-only --adopt-platform --reference {tmp}/xref --results {tmp}/xout "
             "--junit {tmp}/x.xml 2>&1",
             out, sizeof out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "platform not recorded"));
    /* without the platform record, the same 1e-6 is within the statistical tolerance */
    snprintf(cmd, sizeof cmd,
             "rm %s/platform.csv && bin/normbench regress --compare-only --reference {tmp}/xref --results {tmp}/xout "
             "--junit {tmp}/x.xml 2>&1",
             ref);
    rc = run(cmd, out, sizeof out);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "rule: statistical"));
    assert_non_null(strstr(out, "1 moved within tolerance, 0 beyond tolerance (ok)"));
    assert_int_equal(system(in_tmp(scratch, "rm -rf {tmp}/xref {tmp}/xout {tmp}/x.xml")), 0);
}

static void test_regress_detects_a_change(void **state)
{
    (void)state;
    SKIP_IN_SANITIZER_PASS();
    /* a reference that claims softmax_seed1 reached a test accuracy it does not reach */
    const char *make_ref = in_tmp(scratch, "rm -rf {tmp}/ref && mkdir -p {tmp}/ref/regress_quick && "
                                           "cp results/reference/regress_quick/summary.csv {tmp}/ref/regress_quick/ && "
                                           "printf 'run_id,metric,reference,tolerance\\nsoftmax_seed1,test_acc,0.1,0.01\\n' "
                                           "> {tmp}/ref/regress_quick/tolerances.csv");
    assert_int_equal(system(make_ref), 0);
    static char out[1 << 16];
    int rc = run("bin/normbench regress --reference {tmp}/ref --results {tmp}/out 2>&1", out, sizeof out);
    printf("%s", out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "REGRESSION"));
    assert_non_null(strstr(out, "softmax_seed1"));
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
        cmocka_unit_test(test_regress_exact_on_same_platform),
        cmocka_unit_test(test_missing_reference),
    };
    int rc = cmocka_run_group_tests(tests, make_scratch, remove_scratch);
    /* cmocka reports a failed group teardown but does not count it in rc */
    if (scratch_not_removed)
        rc = 1;
    return rc;
}
