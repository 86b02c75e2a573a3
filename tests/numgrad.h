/* numgrad.h — central finite differences for checking backward passes (docs/losses.md §1, "verified three
 * ways", 1). Header-only, shared by the test programs; meant for the double build (-DNB_DOUBLE),
 * where h ≈ 1e-6 gives ~1e-9 agreement.
 *
 * Usage: write a callback that recomputes the scalar loss from the current parameter values,
 * compute the analytic gradient once, then
 *     numgrad_result r = numgrad_check(loss_fn, ctx, p, grad, n, 1e-6, 1e-6, 1e-8);
 *     assert_true(r.worst <= 1.0);
 * numgrad_check perturbs each p[i] by ±h in place (restoring it exactly), and scores each entry as
 *     err_i = |analytic − numeric| / (atol + rtol·max(|analytic|, |numeric|)),
 * so worst ≤ 1 means every entry is within tolerance. It also returns where the worst entry was
 * and both values there, for the failure message. */
#ifndef NB_NUMGRAD_H
#define NB_NUMGRAD_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>

#include "core/real.h"
#include "core/rng.h"

/* Recomputes the loss from the current parameters (which numgrad_check perturbs in place). */
typedef double (*numgrad_loss_fn)(void *ctx);

typedef struct {
    double worst;    /* max over entries of err_i; ≤ 1 means within tolerance */
    size_t index;    /* entry where it occurred */
    double analytic; /* analytic gradient there */
    double numeric;  /* central difference there */
} numgrad_result;

/* Central differences (L(p + h·e_i) − L(p − h·e_i)) / 2h for every i < n, against grad[i]. */
static inline numgrad_result numgrad_check(numgrad_loss_fn loss, void *ctx, real *p, const real *grad,
                                           size_t n, double h, double rtol, double atol)
{
    numgrad_result r = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        const real saved = p[i];
        const real up = (real)(saved + h), down = (real)(saved - h);
        p[i] = up;
        const double lp = loss(ctx);
        p[i] = down;
        const double lm = loss(ctx);
        p[i] = saved;
        /* divide by the step actually taken, which rounding makes differ slightly from 2h */
        const double num = (lp - lm) / ((double)up - (double)down);
        const double ana = grad[i];
        const double scale = fmax(fabs(ana), fabs(num));
        double err = fabs(ana - num) / (atol + rtol * scale);
        if (isnan(err)) /* a NaN on either side is a failure, never a pass */
            err = INFINITY;
        if (err > r.worst || i == 0) {
            r.worst = err;
            r.index = i;
            r.analytic = ana;
            r.numeric = num;
        }
    }
    return r;
}

/* Prints a one-line summary of a check, labelled by name (what was differentiated). */
static inline void numgrad_print(const char *name, numgrad_result r)
{
    printf("  numgrad %-24s worst %.3g at [%zu]: analytic %.12g numeric %.12g\n", name, r.worst, r.index,
           r.analytic, r.numeric);
}

/* Fills a[0..n) with scale·N(0, 1) from rng. */
static inline void numgrad_fill_normal(rng_t *rng, real *a, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (real)(scale * rng_normal(rng));
}

/* Σ r_i · out_i in double: the random linear objective whose gradient w.r.t. out is r. */
static inline double numgrad_dot(const real *r, const real *out, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)r[i] * out[i];
    return s;
}

#endif
