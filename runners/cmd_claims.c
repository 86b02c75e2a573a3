/* cmd_claims.c — `normbench claims`: the reproduction table of docs/claims.md §5, generated from results.
 *
 * For each of the six claims it reads the claim's experiment results (summary.csv and, where a
 * claim needs them, the runs' norms.csv / features.csv), computes the numbers that decide it,
 * applies the verdict rule written next to each claim below, and prints one Markdown row: claim,
 * experiment file, our numbers (mean ± sd over seeds), the paper's statement, and agrees / partly
 * / no. Claims whose experiment has not finished say how many runs are complete. With
 * --readme FILE the table replaces the text between the markers <!-- claims:begin --> and
 * <!-- claims:end --> in FILE (written atomically); it refuses when no claim has results under
 * --results (a wrong folder would otherwise turn every row into "not run yet"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claims_norm_quality.h"
#include "commands.h"
#include "options.h"
#include "config/sweep.h"
#include "core/error.h"
#include "io/csvread.h"
#include "io/fsutil.h"
#include "loss/loss.h"

typedef struct {
    experiment x;
    csvread_table t;
    int loaded, complete;
    const char *results;
} exp_data;

/* Cell of column `key` in row r, "" when the column does not exist. */
static const char *cell(const csvread_table *t, int r, const char *key)
{
    int c = csvread_col(t, key);
    return c < 0 ? "" : t->rows[r][c];
}

/* Does row r satisfy every "key=value" condition (NULL-terminated)? */
static int conds_match(const csvread_table *t, int r, const char *const *conds)
{
    for (int i = 0; conds && conds[i]; i++) {
        const char *eq = strchr(conds[i], '=');
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - conds[i]), conds[i]);
        if (strcmp(cell(t, r, key), eq + 1))
            return 0;
    }
    return 1;
}

/* conds_match, for complete runs only. */
static int row_matches(const csvread_table *t, int r, const char *const *conds)
{
    return !strcmp(cell(t, r, "status"), "complete") && conds_match(t, r, conds);
}

typedef struct {
    double mean, sd;
    int n;
} stat;

static stat stat_of(const double *v, int n)
{
    stat s = {NAN, NAN, n};
    if (n == 0)
        return s;
    double a = 0, b = 0;
    for (int i = 0; i < n; i++)
        a += v[i];
    s.mean = a / n;
    for (int i = 0; i < n; i++)
        b += (v[i] - s.mean) * (v[i] - s.mean);
    s.sd = n > 1 ? sqrt(b / (n - 1)) : NAN;
    return s;
}

/* Mean ± sd of a summary metric over the complete runs matching conds. */
static stat metric(const exp_data *e, const char *name, const char *const *conds)
{
    double v[256];
    int n = 0;
    int c = csvread_col(&e->t, name);
    for (int r = 0; c >= 0 && r < e->t.nrows && n < 256; r++) {
        double x;
        nb_error ignore;
        if (row_matches(&e->t, r, conds) && csvread_number(&e->t, r, c, &x, &ignore) == 0 && !isnan(x))
            v[n++] = x;
    }
    return stat_of(v, n);
}

/* How many runs matching conds (key=value) have the given status. */
static int runs_with_status(const exp_data *e, const char *status, const char *const *conds)
{
    int n = 0;
    for (int r = 0; r < e->t.nrows; r++)
        n += !strcmp(cell(&e->t, r, "status"), status) && conds_match(&e->t, r, conds);
    return n;
}

static const char *fmt(char *buf, size_t n, stat s, int digits)
{
    if (s.n == 0)
        snprintf(buf, n, "n/a");
    else if (s.n == 1 || isnan(s.sd))
        snprintf(buf, n, "%.*f", digits, s.mean);
    else
        snprintf(buf, n, "%.*f ± %.*f", digits, s.mean, digits, s.sd);
    return buf;
}

static int load(exp_data *e, const char *file, const char *results)
{
    memset(e, 0, sizeof *e);
    e->results = results;
    nb_error err = {0};
    if (experiment_load(&e->x, file, &err)) {
        nb_error_print(&err, stderr);
        return -1;
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/summary.csv", results, e->x.name);
    if (csvread_load(&e->t, path, &err) == 0) {
        e->loaded = 1;
        for (int r = 0; r < e->t.nrows; r++)
            e->complete += !strcmp(cell(&e->t, r, "status"), "complete");
    }
    return 0;
}

static void unload(exp_data *e)
{
    if (e->loaded)
        csvread_free(&e->t);
    experiment_free(&e->x);
}

/* A per-run CSV of run r of e. */
static int run_csv(csvread_table *t, const exp_data *e, int r, const char *name)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s/%s/%s", e->results, e->x.name, e->t.rows[r][0], name);
    nb_error err;
    return csvread_load(t, path, &err);
}

/* Claim 1 number: norm at the hardest quality level / norm of clean samples, per run; *worst is
 * the largest ratio of any run. */
static stat norm_ratio(const exp_data *e, double *worst)
{
    double v[64];
    int n = 0;
    for (int r = 0; r < e->t.nrows && n < 64; r++) {
        csvread_table t;
        if (!row_matches(&e->t, r, NULL) || run_csv(&t, e, r, "norms.csv"))
            continue;
        int cm = csvread_col(&t, "norm_mean");
        double clean, hard;
        nb_error ignore;
        if (cm >= 0 && t.nrows >= 2 && csvread_number(&t, 0, cm, &clean, &ignore) == 0 &&
            csvread_number(&t, t.nrows - 1, cm, &hard, &ignore) == 0 && clean > 0)
            v[n++] = hard / clean;
        csvread_free(&t);
    }
    *worst = -INFINITY;
    for (int i = 0; i < n; i++)
        *worst = fmax(*worst, v[i]);
    return stat_of(v, n);
}

/* Claim 4 number: the smallest class-mean feature norm / the mean feature norm, per run. */
static stat min_class_norm(const exp_data *e, const char *const *conds)
{
    double v[64];
    int n = 0;
    for (int r = 0; r < e->t.nrows && n < 64; r++) {
        csvread_table t;
        if (!row_matches(&e->t, r, conds) || run_csv(&t, e, r, "features.csv"))
            continue;
        int cl = csvread_col(&t, "label"), f0 = csvread_col(&t, "f0");
        double sum[256] = {0}, all = 0;
        int cnt[256] = {0};
        for (int i = 0; cl >= 0 && f0 >= 0 && i < t.nrows; i++) {
            double nrm = 0, x, lab;
            nb_error ignore;
            if (csvread_number(&t, i, cl, &lab, &ignore) || lab < 0 || lab > 255)
                continue;
            for (int j = f0; j < t.ncols; j++)
                if (csvread_number(&t, i, j, &x, &ignore) == 0)
                    nrm += x * x;
            nrm = sqrt(nrm);
            sum[(int)lab] += nrm;
            cnt[(int)lab]++;
            all += nrm;
        }
        double lo = INFINITY;
        for (int c = 0; c < 256; c++)
            if (cnt[c] && sum[c] / cnt[c] < lo)
                lo = sum[c] / cnt[c];
        if (t.nrows && isfinite(lo))
            v[n++] = lo / (all / t.nrows);
        csvread_free(&t);
    }
    return stat_of(v, n);
}

typedef struct {
    const char *file, *statement;
} claim;

static const claim claims[6] = {
    {"experiments/claim1_radial_softmax.yaml",
     "Softmax features are radial; their norm is larger for easy samples and smaller for degraded ones "
     "(L2-softmax Fig. 1, NormFace Fig. 2)."},
    {"experiments/claim2_l2softmax_alpha.yaml",
     "L2-softmax beats softmax on verification, most on degraded pairs; accuracy rises with α and "
     "saturates, collapsing well below α_low (Ranjan et al. §3.4)."},
    {"experiments/claim3_normface_scale.yaml",
     "Without a scale (s = 1) normalised softmax stalls at the loss bound; with s ≳ 10 it trains; a "
     "learned s grows (NormFace §3.3)."},
    {"experiments/claim4_bias_origin.yaml",
     "With a bias term some class's features collapse towards the origin (NormFace Fig. 3)."},
    {"experiments/claim5_agents_vs_pairs.yaml",
     "C-contrastive / C-triplet reach accuracy comparable to normalised softmax without pair mining; "
     "contrastive / triplet converge slower per epoch (NormFace §4)."},
    {"experiments/claim6_margins.yaml",
     "Margins (CosFace, ArcFace, SphereFace) improve verification over NormFace at suitable m and fail "
     "to train at too large m with few classes."},
};

/* agrees: hardest-quality norm below the clean norm in every seed (ratio < 1); partly:
 * in the mean only */
static const char *claim_norms(const exp_data *e, char *nums, size_t size)
{
    char a[64];
    const char *verdict = "—";
    double worst;
    stat r = norm_ratio(e, &worst);
    snprintf(nums, size, "norm(hardest quality) / norm(clean) = %s (n = %d)", fmt(a, 64, r, 3), r.n);
    verdict = r.n == 0 ? "—" : worst < 1 ? "agrees" : r.mean < 1 ? "partly" : "no";
    return verdict;
}

/* agrees: the best l2softmax with α ≥ α_low beats softmax, its gain over softmax is larger on
 * degraded pairs than on clean ones, and α = 1 is worse than α = 16; partly: some of these */
static const char *claim_l2softmax(const exp_data *e, char *nums, size_t size)
{
    char a[64], b[64], c[64], d[64];
    const char *verdict = "—";
    const char *sm[] = {"loss.type=softmax", NULL};
    stat s = metric(e, "verify_acc", sm), s_cl = metric(e, "verify_acc_clean", sm),
         s_dg = metric(e, "verify_acc_degraded", sm);
    double alow = l2softmax_alpha_low(1000, 0.9);
    stat best = {NAN, NAN, 0}, b_cl = best, b_dg = best;
    const char *alphas[] = {"16", "32", "auto"}, *best_alpha = "?";
    for (int i = 0; i < 3; i++) {
        char cond[64];
        snprintf(cond, sizeof cond, "loss.alpha=%s", alphas[i]);
        const char *cc[] = {"loss.type=l2softmax", cond, NULL};
        stat x = metric(e, "verify_acc", cc);
        if (x.n && (best.n == 0 || x.mean > best.mean)) {
            best = x;
            best_alpha = alphas[i];
            b_cl = metric(e, "verify_acc_clean", cc);
            b_dg = metric(e, "verify_acc_degraded", cc);
        }
    }
    const char *a1[] = {"loss.type=l2softmax", "loss.alpha=1", NULL};
    const char *a16[] = {"loss.type=l2softmax", "loss.alpha=16", NULL};
    stat s1 = metric(e, "verify_acc", a1), s16 = metric(e, "verify_acc", a16);
    double g_cl = b_cl.mean - s_cl.mean, g_dg = b_dg.mean - s_dg.mean;
    snprintf(nums, size,
             "verification acc: softmax %s; best l2softmax with α ≥ α_low (%.2f): α = %s, %s; gain over "
             "softmax on clean pairs %+.4f, on degraded pairs %+.4f; α = 1: %s; α = 16: %s",
             fmt(a, 64, s, 4), alow, best_alpha, fmt(b, 64, best, 4), g_cl, g_dg, fmt(c, 64, s1, 4),
             fmt(d, 64, s16, 4));
    int beats = best.n && s.n && best.mean > s.mean, collapse = s1.n && s16.n && s1.mean < s16.mean;
    int hard = isfinite(g_cl) && isfinite(g_dg) && g_dg > g_cl;
    verdict = best.n && s.n ? (beats && collapse && hard ? "agrees" : beats || collapse || hard ? "partly" : "no")
                            : "—";
    return verdict;
}

/* agrees: s = 1 ends within 10 % above the bound, s = 16 beats s = 1 by ≥ 5 points of test
 * accuracy, and the learned s ends above its start (1) */
static const char *claim_scale(const exp_data *e, char *nums, size_t size)
{
    char a[64], b[64], c[64];
    const char *verdict = "—";
    const char *s1[] = {"loss.s=1", "loss.learn_s=false", NULL};
    const char *s16[] = {"loss.s=16", NULL};
    const char *sl[] = {"loss.learn_s=true", NULL};
    stat l1 = metric(e, "min_train_loss", s1), a1 = metric(e, "test_acc", s1), a16 = metric(e, "test_acc", s16),
         ls = metric(e, "learned_scale", sl);
    double bound = normface_loss_bound(10, 1.0);
    char e1[64];
    snprintf(nums, size,
             "s = 1: min train loss %s (bound %.3f), test acc %s; s = 16: test acc %s; learned s (from 1): %s",
             fmt(a, 64, l1, 3), bound, fmt(b, 64, a1, 4), fmt(c, 64, a16, 4), fmt(e1, 64, ls, 2));
    int stall = l1.n && l1.mean >= bound && l1.mean < 1.1 * bound;
    int trains = a1.n && a16.n && a16.mean >= a1.mean + 0.05, grows = ls.n && ls.mean > 1;
    int k_ok = stall + trains + grows;
    verdict = l1.n && a16.n ? (k_ok == 3 ? "agrees" : k_ok > 0 ? "partly" : "no") : "—";
    return verdict;
}

/* agrees: with bias, the smallest class-mean norm is under half that without bias */
static const char *claim_bias(const exp_data *e, char *nums, size_t size)
{
    char a[64], b[64];
    const char *verdict = "—";
    const char *on[] = {"loss.bias=true", NULL}, *off[] = {"loss.bias=false", NULL};
    stat r_on = min_class_norm(e, on), r_off = min_class_norm(e, off);
    snprintf(nums, size, "smallest class-mean norm / mean norm: with bias %s, without %s",
             fmt(a, 64, r_on, 3), fmt(b, 64, r_off, 3));
    verdict = r_on.n && r_off.n ? (r_on.mean < 0.5 * r_off.mean ? "agrees" : r_on.mean < r_off.mean ? "partly" : "no")
                                : "—";
    return verdict;
}

/* agrees: both agent losses within 2 points of normface, and every pair loss (contrastive,
 * triplet with batch-all and with batch-hard mining) below the better agent loss.
 * (Until the first full reproduction the rule looked at batch-hard triplet only; batch-all
 * triplet then beat both agent losses, and "plain triplet converges slower" has to hold
 * for both miners, so the rule now includes it.) */
static const char *claim_agents(const exp_data *e, char *nums, size_t size)
{
    char a[64], b[64], c[64], d[64];
    const char *verdict = "—";
    const char *nf[] = {"loss.type=normface", NULL}, *cc[] = {"loss.type=c_contrastive", NULL},
               *ct[] = {"loss.type=c_triplet", NULL}, *co[] = {"loss.type=contrastive", NULL},
               *ta[] = {"loss.type=triplet", "loss.mining=batch_all", NULL},
               *tr[] = {"loss.type=triplet", "loss.mining=batch_hard", NULL};
    stat s_nf = metric(e, "verify_acc", nf), s_cc = metric(e, "verify_acc", cc), s_ct = metric(e, "verify_acc", ct),
         s_co = metric(e, "verify_acc", co), s_ta = metric(e, "verify_acc", ta), s_tr = metric(e, "verify_acc", tr);
    char e1[64], e2[64];
    snprintf(nums, size,
             "verification acc: normface %s, c_contrastive %s, c_triplet %s, contrastive %s, triplet (all) %s, "
             "triplet (hard) %s",
             fmt(a, 64, s_nf, 4), fmt(b, 64, s_cc, 4), fmt(c, 64, s_ct, 4), fmt(d, 64, s_co, 4),
             fmt(e2, 64, s_ta, 4), fmt(e1, 64, s_tr, 4));
    if (s_nf.n && s_cc.n && s_ct.n && s_co.n && s_ta.n && s_tr.n) {
        int comparable = fabs(s_cc.mean - s_nf.mean) <= 0.02 && fabs(s_ct.mean - s_nf.mean) <= 0.02;
        double agents = fmax(s_cc.mean, s_ct.mean);
        int slower = s_co.mean < agents && s_ta.mean < agents && s_tr.mean < agents;
        verdict = comparable && slower ? "agrees" : comparable || slower ? "partly" : "no";
    }
    return verdict;
}

/* agrees: at 1,000 classes the best margin loss beats normface on verification, and at 10
 * classes the largest arcface m trains markedly worse than the smallest (train acc lower by
 * ≥ 10 points, or every finished run of it diverged; runs not yet run count for nothing) */
static const char *claim_margins(const exp_data *e, char *nums, size_t size)
{
    char a[64], b[64], c[64], d[64];
    const char *verdict = "—";
    const char *nf[] = {"data.identities=1000", "loss.type=normface", NULL};
    stat s_nf = metric(e, "verify_acc", nf), best = {NAN, NAN, 0};
    const char *types[] = {"cosface", "arcface", "sphereface"};
    const char *ms[] = {"0.1", "0.35", "0.5", "1.0", "1.4", "2", "4"};
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < 7; i++) {
            char ct[64], cm[64];
            snprintf(ct, sizeof ct, "loss.type=%s", types[t]);
            snprintf(cm, sizeof cm, "loss.m=%s", ms[i]);
            const char *cc[] = {"data.identities=1000", ct, cm, NULL};
            stat x = metric(e, "verify_acc", cc);
            if (x.n && (best.n == 0 || x.mean > best.mean))
                best = x;
        }
    const char *small[] = {"data.identities=10", "loss.type=arcface", "loss.m=0.1", NULL};
    const char *large[] = {"data.identities=10", "loss.type=arcface", "loss.m=1.4", NULL};
    stat t_small = metric(e, "train_acc", small), t_large = metric(e, "train_acc", large);
    snprintf(nums, size,
             "1,000 classes, verification acc: normface %s, best margin loss %s; 10 classes, arcface train acc: "
             "m = 0.1 %s, m = 1.4 %s",
             fmt(a, 64, s_nf, 4), fmt(b, 64, best, 4), fmt(c, 64, t_small, 3), fmt(d, 64, t_large, 3));
    if (s_nf.n && best.n && t_small.n) {
        int improves = best.mean > s_nf.mean;
        int fails = (t_large.n == 0 && runs_with_status(e, "diverged", large) > 0) ||
                    (t_large.n > 0 && t_large.mean <= t_small.mean - 0.10);
        verdict = improves && fails ? "agrees" : improves || fails ? "partly" : "no";
    }
    return verdict;
}

/* Writes one claim's numbers and verdict. */
static void claim_row(FILE *f, int k, const exp_data *e)
{
    static const char *(*const rules[6])(const exp_data *, char *, size_t) = {
        claim_norms, claim_l2softmax, claim_scale, claim_bias, claim_agents, claim_margins};
    char nums[768];
    const char *verdict = "—";
    nums[0] = '\0';
    if (!e->loaded || e->complete == 0)
        snprintf(nums, sizeof nums, "not run yet (%d of %d runs complete)", e->loaded ? e->complete : 0, e->x.n_runs);
    else
        verdict = rules[k](e, nums, sizeof nums);
    fprintf(f, "| %d | `%s` | %s | %s | %s |\n", k + 1, claims[k].file, nums, claims[k].statement, verdict);
}

/* Writes the table; *found ← the number of claims whose experiment has a summary.csv under
 * results. */
static int write_table(FILE *f, const char *results, int *found)
{
    *found = 0;
    fprintf(f, "| # | experiment | our numbers (mean ± sd over seeds) | paper's statement | verdict |\n");
    fprintf(f, "|---|---|---|---|---|\n");
    for (int k = 0; k < 6; k++) {
        exp_data e;
        if (load(&e, claims[k].file, results))
            return -1;
        claim_row(f, k, &e);
        *found += e.loaded;
        unload(&e);
    }
    char nums7[4096];
    const char *v7 = claim_norm_quality(results, nums7, sizeof nums7);
    *found += strncmp(nums7, "not run yet (0 ", 15) != 0;
    fprintf(f, "| 7 | `%s` (+ `_fmnist`) | %s | %s | %s |\n", CLAIM_NORM_QUALITY_FILE, nums7,
            "The feature norm carries image quality (larger for better images) for softmax, MagFace and AdaFace "
            "(L2-softmax §1, MagFace, AdaFace); maybe not for normalised losses.", v7);
    fprintf(f, "\nGenerated by `normbench claims --results %s` from the run folders; the verdict rules are "
               "written next to each claim in runners/cmd_claims.c.\n",
            results);
    return 0;
}

int cmd_claims(int argc, char **argv)
{
    const char *results = "results", *readme = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--results") && v) {
            results = v;
            i++;
        } else if (!strcmp(argv[i], "--readme") && v) {
            readme = v;
            i++;
        } else {
            int help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
            fprintf(help ? stdout : stderr, "usage: normbench claims [--results DIR] [--readme README.md]\n");
            return help ? 0 : 2;
        }
    }
    int found;
    if (check_results_root("--results", results))
        return 2;
    if (!readme)
        return write_table(stdout, results, &found) ? 1 : 0;
    /* Replace the block between the markers. */
    nb_error rerr = {0};
    FILE *in = fsutil_open_read(readme, "README", 1 << 24, 0, &rerr);
    if (!in) {
        nb_error_print(&rerr, stderr);
        return 1;
    }
    char *text = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&text, &n);
    char buf[8192];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, k, m);
    fclose(in);
    fclose(m);
    const char *begin = "<!-- claims:begin -->", *end = "<!-- claims:end -->";
    char *b = strstr(text, begin), *e = b ? strstr(b, end) : NULL;
    if (!b || !e) {
        fprintf(stderr, "normbench: %s: markers %s and %s not found\n", readme, begin, end);
        free(text);
        return 1;
    }
    nb_error err = {0};
    atomic_file a;
    if (atomic_open(&a, readme, &err)) {
        nb_error_print(&err, stderr);
        free(text);
        return 1;
    }
    fwrite(text, 1, (size_t)(b - text) + strlen(begin), a.f);
    fputc('\n', a.f);
    int rc = write_table(a.f, results, &found);
    fputs(e, a.f);
    free(text);
    if (rc) {
        atomic_abort(&a);
        return 1;
    }
    if (found == 0) { /* a wrong --results would turn every row into "not run yet" */
        atomic_abort(&a);
        fprintf(stderr, "normbench: claims: no claim's results found under %s (no <experiment>/summary.csv of any "
                        "claim there); %s left unchanged\n", results, readme);
        return 1;
    }
    if (atomic_commit(&a, &err)) {
        nb_error_print(&err, stderr);
        return 1;
    }
    printf("%s: reproduction table updated\n", readme);
    return 0;
}
