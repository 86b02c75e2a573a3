/* l2norm.c — L2 normalisation of rows, the operation every normalised loss depends on (docs/losses.md §1).
 *
 * y = x/‖x‖ with ‖x‖ = sqrt(Σx² + eps) (NormFace, Wang et al. 2017, arXiv 1704.06369, §3.1).
 * Since ∂y/∂x = (I − y yᵀ)/‖x‖ holds exactly for this ‖x‖ (eps included), the backward is
 *   dinp += (g − y⟨y, g⟩)/‖x‖,  g = dout,
 * which is orthogonal to x up to eps (NormFace Prop. 1) — not darknet's identity backward.
 * Dot products are accumulated in double, eps is added in double (a double argument, so the float
 * build adds exactly the ε it is given, e.g. the losses' NB_NORM_EPS = 1e-12, not its float
 * rounding); each row is computed by one thread, so results do not depend on the thread count.
 * Every loss normalises its features and class weights with this layer (lib/loss/rowops.c). */
#include "core/gemm.h"
#include "nn/layers.h"

void l2norm_forward(real *out, real *norm, const real *inp, int B, int D, double eps)
{
#pragma omp parallel for schedule(static) num_threads(nb_get_threads()) if ((size_t)B * D > 16384)
    for (int b = 0; b < B; b++) {
        const real *x = inp + (size_t)b * D;
        real *y = out + (size_t)b * D;
        double s = 0;
        for (int j = 0; j < D; j++)
            s += (double)x[j] * x[j];
        const double n = sqrt(s + eps);
        norm[b] = (real)n;
        for (int j = 0; j < D; j++)
            y[j] = (real)(x[j] / n);
    }
}

void l2norm_backward(real *dinp, const real *dout, const real *out, const real *norm, int B, int D)
{
    if (!dinp)
        return;
#pragma omp parallel for schedule(static) num_threads(nb_get_threads()) if ((size_t)B * D > 16384)
    for (int b = 0; b < B; b++) {
        const real *g = dout + (size_t)b * D, *y = out + (size_t)b * D;
        real *dx = dinp + (size_t)b * D;
        double yg = 0; /* ⟨y, g⟩ */
        for (int j = 0; j < D; j++)
            yg += (double)y[j] * g[j];
        const double inv = 1.0 / norm[b];
        for (int j = 0; j < D; j++)
            dx[j] += (real)((g[j] - y[j] * yg) * inv);
    }
}
