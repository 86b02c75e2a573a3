/* linear.c — fully connected layer, out = inp · wᵀ + b, forward and backward through gemm().
 *
 * The standard affine layer (e.g. Goodfellow, Bengio & Courville 2016, §6.5): with out (B, OUT),
 * inp (B, IN), w (OUT, IN):
 *   dinp += dout · w        (B, IN)
 *   dw   += doutᵀ · inp     (OUT, IN)
 *   db   += Σ_b dout[b, :]  (OUT), summed in double. */
#include "core/gemm.h"
#include "nn/layers.h"

void linear_forward(real *out, const real *inp, const real *w, const real *b, int B, int IN, int OUT)
{
    /* out (B, OUT) = inp (B, IN) · wᵀ (IN, OUT) */
    gemm(0, 1, B, OUT, IN, 1, inp, IN, w, IN, 0, out, OUT);
    if (b) {
#pragma omp parallel for schedule(static) num_threads(nb_get_threads()) if ((size_t)B * OUT > 16384)
        for (int i = 0; i < B; i++) {
            real *o = out + (size_t)i * OUT;
            for (int j = 0; j < OUT; j++)
                o[j] += b[j];
        }
    }
}

void linear_backward(real *dinp, real *dw, real *db, const real *dout, const real *inp, const real *w, int B,
                     int IN, int OUT)
{
    if (dinp) /* dinp (B, IN) += dout (B, OUT) · w (OUT, IN) */
        gemm(0, 0, B, IN, OUT, 1, dout, OUT, w, IN, 1, dinp, IN);
    if (dw) /* dw (OUT, IN) += doutᵀ (OUT, B) · inp (B, IN) */
        gemm(1, 0, OUT, IN, B, 1, dout, OUT, inp, IN, 1, dw, IN);
    if (db) {
#pragma omp parallel for schedule(static) num_threads(nb_get_threads()) if ((size_t)B * OUT > 16384)
        for (int j = 0; j < OUT; j++) {
            double s = 0;
            for (int i = 0; i < B; i++)
                s += dout[(size_t)i * OUT + j];
            db[j] += (real)s;
        }
    }
}
