/* rng.h — the one random number generator of normbench (STYLE rule 8).
 *
 * xoshiro256** (Blackman & Vigna 2018) seeded through splitmix64. The state is explicit and passed
 * down; nothing in normbench uses rand() or the clock. Same seed → same stream on every machine. */
#ifndef NB_RNG_H
#define NB_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} rng_t;

void rng_seed(rng_t *r, uint64_t seed);
/* A child generator for a named purpose (e.g. "shuffle", "init"), independent of r's stream. */
void rng_fork(rng_t *child, const rng_t *parent, uint64_t stream);
uint64_t rng_next(rng_t *r);
/* Uniform in [0, 1), 53-bit resolution. */
double rng_uniform(rng_t *r);
/* Standard normal (Box–Muller, both values of a pair not cached: stateless apart from r). */
double rng_normal(rng_t *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t rng_below(rng_t *r, uint64_t n);
/* Fisher–Yates shuffle of a[0..n). */
void rng_shuffle_int(rng_t *r, int *a, int n);

/* The one 64-bit mix hash of normbench: splitmix64's finaliser (Steele, Lea & Flood 2014), a
 * bijection on 64-bit words. Hash tables and counter-based seeds use it. */
uint64_t rng_mix64(uint64_t z);
/* Counter-based seeds: a seed for draw (seed, tag, a) or (seed, tag, a, b), independent of any
 * stream's position, so that sample i of a streamed dataset gets the same draws in any order.
 * rng_key2(seed, tag, a, b) extends rng_key(seed, tag, a) by one more word. */
uint64_t rng_key(uint64_t seed, uint64_t tag, uint64_t a);
uint64_t rng_key2(uint64_t seed, uint64_t tag, uint64_t a, uint64_t b);

#endif
