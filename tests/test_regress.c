/* test_regress.c — `make regress` inside `make test`: the quick experiment's seed-1 runs are
 * rerun and every metric must stay within its tolerance of results/reference/ (tolerances derived
 * from the spread over seeds); and the check can fail: a reference that a metric no longer
 * matches gives exit status 1 and a REGRESSION row. Always runs the optimised bin/normbench (the
 * numbers are the point here, not memory safety; the sanitizer pass covers the code). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

static int run(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
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
    int rc = run("bin/normbench regress -j 2 --results build/regress 2>&1", out, sizeof out);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "beyond tolerance (ok)"));
}

static void test_regress_detects_a_change(void **state)
{
    (void)state;
    SKIP_IN_SANITIZER_PASS();
    /* a reference that claims softmax_seed1 reached a test accuracy it does not reach */
    assert_int_equal(system("rm -rf /tmp/nb_regress_ref && mkdir -p /tmp/nb_regress_ref/regress_quick && "
                            "cp results/reference/regress_quick/summary.csv /tmp/nb_regress_ref/regress_quick/ && "
                            "printf 'run_id,metric,reference,tolerance\\nsoftmax_seed1,test_acc,0.1,0.01\\n' "
                            "> /tmp/nb_regress_ref/regress_quick/tolerances.csv"),
                     0);
    static char out[1 << 16];
    int rc = run("bin/normbench regress --reference /tmp/nb_regress_ref --results /tmp/nb_regress_out 2>&1", out,
                 sizeof out);
    printf("%s", out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "REGRESSION"));
    assert_non_null(strstr(out, "softmax_seed1"));
    assert_int_equal(system("rm -rf /tmp/nb_regress_ref /tmp/nb_regress_out"), 0);
}

static void test_missing_reference(void **state)
{
    (void)state;
    SKIP_IN_SANITIZER_PASS();
    static char out[1 << 14];
    int rc = run("bin/normbench regress --reference /tmp/nb_no_such_ref --results /tmp/nb_regress_out 2>&1", out,
                 sizeof out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "normbench regress --update"));
}

int main(void)
{

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regress_against_reference),
        cmocka_unit_test(test_regress_detects_a_change),
        cmocka_unit_test(test_missing_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
