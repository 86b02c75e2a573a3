/* conv2d.c — 2-D convolution as im2col + one GEMM per chunk of the batch, forward and backward.
 *
 * The im2col lowering of Chellapilla, Puri & Simard 2006 ("High performance convolutional neural
 * networks for document processing"), as used by Caffe and darknet. Because activations are
 * channel-major (C, B, H, W), the im2col matrix of samples b0..b1 is (C·K·K, nb·OH·OW) and the
 * output of that chunk is the column block [b0·OH·OW, b1·OH·OW) of out viewed as (OC, B·OH·OW),
 * so a whole chunk is one GEMM with ldc = B·OH·OW:
 *   forward   out_chunk  = w · col                       (OC, nb·OH·OW)
 *   backward  dw        += dout_chunk · colᵀ             (OC, C·K·K)
 *             db        += Σ over B·OH·OW of dout        (OC), summed in double
 *             dcol       = wᵀ · dout_chunk, then col2im accumulates dcol into dinp.
 * The workspace col holds one chunk; backward recomputes im2col rather than caching it. im2col is
 * parallel over (row, sample) segments, col2im over input planes (c, b), so no two threads write
 * the same element and the results do not depend on the thread count (apart from the BLAS). */
#include <string.h>

#include "core/error.h"
#include "core/gemm.h"
#include "nn/layers.h"

/* Range [*lo, *hi) of output columns ow whose input column iw = ow·S − pad + kw lies in [0, W). */
static void valid_range(int kw, int S, int pad, int W, int OW, int *lo, int *hi)
{
    int a = pad - kw;                 /* need ow·S ≥ a */
    int l = a > 0 ? (a + S - 1) / S : 0;
    int t = W - 1 + pad - kw;         /* need ow·S ≤ t */
    int h = t < 0 ? 0 : t / S + 1;
    if (h > OW)
        h = OW;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* col (C·K·K, nb·OH·OW) ← the patches of samples b0..b0+nb−1 of inp (C, B, H, W); row (c, kh, kw),
 * column (b − b0, oh, ow); zero where the window hangs over the padding. */
static void im2col(real *col, const real *inp, int b0, int nb, int B, int C, int H, int W, int K, int S,
                   int pad, int OH, int OW)
{
    const size_t ohw = (size_t)OH * OW, ncol = (size_t)nb * ohw;
    const int rows = C * K * K;
#pragma omp parallel for collapse(2) schedule(static) num_threads(nb_get_threads())
    for (int r = 0; r < rows; r++) {
        for (int bb = 0; bb < nb; bb++) {
            const int c = r / (K * K), kh = (r / K) % K, kw = r % K;
            const real *plane = inp + ((size_t)c * B + b0 + bb) * H * W;
            real *dst = col + (size_t)r * ncol + (size_t)bb * ohw;
            int lo, hi;
            valid_range(kw, S, pad, W, OW, &lo, &hi);
            for (int oh = 0; oh < OH; oh++) {
                real *d = dst + (size_t)oh * OW;
                const int ih = oh * S - pad + kh;
                if (ih < 0 || ih >= H || lo == hi) {
                    memset(d, 0, (size_t)OW * sizeof(real));
                    continue;
                }
                const real *src = plane + (size_t)ih * W + (lo * S - pad + kw);
                for (int ow = 0; ow < lo; ow++)
                    d[ow] = 0;
                if (S == 1) {
                    memcpy(d + lo, src, (size_t)(hi - lo) * sizeof(real));
                } else {
                    for (int ow = lo; ow < hi; ow++)
                        d[ow] = src[(size_t)(ow - lo) * S];
                }
                for (int ow = hi; ow < OW; ow++)
                    d[ow] = 0;
            }
        }
    }
}

/* dinp (C, B, H, W) += the columns of dcol (C·K·K, nb·OH·OW) scattered back to their input pixels,
 * for samples b0..b0+nb−1. One thread owns each input plane (c, b). */
static void col2im(real *dinp, const real *dcol, int b0, int nb, int B, int C, int H, int W, int K, int S,
                   int pad, int OH, int OW)
{
    const size_t ohw = (size_t)OH * OW, ncol = (size_t)nb * ohw;
#pragma omp parallel for collapse(2) schedule(static) num_threads(nb_get_threads())
    for (int c = 0; c < C; c++) {
        for (int bb = 0; bb < nb; bb++) {
            real *plane = dinp + ((size_t)c * B + b0 + bb) * H * W;
            for (int kh = 0; kh < K; kh++) {
                for (int kw = 0; kw < K; kw++) {
                    const size_t r = ((size_t)c * K + kh) * K + kw;
                    const real *src = dcol + r * ncol + (size_t)bb * ohw;
                    int lo, hi;
                    valid_range(kw, S, pad, W, OW, &lo, &hi);
                    for (int oh = 0; oh < OH; oh++) {
                        const int ih = oh * S - pad + kh;
                        if (ih < 0 || ih >= H)
                            continue;
                        const real *s = src + (size_t)oh * OW;
                        real *d = plane + (size_t)ih * W + (lo * S - pad + kw);
                        if (S == 1) {
                            for (int ow = lo; ow < hi; ow++)
                                d[ow - lo] += s[ow];
                        } else {
                            for (int ow = lo; ow < hi; ow++)
                                d[(size_t)(ow - lo) * S] += s[ow];
                        }
                    }
                }
            }
        }
    }
}

/* Samples per chunk: as many as fit in col_cap, at least one (col_cap must hold one sample). */
static int chunk_samples(size_t col_cap, int B, int C, int K, int OH, int OW)
{
    const size_t per = (size_t)C * K * K * OH * OW;
    if (per == 0)
        return B > 0 ? B : 1;
    if (col_cap < per)
        nb_fatal("conv2d: workspace of %zu reals is smaller than one sample's im2col (%zu)", col_cap, per);
    size_t nb = col_cap / per;
    return nb >= (size_t)B ? B : (int)nb;
}

void conv2d_forward(real *out, real *col, size_t col_cap, const real *inp, const real *w, const real *b,
                    int B, int C, int H, int W, int OC, int K, int stride, int pad)
{
    const int OH = conv_out_size(H, K, stride, pad), OW = conv_out_size(W, K, stride, pad);
    const int CKK = C * K * K;
    const size_t ohw = (size_t)OH * OW, ld = (size_t)B * ohw;
    const int nb = chunk_samples(col_cap, B, C, K, OH, OW);
    for (int b0 = 0; b0 < B; b0 += nb) {
        const int n = B - b0 < nb ? B - b0 : nb;
        const int ncol = (int)(n * ohw);
        im2col(col, inp, b0, n, B, C, H, W, K, stride, pad, OH, OW);
        /* out[:, b0·OH·OW : (b0+n)·OH·OW] = w (OC, CKK) · col (CKK, n·OH·OW) */
        gemm(0, 0, OC, ncol, CKK, 1, w, CKK, col, ncol, 0, out + (size_t)b0 * ohw, (int)ld);
        if (b) {
#pragma omp parallel for schedule(static) num_threads(nb_get_threads())
            for (int oc = 0; oc < OC; oc++) {
                real *o = out + (size_t)oc * ld + (size_t)b0 * ohw;
                const real bias = b[oc];
                for (int j = 0; j < ncol; j++)
                    o[j] += bias;
            }
        }
    }
}

void conv2d_backward(real *dinp, real *dw, real *db, real *col, size_t col_cap, const real *dout,
                     const real *inp, const real *w, int B, int C, int H, int W, int OC, int K, int stride,
                     int pad)
{
    const int OH = conv_out_size(H, K, stride, pad), OW = conv_out_size(W, K, stride, pad);
    const int CKK = C * K * K;
    const size_t ohw = (size_t)OH * OW, ld = (size_t)B * ohw;

    /* db[oc] += Σ_{b,oh,ow} dout[oc, b, oh, ow] */
    if (db) {
#pragma omp parallel for schedule(static) num_threads(nb_get_threads())
        for (int oc = 0; oc < OC; oc++) {
            const real *d = dout + (size_t)oc * ld;
            double s = 0;
            for (size_t j = 0; j < ld; j++)
                s += d[j];
            db[oc] += (real)s;
        }
    }

    const int nb = chunk_samples(col_cap, B, C, K, OH, OW);
    for (int b0 = 0; b0 < B; b0 += nb) {
        const int n = B - b0 < nb ? B - b0 : nb;
        const int ncol = (int)(n * ohw);
        const real *dchunk = dout + (size_t)b0 * ohw;
        if (dw) {
            im2col(col, inp, b0, n, B, C, H, W, K, stride, pad, OH, OW);
            /* dw (OC, CKK) += dout_chunk (OC, n·OH·OW) · colᵀ */
            gemm(0, 1, OC, CKK, ncol, 1, dchunk, (int)ld, col, ncol, 1, dw, CKK);
        }
        if (dinp) {
            /* dcol (CKK, n·OH·OW) = wᵀ · dout_chunk, reusing the workspace */
            gemm(1, 0, CKK, ncol, OC, 1, w, CKK, dchunk, (int)ld, 0, col, ncol);
            col2im(dinp, col, b0, n, B, C, H, W, K, stride, pad, OH, OW);
        }
    }
}
