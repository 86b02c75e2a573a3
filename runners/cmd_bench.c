/* cmd_bench.c — `normbench bench`: training and evaluation throughput of each reference backbone
 * on each backend (OpenBLAS layers, oneDNN), per thread count, against the machine's best measured
 * GEMM rate; and, for the oneDNN backend, the time of every step of a training step (layers.csv).
 *
 * Inputs are random images of Fashion-MNIST's shape (1×28×28; 1×32×32 for resnet-mini), the loss
 * the config default (softmax, 10 classes), batch 128; a training step is forward + loss +
 * backward + SGD step (model_train_step), evaluation the backbone's forward in eval mode (the
 * embeddings). Each measurement has a warm-up of three untimed steps, then steps for about
 * --seconds; within a round the two backends run back to back for each backbone and mode, so a
 * change of the machine's load hits both. The GEMM limit is the best of OpenBLAS's sgemm and
 * oneDNN's sgemm on 2048³ at the thread count, named with the library and, for oneDNN, the
 * instruction set it chose (ONEDNN_MAX_CPU_ISA caps it). A training step is counted as three
 * forward passes of flops (net_forward_flops), an evaluation as one.
 *
 * Writes DIR/throughput.csv and DIR/layers.csv (default DIR results/bench). bench/ratio.py puts
 * these next to bench/torch_train.py's PyTorch figures (docs/backends.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "options.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/gemm.h"
#include "io/csvlog.h"
#include "io/fsutil.h"
#include "nn/dnnl_net.h"
#include "train/train.h"

#define MAX_PROFILE_ROWS 160

typedef struct {
    int batch, rounds, threads[8], n_threads;
    double seconds;
    int backbone_on[3], backend_on[2]; /* [BLAS, oneDNN] */
    char out[900];
} bench_opts;

typedef struct {
    double gflops;
    char library[96];
} gemm_limit;

static int bench_model(model *m, backbone_type bb, int dnnl, int batch, nb_config *cfg, nb_error *err)
{
    config_defaults(cfg);
    cfg->model.backbone = bb;
    cfg->model.backend = dnnl ? MODEL_BACKEND_DNNL : MODEL_BACKEND_BLAS;
    cfg->train.batch_size = batch;
    int side = bb == BACKBONE_RESNET_MINI ? 32 : 28;
    rng_t rng;
    rng_seed(&rng, 1);
    if (model_init(m, cfg, 1, side, side, 10, batch, &rng, err))
        return -1;
    for (size_t i = 0; i < (size_t)batch * side * side; i++)
        m->x[i] = (real)rng_normal(&rng);
    for (int i = 0; i < batch; i++)
        m->y[i] = (int)rng_below(&rng, 10);
    return 0;
}

static void one_step(model *m, const nb_config *cfg, int batch, int train, long step)
{
    if (train) {
        step_stats st;
        model_train_step(m, cfg, batch, 0.01, step, &st);
    } else {
        net_forward(&m->net, m->x, batch, 0);
    }
}

/* Images/s of steps (train) or eval forwards over about `seconds`, after three untimed ones. */
static double time_steps(model *m, const nb_config *cfg, int batch, int train, double seconds)
{
    for (int w = 0; w < 3; w++)
        one_step(m, cfg, batch, train, w);
    long steps = 0;
    double t0 = nb_seconds(), t;
    do {
        one_step(m, cfg, batch, train, 3 + steps);
        steps++;
        t = nb_seconds() - t0;
    } while (t < seconds);
    return steps * batch / t;
}

static void measure_limit(gemm_limit *lim)
{
    double blas = gemm_peak_gflops(2048);
    double dn = !strncmp(nb_gemm_block_library(), "oneDNN", 6) ? gemm_block_peak_gflops(2048) : 0;
    if (dn > blas) {
        lim->gflops = dn;
        snprintf(lim->library, sizeof lim->library, "oneDNN sgemm (%s)", nb_dnnl_isa());
    } else {
        lim->gflops = blas;
        snprintf(lim->library, sizeof lim->library, "OpenBLAS sgemm");
    }
    printf("threads %d: OpenBLAS sgemm %.1f GFLOP/s, oneDNN sgemm %.1f GFLOP/s (%s): limit %.1f (%s)\n",
           nb_get_threads(), blas, dn, nb_dnnl_isa(), lim->gflops, lim->library);
}

static void throughput_row(FILE *csv, backbone_type bb, int dnnl, int train, int round, int batch, double ips,
                           double gflops, const gemm_limit *lim)
{
    printf("%-14s %-5s %-5s %7d %5d %10.0f %9.1f %9.1f %7.1f%%\n", net_backbone_name(bb), dnnl ? "dnnl" : "blas",
           train ? "train" : "eval", nb_get_threads(), round, ips, gflops, lim->gflops, 100 * gflops / lim->gflops);
    fflush(stdout);
    char c[9][48];
    snprintf(c[0], sizeof c[0], "%d", nb_get_threads());
    snprintf(c[1], sizeof c[1], "%d", batch);
    snprintf(c[2], sizeof c[2], "%d", round);
    csvlog_num(c[3], sizeof c[3], ips);
    csvlog_num(c[4], sizeof c[4], gflops);
    csvlog_num(c[5], sizeof c[5], lim->gflops);
    csvlog_num(c[6], sizeof c[6], gflops / lim->gflops);
    const char *cells[] = {net_backbone_name(bb), dnnl ? "dnnl" : "blas", train ? "train" : "eval", c[0], c[1], c[2],
                           c[3], c[4], c[5], lim->library, nb_dnnl_isa(), c[6]};
    csvlog_row(csv, cells, 12);
}

/* Profiles about `seconds` of training steps on the oneDNN backend and writes one row per step
 * of the plan, plus a row "rest" for what the net's steps do not cover (loss, SGD, data). */
static void profile_rows(FILE *csv, model *m, const nb_config *cfg, backbone_type bb, int batch, double seconds,
                         const gemm_limit *lim)
{
    dnnl_net_profile(m->net.backend_state, 1);
    long steps = 0;
    double t0 = nb_seconds(), total;
    do {
        one_step(m, cfg, batch, 1, steps++);
        total = nb_seconds() - t0;
    } while (total < seconds);
    dnnl_net_profile(m->net.backend_state, 0);
    dnnl_step_profile rows[MAX_PROFILE_ROWS];
    int n = dnnl_net_profile_rows(m->net.backend_state, &m->net, batch, 1, rows, MAX_PROFILE_ROWS);
    if (n > MAX_PROFILE_ROWS)
        n = MAX_PROFILE_ROWS;
    double covered = 0, conv_s = 0, conv_f = 0;
    for (int r = 0; r < n; r++) {
        double ms = rows[r].calls ? 1e3 * rows[r].seconds / rows[r].calls : 0;
        double gf =
            rows[r].flops > 0 && rows[r].seconds > 0 ? rows[r].flops * rows[r].calls / rows[r].seconds / 1e9 : 0;
        covered += rows[r].seconds;
        if (rows[r].flops > 0 && strstr(rows[r].what, "conv"))
            conv_s += rows[r].seconds, conv_f += rows[r].flops * rows[r].calls;
        char c[6][48];
        snprintf(c[0], sizeof c[0], "%d", nb_get_threads());
        snprintf(c[1], sizeof c[1], "%d", rows[r].node);
        csvlog_num(c[2], sizeof c[2], ms);
        csvlog_num(c[3], sizeof c[3], gf);
        csvlog_num(c[4], sizeof c[4], gf / lim->gflops);
        csvlog_num(c[5], sizeof c[5], rows[r].seconds / total);
        const char *cells[] = {net_backbone_name(bb), c[0], c[1], rows[r].backward ? "backward" : "forward",
                               rows[r].what, rows[r].impl, c[2], c[3], c[4], c[5]};
        csvlog_row(csv, cells, 10);
    }
    char c[6][48];
    snprintf(c[0], sizeof c[0], "%d", nb_get_threads());
    csvlog_num(c[2], sizeof c[2], 1e3 * (total - covered) / steps);
    csvlog_num(c[5], sizeof c[5], (total - covered) / total);
    const char *rest[] = {net_backbone_name(bb), c[0], "", "", "rest (loss + SGD step + data)", "", c[2], "", "", c[5]};
    csvlog_row(csv, rest, 10);
    double conv_gf = conv_s > 0 ? conv_f / conv_s / 1e9 : 0;
    printf("  %s, %d thread(s), oneDNN: convolutions %.1f GFLOP/s = %.0f%% of the limit, %.0f%% of the step; "
           "rest (loss, SGD, data) %.0f%%; see layers.csv\n",
           net_backbone_name(bb), nb_get_threads(), conv_gf, 100 * conv_gf / lim->gflops, 100 * conv_s / total,
           100 * (total - covered) / total);
}

static int parse_list(const char *opt, const char *text, const char *const *names, int *on, int n)
{
    memset(on, 0, sizeof *on * n);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text ? text : "");
    int any = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int k = 0;
        while (k < n && strcmp(tok, names[k]))
            k++;
        if (k == n) {
            fprintf(stderr, "normbench bench: %s: unknown value '%s'\n", opt, tok);
            return -1;
        }
        on[k] = any = 1;
    }
    if (!any)
        fprintf(stderr, "normbench bench: %s needs a comma-separated list\n", opt);
    return any ? 0 : -1;
}

static void usage(int help)
{
    fprintf(help ? stdout : stderr,
            "usage: normbench bench [--threads N]... [--batch N] [--seconds S] [--rounds R]\n"
            "                       [--backbones LIST] [--backends LIST] [--out DIR]\n"
            "       normbench bench head ...   (the classification head at large C; --help there)\n"
            "  default: 1 and 2 threads, batch 128, about 2 s per measurement, 1 round, every backbone\n"
            "  (convnet-small,lenetpp,resnet-mini) on both backends (blas,dnnl), written to results/bench\n");
}

static int parse_opts(bench_opts *o, int argc, char **argv)
{
    static const char *const backends[] = {"blas", "dnnl"};
    *o = (bench_opts){.batch = 128, .rounds = 1, .threads = {1, 2}, .n_threads = 2, .seconds = 2,
                      .backbone_on = {1, 1, 1}, .backend_on = {1, 1}};
    snprintf(o->out, sizeof o->out, "results/bench");
    int user_threads = 0, s;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(a, "--batch"))
            rc = parse_positive_int(a, v, &o->batch), i++;
        else if (!strcmp(a, "--rounds"))
            rc = parse_positive_int(a, v, &o->rounds), i++;
        else if (!strcmp(a, "--seconds"))
            rc = parse_positive_int(a, v, &s), o->seconds = s, i++;
        else if (!strcmp(a, "--threads") && user_threads < 8)
            rc = parse_positive_int(a, v, &o->threads[user_threads++]), o->n_threads = user_threads, i++;
        else if (!strcmp(a, "--backbones"))
            rc = parse_list(a, v, net_backbone_names, o->backbone_on, 3), i++;
        else if (!strcmp(a, "--backends"))
            rc = parse_list(a, v, backends, o->backend_on, 2), i++;
        else if (!strcmp(a, "--out") && v && strlen(v) < sizeof o->out - 32)
            snprintf(o->out, sizeof o->out, "%s", v), i++;
        else {
            int help = !strcmp(a, "--help") || !strcmp(a, "-h");
            usage(help);
            return help ? 1 : 2;
        }
        if (rc)
            return 2;
    }
    return 0;
}

/* One round at the current thread count: each backbone, mode and backend, the backends back to
 * back; the profile on the last round. */
static int bench_round(const bench_opts *o, int round, const gemm_limit *lim, FILE *tp, FILE *layers, nb_error *err)
{
    for (int bb = 0; bb < 3; bb++) {
        if (!o->backbone_on[bb])
            continue;
        for (int train = 1; train >= 0; train--) {
            for (int dn = 0; dn < 2; dn++) {
                if (!o->backend_on[dn])
                    continue;
                nb_config cfg;
                model m;
                if (bench_model(&m, (backbone_type)bb, dn, o->batch, &cfg, err))
                    return -1;
                double ips = time_steps(&m, &cfg, o->batch, train, o->seconds);
                double gf = (train ? 3.0 : 1.0) * net_forward_flops(&m.net) * ips / 1e9;
                throughput_row(tp, (backbone_type)bb, dn, train, round, o->batch, ips, gf, lim);
                if (dn && train && round == o->rounds)
                    profile_rows(layers, &m, &cfg, (backbone_type)bb, o->batch, o->seconds, lim);
                model_free(&m);
            }
        }
    }
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "head")) /* the classification head at large C */
        return cmd_bench_head(argc - 1, argv + 1);
    bench_opts o;
    int prc = parse_opts(&o, argc, argv); /* 0, 1 after --help, 2 after an error (printed) */
    if (prc)
        return prc == 1 ? 0 : 2;
    nb_error err = {0};
    char tp_path[1024], ly_path[1024];
    snprintf(tp_path, sizeof tp_path, "%s/throughput.csv", o.out);
    snprintf(ly_path, sizeof ly_path, "%s/layers.csv", o.out);
    atomic_file tp, ly;
    if (mkdir_p(o.out, &err) || atomic_open(&tp, tp_path, &err)) {
        nb_error_print(&err, stderr);
        return 1;
    }
    if (atomic_open(&ly, ly_path, &err)) {
        atomic_abort(&tp);
        nb_error_print(&err, stderr);
        return 1;
    }
    const char *th[] = {"backbone", "backend", "mode", "threads", "batch", "round", "images_per_second", "gflops",
                        "limit_gflops", "limit_library", "dnnl_isa", "fraction"};
    csvlog_row(tp.f, th, 12);
    const char *lh[] = {"backbone", "threads", "node", "pass", "step", "impl", "ms_per_call", "gflops",
                        "fraction_of_limit", "share_of_step"};
    csvlog_row(ly.f, lh, 10);
    printf("%-14s %-5s %-5s %7s %5s %10s %9s %9s %8s\n", "backbone", "back", "mode", "threads", "round", "images/s",
           "GFLOP/s", "limit", "fraction");
    int rc = 0;
    for (int round = 1; round <= o.rounds && !rc; round++) {
        for (int ti = 0; ti < o.n_threads && !rc; ti++) {
            nb_set_threads(o.threads[ti]);
            gemm_limit lim;
            measure_limit(&lim);
            rc = bench_round(&o, round, &lim, tp.f, ly.f, &err);
        }
    }
    if (rc) {
        atomic_abort(&tp);
        atomic_abort(&ly);
    } else if (atomic_commit(&tp, &err)) {
        atomic_abort(&ly);
        rc = -1;
    } else {
        rc = atomic_commit(&ly, &err);
    }
    if (rc) {
        nb_error_print(&err, stderr);
        return 1;
    }
    printf("written: %s, %s\n", tp_path, ly_path);
    return 0;
}
