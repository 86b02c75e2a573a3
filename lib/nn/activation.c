/* activation.c — ReLU and PReLU, forward and backward.
 *
 * ReLU (Nair & Hinton 2010): out = max(x, 0), backward passes dout where out > 0 (the subgradient
 * at 0 is taken as 0). PReLU (He et al. 2015, "Delving deep into rectifiers", arXiv 1502.01852):
 * one learned slope a_c per channel, out = x for x > 0 and a_c·x otherwise; ∂out/∂x = 1 or a_c,
 * ∂out/∂a_c = x where x ≤ 0. The input is seen as (outer, C, inner), see layers.h. Element loops
 * are parallel with static schedules; the slope gradient is a per-channel double sum, parallel
 * over channels, so results do not depend on the thread count. */
#include "core/gemm.h"
#include "nn/layers.h"

/* Element-wise loops below this size run on one thread. */
#define ACT_PAR_MIN 32768

void relu_forward(real *out, const real *inp, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(nb_get_threads()) if (n > ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] > 0 ? inp[i] : 0;
}

void relu_backward(real *dinp, const real *dout, const real *out, size_t n)
{
    if (!dinp)
        return;
#pragma omp parallel for schedule(static) num_threads(nb_get_threads()) if (n > ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dinp[i] += out[i] > 0 ? dout[i] : 0;
}

void prelu_forward(real *out, const real *inp, const real *a, int outer, int C, int inner)
{
#pragma omp parallel for collapse(2) schedule(static) num_threads(nb_get_threads())                                   \
    if ((size_t)outer * C * inner > ACT_PAR_MIN)
    for (int o = 0; o < outer; o++) {
        for (int c = 0; c < C; c++) {
            const size_t base = ((size_t)o * C + c) * inner;
            const real ac = a[c];
            for (int i = 0; i < inner; i++) {
                const real x = inp[base + i];
                out[base + i] = x > 0 ? x : ac * x;
            }
        }
    }
}

void prelu_backward(real *dinp, real *da, const real *dout, const real *inp, const real *a, int outer, int C,
                    int inner)
{
    /* One thread per channel: it owns dinp of that channel and the sum for da[c]. */
#pragma omp parallel for schedule(static) num_threads(nb_get_threads()) if ((size_t)outer * C * inner > ACT_PAR_MIN)
    for (int c = 0; c < C; c++) {
        const real ac = a[c];
        double s = 0; /* Σ dout·x over x ≤ 0 */
        for (int o = 0; o < outer; o++) {
            const size_t base = ((size_t)o * C + c) * inner;
            for (int i = 0; i < inner; i++) {
                const real x = inp[base + i], g = dout[base + i];
                if (x > 0) {
                    if (dinp)
                        dinp[base + i] += g;
                } else {
                    if (dinp)
                        dinp[base + i] += ac * g;
                    s += (double)g * x;
                }
            }
        }
        if (da)
            da[c] += (real)s;
    }
}
