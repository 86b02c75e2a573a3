/* cmd_bench_head.c — `normbench bench head`: the classification head at 10^3–10^6 classes
 * For each loss × feature dimension d × class count C × sample rate it times one
 * training step of the head alone — zero the gradients, forward + backward of the loss on random
 * features (B, d) and labels, SGD step (momentum 0.9, weight decay 5e-4) — and records the peak
 * resident memory of the process that did it. Every configuration runs in its own forked child,
 * so its peak memory (VmHWM) is its own; the parent only parses options and writes the CSV (it
 * never touches OpenMP or OpenBLAS, whose GNU OpenMP thread pool does not survive a fork).
 *
 * Reference numbers, measured in a child too: the best GEMM rate of the machine at the thread
 * count, the largest of OpenBLAS's sgemm (2048³, threaded), oneDNN's dnnl_sgemm (2048³, threaded)
 * and dnnl_sgemm the head's way (each thread its own single-threaded B × block × d product, the
 * head's block size, in one OpenMP region); the library, shape and oneDNN ISA of the best are
 * printed and written to the CSV. From it the "3-GEMM limit" of a step, 3 × 2·B·C'·d flops at
 * that rate (C' = classes the step actually uses: C, or the sampled ceil(rC)); fraction = limit /
 * measured time. The blocked head does those three GEMMs when each block's products can wait in
 * its ∂L/∂W rows between the passes (B ≤ d, float, no sampling: lib/loss/head.h), four otherwise
 * (at most 0.75 of the limit). The memory
 * reference is float32 W + momentum + one batch of logits, (2·C·d + B·C)·4 bytes; mem_ratio = peak
 * RSS / reference. Gradient and momentum pages are touched before timing, so the peak is the
 * steady state of a long run (where every class has been sampled at some step), not the lower
 * figure of a fresh process.
 *
 * Timing: one warm-up step, then steps until at least --min-steps steps and --seconds seconds
 * (at most --max-steps); the CSV has the median and the minimum step time and the load average
 * when the configuration started (a busy machine shows up there). Writes results/bench/head.csv
 * (or --out). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/memstat.h"
#include "core/rng.h"
#include "io/csvlog.h"
#include "io/fsutil.h"
#include "loss/head.h"
#include "loss/loss.h"
#include "nn/optim.h"
#include "nn/paramset.h"

#define MAX_LIST 64 /* values per list option; more is an error, never cut short */

/* What a child reports through its pipe. */
typedef struct {
    int ok;
    double median, min, loss;
    int steps, used_classes, blocked;
    size_t peak_rss, head_bytes;
    double gflops; /* sgemm child only: the best rate, and which measurement gave it */
    char gemm_what[96];
} child_result;

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    loss_type type;
    int dim, classes, batch, threads, block;
    double rate;
    head_dtype dtype;
    double seconds;
    int min_steps, max_steps;
} bench_point;

/* The child's work: one configuration, timed. */
static child_result run_point(const bench_point *pt)
{
    child_result res = {0};
    nb_set_threads(pt->threads);
    loss_config cfg;
    loss_config_defaults(&cfg, pt->type);
    cfg.sample_rate = pt->rate;
    cfg.head_dtype = pt->dtype;
    char msg[256];
    if (loss_config_check(&cfg, pt->classes, msg, sizeof msg)) {
        fprintf(stderr, "normbench: bench head: %s\n", msg);
        return res;
    }
    paramset ps = {0};
    loss l;
    loss_init(&l, &cfg, pt->dim, pt->classes, pt->batch, &ps);
    /* the path normbench itself takes: plain up to LOSS_HEAD_PLAIN_MAX_C classes, blocked above */
    if (l.head->use && pt->block != LOSS_HEAD_BLOCK)
        loss_head_configure(&l, pt->block, 1);
    res.blocked = l.head->use;
    paramset_alloc(&ps);
    rng_t rng;
    rng_seed(&rng, 1);
    loss_bind(&l, &ps, &rng);
    /* steady state: every gradient and momentum page resident */
    if (ps.total) {
        memset(ps.grad, 0, ps.total * sizeof(real));
        memset(ps.mom, 0, ps.total * sizeof(real));
    }
    if (ps.total16) {
        memset(ps.grad16, 0, ps.total16 * sizeof(uint16_t));
        memset(ps.mom16, 0, ps.total16 * sizeof(uint16_t));
    }
    const int B = pt->batch, d = pt->dim;
    real *feat = nb_malloc((size_t)B * d * sizeof(real)), *dfeat = nb_malloc((size_t)B * d * sizeof(real));
    int *labels = nb_malloc((size_t)B * sizeof(int));
    for (size_t i = 0; i < (size_t)B * d; i++)
        feat[i] = (real)rng_normal(&rng);
    double *times = nb_malloc((size_t)(pt->max_steps + 1) * sizeof(double));
    int n = 0;
    double spent = 0;
    for (int s = 0; s <= pt->max_steps; s++) {
        for (int i = 0; i < B; i++)
            labels[i] = (int)rng_below(&rng, (uint64_t)pt->classes);
        const double t0 = nb_seconds();
        paramset_zero_grad(&ps);
        memset(dfeat, 0, (size_t)B * d * sizeof(real));
        res.loss = loss_forward_backward(&l, dfeat, NULL, feat, labels, B, s);
        sgd_step(&ps, 0.01, 0.9, 5e-4, 0);
        const double dt = nb_seconds() - t0;
        if (s == 0)
            continue; /* warm-up */
        times[n++] = dt;
        spent += dt;
        if (n >= pt->min_steps && spent >= pt->seconds)
            break;
    }
    qsort(times, (size_t)n, sizeof(double), cmp_double);
    res.steps = n;
    res.median = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
    res.min = times[0];
    int nc = pt->classes;
    if (pt->rate < 1)
        loss_head_classes(&l, &nc);
    res.used_classes = nc;
    res.head_bytes = loss_head_memory(&l);
    res.peak_rss = memstat_peak_rss();
    res.ok = isfinite(res.loss);
    free(times);
    free(feat);
    free(dfeat);
    free(labels);
    loss_free(&l);
    paramset_free(&ps);
    return res;
}

/* The machine's best GEMM rate at pt->threads (see the top of the file). */
static child_result best_gemm(const bench_point *pt)
{
    child_result r = {0};
    const int blk = pt->block, d = pt->dim, B = pt->batch;
    const double g[3] = {gemm_peak_gflops(2048), gemm_block_peak_gflops(2048),
                         gemm_parallel_gflops(0, 1, B, blk, d, 8)};
    char what[3][96];
    snprintf(what[0], sizeof what[0], "%s 2048^3", nb_gemm_library());
    snprintf(what[1], sizeof what[1], "%s 2048^3 (%s)", nb_gemm_block_library(), nb_dnnl_isa());
    snprintf(what[2], sizeof what[2], "%s %dx%dx%d per thread (%s)", nb_gemm_block_library(), B, blk, d,
             nb_dnnl_isa());
    printf("GEMM rates at %d threads: %s %.1f, %s %.1f, %s %.1f GFLOP/s\n", pt->threads, what[0], g[0], what[1], g[1],
           what[2], g[2]);
    fflush(stdout);
    int k = 0;
    for (int i = 1; i < 3; i++)
        if (g[i] > g[k])
            k = i;
    r.gflops = g[k];
    snprintf(r.gemm_what, sizeof r.gemm_what, "%s", what[k]);
    r.ok = 1;
    return r;
}

/* Runs the configuration (or, with sgemm_only, the sgemm measurement) in a forked child and returns what it reported; ok = 0 if it died (e.g. killed for
 * memory). */
static child_result in_child(const bench_point *pt, int sgemm_only, int *signaled)
{
    child_result res = {0};
    *signaled = 0;
    int fd[2];
    if (pipe(fd))
        nb_fatal("bench head: pipe: %s", strerror(errno));
    fflush(NULL);
    const pid_t pid = fork();
    if (pid < 0)
        nb_fatal("bench head: fork: %s", strerror(errno));
    if (pid == 0) {
        close(fd[0]);
        child_result r = {0};
        if (sgemm_only) {
            nb_set_threads(pt->threads);
            r = best_gemm(pt);
        } else {
            r = run_point(pt);
        }
        const ssize_t w = write(fd[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fd[1]);
    size_t got = 0;
    while (got < sizeof res) {
        const ssize_t k = read(fd[0], (char *)&res + got, sizeof res - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != sizeof res || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        memset(&res, 0, sizeof res);
        *signaled = WIFSIGNALED(status) ? WTERMSIG(status) : -1;
    }
    return res;
}

/* MemAvailable of /proc/meminfo in bytes, or 0. */
static size_t mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (size_t)kb * 1024;
}

static double load_average(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double v = NAN;
    if (f) {
        if (fscanf(f, "%lf", &v) != 1)
            v = NAN;
        fclose(f);
    }
    return v;
}

/* Comma-separated positive integers. */
static int parse_int_list(const char *opt, const char *text, int *out, int *n)
{
    *n = 0;
    if (!text) {
        fprintf(stderr, "normbench: %s: missing value\n", opt);
        return -1;
    }
    const char *p = text;
    while (*p) {
        if (*n == MAX_LIST) {
            fprintf(stderr, "normbench: %s: more than %d values\n", opt, MAX_LIST);
            return -1;
        }
        char *end;
        errno = 0;
        const double v = strtod(p, &end); /* accepts 1e6 */
        if (end == p || errno || v < 1 || v > 1e9 || v != floor(v) || (*end && *end != ',')) {
            fprintf(stderr, "normbench: %s: expected comma-separated positive integers, got '%s'\n", opt, text);
            return -1;
        }
        out[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static int parse_rate_list(const char *text, double *out, int *n)
{
    *n = 0;
    if (!text) {
        fprintf(stderr, "normbench: --rates: missing value\n");
        return -1;
    }
    const char *p = text;
    while (*p) {
        if (*n == MAX_LIST) {
            fprintf(stderr, "normbench: --rates: more than %d values\n", MAX_LIST);
            return -1;
        }
        char *end;
        errno = 0;
        const double v = strtod(p, &end);
        if (end == p || errno || !(v > 0 && v <= 1) || (*end && *end != ',')) {
            fprintf(stderr, "normbench: --rates: expected comma-separated rates in (0, 1], got '%s'\n", text);
            return -1;
        }
        out[(*n)++] = v;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static int parse_loss_list(const char *text, loss_type *out, int *n)
{
    *n = 0;
    if (!text) {
        fprintf(stderr, "normbench: --loss: missing value\n");
        return -1;
    }
    char buf[MAX_LIST * 24];
    if (strlen(text) >= sizeof buf) {
        fprintf(stderr, "normbench: --loss: the list is longer than %zu characters\n", sizeof buf - 1);
        return -1;
    }
    memcpy(buf, text, strlen(text) + 1);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (*n == MAX_LIST) {
            fprintf(stderr, "normbench: --loss: more than %d losses\n", MAX_LIST);
            return -1;
        }
        const int t = loss_type_from_name(tok);
        if (t < 0 || !loss_is_classification((loss_type)t)) {
            char names[1024] = "";
            for (int k = 0; k < LOSS_TYPE_COUNT; k++) /* the loss table's classification family */
                if (loss_is_classification((loss_type)k)) {
                    strncat(names, names[0] ? ", " : "", sizeof names - strlen(names) - 1);
                    strncat(names, loss_type_name((loss_type)k), sizeof names - strlen(names) - 1);
                }
            fprintf(stderr, "normbench: --loss: '%s' is not a classification loss (%s)\n", tok, names);
            return -1;
        }
        out[(*n)++] = (loss_type)t;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: normbench bench head [--loss LIST] [--dim LIST] [--classes LIST] [--rates LIST] [--batch N]\n"
               "                            [--threads N] [--dtype float32|bf16] [--block N] [--seconds S]\n"
               "                            [--min-steps N] [--max-steps N] [--out FILE]\n"
               "  defaults: --loss softmax,arcface --dim 128,512 --classes 1000,10000,100000,1000000\n"
               "            --rates 1,0.1 --batch 256 --threads 2 --dtype float32 --block %d --seconds 2\n"
               "            --min-steps 3 --max-steps 20 --out results/bench/head.csv\n"
               "  one point:  normbench bench head --loss arcface --classes 100000 --dim 512 --rates 1\n",
            LOSS_HEAD_BLOCK);
}

int cmd_bench_head(int argc, char **argv)
{
    loss_type losses[MAX_LIST] = {LOSS_SOFTMAX, LOSS_ARCFACE};
    int n_loss = 2, dims[MAX_LIST] = {128, 512}, n_dim = 2;
    int classes[MAX_LIST] = {1000, 10000, 100000, 1000000}, n_cls = 4;
    double rates[MAX_LIST] = {1, 0.1};
    int n_rate = 2, batch = 256, threads = 2, block = LOSS_HEAD_BLOCK, min_steps = 3, max_steps = 20, secs = 2;
    head_dtype dtype = HEAD_FLOAT32;
    const char *out_path = "results/bench/head.csv";
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(o, "--loss"))
            rc = parse_loss_list(v, losses, &n_loss), i++;
        else if (!strcmp(o, "--dim"))
            rc = parse_int_list(o, v, dims, &n_dim), i++;
        else if (!strcmp(o, "--classes"))
            rc = parse_int_list(o, v, classes, &n_cls), i++;
        else if (!strcmp(o, "--rates"))
            rc = parse_rate_list(v, rates, &n_rate), i++;
        else if (!strcmp(o, "--batch"))
            rc = parse_positive_int(o, v, &batch), i++;
        else if (!strcmp(o, "--threads"))
            rc = parse_positive_int(o, v, &threads), i++;
        else if (!strcmp(o, "--block"))
            rc = parse_positive_int(o, v, &block), i++;
        else if (!strcmp(o, "--seconds"))
            rc = parse_positive_int(o, v, &secs), i++;
        else if (!strcmp(o, "--min-steps"))
            rc = parse_positive_int(o, v, &min_steps), i++;
        else if (!strcmp(o, "--max-steps"))
            rc = parse_positive_int(o, v, &max_steps), i++;
        else if (!strcmp(o, "--out")) {
            if (!v) {
                fprintf(stderr, "normbench: --out: missing value\n");
                return 2;
            }
            out_path = v;
            i++;
        } else if (!strcmp(o, "--dtype")) {
            if (v && !strcmp(v, "float32"))
                dtype = HEAD_FLOAT32;
            else if (v && !strcmp(v, "bf16"))
                dtype = HEAD_BF16;
            else {
                fprintf(stderr, "normbench: --dtype: expected float32 or bf16\n");
                return 2;
            }
            i++;
        } else {
            const int help = !strcmp(o, "--help") || !strcmp(o, "-h");
            usage(help ? stdout : stderr);
            return help ? 0 : 2;
        }
        if (rc)
            return 2;
    }
    if (max_steps < min_steps)
        max_steps = min_steps;

    nb_error err = {0};
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", out_path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        if (mkdir_p(dir, &err)) {
            nb_error_print(&err, stderr);
            return 1;
        }
    }
    atomic_file out;
    if (atomic_open(&out, out_path, &err)) {
        nb_error_print(&err, stderr);
        return 1;
    }
    static const char *header[] = {"loss",          "dim",          "classes",         "batch",
                                   "sample_rate",   "used_classes", "dtype",           "threads",
                                   "block",         "steps",        "seconds_median",  "seconds_min",
                                   "peak_rss_bytes", "head_bytes",  "mem_reference_bytes", "mem_ratio",
                                   "sgemm_gflops",  "gemm_limit_seconds", "fraction_of_limit", "loadavg",
                                   "path",          "status",       "gemm_best"};
    enum { NCOL = (int)(sizeof header / sizeof header[0]) };
    csvlog_row(out.f, header, NCOL);

    bench_point pt = {0};
    pt.threads = threads;
    pt.block = block;
    pt.dim = dims[n_dim - 1];
    pt.batch = batch;
    int sig;
    const child_result peak = in_child(&pt, 1, &sig);
    printf("best GEMM (%d threads): %.1f GFLOP/s, %s; load average %.2f\n", threads, peak.gflops, peak.gemm_what,
           load_average());
    printf("%-8s %5s %8s %5s %8s %10s %10s %9s %9s %9s\n", "loss", "d", "C", "rate", "used", "s/step", "peak MB",
           "mem/ref", "limit s", "fraction");
    fflush(stdout);
    int failures = 0;
    /* rows grouped by (loss, d, rate), C innermost: each curve of plots/bench_head.gp is contiguous */
    for (int li = 0; li < n_loss; li++)
        for (int di = 0; di < n_dim; di++)
            for (int ri = 0; ri < n_rate; ri++)
                for (int ci = 0; ci < n_cls; ci++) {
                    pt = (bench_point){losses[li], dims[di], classes[ci], batch, threads, block, rates[ri],
                                       dtype,      (double)secs, min_steps, max_steps};
                    const double C = classes[ci], d = dims[di], B = batch;
                    const double esz = dtype == HEAD_BF16 ? 2 : 4;
                    const double need = 3 * C * d * esz + 4.0 * B * (2.0 * block + 4 * d) + 8 * C + 64e6;
                    const double ref = (2 * C * d + B * C) * 4;
                    const double load = load_average();
                    child_result r = {0};
                    const char *status = "ok";
                    const size_t avail = mem_available();
                    if (avail && need > 0.9 * (double)avail) {
                        status = "skipped_memory";
                    } else {
                        r = in_child(&pt, 0, &sig);
                        if (!r.ok)
                            status = sig == 9 ? "killed_oom" : "failed";
                    }
                    const double limit = peak.gflops > 0 ? 3 * 2 * B * r.used_classes * d / (peak.gflops * 1e9) : NAN;
                    char c[NCOL][96];
                    const char *cells[NCOL];
                    snprintf(c[0], 48, "%s", loss_type_name(pt.type));
                    snprintf(c[1], 48, "%d", pt.dim);
                    snprintf(c[2], 48, "%d", pt.classes);
                    snprintf(c[3], 48, "%d", batch);
                    csvlog_num(c[4], 48, pt.rate);
                    snprintf(c[5], 48, "%d", r.used_classes);
                    snprintf(c[6], 48, "%s", dtype == HEAD_BF16 ? "bf16" : "float32");
                    snprintf(c[7], 48, "%d", threads);
                    snprintf(c[8], 48, "%d", block);
                    snprintf(c[9], 48, "%d", r.steps);
                    const int ok = !strcmp(status, "ok");
                    csvlog_num(c[10], 48, ok ? r.median : NAN);
                    csvlog_num(c[11], 48, ok ? r.min : NAN);
                    csvlog_num(c[12], 48, ok ? (double)r.peak_rss : NAN);
                    csvlog_num(c[13], 48, ok ? (double)r.head_bytes : NAN);
                    csvlog_num(c[14], 48, ref);
                    csvlog_num(c[15], 48, ok ? (double)r.peak_rss / ref : NAN);
                    csvlog_num(c[16], 48, peak.gflops);
                    csvlog_num(c[17], 48, ok ? limit : NAN);
                    csvlog_num(c[18], 48, ok ? limit / r.median : NAN);
                    csvlog_num(c[19], 48, load);
                    snprintf(c[20], 48, "%s", ok ? (r.blocked ? "blocked" : "plain") : "");
                    snprintf(c[21], 48, "%s", status);
                    snprintf(c[22], 96, "%s", peak.gemm_what);
                    for (int k = 0; k < NCOL; k++)
                        cells[k] = c[k];
                    csvlog_row(out.f, cells, NCOL);
                    fflush(out.f);
                    if (ok)
                        printf("%-8s %5d %8d %5g %8d %10.4f %10.1f %9.3f %9.4f %9.3f\n", loss_type_name(pt.type),
                               pt.dim, pt.classes, pt.rate, r.used_classes, r.median, r.peak_rss / 1e6,
                               r.peak_rss / ref, limit, limit / r.median);
                    else
                        printf("%-8s %5d %8d %5g  %s (needs about %.1f GB)\n", loss_type_name(pt.type), pt.dim,
                               pt.classes, pt.rate, status, need / 1e9);
                    fflush(stdout);
                    failures += !ok && strcmp(status, "skipped_memory");
                }
    if (atomic_commit(&out, &err)) {
        nb_error_print(&err, stderr);
        return 1;
    }
    printf("written: %s\n", out_path);
    return failures ? 1 : 0;
}
