/* stats.c — confidence intervals, seeds needed and Spearman's ρ for the verdicts of
 * docs/claims.md §6, on GSL's t quantiles and rank correlation. */
#include "eval/stats.h"

#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>

#include "core/error.h"

/* t(0.975, df): the two-sided 95 % quantile. */
static double t975(double df)
{
    return gsl_cdf_tdist_Pinv(0.975, df);
}

/* Mean and sd of the finite values of v; returns how many there were. */
static int mean_sd(const double *v, int n, double *mean, double *sd)
{
    double a = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) {
            a += v[i];
            k++;
        }
    *mean = k ? a / k : NAN;
    double b = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]))
            b += (v[i] - *mean) * (v[i] - *mean);
    *sd = k > 1 ? sqrt(b / (k - 1)) : NAN;
    return k;
}

stats_ci stats_mean_ci(const double *v, int n)
{
    stats_ci c = {0, NAN, NAN, NAN, NAN};
    c.n = mean_sd(v, n, &c.mean, &c.sd);
    if (c.n >= 2 && isfinite(c.sd)) {
        double h = t975(c.n - 1) * c.sd / sqrt(c.n);
        c.lo = c.mean - h;
        c.hi = c.mean + h;
    }
    return c;
}

stats_side stats_ci_side(stats_ci c, double value)
{
    if (isnan(c.lo) || isnan(c.hi))
        return STATS_UNDECIDED;
    return c.lo > value ? STATS_ABOVE : c.hi < value ? STATS_BELOW : STATS_UNDECIDED;
}

int stats_seeds_needed(double effect, double sd)
{
    if (!isfinite(effect) || !isfinite(sd) || effect == 0)
        return -1;
    for (int n = 2; n <= 1000; n++)
        if (t975(n - 1) * sd / sqrt(n) < fabs(effect))
            return n;
    return -1;
}

double stats_spearman(const double *x, const double *y, int n)
{
    if (n < 2)
        return NAN;
    double *work = nb_malloc(sizeof(double) * 2 * (size_t)n);
    double r = gsl_stats_spearman(x, 1, y, 1, (size_t)n, work);
    free(work);
    return r;
}
