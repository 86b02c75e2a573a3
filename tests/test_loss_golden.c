/* test_loss_golden.c — every loss against golden values from an independent implementation.
 *
 * docs/losses.md §1, "Every loss is verified three ways", item 3. tools/golden_losses.py implements each loss
 * of docs/losses.md §1 in PyTorch (float64, autograd) and writes tests/fixtures/golden_losses.txt: for each
 * case the options, inputs (features, labels, W, bias, s/α, centres), the batch-mean loss, the
 * per-sample losses and the gradients w.r.t. features, W, b and a learned s/α. This program (linked
 * against the double build, `real` = double) replays every case through loss_init → paramset_alloc
 * → loss_bind → loss_forward_backward(iter 0) and compares each value to within a relative error of
 * 1e-5 (absolute 1e-9 for values near zero). One cmocka test per case, named after it; a missing
 * or malformed fixture is a failing test, never a skip. Run from the repository root. Regenerate
 * the fixtures with
 *     /usr/bin/python3 tools/golden_losses.py > tests/fixtures/golden_losses.txt
 *     /usr/bin/python3 tools/golden_losses_binary.py > tests/fixtures/golden_losses_binary.txt
 * (the second: sphereface2, uniface, circle, proxy_anchor, in the same format). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/real.h"
#include "core/rng.h"
#include "loss/loss.h"
#include "nn/paramset.h"

/* the fixtures, each with its generator: golden_losses.txt from tools/golden_losses.py, and
 * golden_losses_binary.txt (sphereface2, uniface, circle, proxy_anchor) from
 * tools/golden_losses_binary.py, whose cases add the records bin_b0 (b's expected initial value),
 * bin_b (b) and dbin_b (∂L/∂b) and the options lambda, r, t, lw, variant, gamma, delta */
static const char *const fixtures[] = {"tests/fixtures/golden_losses.txt", "tests/fixtures/golden_losses_binary.txt"};
static const char *cur_fixture = "";
#define REL_TOL 1e-5
#define ABS_TOL 1e-9
#define MAX_OPTS 24

typedef struct {
    char key[32], val[32];
} gold_opt;

typedef struct {
    char name[64];
    int line; /* line of "case" in the fixture */
    loss_type type;
    int has_type;
    gold_opt opts[MAX_OPTS];
    int n_opts;
    int N, d, C; /* 0 until "dims" */
    double *feat, *W, *b, *centers;
    int *labels;
    double scale, lambda, loss, dscale, bin_b0, bin_b, dbin_b;
    int has_scale, has_lambda, has_loss, has_dscale, has_bin_b0, has_bin_b, has_dbin_b;
    double *per_sample, *dfeat, *dW, *db;
} gold_case;

static const struct {
    const char *name;
    loss_type type;
} type_names[] = {
    {"softmax", LOSS_SOFTMAX},         {"l2softmax", LOSS_L2SOFTMAX},     {"normface", LOSS_NORMFACE},
    {"sphereface", LOSS_SPHEREFACE},   {"cosface", LOSS_COSFACE},         {"arcface", LOSS_ARCFACE},
    {"combined", LOSS_COMBINED},       {"c_contrastive", LOSS_C_CONTRASTIVE}, {"c_triplet", LOSS_C_TRIPLET},
    {"contrastive", LOSS_CONTRASTIVE}, {"triplet", LOSS_TRIPLET},
};

/* Options a case may set, as fields of loss_config; "mining" is handled apart. */
static const struct {
    const char *key;
    size_t off;
    int is_int;
} opt_fields[] = {
    {"bias", offsetof(loss_config, bias), 1},
    {"alpha", offsetof(loss_config, alpha), 0},
    {"alpha_auto", offsetof(loss_config, alpha_auto), 1},
    {"alpha_p", offsetof(loss_config, alpha_p), 0},
    {"learn_alpha", offsetof(loss_config, learn_alpha), 1},
    {"s", offsetof(loss_config, s), 0},
    {"learn_s", offsetof(loss_config, learn_s), 1},
    {"scale_lr_mult", offsetof(loss_config, scale_lr_mult), 0},
    {"scale_min", offsetof(loss_config, scale_min), 0},
    {"m", offsetof(loss_config, m), 0},
    {"m1", offsetof(loss_config, m1), 0},
    {"m2", offsetof(loss_config, m2), 0},
    {"m3", offsetof(loss_config, m3), 0},
    {"easy_margin", offsetof(loss_config, easy_margin), 1},
    {"detach_margin", offsetof(loss_config, detach_margin), 1},
    {"lambda_base", offsetof(loss_config, lambda_base), 0},
    {"lambda_gamma", offsetof(loss_config, lambda_gamma), 0},
    {"lambda_power", offsetof(loss_config, lambda_power), 0},
    {"lambda_min", offsetof(loss_config, lambda_min), 0},
    {"m_pos", offsetof(loss_config, m_pos), 0},
    {"m_neg", offsetof(loss_config, m_neg), 0},
    {"pull_positive", offsetof(loss_config, pull_positive), 1},
    {"center_weight", offsetof(loss_config, center_weight), 0},
    {"center_rate", offsetof(loss_config, center_rate), 0},
    {"lambda", offsetof(loss_config, bin_lambda), 0},
    {"r", offsetof(loss_config, bin_r), 0},
    {"t", offsetof(loss_config, t), 0},
    {"lw", offsetof(loss_config, bin_lw), 0},
    {"gamma", offsetof(loss_config, gamma), 0},
    {"delta", offsetof(loss_config, delta), 0},
};

static gold_case *cases;
static int n_cases;
static char load_error[1024];

/* ---- fixture parsing ---- */

static int parse_double(const char *tok, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(tok, &end);
    return (end == tok || *end != '\0' || errno == ERANGE || !isfinite(*out)) ? -1 : 0;
}

static int parse_int(const char *tok, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(tok, &end, 10);
    if (end == tok || *end != '\0' || errno == ERANGE || v < -1000000 || v > 1000000)
        return -1;
    *out = (int)v;
    return 0;
}

#define LOAD_FAIL(...)                                                                                         \
    do {                                                                                                       \
        int k_ = snprintf(load_error, sizeof load_error, "%s:%d: ", cur_fixture, lineno);                         \
        snprintf(load_error + k_, sizeof load_error - (size_t)k_, __VA_ARGS__);                                \
        goto fail;                                                                                             \
    } while (0)

/* Reads exactly n numbers from the remaining tokens of the line into a new array. */
static double *read_doubles(char **save, int n, const char *what, int lineno, int *ok)
{
    double *v = calloc((size_t)(n > 0 ? n : 1), sizeof *v);
    int i = 0;
    char *tok;
    *ok = 0;
    if (!v)
        LOAD_FAIL("out of memory");
    while ((tok = strtok_r(NULL, " \t\r\n", save)) != NULL) {
        if (i == n)
            LOAD_FAIL("%s: more than the %d values expected", what, n);
        if (parse_double(tok, &v[i]) != 0)
            LOAD_FAIL("%s: value %d is not a finite number: '%s'", what, i, tok);
        i++;
    }
    if (i != n)
        LOAD_FAIL("%s: %d values, expected %d", what, i, n);
    *ok = 1;
    return v;
fail:
    free(v);
    return NULL;
}

static void free_case(gold_case *g)
{
    free(g->feat);
    free(g->W);
    free(g->b);
    free(g->centers);
    free(g->labels);
    free(g->per_sample);
    free(g->dfeat);
    free(g->dW);
    free(g->db);
}

static void free_cases(void)
{
    for (int i = 0; i < n_cases; i++)
        free_case(&cases[i]);
    free(cases);
    cases = NULL;
    n_cases = 0;
}

/* Checks a finished case block: the records every case needs are present. */
static int check_case(const gold_case *g, int lineno)
{
    if (!g->has_type)
        LOAD_FAIL("case %s: no type", g->name);
    if (!g->N || !g->feat || !g->labels || !g->has_loss || !g->dfeat)
        LOAD_FAIL("case %s: needs dims, feat, labels, loss and dfeat", g->name);
    if ((g->W != NULL) != (g->dW != NULL))
        LOAD_FAIL("case %s: W and dW must come together", g->name);
    if (g->db && !g->b)
        LOAD_FAIL("case %s: db without b", g->name);
    if (g->has_dscale && !g->has_scale)
        LOAD_FAIL("case %s: dscale without scale", g->name);
    for (int i = 0; i < g->N; i++)
        if (g->labels[i] < 0 || g->labels[i] >= g->C)
            LOAD_FAIL("case %s: label %d out of range [0, %d)", g->name, g->labels[i], g->C);
    return 0;
fail:
    return -1;
}

/* Loads the fixture into cases/n_cases. Returns 0, or −1 with load_error filled. */
static int load_fixture(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, declared = -1, seen_format = 0, seen_eof = 0, ok;
    const int base = n_cases; /* cases of the fixtures loaded before */
    cur_fixture = path;
    gold_case *g = NULL; /* the open block */
    if (!fp) {
        snprintf(load_error, sizeof load_error, "cannot open %s (run from the repository root; regenerate it with "
                 "its generator in tools/, named in its header): %s", path, strerror(errno));
        return -1;
    }
    while (getline(&line, &cap, fp) != -1) {
        char *save = NULL, *key, *tok;
        lineno++;
        key = strtok_r(line, " \t\r\n", &save);
        if (!key || key[0] == '#')
            continue;
        if (seen_eof)
            LOAD_FAIL("content after 'eof'");
        if (!seen_format) {
            tok = strtok_r(NULL, " \t\r\n", &save);
            if (strcmp(key, "format") != 0 || !tok || strcmp(tok, "normbench-golden-losses") != 0 ||
                !(tok = strtok_r(NULL, " \t\r\n", &save)) || strcmp(tok, "1") != 0)
                LOAD_FAIL("first record must be 'format normbench-golden-losses 1'");
            seen_format = 1;
            continue;
        }
        if (declared < 0) {
            tok = strtok_r(NULL, " \t\r\n", &save);
            if (strcmp(key, "cases") != 0 || !tok || parse_int(tok, &declared) != 0 || declared <= 0)
                LOAD_FAIL("second record must be 'cases <n>' with n > 0");
            gold_case *grown = realloc(cases, (size_t)(base + declared) * sizeof *cases);
            if (!grown)
                LOAD_FAIL("out of memory");
            cases = grown;
            memset(cases + base, 0, (size_t)declared * sizeof *cases);
            continue;
        }
        if (strcmp(key, "eof") == 0) {
            if (g)
                LOAD_FAIL("'eof' inside case %s", g->name);
            seen_eof = 1;
            continue;
        }
        if (strcmp(key, "case") == 0) {
            if (g)
                LOAD_FAIL("'case' inside case %s (missing 'end')", g->name);
            if (n_cases - base == declared)
                LOAD_FAIL("more than the %d cases declared", declared);
            tok = strtok_r(NULL, " \t\r\n", &save);
            if (!tok || strlen(tok) >= sizeof g->name)
                LOAD_FAIL("'case' needs a name shorter than %zu characters", sizeof g->name);
            for (int i = 0; i < n_cases; i++)
                if (strcmp(cases[i].name, tok) == 0)
                    LOAD_FAIL("duplicate case name %s", tok);
            g = &cases[n_cases++];
            snprintf(g->name, sizeof g->name, "%s", tok);
            g->line = lineno;
            continue;
        }
        if (!g)
            LOAD_FAIL("record '%s' outside a case block", key);
        if (strcmp(key, "end") == 0) {
            if (check_case(g, lineno) != 0)
                goto fail;
            g = NULL;
            continue;
        }
        if (strcmp(key, "type") == 0) {
            tok = strtok_r(NULL, " \t\r\n", &save);
            g->has_type = 0;
            for (size_t i = 0; tok && i < sizeof type_names / sizeof type_names[0]; i++)
                if (strcmp(tok, type_names[i].name) == 0) {
                    g->type = type_names[i].type;
                    g->has_type = 1;
                }
            if (tok && !g->has_type && loss_type_from_name(tok) >= 0) { /* the types added since */
                g->type = (loss_type)loss_type_from_name(tok);
                g->has_type = 1;
            }
            if (!g->has_type)
                LOAD_FAIL("case %s: unknown loss type '%s'", g->name, tok ? tok : "");
            continue;
        }
        if (strcmp(key, "opt") == 0) {
            char *k = strtok_r(NULL, " \t\r\n", &save), *v = strtok_r(NULL, " \t\r\n", &save);
            if (!k || !v || strtok_r(NULL, " \t\r\n", &save) || strlen(k) >= 32 || strlen(v) >= 32)
                LOAD_FAIL("case %s: 'opt' needs exactly a key and a value", g->name);
            if (g->n_opts == MAX_OPTS)
                LOAD_FAIL("case %s: more than %d options", g->name, MAX_OPTS);
            snprintf(g->opts[g->n_opts].key, 32, "%s", k);
            snprintf(g->opts[g->n_opts].val, 32, "%s", v);
            g->n_opts++;
            continue;
        }
        if (strcmp(key, "dims") == 0) {
            char *a = strtok_r(NULL, " \t\r\n", &save), *b = strtok_r(NULL, " \t\r\n", &save),
                 *c = strtok_r(NULL, " \t\r\n", &save);
            if (g->N || !a || !b || !c || strtok_r(NULL, " \t\r\n", &save) || parse_int(a, &g->N) ||
                parse_int(b, &g->d) || parse_int(c, &g->C) || g->N <= 0 || g->d <= 0 || g->C <= 0)
                LOAD_FAIL("case %s: 'dims <N> <d> <C>' once, all positive", g->name);
            continue;
        }
        if (!g->N)
            LOAD_FAIL("case %s: '%s' before 'dims'", g->name, key);
        if (strcmp(key, "labels") == 0) {
            int i = 0;
            if (g->labels)
                LOAD_FAIL("case %s: labels twice", g->name);
            g->labels = calloc((size_t)g->N, sizeof *g->labels);
            if (!g->labels)
                LOAD_FAIL("out of memory");
            while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
                if (i == g->N || parse_int(tok, &g->labels[i]) != 0)
                    LOAD_FAIL("case %s: labels: bad or extra value '%s'", g->name, tok);
                i++;
            }
            if (i != g->N)
                LOAD_FAIL("case %s: labels: %d values, expected %d", g->name, i, g->N);
            continue;
        }
        /* scalar records */
        {
            static const char *scalar_keys[] = {"scale", "lambda", "loss", "dscale", "bin_b0", "bin_b", "dbin_b"};
            double *dst[] = {&g->scale, &g->lambda, &g->loss, &g->dscale, &g->bin_b0, &g->bin_b, &g->dbin_b};
            int *has[] = {&g->has_scale,  &g->has_lambda, &g->has_loss, &g->has_dscale,
                          &g->has_bin_b0, &g->has_bin_b,  &g->has_dbin_b};
            int matched = 0;
            for (int i = 0; i < 7; i++) {
                if (strcmp(key, scalar_keys[i]) != 0)
                    continue;
                tok = strtok_r(NULL, " \t\r\n", &save);
                if (*has[i] || !tok || parse_double(tok, dst[i]) != 0 || strtok_r(NULL, " \t\r\n", &save))
                    LOAD_FAIL("case %s: '%s' needs one finite number, once", g->name, key);
                *has[i] = 1;
                matched = 1;
            }
            if (matched)
                continue;
        }
        /* array records */
        {
            static const char *array_keys[] = {"feat", "W", "b", "centers", "per_sample", "dfeat", "dW", "db"};
            double **dst[] = {&g->feat, &g->W, &g->b, &g->centers, &g->per_sample, &g->dfeat, &g->dW, &g->db};
            int len[] = {g->N * g->d, g->C * g->d, g->C, g->C * g->d, g->N, g->N * g->d, g->C * g->d, g->C};
            int matched = 0;
            for (int i = 0; i < 8; i++) {
                char what[96];
                if (strcmp(key, array_keys[i]) != 0)
                    continue;
                if (*dst[i])
                    LOAD_FAIL("case %s: '%s' twice", g->name, key);
                snprintf(what, sizeof what, "case %s: %s", g->name, key);
                *dst[i] = read_doubles(&save, len[i], what, lineno, &ok);
                if (!ok)
                    goto fail;
                matched = 1;
            }
            if (matched)
                continue;
        }
        LOAD_FAIL("case %s: unknown record '%s'", g->name, key);
    }
    if (!seen_format)
        LOAD_FAIL("empty fixture (no 'format' record)");
    if (g)
        LOAD_FAIL("case %s not closed by 'end' (truncated file?)", g->name);
    if (!seen_eof)
        LOAD_FAIL("no 'eof' record (truncated file?)");
    if (n_cases - base != declared)
        LOAD_FAIL("%d cases, but 'cases %d' declared", n_cases - base, declared);
    free(line);
    fclose(fp);
    return 0;
fail:
    free(line);
    fclose(fp);
    free_cases();
    return -1;
}

/* ---- running one case ---- */

static int apply_opt(loss_config *cfg, const gold_opt *o, char *msg, size_t msg_size)
{
    double v;
    if (strcmp(o->key, "mining") == 0) {
        if (strcmp(o->val, "batch_all") == 0)
            cfg->mining = MINING_BATCH_ALL;
        else if (strcmp(o->val, "batch_hard") == 0)
            cfg->mining = MINING_BATCH_HARD;
        else {
            snprintf(msg, msg_size, "opt mining: unknown value '%s'", o->val);
            return -1;
        }
        return 0;
    }
    if (strcmp(o->key, "variant") == 0) { /* sphereface2's margin form */
        static const char *const v[] = {"c", "a", "m"};
        for (int i = 0; i < 3; i++)
            if (strcmp(o->val, v[i]) == 0) {
                cfg->variant = (loss_variant)(VARIANT_C + i);
                return 0;
            }
        snprintf(msg, msg_size, "opt variant: unknown value '%s'", o->val);
        return -1;
    }
    for (size_t i = 0; i < sizeof opt_fields / sizeof opt_fields[0]; i++) {
        if (strcmp(o->key, opt_fields[i].key) != 0)
            continue;
        if (parse_double(o->val, &v) != 0) {
            snprintf(msg, msg_size, "opt %s: not a number: '%s'", o->key, o->val);
            return -1;
        }
        if (opt_fields[i].is_int)
            *(int *)((char *)cfg + opt_fields[i].off) = (int)v;
        else
            *(double *)((char *)cfg + opt_fields[i].off) = v;
        return 0;
    }
    snprintf(msg, msg_size, "unknown opt '%s'", o->key);
    return -1;
}

/* Relative error with the denominator floored at ABS_TOL/REL_TOL, so a value passes when its error is
 * ≤ REL_TOL relative or ≤ ABS_TOL absolute. */
static double rel_error(double got, double want)
{
    return fabs(got - want) / fmax(fmax(fabs(got), fabs(want)), ABS_TOL / REL_TOL);
}

/* Compares n values; prints every disagreement; returns the number of them. Tracks the worst
 * rel_error in *worst (NaN counts as infinite). */
static int compare(const char *name, const char *what, const real *got, const double *want, int n, double *worst)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        double g = (double)got[i], w = want[i];
        double rel = rel_error(g, w);
        if (!(rel <= *worst)) /* also catches NaN */
            *worst = isnan(rel) ? INFINITY : rel;
        if (!(rel <= REL_TOL)) {
            print_error("%s: %s[%d]: C %.17g, golden %.17g (rel err %.3g)\n", name, what, i, g, w, rel);
            bad++;
        }
    }
    return bad;
}

static void copy_in(real *dst, const double *src, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = (real)src[i];
}

static void run_case(void **state)
{
    const gold_case *g = *state;
    const int N = g->N, d = g->d, C = g->C;
    loss_config cfg;
    char msg[512];
    paramset ps;
    loss l;
    rng_t rng;
    int bad = 0;
    double worst = 0;

    loss_config_defaults(&cfg, g->type);
    for (int i = 0; i < g->n_opts; i++)
        if (apply_opt(&cfg, &g->opts[i], msg, sizeof msg) != 0)
            fail_msg("%s (fixture line %d): %s", g->name, g->line, msg);
    if (g->has_scale) {
        if (g->type == LOSS_L2SOFTMAX)
            cfg.alpha = g->scale;
        else
            cfg.s = g->scale;
    }
    msg[0] = '\0';
    if (loss_config_check(&cfg, C, msg, sizeof msg) != 0)
        fail_msg("%s: loss_config_check rejected the golden config: %s", g->name, msg);

    memset(&ps, 0, sizeof ps);
    memset(&l, 0, sizeof l);
    loss_init(&l, &cfg, d, C, N, &ps);
    paramset_alloc(&ps);
    rng_seed(&rng, 12345);
    loss_bind(&l, &ps, &rng);

    /* Overwrite the initialised parameters with the case's values. */
    if (g->W && !l.W)
        fail_msg("%s: the case has class weights W but the loss has none (l->W == NULL)", g->name);
    if (g->W)
        copy_in(l.W, g->W, C * d);
    if (g->b && !l.b)
        fail_msg("%s: the case has a bias but the loss has none (l->b == NULL)", g->name);
    if (g->b)
        copy_in(l.b, g->b, C);
    if (g->has_dscale && !(l.scale && l.dscale))
        fail_msg("%s: the case learns s/α but l->scale or l->dscale is NULL", g->name);
    if (g->has_scale && l.scale)
        l.scale[0] = (real)g->scale;
    if (g->centers && !l.centers)
        fail_msg("%s: the case has centres but l->centers is NULL (center_weight %g)", g->name, cfg.center_weight);
    if (g->centers)
        copy_in(l.centers, g->centers, C * d);
    if ((g->has_bin_b0 || g->has_bin_b || g->has_dbin_b) && !(l.bin_b && l.dbin_b))
        fail_msg("%s: the case has a scalar bias b but the loss has none (l->bin_b == NULL)", g->name);
    if (g->has_bin_b0) { /* the initial value loss_bind gave b */
        real b0 = l.bin_b[0];
        bad += compare(g->name, "bin_b0", &b0, &g->bin_b0, 1, &worst);
    }
    if (g->has_bin_b)
        l.bin_b[0] = (real)g->bin_b;

    real *feat = calloc((size_t)N * d, sizeof *feat);
    real *dfeat = calloc((size_t)N * d, sizeof *dfeat);
    real *per = calloc((size_t)N, sizeof *per);
    assert_non_null(feat);
    assert_non_null(dfeat);
    assert_non_null(per);
    copy_in(feat, g->feat, N * d);
    paramset_zero_grad(&ps);

    double L = loss_forward_backward(&l, dfeat, per, feat, g->labels, N, 0);

    {
        real Lr = (real)L;
        bad += compare(g->name, "loss", &Lr, &g->loss, 1, &worst);
    }
    if (g->has_lambda) {
        real lam = (real)l.lambda;
        bad += compare(g->name, "lambda", &lam, &g->lambda, 1, &worst);
    }
    if (g->per_sample)
        bad += compare(g->name, "per_sample", per, g->per_sample, N, &worst);
    bad += compare(g->name, "dfeat", dfeat, g->dfeat, N * d, &worst);
    if (g->dW)
        bad += compare(g->name, "dW", l.dW, g->dW, C * d, &worst);
    if (g->db) {
        if (l.db)
            bad += compare(g->name, "db", l.db, g->db, C, &worst);
        else {
            print_error("%s: db: the loss has no bias gradient (l->db == NULL)\n", g->name);
            bad++;
        }
    }
    if (g->has_dbin_b)
        bad += compare(g->name, "dbin_b", l.dbin_b, &g->dbin_b, 1, &worst);
    if (g->has_dscale) {
        real s = (real)loss_learned_scale(&l);
        bad += compare(g->name, "dscale", l.dscale, &g->dscale, 1, &worst);
        bad += compare(g->name, "loss_learned_scale", &s, &g->scale, 1, &worst);
    }

    free(feat);
    free(dfeat);
    free(per);
    loss_free(&l);
    paramset_free(&ps);
    if (bad)
        fail_msg("%s: %d value(s) disagree with the golden file (tolerance rel %g / abs %g)", g->name, bad,
                 REL_TOL, ABS_TOL);
    print_message("%s: all values agree, worst relative error %.3g\n", g->name, worst);
}

static void fixture_unreadable(void **state)
{
    (void)state;
    fail_msg("golden fixture: %s", load_error);
}

int main(void)
{
    int load_failed = 0;
    for (size_t f = 0; f < sizeof fixtures / sizeof fixtures[0] && !load_failed; f++)
        load_failed = load_fixture(fixtures[f]) != 0;
    if (load_failed) {
        const struct CMUnitTest t[] = {cmocka_unit_test(fixture_unreadable)};
        return cmocka_run_group_tests_name("loss_golden", t, NULL, NULL) ? 1 : 0;
    }
    struct CMUnitTest *tests = calloc((size_t)n_cases, sizeof *tests);
    if (!tests) {
        fprintf(stderr, "out of memory\n");
        return 2;
    }
    for (int i = 0; i < n_cases; i++) {
        tests[i].name = cases[i].name;
        tests[i].test_func = run_case;
        tests[i].initial_state = &cases[i];
    }
    int failed = _cmocka_run_group_tests("loss_golden", tests, (size_t)n_cases, NULL, NULL);
    free(tests);
    free_cases();
    return failed ? 1 : 0;
}
