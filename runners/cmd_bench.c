/* cmd_bench.c — `normbench bench`: training throughput of each reference backbone (images/s at a
 * batch size, for each thread count), the GFLOP/s that represents, and OpenBLAS's own sgemm
 * GFLOP/s on the same machine as the limit to compare against. Inputs are random images of
 * Fashion-MNIST's shape (1×28×28; 1×32×32 for resnet-mini), softmax loss, 10 classes; the first
 * steps are a warm-up and not timed. Writes results/bench/throughput.csv. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "options.h"
#include "config/config.h"
#include "core/error.h"
#include "core/gemm.h"
#include "io/csvlog.h"
#include "io/fsutil.h"
#include "train/train.h"

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Training images/s of backbone bb at batch size batch over about seconds (after a warm-up of
 * three steps), and the GFLOP/s that represents. Returns 0, or −1 with err. */
static int bench_backbone(backbone_type bb, int batch, double seconds, double *ips, double *gflops, nb_error *err)
{
    nb_config cfg;
    config_defaults(&cfg);
    cfg.model.backbone = bb;
    cfg.train.batch_size = batch;
    int side = bb == BACKBONE_RESNET_MINI ? 32 : 28;
    model m;
    rng_t rng;
    rng_seed(&rng, 1);
    if (model_init(&m, &cfg, 1, side, side, 10, batch, &rng, err))
        return -1;
    for (size_t i = 0; i < (size_t)batch * side * side; i++)
        m.x[i] = (real)rng_normal(&rng);
    for (int i = 0; i < batch; i++)
        m.y[i] = (int)rng_below(&rng, 10);
    step_stats st;
    for (int w = 0; w < 3; w++)
        model_train_step(&m, &cfg, batch, 0.01, w, &st);
    long steps = 0;
    double t0 = now_seconds(), t;
    do {
        model_train_step(&m, &cfg, batch, 0.01, steps, &st);
        steps++;
        t = now_seconds() - t0;
    } while (t < seconds);
    *ips = steps * batch / t;
    /* A training step costs about three forward passes: forward, input and weight gradients. */
    *gflops = 3.0 * net_forward_flops(&m.net) * *ips / 1e9;
    model_free(&m);
    return 0;
}

/* One row of throughput.csv and of the table on stdout. */
static void bench_row(FILE *csv, backbone_type bb, int threads, int batch, double ips, double gflops, double peak)
{
    printf("%-14s %7d %6d %12.0f %9.1f %13.1f %8.1f%%\n", net_backbone_name(bb), threads, batch, ips, gflops, peak,
           100 * gflops / peak);
    fflush(stdout);
    char c[7][48];
    snprintf(c[0], sizeof c[0], "%s", net_backbone_name(bb));
    snprintf(c[1], sizeof c[1], "%d", threads);
    snprintf(c[2], sizeof c[2], "%d", batch);
    csvlog_num(c[3], sizeof c[3], ips);
    csvlog_num(c[4], sizeof c[4], gflops);
    csvlog_num(c[5], sizeof c[5], peak);
    csvlog_num(c[6], sizeof c[6], gflops / peak);
    const char *cells[7] = {c[0], c[1], c[2], c[3], c[4], c[5], c[6]};
    csvlog_row(csv, cells, 7);
}

int cmd_bench(int argc, char **argv)
{
    int batch = 128, thread_list[8] = {1, 2}, n_threads = 2;
    double seconds = 5;
    if (argc > 1 && !strcmp(argv[1], "head")) /* the classification head at large C */
        return cmd_bench_head(argc - 1, argv + 1);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch")) {
            if (parse_positive_int("--batch", i + 1 < argc ? argv[++i] : NULL, &batch))
                return 2;
        } else if (!strcmp(argv[i], "--threads")) {
            if (parse_positive_int("--threads", i + 1 < argc ? argv[++i] : NULL, &thread_list[0]))
                return 2;
            n_threads = 1;
        } else if (!strcmp(argv[i], "--seconds")) {
            int s;
            if (parse_positive_int("--seconds", i + 1 < argc ? argv[++i] : NULL, &s))
                return 2;
            seconds = s;
        } else {
            int help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
            fprintf(help ? stdout : stderr, "usage: normbench bench [--threads N] [--batch N] [--seconds S]\n"
                                            "  default: 1 and 2 threads, batch 128, about 5 s per measurement\n");
            return help ? 0 : 2;
        }
    }
    nb_error err = {0};
    if (mkdir_p("results/bench", &err)) {
        nb_error_print(&err, stderr);
        return 1;
    }
    atomic_file out;
    if (atomic_open(&out, "results/bench/throughput.csv", &err)) {
        nb_error_print(&err, stderr);
        return 1;
    }
    const char *header[] = {"backbone", "threads", "batch", "images_per_second", "gflops", "sgemm_gflops", "fraction"};
    csvlog_row(out.f, header, 7);
    printf("%-14s %7s %6s %12s %9s %13s %9s\n", "backbone", "threads", "batch", "images/s", "GFLOP/s", "sgemm GFLOP/s",
           "fraction");
    backbone_type bbs[] = {BACKBONE_CONVNET_SMALL, BACKBONE_LENETPP, BACKBONE_RESNET_MINI};
    for (int ti = 0; ti < n_threads; ti++) {
        nb_set_threads(thread_list[ti]);
        double peak = gemm_peak_gflops(2048);
        for (int bi = 0; bi < 3; bi++) {
            double ips, gflops;
            if (bench_backbone(bbs[bi], batch, seconds, &ips, &gflops, &err)) {
                nb_error_print(&err, stderr);
                atomic_abort(&out);
                return 1;
            }
            bench_row(out.f, bbs[bi], thread_list[ti], batch, ips, gflops, peak);
        }
    }
    if (atomic_commit(&out, &err)) {
        nb_error_print(&err, stderr);
        return 1;
    }
    printf("written: results/bench/throughput.csv\n");
    return 0;
}
