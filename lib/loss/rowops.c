/* rowops.c — row operations shared by the loss families; see rowops.h. The row normalisation is
 * the nn/ layer (lib/nn/l2norm.c) called with NB_NORM_EPS, so a loss and a network normalise
 * with the same arithmetic. */
#include "loss/rowops.h"

#include <math.h>

#include "nn/layers.h"

void loss_l2_normalize_rows(real *y, real *norms, const real *x, int n, int d)
{
    l2norm_forward(y, norms, x, n, d, NB_NORM_EPS);
}

void loss_l2_normalize_backward(real *dx, const real *dy, const real *y, const real *norms, int n, int d)
{
    l2norm_backward(dx, dy, y, norms, n, d);
}

/* CE(z, y) = −z_y + log Σ_j exp(z_j) = (mx − z_y) + log Σ_j exp(z_j − mx), mx = max_j z_j;
 * ∂CE/∂z_j = p_j − [j = y], p_j = exp(z_j − lse). */
double loss_ce_row(real *z, int C, int y, double g, double *zdot)
{
    double mx = z[0];
    for (int j = 1; j < C; j++)
        if (z[j] > mx)
            mx = z[j];
    double sum = 0;
    for (int j = 0; j < C; j++)
        sum += exp((double)z[j] - mx);
    const double lse = mx + log(sum);
    const double ce = lse - z[y];
    double zd = 0;
    for (int j = 0; j < C; j++) {
        const double old = z[j];
        const double dz = g * (exp(old - lse) - (j == y ? 1.0 : 0.0));
        zd += dz * old;
        z[j] = (real)dz;
    }
    if (zdot)
        *zdot = zd;
    return ce;
}

void loss_argmax_rows(int *pred, const real *m, int B, int C)
{
    for (int i = 0; i < B; i++) {
        const real *r = m + (size_t)i * C;
        int best = 0;
        for (int j = 1; j < C; j++)
            if (r[j] > r[best])
                best = j;
        pred[i] = best;
    }
}
