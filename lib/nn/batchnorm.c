/* batchnorm.c — batch normalisation per channel, training and eval forward, training backward.
 *
 * Ioffe & Szegedy 2015, "Batch normalization", arXiv 1502.03167, with PyTorch's conventions:
 * training mode normalises with the batch mean μ and biased variance σ² over the M = outer·inner
 * values of a channel, x̂ = (x − μ)/sqrt(σ² + eps), y = γ·x̂ + β, and updates the running
 * statistics as r ← (1 − momentum)·r + momentum·stat with the unbiased variance σ²·M/(M − 1);
 * eval mode normalises with the running statistics. The backward is the exact Jacobian of the
 * training-mode forward:
 *   dx = γ·invstd/M · (M·dy − Σdy − x̂·Σ(dy·x̂)),  dγ = Σ dy·x̂,  dβ = Σ dy.
 * All sums are per channel in double; loops are parallel over channels. */
#include "core/gemm.h"
#include "nn/layers.h"

void batchnorm_forward(real *out, real *xhat, real *mean, real *invstd, real *running_mean, real *running_var,
                       const real *inp, const real *gamma, const real *beta, int outer, int C, int inner,
                       int train, real momentum, real eps)
{
    const size_t M = (size_t)outer * inner;
#pragma omp parallel for schedule(static) num_threads(nb_get_threads()) if (M * C > 16384)
    for (int c = 0; c < C; c++) {
        double mu, istd;
        if (train) {
            /* two passes: μ = Σx/M, σ² = Σ(x − μ)²/M */
            double s = 0;
            for (int o = 0; o < outer; o++) {
                const real *x = inp + ((size_t)o * C + c) * inner;
                for (int i = 0; i < inner; i++)
                    s += x[i];
            }
            mu = s / (double)M;
            double v = 0;
            for (int o = 0; o < outer; o++) {
                const real *x = inp + ((size_t)o * C + c) * inner;
                for (int i = 0; i < inner; i++) {
                    const double d = x[i] - mu;
                    v += d * d;
                }
            }
            const double var = v / (double)M;
            istd = 1.0 / sqrt(var + eps);
            const double unbiased = M > 1 ? v / (double)(M - 1) : var;
            running_mean[c] = (real)((1.0 - momentum) * running_mean[c] + momentum * mu);
            running_var[c] = (real)((1.0 - momentum) * running_var[c] + momentum * unbiased);
        } else {
            mu = running_mean[c];
            istd = 1.0 / sqrt((double)running_var[c] + eps);
        }
        mean[c] = (real)mu;
        invstd[c] = (real)istd;
        const real g = gamma[c], bt = beta[c];
        for (int o = 0; o < outer; o++) {
            const size_t base = ((size_t)o * C + c) * inner;
            for (int i = 0; i < inner; i++) {
                const real xh = (real)((inp[base + i] - mu) * istd);
                xhat[base + i] = xh;
                out[base + i] = g * xh + bt;
            }
        }
    }
}

void batchnorm_backward(real *dinp, real *dgamma, real *dbeta, const real *dout, const real *xhat,
                        const real *invstd, const real *gamma, int outer, int C, int inner)
{
    const size_t M = (size_t)outer * inner;
#pragma omp parallel for schedule(static) num_threads(nb_get_threads()) if (M * C > 16384)
    for (int c = 0; c < C; c++) {
        double sdy = 0, sdyx = 0; /* Σdy, Σdy·x̂ */
        for (int o = 0; o < outer; o++) {
            const size_t base = ((size_t)o * C + c) * inner;
            for (int i = 0; i < inner; i++) {
                sdy += dout[base + i];
                sdyx += (double)dout[base + i] * xhat[base + i];
            }
        }
        if (dgamma)
            dgamma[c] += (real)sdyx;
        if (dbeta)
            dbeta[c] += (real)sdy;
        if (!dinp)
            continue;
        /* dx = γ·invstd/M · (M·dy − Σdy − x̂·Σ(dy·x̂)) = k·(dy − Σdy/M − x̂·Σ(dy·x̂)/M), k = γ·invstd */
        const double k = (double)gamma[c] * invstd[c];
        const double mdy = sdy / (double)M, mdyx = sdyx / (double)M;
        for (int o = 0; o < outer; o++) {
            const size_t base = ((size_t)o * C + c) * inner;
            for (int i = 0; i < inner; i++)
                dinp[base + i] += (real)(k * (dout[base + i] - mdy - xhat[base + i] * mdyx));
        }
    }
}
