/* tensor_ops.c — layout and plumbing ops: flatten, residual add, conv/pool output size.
 *
 * flatten converts channel-major images (C, B, HW) to row vectors (B, C·HW) in the (c, h, w)
 * order PyTorch's nn.Flatten uses on (B, C, H, W) tensors, so a fully connected layer after it
 * sees the conventional feature order; its backward is the inverse permutation, accumulated.
 * add is the residual connection of He et al. 2016 ("Deep residual learning", arXiv 1512.03385).
 * conv_out_size is the usual floor((in + 2·pad − K)/stride) + 1. Copies are parallel over
 * disjoint blocks with static schedules. */
#include <string.h>

#include "core/gemm.h"
#include "nn/layers.h"

#define OPS_PAR_MIN 32768

int conv_out_size(int in, int K, int stride, int pad) { return (in + 2 * pad - K) / stride + 1; }

void flatten_forward(real *out, const real *inp, int B, int C, int HW)
{
    /* out[b, c·HW + i] = inp[c, b, i] */
#pragma omp parallel for collapse(2) schedule(static) num_threads(nb_get_threads()) if ((size_t)B * C * HW > OPS_PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            memcpy(out + ((size_t)b * C + c) * HW, inp + ((size_t)c * B + b) * HW, (size_t)HW * sizeof(real));
}

void flatten_backward(real *dinp, const real *dout, int B, int C, int HW)
{
    if (!dinp)
        return;
#pragma omp parallel for collapse(2) schedule(static) num_threads(nb_get_threads()) if ((size_t)B * C * HW > OPS_PAR_MIN)
    for (int c = 0; c < C; c++) {
        for (int b = 0; b < B; b++) {
            real *d = dinp + ((size_t)c * B + b) * HW;
            const real *g = dout + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++)
                d[i] += g[i];
        }
    }
}

void add_forward(real *out, const real *a, const real *b, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(nb_get_threads()) if (n > OPS_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void add_backward(real *da, real *db, const real *dout, size_t n)
{
#pragma omp parallel for schedule(static) num_threads(nb_get_threads()) if (n > OPS_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        if (da)
            da[i] += dout[i];
        if (db)
            db[i] += dout[i];
    }
}
