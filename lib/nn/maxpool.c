/* maxpool.c — max pooling over image planes, forward and backward.
 *
 * Max pooling as in Ranzato et al. 2007 / Caffe: window K, stride S, no padding, output size
 * floor((H − K)/S) + 1, so 7×7 with K = S = 2 gives 3×3 and the last row/column is dropped.
 * The forward stores, per output, the index of its maximum within the input plane (row-major scan
 * of the window, ties → the first maximum); backward routes dout to that index. Both loops are
 * parallel over planes, so overlapping windows (K > S) never race. */
#include "core/gemm.h"
#include "nn/layers.h"

void maxpool_forward(real *out, int *argmax, const real *inp, int P, int H, int W, int K, int S)
{
    const int OH = conv_out_size(H, K, S, 0), OW = conv_out_size(W, K, S, 0);
    const size_t hw = (size_t)H * W, ohw = (size_t)OH * OW;
#pragma omp parallel for schedule(static) num_threads(nb_get_threads()) if (P * hw > 16384)
    for (int p = 0; p < P; p++) {
        const real *x = inp + p * hw;
        real *o = out + p * ohw;
        int *am = argmax + p * ohw;
        for (int oh = 0; oh < OH; oh++) {
            for (int ow = 0; ow < OW; ow++) {
                int best = oh * S * W + ow * S;
                real m = x[best];
                for (int kh = 0; kh < K; kh++) {
                    const int row = (oh * S + kh) * W + ow * S;
                    for (int kw = 0; kw < K; kw++) {
                        if (x[row + kw] > m) {
                            m = x[row + kw];
                            best = row + kw;
                        }
                    }
                }
                o[oh * OW + ow] = m;
                am[oh * OW + ow] = best;
            }
        }
    }
}

void maxpool_backward(real *dinp, const real *dout, const int *argmax, int P, int H, int W, int K, int S)
{
    if (!dinp)
        return;
    const int OH = conv_out_size(H, K, S, 0), OW = conv_out_size(W, K, S, 0);
    const size_t hw = (size_t)H * W, ohw = (size_t)OH * OW;
#pragma omp parallel for schedule(static) num_threads(nb_get_threads()) if (P * hw > 16384)
    for (int p = 0; p < P; p++) {
        real *d = dinp + p * hw;
        const real *g = dout + p * ohw;
        const int *am = argmax + p * ohw;
        for (size_t j = 0; j < ohw; j++)
            d[am[j]] += g[j];
    }
}
