/* real.h — the scalar type of the numeric core.
 *
 * Every module in lib/ computes in `real`. The library is built twice: as float (what the
 * normbench command trains with) and with -DNB_DOUBLE as double, which the tests use so that
 * central finite differences check each backward pass to ~1e-7 instead of float's ~1e-3
 * (docs/losses.md §1: "central finite differences in double"). Both builds come from the same source. */
#ifndef NB_REAL_H
#define NB_REAL_H

#include <math.h>

#ifdef NB_DOUBLE
typedef double real;
#define NB_REAL_NAME "double"
/* ε used when clamping cosines before acos / sqrt(1 - c^2) (docs/losses.md §1). */
#define NB_COS_EPS 1e-7
#else
typedef float real;
#define NB_REAL_NAME "float"
#define NB_COS_EPS 1e-6
#endif

#endif
