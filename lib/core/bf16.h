/* bf16.h — bfloat16 storage for large classification heads.
 *
 * bf16 is the top half of an IEEE float32: 1 sign bit, 8 exponent bits (float32's range) and 7
 * stored mantissa bits, so about 2–3 significant decimal digits (relative spacing 2^-8 ≈ 0.39%).
 * normbench only *stores* in bf16: every value is widened to float32 (or the build's real) for
 * arithmetic, and narrowed back with round-to-nearest-even (RNE) on store, the rounding of
 * numpy/PyTorch's float32 → bfloat16 conversion. NaN stays NaN (quiet); ±Inf and overflow to Inf
 * follow from RNE. In the double build a value is first rounded to float32, then to bf16 (the
 * double rounding can differ from a direct double → bf16 RNE in a tie of the second rounding;
 * the tests use float32-exact values). Header-only: the optimizer and the head both use it. */
#ifndef NB_BF16_H
#define NB_BF16_H

#include <stdint.h>
#include <string.h>

/* float32 → bf16, round to nearest, ties to even. */
static inline uint16_t bf16_from_float(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) /* NaN: keep it a (quiet) NaN */
        return (uint16_t)((u >> 16) | 0x0040u);
    /* add 0x7fff plus the lowest kept bit: a tie rounds up exactly when that bit is odd */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* bf16 → float32 (exact). */
static inline float bf16_to_float(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#endif
