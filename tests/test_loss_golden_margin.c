/* test_loss_golden_margin.c — the margin losses of docs/losses.md §1b against golden values from an
 * independent implementation.
 *
 * docs/losses.md, "Every loss is verified three ways", item 3. tools/golden_losses_margin.py writes
 * each loss in PyTorch (float64, autograd) from its authors' reference code and records, per case,
 * the options, inputs (features, labels, W with K rows per class, the state before the first step,
 * elasticface's margins), the number of steps on those inputs, and of the last step the batch loss,
 * per-sample losses, ∂L/∂f, ∂L/∂W and the state after it (tests/fixtures/golden_losses_margin.txt).
 * This program (double build) replays each case through loss_init → paramset_alloc → loss_bind →
 * loss_forward_backward and compares to a relative 1e-9 (absolute 1e-12 near zero). One cmocka test
 * per case; a missing or malformed fixture is a failing test, never a skip. Run from the
 * repository root. Regenerate with
 *     /usr/bin/python3 tools/golden_losses_margin.py > tests/fixtures/golden_losses_margin.txt */
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
#include "loss/margin.h"
#include "nn/paramset.h"

#define FIXTURE "tests/fixtures/golden_losses_margin.txt"
#define REL_TOL 1e-9
#define ABS_TOL 1e-12
#define MAX_OPTS 16
#define MAX_STATE 2

typedef struct {
    char name[64];
    int line;
    int type;
    char okey[MAX_OPTS][32], oval[MAX_OPTS][32];
    int n_opts;
    int N, d, C, K, steps;
    double *feat, *W, *margins, *per, *dfeat, *dW;
    int *labels;
    double loss, state[MAX_STATE], after[MAX_STATE];
    int has_state[MAX_STATE], has_after[MAX_STATE], has_loss;
} gcase;

static gcase *cases;
static int n_cases;
static char load_error[512];

static int fail_at(int line, const char *what)
{
    snprintf(load_error, sizeof load_error, "%s:%d: %s", FIXTURE, line, what);
    return -1;
}

/* n numbers from the rest of the line into a new array; -1 on a count mismatch or a bad number. */
static int read_vec(char **save, int n, double **out)
{
    if (n <= 0)
        return -1;
    double *v = calloc((size_t)n, sizeof *v);
    int i = 0;
    char *tok, *end;
    while ((tok = strtok_r(NULL, " \t\r\n", save)) != NULL) {
        if (i == n) {
            free(v);
            return -1;
        }
        errno = 0;
        v[i++] = strtod(tok, &end);
        if (end == tok || *end || errno || !isfinite(v[i - 1])) {
            free(v);
            return -1;
        }
    }
    if (i != n) {
        free(v);
        return -1;
    }
    free(*out);
    *out = v;
    return 0;
}

static int read_int(char **save, int *out)
{
    char *tok = strtok_r(NULL, " \t\r\n", save), *end;
    if (!tok)
        return -1;
    errno = 0;
    const long v = strtol(tok, &end, 10);
    if (end == tok || *end || errno || v < -1000000 || v > 1000000)
        return -1;
    *out = (int)v;
    return 0;
}

/* One record of a case block. Returns 1 at "end", 0 otherwise, −1 on an error. */
static int parse_record(gcase *g, const char *key, char **save, int line)
{
    const int R = g->C * g->K;
    double *tmp = NULL;
    int k;
    if (!strcmp(key, "end"))
        return 1;
    if (!strcmp(key, "type")) {
        const char *t = strtok_r(NULL, " \t\r\n", save);
        if (!t || (g->type = loss_type_from_name(t)) < 0)
            return fail_at(line, "type: unknown loss type");
    } else if (!strcmp(key, "opt")) {
        const char *a = strtok_r(NULL, " \t\r\n", save), *b = strtok_r(NULL, " \t\r\n", save);
        if (!a || !b || g->n_opts == MAX_OPTS)
            return fail_at(line, "opt: expected <key> <value>");
        snprintf(g->okey[g->n_opts], 32, "%s", a);
        snprintf(g->oval[g->n_opts++], 32, "%s", b);
    } else if (!strcmp(key, "dims")) {
        if (read_int(save, &g->N) || read_int(save, &g->d) || read_int(save, &g->C) || read_int(save, &g->K) ||
            g->N < 1 || g->d < 1 || g->C < 2 || g->K < 1)
            return fail_at(line, "dims: expected N d C K");
    } else if (!strcmp(key, "steps")) {
        if (read_int(save, &g->steps) || g->steps < 1)
            return fail_at(line, "steps: expected a count >= 1");
    } else if (!g->N) {
        return fail_at(line, "a record before dims");
    } else if (!strcmp(key, "feat") || !strcmp(key, "dfeat")) {
        if (read_vec(save, g->N * g->d, key[0] == 'f' ? &g->feat : &g->dfeat))
            return fail_at(line, "expected N*d numbers");
    } else if (!strcmp(key, "W") || !strcmp(key, "dW")) {
        if (read_vec(save, R * g->d, key[0] == 'W' ? &g->W : &g->dW))
            return fail_at(line, "expected C*K*d numbers");
    } else if (!strcmp(key, "per_sample") || !strcmp(key, "margins")) {
        if (read_vec(save, g->N, key[0] == 'p' ? &g->per : &g->margins))
            return fail_at(line, "expected N numbers");
    } else if (!strcmp(key, "labels")) {
        if (read_vec(save, g->N, &tmp))
            return fail_at(line, "labels: expected N integers");
        g->labels = calloc((size_t)g->N, sizeof *g->labels);
        for (int i = 0; i < g->N; i++) {
            g->labels[i] = (int)tmp[i];
            if (tmp[i] != g->labels[i] || g->labels[i] < 0 || g->labels[i] >= g->C) {
                free(tmp);
                return fail_at(line, "labels: expected integers in [0, C)");
            }
        }
        free(tmp);
    } else if (!strcmp(key, "loss")) {
        if (read_vec(save, 1, &tmp))
            return fail_at(line, "loss: expected one number");
        g->loss = tmp[0];
        g->has_loss = 1;
        free(tmp);
    } else if (!strcmp(key, "state") || !strcmp(key, "state_after")) {
        if (read_int(save, &k) || k < 0 || k >= MAX_STATE || read_vec(save, 1, &tmp))
            return fail_at(line, "state: expected <index> <value>");
        if (key[5]) {
            g->after[k] = tmp[0];
            g->has_after[k] = 1;
        } else {
            g->state[k] = tmp[0];
            g->has_state[k] = 1;
        }
        free(tmp);
    } else {
        return fail_at(line, "unknown record");
    }
    return 0;
}

static int load(void)
{
    FILE *f = fopen(FIXTURE, "r");
    if (!f)
        return fail_at(0, "cannot open (run from the repository root)");
    char buf[1 << 16];
    int line = 0, want = -1, seen_format = 0, in_case = 0, eof = 0, rc = 0;
    while (!rc && fgets(buf, sizeof buf, f)) {
        line++;
        char *save, *key = strtok_r(buf, " \t\r\n", &save);
        if (!key || key[0] == '#')
            continue;
        if (eof) {
            rc = fail_at(line, "text after eof");
        } else if (!seen_format) {
            const char *a = strtok_r(NULL, " \t\r\n", &save), *b = strtok_r(NULL, " \t\r\n", &save);
            seen_format = 1;
            if (strcmp(key, "format") || !a || strcmp(a, "normbench-golden-margin") || !b || strcmp(b, "1"))
                rc = fail_at(line, "expected 'format normbench-golden-margin 1'");
        } else if (want < 0) {
            if (strcmp(key, "cases") || read_int(&save, &want) || want < 1 || want > 1000)
                rc = fail_at(line, "expected 'cases <n>'");
            else
                cases = calloc((size_t)want, sizeof *cases);
        } else if (!in_case) {
            if (!strcmp(key, "eof")) {
                eof = 1;
            } else if (strcmp(key, "case") || n_cases == want) {
                rc = fail_at(line, "expected 'case <name>' or 'eof'");
            } else {
                gcase *g = &cases[n_cases++];
                snprintf(g->name, sizeof g->name, "%s", strtok_r(NULL, " \t\r\n", &save));
                g->line = line;
                g->type = -1;
                g->steps = 1;
                in_case = 1;
            }
        } else {
            const int r = parse_record(&cases[n_cases - 1], key, &save, line);
            if (r < 0)
                rc = -1;
            else if (r == 1) {
                const gcase *g = &cases[n_cases - 1];
                in_case = 0;
                if (g->type < 0 || !g->feat || !g->W || !g->labels || !g->has_loss || !g->per || !g->dfeat || !g->dW)
                    rc = fail_at(line, "case incomplete");
            }
        }
    }
    fclose(f);
    if (!rc && (!eof || n_cases != want))
        rc = fail_at(line, "truncated: no eof, or fewer cases than announced");
    return rc;
}

static void set_opt(loss_config *c, const char *key, const char *val)
{
    const double v = strtod(val, NULL);
    if (!strcmp(key, "variant"))
        c->variant = !strcmp(val, "am") ? VARIANT_AM : (!strcmp(val, "arc") ? VARIANT_ARC : VARIANT_COS);
    else if (!strcmp(key, "s")) c->s = v;
    else if (!strcmp(key, "m")) c->m = v;
    else if (!strcmp(key, "t")) c->t = v;
    else if (!strcmp(key, "K")) c->K = (int)v;
    else if (!strcmp(key, "sigma")) c->sigma = v;
    else if (!strcmp(key, "plus")) c->plus = (int)v;
    else if (!strcmp(key, "dynamic")) c->dynamic = (int)v;
    else if (!strcmp(key, "l_a")) c->l_a = v;
    else if (!strcmp(key, "u_a")) c->u_a = v;
    else if (!strcmp(key, "l_m")) c->l_m = v;
    else if (!strcmp(key, "u_m")) c->u_m = v;
    else if (!strcmp(key, "lambda_g")) c->lambda_g = v;
    else if (!strcmp(key, "easy_margin")) c->easy_margin = (int)v;
    else if (!strcmp(key, "h")) c->h = v;
    else if (!strcmp(key, "t_alpha")) c->t_alpha = v;
    else fail_msg("unknown option %s", key);
}

static int near(double got, double want)
{
    return fabs(got - want) <= ABS_TOL + REL_TOL * fmax(fabs(got), fabs(want));
}

static void compare(const char *name, const char *what, const real *got, const double *want, int n)
{
    for (int i = 0; i < n; i++)
        if (!near(got[i], want[i]))
            fail_msg("%s: %s[%d] = %.17g, expected %.17g", name, what, i, (double)got[i], want[i]);
}

static void run_case(void **state)
{
    const gcase *g = *state;
    loss_config cfg;
    loss_config_defaults(&cfg, (loss_type)g->type);
    for (int k = 0; k < g->n_opts; k++)
        set_opt(&cfg, g->okey[k], g->oval[k]);
    char msg[256];
    if (loss_config_check(&cfg, g->C, msg, sizeof msg))
        fail_msg("%s: config rejected: %s", g->name, msg);
    assert_int_equal(loss_margin_rows_per_class(&cfg), g->K);
    loss l;
    paramset ps = {0};
    loss_init(&l, &cfg, g->d, g->C, g->N, &ps);
    paramset_alloc(&ps);
    rng_t r;
    rng_seed(&r, 1);
    loss_bind(&l, &ps, &r);
    const size_t nf = (size_t)g->N * g->d, nw = (size_t)g->C * g->K * g->d;
    real *feat = calloc(nf, sizeof *feat), *dfeat = calloc(nf, sizeof *dfeat), *per = calloc((size_t)g->N, sizeof *per);
    for (size_t k = 0; k < nf; k++)
        feat[k] = (real)g->feat[k];
    for (size_t k = 0; k < nw; k++)
        l.W[k] = (real)g->W[k];
    for (int k = 0; k < MAX_STATE; k++)
        if (g->has_state[k])
            loss_margin_state_set(&l, k, g->state[k]);
    double L = 0;
    for (int s = 0; s < g->steps; s++) {
        if (g->margins)
            loss_margin_set_draws(&l, g->margins, g->N);
        paramset_zero_grad(&ps);
        memset(dfeat, 0, nf * sizeof *dfeat);
        L = loss_forward_backward(&l, dfeat, per, feat, g->labels, g->N, 0);
    }
    if (!near(L, g->loss))
        fail_msg("%s: loss %.17g, expected %.17g", g->name, L, g->loss);
    compare(g->name, "per_sample", per, g->per, g->N);
    compare(g->name, "dfeat", dfeat, g->dfeat, (int)nf);
    compare(g->name, "dW", paramset_grad(&ps, l.w_idx), g->dW, (int)nw);
    for (int k = 0; k < MAX_STATE; k++)
        if (g->has_after[k] && !near(loss_margin_state_get(&l, k), g->after[k]))
            fail_msg("%s: state %d %.17g, expected %.17g", g->name, k, loss_margin_state_get(&l, k), g->after[k]);
    assert_int_equal(loss_margin_state_count(l.cfg.type) > 0, g->has_after[0]);
    free(feat);
    free(dfeat);
    free(per);
    loss_free(&l);
    paramset_free(&ps);
}

static void fixture_unreadable(void **state)
{
    (void)state;
    fail_msg("%s", load_error);
}

int main(void)
{
    if (load()) {
        const struct CMUnitTest t[] = {cmocka_unit_test(fixture_unreadable)};
        return cmocka_run_group_tests(t, NULL, NULL);
    }
    struct CMUnitTest *t = calloc((size_t)n_cases, sizeof *t);
    for (int i = 0; i < n_cases; i++) {
        t[i].name = cases[i].name;
        t[i].test_func = run_case;
        t[i].initial_state = &cases[i];
    }
    const int rc = _cmocka_run_group_tests("golden_losses_margin", t, (size_t)n_cases, NULL, NULL);
    free(t);
    return rc;
}
