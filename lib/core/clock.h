/* clock.h — the one wall clock of the library and the runners: monotonic seconds (for durations,
 * progress rates and benchmarks; never for seeds or anything that reaches a result CSV but the
 * seconds columns). */
#ifndef NB_CLOCK_H
#define NB_CLOCK_H

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double nb_seconds(void);

#endif
