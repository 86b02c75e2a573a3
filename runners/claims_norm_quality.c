/* claims_norm_quality.c — the verdict of docs/claims.md §5 claim 7 ("Feature norm carries image
 * quality — and where it does not") for `normbench claims`, from the summary.csv of
 * experiments/claim7_norm_quality.yaml (synthetic identities) and
 * experiments/claim7_norm_quality_fmnist.yaml (Fashion-MNIST); see claims_norm_quality.h. */
#include "claims_norm_quality.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/sweep.h"
#include "core/error.h"
#include "eval/stats.h"
#include "io/csvread.h"
#include "io/fsutil.h"

/* The data sets the rule judges (the first NQ_RULED), then the follow-up quoted beside them:
 * MagFace and AdaFace at s = 16 on the synthetic identities, where at s = 64 they did not train. */
#define NQ_SETS 3
#define NQ_RULED 2
static const char *const nq_files[NQ_SETS] = {"experiments/claim7_norm_quality.yaml",
                                              "experiments/claim7_norm_quality_fmnist.yaml",
                                              "experiments/claim7_norm_quality_s16.yaml"};
static const char *const nq_data[NQ_SETS] = {"synthetic", "fashion-mnist",
                                             "beside the rule: synthetic, magface and adaface at s = 16"};
static const char *const nq_losses[6] = {"softmax", "l2softmax", "normface", "arcface", "magface", "adaface"};
static const int nq_claimed[6] = {1, 0, 0, 0, 1, 1}; /* the losses the papers claim it for */

typedef enum { NQ_NONE, NQ_CARRIES, NQ_REVERSES, NQ_INCONCLUSIVE } nq_outcome;

/* Appends to nums (NUL-terminated, size bytes), truncating. */
static void put(char *nums, size_t size, const char *fmt, ...)
{
    size_t len = strlen(nums);
    if (len + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(nums + len, size - len, fmt, ap);
    va_end(ap);
}

/* The values of column `col` over the complete runs of loss `type` (NAN cells skipped). */
static int column_of_loss(const csvread_table *t, const char *type, const char *col, double *v, int max)
{
    int cs = csvread_col(t, "status"), ct = csvread_col(t, "loss.type"), cv = csvread_col(t, col), n = 0;
    for (int r = 0; cs >= 0 && ct >= 0 && cv >= 0 && r < t->nrows && n < max; r++) {
        double x;
        nb_error ignore;
        if (!strcmp(t->rows[r][cs], "complete") && !strcmp(t->rows[r][ct], type) &&
            csvread_number(t, r, cv, &x, &ignore) == 0 && isfinite(x))
            v[n++] = x;
    }
    return n;
}

static void put_ci(char *nums, size_t size, const char *loss, stats_ci c)
{
    if (isfinite(c.lo))
        put(nums, size, " %s %.2f [%.2f, %.2f]", loss, c.mean, c.lo, c.hi);
    else
        put(nums, size, " %s %.2f (n = %d)", loss, c.mean, c.n);
}

/* The rule (also in docs/claims.md claim 7). Per loss and data set, over the seeds: ρ =
 * norm_quality_spearman (Spearman's ρ of ‖f‖ against the quality level, 0 = clean, higher = more
 * degraded) with its 95 % t interval. The norm "carries quality" when the interval lies entirely
 * below 0 (larger norm = better image), "reverses" when entirely above 0, and is "inconclusive at
 * this size" otherwise (or with fewer than two seeds). Verdict over the losses the papers claim it
 * for (softmax, magface, adaface) on every data set with complete runs: "disagrees" when it
 * reverses for any of them, "agrees" when it carries quality for all of them, "partly" when it
 * carries for some, "inconclusive" when for none; "—" when no claim-7 run is complete. The
 * numbers cell names the losses per outcome with ρ and its interval, and the share of the
 * oracle's ERC gain the norm recovers (erc_oracle_gain) with its interval. The follow-up data set
 * (nq_files[NQ_RULED..]) is shown after them in the same form, never judged. */
const char *claim_norm_quality(const char *results, char *nums, size_t size)
{
    nums[0] = '\0';
    int any = 0, claimed = 0, carried = 0, reversed = 0, total = 0, complete = 0;
    for (int d = 0; d < NQ_SETS; d++) {
        experiment x;
        nb_error err = {0};
        if (experiment_load(&x, nq_files[d], &err)) {
            nb_error_print(&err, stderr);
            continue;
        }
        if (d < NQ_RULED)
            total += x.n_runs;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s/summary.csv", results, x.name);
        int linked = results_read_check(results, x.name, &err);
        experiment_free(&x);
        csvread_table t;
        if (linked) /* judged as not run, and said why */
            nb_error_print(&err, stderr);
        if (linked || csvread_load(&t, path, &err))
            continue;
        nq_outcome out[6];
        stats_ci rho[6], gain[6];
        int n_here = 0;
        for (int l = 0; l < 6; l++) {
            double v[256];
            int n = column_of_loss(&t, nq_losses[l], "norm_quality_spearman", v, 256);
            rho[l] = stats_mean_ci(v, n);
            n = column_of_loss(&t, nq_losses[l], "erc_oracle_gain", v, 256);
            gain[l] = stats_mean_ci(v, n);
            stats_side s = stats_ci_side(rho[l], 0);
            out[l] = rho[l].n == 0 ? NQ_NONE : s == STATS_BELOW ? NQ_CARRIES : s == STATS_ABOVE ? NQ_REVERSES
                                                                                             : NQ_INCONCLUSIVE;
            n_here += rho[l].n;
        }
        int cs = csvread_col(&t, "status");
        for (int r = 0; cs >= 0 && d < NQ_RULED && r < t.nrows; r++)
            complete += !strcmp(t.rows[r][cs], "complete");
        csvread_free(&t);
        if (n_here == 0 || (d >= NQ_RULED && !any))
            continue;
        any = 1;
        static const char *const label[4] = {"", "carries quality (ρ < 0)", "reverses (ρ > 0)",
                                             "inconclusive at this size"};
        put(nums, size, "%s%s, ρ(norm, quality level) [95 %%]:", nums[0] ? "; " : "", nq_data[d]);
        for (int o = NQ_CARRIES; o <= NQ_INCONCLUSIVE; o++) {
            int first = 1;
            for (int l = 0; l < 6; l++)
                if (out[l] == (nq_outcome)o) {
                    if (first)
                        put(nums, size, " %s:", label[o]);
                    else
                        put(nums, size, ",");
                    put_ci(nums, size, nq_losses[l], rho[l]);
                    first = 0;
                }
        }
        put(nums, size, "; oracle ERC gain recovered:");
        for (int l = 0, first = 1; l < 6; l++)
            if (gain[l].n) {
                put(nums, size, "%s", first ? "" : ",");
                put_ci(nums, size, nq_losses[l], gain[l]);
                first = 0;
            }
        for (int l = 0; l < 6 && d < NQ_RULED; l++)
            if (nq_claimed[l]) {
                claimed++;
                carried += out[l] == NQ_CARRIES;
                reversed += out[l] == NQ_REVERSES;
            }
    }
    if (!any) {
        snprintf(nums, size, "not run yet (%d of %d runs complete)", complete, total);
        return "—";
    }
    return reversed ? "disagrees" : carried == claimed ? "agrees" : carried ? "partly" : "inconclusive";
}
