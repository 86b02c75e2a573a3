/* bench_dnnl.c — images/s of one backbone forward + backward pass (net_forward, net_backward with
 * a random ∂L/∂features; no loss, no optimizer step) for the OpenBLAS and the oneDNN backends of
 * lib/nn/net.h, at a batch size and thread counts, on random Fashion-MNIST-shaped inputs
 * (1×28×28; 1×32×32 for resnet-mini). The two backends are timed in alternating rounds, so a
 * change of the machine's load hits both; each reports its best and its median round.
 *   usage: build/bench_dnnl [batch] [seconds per round] [rounds] [describe]   (defaults 128 1 5)
 * "describe" also lists, per backbone, every oneDNN step and the implementation it runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/gemm.h"
#include "core/rng.h"
#include "nn/dnnl_net.h"
#include "nn/net.h"
#include "nn/paramset.h"

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    net n;
    paramset ps;
} model;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Images/s of forward + backward steps for about `seconds`. */
static double round_ips(model *m, const real *x, const real *df, int B, double seconds)
{
    long steps = 0;
    double t0 = now_seconds(), t;
    do {
        net_forward(&m->n, x, B, 1);
        paramset_zero_grad(&m->ps);
        net_backward(&m->n, df, B);
        steps++;
        t = now_seconds() - t0;
    } while (t < seconds);
    return steps * B / t;
}

int main(int argc, char **argv)
{
    int B = argc > 1 ? atoi(argv[1]) : 128;
    double seconds = argc > 2 ? atof(argv[2]) : 1;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    int describe = argc > 4 && !strcmp(argv[4], "describe");
    if (B < 1 || seconds <= 0 || rounds < 1 || rounds > 64) {
        fprintf(stderr, "usage: bench_dnnl [batch] [seconds per round] [rounds ≤ 64]\n");
        return 2;
    }
    const backbone_type bbs[] = {BACKBONE_CONVNET_SMALL, BACKBONE_LENETPP, BACKBONE_RESNET_MINI};
    const char *names[] = {"convnet-small", "lenetpp", "resnet-mini"};
    printf("%-14s %7s %6s %-6s %12s %12s\n", "backbone", "threads", "batch", "impl", "best img/s", "median img/s");
    for (int threads = 1; threads <= 2; threads++) {
        nb_set_threads(threads);
        for (int bi = 0; bi < 3; bi++) {
            int side = bbs[bi] == BACKBONE_RESNET_MINI ? 32 : 28, dim = 128;
            model m[2];
            nb_error err = {0};
            rng_t rng;
            for (int k = 0; k < 2; k++) {
                memset(&m[k], 0, sizeof m[k]);
                if (net_build(&m[k].n, bbs[bi], 0, dim, 1, side, side, B, &m[k].ps, &err)) {
                    nb_error_print(&err, stderr);
                    return 1;
                }
                paramset_alloc(&m[k].ps);
                rng_seed(&rng, 1);
                net_bind(&m[k].n, &rng);
            }
            if (net_set_backend(&m[1].n, NET_BACKEND_DNNL, &err)) {
                nb_error_print(&err, stderr);
                return 1;
            }
            real *x = nb_malloc((size_t)B * side * side * sizeof(real));
            real *df = nb_malloc((size_t)B * dim * sizeof(real));
            for (size_t i = 0; i < (size_t)B * side * side; i++)
                x[i] = (real)rng_normal(&rng);
            for (size_t i = 0; i < (size_t)B * dim; i++)
                df[i] = (real)(0.01 * rng_normal(&rng));
            double ips[2][64];
            for (int k = 0; k < 2; k++) /* warm-up */
                round_ips(&m[k], x, df, B, 0.2);
            for (int r = 0; r < rounds; r++)
                for (int k = 0; k < 2; k++)
                    ips[k][r] = round_ips(&m[k], x, df, B, seconds);
            if (describe && threads == 1) {
                printf("%s: the oneDNN steps of one training step and their implementations\n", names[bi]);
                dnnl_net_describe(m[1].n.backend_state, stdout);
            }
            for (int k = 0; k < 2; k++) {
                qsort(ips[k], (size_t)rounds, sizeof(double), cmp_double);
                printf("%-14s %7d %6d %-6s %12.0f %12.0f\n", names[bi], threads, B, k ? "dnnl" : "blas",
                       ips[k][rounds - 1], ips[k][rounds / 2]);
                fflush(stdout);
            }
            free(x);
            free(df);
            for (int k = 0; k < 2; k++) {
                net_free(&m[k].n);
                paramset_free(&m[k].ps);
            }
        }
    }
    return 0;
}
