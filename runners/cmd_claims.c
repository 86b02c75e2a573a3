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
#include "eval/stats.h"
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

/* How many runs matching conds (key=value) have the given status. */
static int runs_with_status(const exp_data *e, const char *status, const char *const *conds)
{
    int n = 0;
    for (int r = 0; r < e->t.nrows; r++)
        n += !strcmp(cell(&e->t, r, "status"), status) && conds_match(&e->t, r, conds);
    return n;
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
    if (results_read_check(results, e->x.name, &err)) /* judged as not run, and said why */
        nb_error_print(&err, stderr);
    else if (csvread_load(&e->t, path, &err) == 0) {
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
    char path[1400], rel[400];
    snprintf(path, sizeof path, "%s/%s/%s/%s", e->results, e->x.name, e->t.rows[r][0], name);
    snprintf(rel, sizeof rel, "%s/%.200s", e->x.name, e->t.rows[r][0]);
    nb_error err;
    if (results_read_check(e->results, rel, &err)) {
        nb_error_print(&err, stderr);
        return -1;
    }
    return csvread_load(t, path, &err);
}

/* ---------------------------------------------------------------- per-seed values
 * Every verdict below compares per-seed values with the 95 % t intervals of lib/eval/stats.h
 * (docs/claims.md §6): differences between two conditions are paired by seed. */

enum { MAX_SEEDS = 256 };

/* Values of one quantity over runs, with each run's seed. */
typedef struct {
    int n;
    double v[MAX_SEEDS];
    int seed[MAX_SEEDS];
} series;

/* The seed of summary row r (its row index when the column is missing). */
static int seed_of(const exp_data *e, int r)
{
    int c = csvread_col(&e->t, "seed");
    double x;
    nb_error ignore;
    return c >= 0 && csvread_number(&e->t, r, c, &x, &ignore) == 0 ? (int)x : r;
}

/* A summary metric over the complete runs matching conds. */
static series values(const exp_data *e, const char *name, const char *const *conds)
{
    series s = {0};
    int c = csvread_col(&e->t, name);
    for (int r = 0; c >= 0 && r < e->t.nrows && s.n < MAX_SEEDS; r++) {
        double x;
        nb_error ignore;
        if (row_matches(&e->t, r, conds) && csvread_number(&e->t, r, c, &x, &ignore) == 0 && !isnan(x)) {
            s.v[s.n] = x;
            s.seed[s.n++] = seed_of(e, r);
        }
    }
    return s;
}

/* a[seed] − b[seed] (op '-') or a[seed] / b[seed] (op '/') for the seeds both have. */
static series combine(const series *a, const series *b, char op)
{
    series d = {0};
    for (int i = 0; i < a->n; i++)
        for (int j = 0; j < b->n; j++)
            if (a->seed[i] == b->seed[j]) {
                d.v[d.n] = op == '/' ? a->v[i] / b->v[j] : a->v[i] - b->v[j];
                d.seed[d.n++] = a->seed[i];
                break;
            }
    return d;
}

static stats_ci ci_of(const series *s)
{
    return stats_mean_ci(s->v, s->n);
}

static double mean_of(const series *s)
{
    return ci_of(s).mean;
}

/* x with the given digits, "n/a" for NAN (a condition without complete runs). */
static const char *show(char buf[32], double x, int digits)
{
    if (isnan(x))
        snprintf(buf, 32, "n/a");
    else
        snprintf(buf, 32, "%.*f", digits, x);
    return buf;
}
#define SHOW(x, digits) show((char[32]){0}, (x), (digits))

/* ---------------------------------------------------------------- parts of a claim */

/* One tested statement of a claim: the interval ci must lie above ref (PART_ABOVE), below ref
 * (PART_BELOW) or inside [−ref, ref] (PART_WITHIN, an equivalence test). forced ≠ 0 decides the
 * part without an interval (claim 6: every run diverged). */
typedef enum { PART_ABOVE, PART_BELOW, PART_WITHIN } part_kind;

typedef struct {
    const char *what;
    stats_ci ci;
    part_kind kind;
    double ref;
    int forced;
    int digits;
} part;

/* 1 agrees, −1 disagrees, 0 undecided at this number of seeds. */
static int part_outcome(const part *p)
{
    if (p->forced)
        return p->forced;
    const stats_ci *c = &p->ci;
    if (isnan(c->lo) || isnan(c->hi))
        return 0;
    if (p->kind == PART_WITHIN)
        return c->lo >= -p->ref && c->hi <= p->ref ? 1 : c->lo > p->ref || c->hi < -p->ref ? -1 : 0;
    stats_side s = stats_ci_side(*c, p->ref);
    int above = s == STATS_ABOVE ? 1 : s == STATS_BELOW ? -1 : 0;
    return p->kind == PART_ABOVE ? above : -above;
}

/* Seeds that would decide an undecided part, from its measured effect and sd (−1: more than
 * 1,000, or unknown). */
static int part_seeds(const part *p)
{
    double effect = p->kind == PART_WITHIN ? p->ref - fabs(p->ci.mean) : p->ci.mean - p->ref;
    return stats_seeds_needed(effect, p->ci.sd);
}

/* Appends the parts to nums and returns the verdict: "—" when a part has no data, agrees /
 * disagrees when every part does, "inconclusive at this size" when a part is undecided, and
 * "partly" when every part is decided but not the same way. *seeds ← the seeds that would decide
 * the undecided parts (0: none undecided; −1: more than 1,000 or unknown). */
static const char *judge(const part *p, int np, char *nums, size_t size, int *seeds)
{
    static const char *const rel[3] = {">", "<", "within ±"};
    size_t len = strlen(nums);
    int agree = 0, disagree = 0, missing = 0;
    *seeds = 0;
    for (int i = 0; i < np; i++) {
        int o = part_outcome(&p[i]), d = p[i].digits;
        missing += !p[i].forced && p[i].ci.n == 0;
        agree += o > 0;
        disagree += o < 0;
        if (o == 0 && *seeds >= 0) {
            int k = part_seeds(&p[i]);
            *seeds = k < 0 ? -1 : k > *seeds ? k : *seeds;
        }
        if (len >= size)
            continue;
        if (p[i].forced)
            len += snprintf(nums + len, size - len, "%s%s: every run diverged: %s", len ? "; " : "", p[i].what,
                            o > 0 ? "agrees" : "disagrees");
        else if (p[i].ci.n == 0)
            len += snprintf(nums + len, size - len, "%s%s: n/a", len ? "; " : "", p[i].what);
        else
            len += snprintf(nums + len, size - len, "%s%s %+.*f [%+.*f, %+.*f] (n %d; %s %g): %s", len ? "; " : "",
                            p[i].what, d, p[i].ci.mean, d, p[i].ci.lo, d, p[i].ci.hi, p[i].ci.n, rel[p[i].kind],
                            p[i].ref, o > 0 ? "agrees" : o < 0 ? "disagrees" : "undecided");
    }
    if (len >= size && size > 4)
        memcpy(nums + size - 4, "...", 4);
    if (missing)
        return "—";
    return agree == np ? "agrees" : disagree == np ? "disagrees" : agree + disagree < np ? "inconclusive at this size"
                                                                                          : "partly";
}

/* ---------------------------------------------------------------- per-run numbers from run folders */

/* Claim 1 number: norm at the hardest quality level / norm of clean samples, per run. */
static series norm_ratio(const exp_data *e)
{
    series s = {0};
    for (int r = 0; r < e->t.nrows && s.n < MAX_SEEDS; r++) {
        csvread_table t;
        if (!row_matches(&e->t, r, NULL) || run_csv(&t, e, r, "norms.csv"))
            continue;
        int cm = csvread_col(&t, "norm_mean");
        double clean, hard;
        nb_error ignore;
        if (cm >= 0 && t.nrows >= 2 && csvread_number(&t, 0, cm, &clean, &ignore) == 0 &&
            csvread_number(&t, t.nrows - 1, cm, &hard, &ignore) == 0 && clean > 0) {
            s.v[s.n] = hard / clean;
            s.seed[s.n++] = seed_of(e, r);
        }
        csvread_free(&t);
    }
    return s;
}

/* Claim 4 number: the smallest class-mean feature norm / the mean feature norm, per run. */
static series min_class_norm(const exp_data *e, const char *const *conds)
{
    series s = {0};
    for (int r = 0; r < e->t.nrows && s.n < MAX_SEEDS; r++) {
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
        if (t.nrows && isfinite(lo)) {
            s.v[s.n] = lo / (all / t.nrows);
            s.seed[s.n++] = seed_of(e, r);
        }
        csvread_free(&t);
    }
    return s;
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

/* ---------------------------------------------------------------- the rules (docs/claims.md §6)
 * Each rule lists its parts; judge() turns them into the verdict. The thresholds are the claims'
 * own (the old rules' margins); what changed is that each is now tested by a 95 % interval over
 * seeds instead of a difference of means. */

/* Claim 1: norm(hardest quality) / norm(clean) per run, interval below 1. */
static const char *claim_norms(const exp_data *e, char *nums, size_t size, int *seeds)
{
    series r = norm_ratio(e);
    part p[] = {{"norm(hardest quality) / norm(clean)", ci_of(&r), PART_BELOW, 1, 0, 3}};
    return judge(p, 1, nums, size, seeds);
}

/* Claim 2, paired by seed: the best l2softmax with α ≥ α_low (16, 32, auto; the best by mean
 * verification accuracy) minus softmax above 0; its gain on degraded pairs minus its gain on clean
 * pairs above 0; α = 16 minus α = 1 above 0 (the collapse below α_low). */
static const char *claim_l2softmax(const exp_data *e, char *nums, size_t size, int *seeds)
{
    const char *sm[] = {"loss.type=softmax", NULL};
    series s = values(e, "verify_acc", sm), s_cl = values(e, "verify_acc_clean", sm),
           s_dg = values(e, "verify_acc_degraded", sm);
    double alow = l2softmax_alpha_low(1000, 0.9);
    const char *alphas[] = {"16", "32", "auto"}, *best_alpha = "?";
    series best = {0}, b_cl = {0}, b_dg = {0};
    for (int i = 0; i < 3; i++) {
        char cond[64];
        snprintf(cond, sizeof cond, "loss.alpha=%s", alphas[i]);
        const char *cc[] = {"loss.type=l2softmax", cond, NULL};
        series x = values(e, "verify_acc", cc);
        if (x.n && (best.n == 0 || mean_of(&x) > mean_of(&best))) {
            best = x;
            best_alpha = alphas[i];
            b_cl = values(e, "verify_acc_clean", cc);
            b_dg = values(e, "verify_acc_degraded", cc);
        }
    }
    const char *a1[] = {"loss.type=l2softmax", "loss.alpha=1", NULL};
    const char *a16[] = {"loss.type=l2softmax", "loss.alpha=16", NULL};
    series s1 = values(e, "verify_acc", a1), s16 = values(e, "verify_acc", a16);
    series gain = combine(&best, &s, '-'), g_cl = combine(&b_cl, &s_cl, '-'), g_dg = combine(&b_dg, &s_dg, '-');
    series more = combine(&g_dg, &g_cl, '-'), collapse = combine(&s16, &s1, '-');
    snprintf(nums, size, "verification acc, softmax %.4f, best l2softmax with α ≥ α_low (%.2f): α = %s, %.4f",
             mean_of(&s), alow, best_alpha, mean_of(&best));
    char w1[64];
    snprintf(w1, sizeof w1, "α = %s − softmax", best_alpha);
    part p[] = {{w1, ci_of(&gain), PART_ABOVE, 0, 0, 4},
                {"gain on degraded − gain on clean pairs", ci_of(&more), PART_ABOVE, 0, 0, 4},
                {"α = 16 − α = 1", ci_of(&collapse), PART_ABOVE, 0, 0, 4}};
    return judge(p, 3, nums, size, seeds);
}

/* Claim 3: s = 1 ends within 10 % above the loss bound ((min train loss − bound) / bound below
 * 0.1); s = 16 minus s = 1 test accuracy above 0.05, paired by seed; the learned s (from 1) above 1. */
static const char *claim_scale(const exp_data *e, char *nums, size_t size, int *seeds)
{
    const char *s1[] = {"loss.s=1", "loss.learn_s=false", NULL};
    const char *s16[] = {"loss.s=16", NULL};
    const char *sl[] = {"loss.learn_s=true", NULL};
    series l1 = values(e, "min_train_loss", s1), a1 = values(e, "test_acc", s1), a16 = values(e, "test_acc", s16),
           ls = values(e, "learned_scale", sl);
    double bound = normface_loss_bound(10, 1.0);
    series above = l1;
    for (int i = 0; i < above.n; i++)
        above.v[i] = (above.v[i] - bound) / bound;
    series trains = combine(&a16, &a1, '-');
    snprintf(nums, size, "s = 1: min train loss %.3f (bound %.3f)", mean_of(&l1), bound);
    part p[] = {{"(s = 1 min train loss − bound) / bound", ci_of(&above), PART_BELOW, 0.1, 0, 3},
                {"test acc s = 16 − s = 1", ci_of(&trains), PART_ABOVE, 0.05, 0, 4},
                {"learned s (from 1)", ci_of(&ls), PART_ABOVE, 1, 0, 2}};
    return judge(p, 3, nums, size, seeds);
}

/* Claim 4: per seed, (smallest class-mean norm / mean norm) with bias divided by the same without
 * bias, below 0.5. */
static const char *claim_bias(const exp_data *e, char *nums, size_t size, int *seeds)
{
    const char *on[] = {"loss.bias=true", NULL}, *off[] = {"loss.bias=false", NULL};
    series r_on = min_class_norm(e, on), r_off = min_class_norm(e, off), q = combine(&r_on, &r_off, '/');
    snprintf(nums, size, "smallest class-mean norm / mean norm: with bias %s, without %s", SHOW(mean_of(&r_on), 3),
             SHOW(mean_of(&r_off), 3));
    part p[] = {{"with bias / without", ci_of(&q), PART_BELOW, 0.5, 0, 3}};
    return judge(p, 1, nums, size, seeds);
}

/* Claim 5, paired by seed: c_contrastive − normface and c_triplet − normface within ±0.02
 * (comparable: an equivalence test); the better agent loss (by mean) minus each pair loss
 * (contrastive, triplet with batch-all and with batch-hard mining) above 0. (Until the first full
 * reproduction the rule looked at batch-hard triplet only; batch-all triplet then beat both agent
 * losses, and "plain triplet converges slower" has to hold for both miners.) */
static const char *claim_agents(const exp_data *e, char *nums, size_t size, int *seeds)
{
    const char *nf[] = {"loss.type=normface", NULL}, *cc[] = {"loss.type=c_contrastive", NULL},
               *ct[] = {"loss.type=c_triplet", NULL}, *co[] = {"loss.type=contrastive", NULL},
               *ta[] = {"loss.type=triplet", "loss.mining=batch_all", NULL},
               *tr[] = {"loss.type=triplet", "loss.mining=batch_hard", NULL};
    series s_nf = values(e, "verify_acc", nf), s_cc = values(e, "verify_acc", cc), s_ct = values(e, "verify_acc", ct),
           s_co = values(e, "verify_acc", co), s_ta = values(e, "verify_acc", ta), s_tr = values(e, "verify_acc", tr);
    int cc_best = s_cc.n && (!s_ct.n || mean_of(&s_cc) >= mean_of(&s_ct));
    const series *agent = cc_best ? &s_cc : &s_ct;
    series d_cc = combine(&s_cc, &s_nf, '-'), d_ct = combine(&s_ct, &s_nf, '-'), d_co = combine(agent, &s_co, '-'),
           d_ta = combine(agent, &s_ta, '-'), d_tr = combine(agent, &s_tr, '-');
    snprintf(nums, size,
             "verification acc: normface %.4f, c_contrastive %.4f, c_triplet %.4f, contrastive %.4f, triplet (all) "
             "%.4f, triplet (hard) %.4f",
             mean_of(&s_nf), mean_of(&s_cc), mean_of(&s_ct), mean_of(&s_co), mean_of(&s_ta), mean_of(&s_tr));
    const char *ag = cc_best ? "c_contrastive" : "c_triplet";
    char w3[64], w4[64], w5[64];
    snprintf(w3, sizeof w3, "%s − contrastive", ag);
    snprintf(w4, sizeof w4, "%s − triplet (all)", ag);
    snprintf(w5, sizeof w5, "%s − triplet (hard)", ag);
    part p[] = {{"c_contrastive − normface", ci_of(&d_cc), PART_WITHIN, 0.02, 0, 4},
                {"c_triplet − normface", ci_of(&d_ct), PART_WITHIN, 0.02, 0, 4},
                {w3, ci_of(&d_co), PART_ABOVE, 0, 0, 4},
                {w4, ci_of(&d_ta), PART_ABOVE, 0, 0, 4},
                {w5, ci_of(&d_tr), PART_ABOVE, 0, 0, 4}};
    return judge(p, 5, nums, size, seeds);
}

/* Claim 6, paired by seed: at 1,000 classes the best margin loss (by mean) minus normface above 0;
 * at 10 classes arcface m = 0.1 minus m = 1.4 train accuracy above 0.10 (markedly worse), or every
 * finished m = 1.4 run diverged (runs not yet run count for nothing). */
static const char *claim_margins(const exp_data *e, char *nums, size_t size, int *seeds)
{
    const char *nf[] = {"data.identities=1000", "loss.type=normface", NULL};
    series s_nf = values(e, "verify_acc", nf), best = {0};
    const char *types[] = {"cosface", "arcface", "sphereface"}, *best_name = "?";
    const char *ms[] = {"0.1", "0.35", "0.5", "1.0", "1.4", "2", "4"};
    static char name[64];
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < 7; i++) {
            char ct[64], cm[64];
            snprintf(ct, sizeof ct, "loss.type=%s", types[t]);
            snprintf(cm, sizeof cm, "loss.m=%s", ms[i]);
            const char *cc[] = {"data.identities=1000", ct, cm, NULL};
            series x = values(e, "verify_acc", cc);
            if (x.n && (best.n == 0 || mean_of(&x) > mean_of(&best))) {
                best = x;
                snprintf(name, sizeof name, "%s m = %s", types[t], ms[i]);
                best_name = name;
            }
        }
    const char *small[] = {"data.identities=10", "loss.type=arcface", "loss.m=0.1", NULL};
    const char *large[] = {"data.identities=10", "loss.type=arcface", "loss.m=1.4", NULL};
    series t_small = values(e, "train_acc", small), t_large = values(e, "train_acc", large);
    series gain = combine(&best, &s_nf, '-'), fails = combine(&t_small, &t_large, '-');
    int diverged = t_large.n == 0 && runs_with_status(e, "diverged", large) > 0;
    snprintf(nums, size, "1,000 classes: normface %s, best margin loss %s %s; 10 classes, arcface train acc m = 0.1 "
                         "%s, m = 1.4 %s",
             SHOW(mean_of(&s_nf), 4), best_name, SHOW(mean_of(&best), 4), SHOW(mean_of(&t_small), 3),
             SHOW(mean_of(&t_large), 3));
    part p[] = {{"verification acc best margin − normface", ci_of(&gain), PART_ABOVE, 0, 0, 4},
                {"10 classes train acc m = 0.1 − m = 1.4", ci_of(&fails), PART_ABOVE, 0.10, diverged, 3}};
    if (t_small.n == 0)
        p[1].forced = 0;
    return judge(p, 2, nums, size, seeds);
}

/* Writes one claim's numbers, the seeds that would decide it and its verdict. */
static void claim_row(FILE *f, int k, const exp_data *e)
{
    static const char *(*const rules[6])(const exp_data *, char *, size_t, int *) = {
        claim_norms, claim_l2softmax, claim_scale, claim_bias, claim_agents, claim_margins};
    char nums[2048], need[32] = "—";
    const char *verdict = "—";
    nums[0] = '\0';
    if (!e->loaded || e->complete == 0)
        snprintf(nums, sizeof nums, "not run yet (%d of %d runs complete)", e->loaded ? e->complete : 0, e->x.n_runs);
    else {
        int seeds;
        verdict = rules[k](e, nums, sizeof nums, &seeds);
        if (!strcmp(verdict, "inconclusive at this size"))
            snprintf(need, sizeof need, seeds > 0 ? "%d" : "> 1,000 or unknown", seeds);
    }
    fprintf(f, "| %d | `%s` | %s | %s | %s | %s |\n", k + 1, claims[k].file, nums, claims[k].statement, need, verdict);
}

/* Writes the table; *found ← the number of claims whose experiment has a summary.csv under
 * results. */
static int write_table(FILE *f, const char *results, int *found)
{
    *found = 0;
    fprintf(f, "| # | experiment | our numbers: each tested difference, its 95 %% interval over seeds (n), the "
               "value it is tested against | paper's statement | seeds that would decide it | verdict |\n");
    fprintf(f, "|---|---|---|---|---|---|\n");
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
    fprintf(f, "| 7 | `%s` (+ `_fmnist`) | %s | %s | %s | %s |\n", CLAIM_NORM_QUALITY_FILE, nums7,
            "The feature norm carries image quality (larger for better images) for softmax, MagFace and AdaFace "
            "(L2-softmax §1, MagFace, AdaFace); maybe not for normalised losses.",
            strncmp(v7, "inconclusive", 12) ? "—" : "not estimated for claim 7", v7);
    fprintf(f, "\nGenerated by `normbench claims --results %s` from the run folders; the verdict rules are "
               "written next to each claim in runners/cmd_claims.c and in docs/claims.md §6: a part agrees or "
               "disagrees only where its 95 %% t interval over seeds excludes the value it is tested against.\n",
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
