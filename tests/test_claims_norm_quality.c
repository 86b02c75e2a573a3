/* test_claims_norm_quality.c — the claim-7 row of `normbench claims` (runners/claims_norm_quality.c,
 * docs/claims.md §5 claim 7). Fake summary.csv files of experiments/claim7_norm_quality.yaml (and
 * its _fmnist twin) under a fresh /tmp/nb_test_claims7.XXXXXX; the last cell of the row starting
 * "| 7 |" is checked against the rule, for intervals worked out by hand:
 *  - ρ = −0.30, −0.32, −0.28 (mean −0.30, sd 0.02, t(0.975, 2) = 4.303: [−0.35, −0.25], below 0)
 *    for softmax, magface and adaface → "agrees"; a diverged softmax run with ρ = +0.9 is a decoy
 *    (counted, the mean would be 0 and the interval would straddle 0);
 *  - the same, but magface at +0.20, +0.25, +0.30 ([0.13, 0.37], above 0) → "disagrees";
 *  - every loss at −0.30, +0.20, +0.05 (mean −0.017, straddling 0) → "inconclusive";
 *  - softmax carries, magface and adaface straddle → "partly";
 *  - the Fashion-MNIST file reversing magface while synthetic agrees → "disagrees";
 *  - the s = 16 follow-up reversing is shown beside the rule and leaves "agrees";
 *  - no results → "—" with "not run yet".
 * Needs bin/normbench; run from the repository root. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "nb_bin.h"
#include "test_util.h"

static char root[256];
static char out[1 << 16];

/* Writes <dir>/<exp>/summary.csv: for each of the n losses, one complete run per value of rho
 * (gain 0.5), plus the extra rows given verbatim. */
static void write_summary(const char *dir, const char *exp, const char *const *losses, const double (*rho)[3], int n,
                          const char *extra)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, exp);
    assert_true(mkdir(path, 0777) == 0 || errno == EEXIST);
    snprintf(path, sizeof path, "%s/%s/summary.csv", dir, exp);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "run_id,loss.type,status,norm_quality_spearman,erc_oracle_gain\n");
    for (int l = 0; l < n; l++)
        for (int s = 0; s < 3; s++)
            fprintf(f, "%s_seed%d,%s,complete,%.6g,0.5\n", losses[l], s + 1, losses[l], rho[l][s]);
    if (extra)
        fputs(extra, f);
    fclose(f);
}

/* A fresh results folder <root>/<name>. */
static void new_case(char *dir, size_t size, const char *name)
{
    snprintf(dir, size, "%s/%s", root, name);
    assert_int_equal(mkdir(dir, 0777), 0);
}

/* The verdict (last cell) of the claim-7 row of `normbench claims --results dir`. */
static const char *verdict7(const char *dir)
{
    char cmd[2048], po[300];
    snprintf(po, sizeof po, "%s/claims.out", root);
    snprintf(cmd, sizeof cmd, "bin/normbench claims --results '%s' > '%s' 2>/dev/null", dir, po);
    int st = nb_system(cmd);
    assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    FILE *f = fopen(po, "rb");
    assert_non_null(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    char *p = strstr(out, "\n| 7 | ");
    if (!p)
        fail_msg("no claim-7 row in:\n%s", out);
    p++;
    char *e = strchr(p, '\n');
    if (e)
        *e = '\0';
    size_t len = strlen(p);
    assert_true(len > 4 && !strcmp(p + len - 2, " |"));
    p[len - 2] = '\0';
    char *v = strrchr(p, '|');
    assert_non_null(v);
    return v + 2;
}

static const char *const claimed[3] = {"softmax", "magface", "adaface"};
static const double neg[3] = {-0.30, -0.32, -0.28}, pos[3] = {0.20, 0.25, 0.30}, mixed[3] = {-0.30, 0.20, 0.05};

static void test_carries(void **state)
{
    (void)state;
    char dir[512];
    new_case(dir, sizeof dir, "carries");
    const double rho[3][3] = {{neg[0], neg[1], neg[2]}, {neg[0], neg[1], neg[2]}, {neg[0], neg[1], neg[2]}};
    write_summary(dir, "claim7_norm_quality", claimed, rho, 3, "softmax_seed4,softmax,diverged,0.9,0.5\n");
    assert_string_equal(verdict7(dir), "agrees");
    assert_non_null(strstr(out, "carries quality (ρ < 0): softmax -0.30 [-0.35, -0.25]"));
    assert_non_null(strstr(out, "oracle ERC gain recovered: softmax 0.50"));
}

static void test_reverses(void **state)
{
    (void)state;
    char dir[512];
    new_case(dir, sizeof dir, "reverses");
    const double rho[3][3] = {{neg[0], neg[1], neg[2]}, {pos[0], pos[1], pos[2]}, {neg[0], neg[1], neg[2]}};
    write_summary(dir, "claim7_norm_quality", claimed, rho, 3, NULL);
    assert_string_equal(verdict7(dir), "disagrees");
    assert_non_null(strstr(out, "reverses (ρ > 0): magface 0.25 [0.13, 0.37]"));
}

static void test_inconclusive(void **state)
{
    (void)state;
    char dir[512];
    new_case(dir, sizeof dir, "inconclusive");
    const double rho[3][3] = {{mixed[0], mixed[1], mixed[2]}, {mixed[0], mixed[1], mixed[2]},
                              {mixed[0], mixed[1], mixed[2]}};
    write_summary(dir, "claim7_norm_quality", claimed, rho, 3, NULL);
    assert_string_equal(verdict7(dir), "inconclusive");
    assert_non_null(strstr(out, "inconclusive at this size: softmax -0.02"));
}

static void test_partly(void **state)
{
    (void)state;
    char dir[512];
    new_case(dir, sizeof dir, "partly");
    const double rho[3][3] = {{neg[0], neg[1], neg[2]}, {mixed[0], mixed[1], mixed[2]},
                              {mixed[0], mixed[1], mixed[2]}};
    write_summary(dir, "claim7_norm_quality", claimed, rho, 3, NULL);
    assert_string_equal(verdict7(dir), "partly");
}

static void test_second_dataset_reverses(void **state)
{
    (void)state;
    char dir[512];
    new_case(dir, sizeof dir, "fmnist");
    const double good[3][3] = {{neg[0], neg[1], neg[2]}, {neg[0], neg[1], neg[2]}, {neg[0], neg[1], neg[2]}};
    const double bad[3][3] = {{neg[0], neg[1], neg[2]}, {pos[0], pos[1], pos[2]}, {neg[0], neg[1], neg[2]}};
    write_summary(dir, "claim7_norm_quality", claimed, good, 3, NULL);
    write_summary(dir, "claim7_norm_quality_fmnist", claimed, bad, 3, NULL);
    assert_string_equal(verdict7(dir), "disagrees");
    assert_non_null(strstr(out, "fashion-mnist, ρ"));
}

/* The s = 16 follow-up (claim7_norm_quality_s16) is quoted beside the rule but never judged: its
 * magface reversing leaves "agrees" as it is, and without the two judged data sets it is not
 * shown (the claim is not run). */
static void test_follow_up_beside_the_rule(void **state)
{
    (void)state;
    char dir[512];
    new_case(dir, sizeof dir, "follow_up");
    const double good[3][3] = {{neg[0], neg[1], neg[2]}, {neg[0], neg[1], neg[2]}, {neg[0], neg[1], neg[2]}};
    const double bad[2][3] = {{pos[0], pos[1], pos[2]}, {pos[0], pos[1], pos[2]}};
    write_summary(dir, "claim7_norm_quality_s16", claimed + 1, bad, 2, NULL);
    assert_string_equal(verdict7(dir), "—");
    assert_non_null(strstr(out, "| not run yet (0 of 60 runs complete) |"));
    write_summary(dir, "claim7_norm_quality", claimed, good, 3, NULL);
    assert_string_equal(verdict7(dir), "agrees");
    assert_non_null(strstr(out, "; beside the rule: synthetic, magface and adaface at s = 16, ρ(norm, quality level) "
                                "[95 %]: reverses (ρ > 0): magface 0.25 [0.13, 0.37], adaface 0.25 [0.13, 0.37]"));
}

static void test_not_run(void **state)
{
    (void)state;
    char dir[512];
    new_case(dir, sizeof dir, "empty");
    assert_string_equal(verdict7(dir), "—");
    assert_non_null(strstr(out, "| not run yet (0 of 60 runs complete) |"));
}

static int setup(void **state)
{
    (void)state;
    return make_tmpdir(root, sizeof root, "/tmp/nb_test_claims7.XXXXXX");
}

static int teardown(void **state)
{
    (void)state;
    return remove_tree(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_carries),     cmocka_unit_test(test_reverses),
        cmocka_unit_test(test_inconclusive), cmocka_unit_test(test_partly),
        cmocka_unit_test(test_second_dataset_reverses), cmocka_unit_test(test_not_run),
        cmocka_unit_test(test_follow_up_beside_the_rule),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
