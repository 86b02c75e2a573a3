/* rng.c — xoshiro256** with splitmix64 seeding; see rng.h. */
#include "core/rng.h"

#include <math.h>

uint64_t rng_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t splitmix64(uint64_t *x) { return rng_mix64(*x += 0x9E3779B97F4A7C15ULL); }

uint64_t rng_key(uint64_t seed, uint64_t tag, uint64_t a)
{
    uint64_t h = rng_mix64(seed + 0x9E3779B97F4A7C15ULL);
    h = rng_mix64(h ^ (tag * 0xD1B54A32D192ED03ULL + 0x6A09E667F3BCC909ULL));
    return rng_mix64(h ^ (a + 0xBB67AE8584CAA73BULL));
}

uint64_t rng_key2(uint64_t seed, uint64_t tag, uint64_t a, uint64_t b)
{
    return rng_mix64(rng_key(seed, tag, a) ^ (b + 0x3C6EF372FE94F82BULL));
}

void rng_seed(rng_t *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

void rng_fork(rng_t *child, const rng_t *parent, uint64_t stream)
{
    uint64_t x = parent->s[0] ^ (parent->s[1] << 1) ^ (parent->s[2] >> 1) ^ parent->s[3];
    x ^= splitmix64(&stream);
    rng_seed(child, x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(rng_t *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

double rng_normal(rng_t *r)
{
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t rng_below(rng_t *r, uint64_t n)
{
    /* Lemire-free simple rejection: reject the top partial bucket. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = rng_next(r);
    while (x >= limit);
    return x % n;
}

void rng_shuffle_int(rng_t *r, int *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint64_t)i + 1);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
