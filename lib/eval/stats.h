/* stats.h — the statistics behind every verdict (docs/claims.md §6): the mean of a few seeds with
 * its 95 % Student-t confidence interval (of a paired difference when the caller passes the
 * per-seed differences), which side of the no-effect value an interval lies on, how many seeds a
 * measured effect would need to be decided, and Spearman's rank correlation. Quantiles and ranks
 * come from GSL (gsl_cdf_tdist_Pinv, gsl_stats_spearman). */
#ifndef NB_STATS_H
#define NB_STATS_H

/* An estimate with its 95 % interval. n: the number of values (seeds, or seed pairs); sd: the sd
 * of the values; lo, hi: NAN when the interval is undefined (n < 2, or sd not finite). */
typedef struct {
    int n;
    double mean, sd, lo, hi;
} stats_ci;

/* Which side of a value an interval lies on. */
typedef enum { STATS_UNDECIDED = 0, STATS_ABOVE = 1, STATS_BELOW = -1 } stats_side;

/* The mean of v[0..n) (NAN values skipped) with its t interval. */
stats_ci stats_mean_ci(const double *v, int n);

/* STATS_ABOVE when the whole interval lies above value, STATS_BELOW when below, otherwise (or when
 * the interval is undefined) STATS_UNDECIDED. */
stats_side stats_ci_side(stats_ci c, double value);

/* The smallest number of seeds n (seed pairs, for a paired difference) at which an effect of size `effect`
 * with spread `sd` (stats_ci.sd) would give a 95 % t interval of half-width below |effect|:
 * t(0.975, n − 1) · sd / √n < |effect|. At least 2; -1 when it is above 1000 or undefined. */
int stats_seeds_needed(double effect, double sd);

/* Spearman's rank correlation of x and y (n ≥ 2; ties take their mean rank); NAN when either is
 * constant or n < 2. */
double stats_spearman(const double *x, const double *y, int n);

#endif
