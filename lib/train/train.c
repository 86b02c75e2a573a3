/* train.c — model assembly, the training loop and the run folder; see train.h. */
#include "train/train.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "io/buildinfo.h"
#include "io/csvlog.h"
#include "eval/evaluate.h"
#include "io/fsutil.h"
#include "core/gemm.h"
#include "core/memstat.h"
#include "nn/optim.h"
#include "eval/verify.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist/"

int model_init(model *m, const nb_config *cfg, int c, int h, int w, int num_classes, int max_batch, rng_t *rng,
               nb_error *err)
{
    memset(m, 0, sizeof *m);
    int d = cfg->model.feature_dim;
    if (net_build(&m->net, cfg->model.backbone, cfg->model.width, d, c, h, w, max_batch, &m->ps, err))
        return -1;
    char msg[512];
    if (loss_config_check(&cfg->loss, num_classes, msg, sizeof msg))
        return nb_error_set(err, cfg->source, 0, 0, "%s", msg);
    loss_init(&m->loss, &cfg->loss, d, num_classes, max_batch, &m->ps);
    paramset_alloc(&m->ps);
    rng_t r_net, r_loss;
    rng_fork(&r_net, rng, 1);
    rng_fork(&r_loss, rng, 2);
    net_bind(&m->net, &r_net);
    loss_bind(&m->loss, &m->ps, &r_loss);
    m->x = nb_malloc((size_t)max_batch * c * h * w * sizeof(real));
    m->y = nb_malloc((size_t)max_batch * sizeof(int));
    m->dfeat = nb_malloc((size_t)max_batch * d * sizeof(real));
    m->pred = nb_malloc((size_t)max_batch * sizeof(int));
    return 0;
}

void model_free(model *m)
{
    net_free(&m->net);
    loss_free(&m->loss);
    paramset_free(&m->ps);
    free(m->x);
    free(m->y);
    free(m->dfeat);
    free(m->pred);
    memset(m, 0, sizeof *m);
}

void model_train_step(model *m, const nb_config *cfg, int B, double lr, long step, step_stats *st)
{
    int d = m->net.feature_dim;
    paramset_zero_grad(&m->ps);
    const real *feat = net_forward(&m->net, m->x, B, 1);
    memset(m->dfeat, 0, (size_t)B * d * sizeof(real));
    /* training accuracy: predictions from the loss's own forward pass (under sampling, among the
     * step's sampled classes; see loss_forward_backward_predict) */
    const int want_pred = loss_has_classifier(cfg->loss.type) || cfg->loss.type == LOSS_C_CONTRASTIVE ||
                          cfg->loss.type == LOSS_C_TRIPLET;
    st->loss = loss_forward_backward_predict(&m->loss, m->dfeat, NULL, want_pred ? m->pred : NULL, feat, m->y, B,
                                             step);
    st->norm_sum = st->norm_sq_sum = 0;
    for (int i = 0; i < B; i++) {
        double s = 0;
        for (int j = 0; j < d; j++)
            s += (double)feat[(size_t)i * d + j] * feat[(size_t)i * d + j];
        st->norm_sum += sqrt(s);
        st->norm_sq_sum += s;
    }
    st->correct = -1;
    if (want_pred) {
        st->correct = 0;
        for (int i = 0; i < B; i++)
            st->correct += m->pred[i] == m->y[i];
    }
    net_backward(&m->net, m->dfeat, B);
    sgd_step(&m->ps, lr, cfg->train.momentum, cfg->train.weight_decay, cfg->train.no_decay);
    loss_after_step(&m->loss, feat, m->y, B);
}

double model_evaluate(model *m, const dataset *d, int batch)
{
    if (m->loss.cfg.type == LOSS_CONTRASTIVE || m->loss.cfg.type == LOSS_TRIPLET || d->open_set)
        return NAN;
    long correct = 0;
    int *idx = nb_malloc((size_t)batch * sizeof(int));
    for (int start = 0; start < d->n; start += batch) {
        int B = d->n - start < batch ? d->n - start : batch;
        for (int i = 0; i < B; i++)
            idx[i] = start + i;
        dataset_gather(d, m->x, m->y, idx, B);
        const real *feat = net_forward(&m->net, m->x, B, 0);
        loss_predict(&m->loss, m->pred, feat, B);
        for (int i = 0; i < B; i++)
            correct += m->pred[i] == m->y[i];
    }
    free(idx);
    return d->n ? (double)correct / d->n : NAN;
}

int data_check_finite(const dataset *d, const char *file, const char *what, nb_error *err)
{
    if (!d->images)
        return 0;
    size_t per = (size_t)d->c * d->h * d->w;
    for (size_t i = 0; i < (size_t)d->n * per; i++)
        if (!isfinite(d->images[i]))
            return nb_error_set(err, file, 0, 0, "data: %s image %zu has a non-finite pixel value (%g at position %zu)",
                                what, i / per, (double)d->images[i], i % per);
    return 0;
}

/* The stop request of train_request_stop: the signal number, or 0. */
static volatile sig_atomic_t stop_signal;

void train_request_stop(int sig) { stop_signal = sig ? sig : SIGTERM; }

int train_stop_requested(void) { return stop_signal; }

int data_load(const nb_config *cfg, dataset *train, dataset *test, pair_list *pairs, nb_error *err)
{
    memset(pairs, 0, sizeof *pairs);
    const char *ti = cfg->data.train_images, *tl = cfg->data.train_labels;
    const char *vi = cfg->data.test_images, *vl = cfg->data.test_labels;
    switch (cfg->data.type) {
    case DATA_FASHION_MNIST:
        if (!ti[0])
            ti = FMNIST_DIR "train-images-idx3-ubyte.gz";
        if (!tl[0])
            tl = FMNIST_DIR "train-labels-idx1-ubyte.gz";
        if (!vi[0])
            vi = FMNIST_DIR "t10k-images-idx3-ubyte.gz";
        if (!vl[0])
            vl = FMNIST_DIR "t10k-labels-idx1-ubyte.gz";
        /* fall through */
    case DATA_MNIST:
    case DATA_IDX:
        if (dataset_load_idx(train, ti, tl, cfg->data.train_subset, err))
            return -1;
        if (dataset_load_idx(test, vi, vl, cfg->data.test_subset, err))
            goto fail;
        break;
    case DATA_SYNTHETIC: {
        synthetic_options o = cfg->data.synthetic;
        o.size = cfg->data.size;
        o.seed = cfg->data.seed;
        if (synthetic_make(train, test, &o, err))
            goto fail;
        test->open_set = 1;
        break;
    }
    case DATA_LFW: {
        lfw_options o = cfg->data.lfw;
        o.width = o.height = cfg->data.size;
        if (lfw_load_pairs(test, pairs, cfg->data.root, cfg->data.pairs, &o, err) ||
            lfw_load_train(train, cfg->data.root, cfg->data.train_list[0] ? cfg->data.train_list : NULL,
                           cfg->data.pairs, &o, err))
            goto fail;
        test->open_set = 1;
        break;
    }
    }
    if (test->c != train->c || test->h != train->h || test->w != train->w) {
        nb_error_set(err, vi, 0, 0, "test images are %d×%d×%d but training images are %d×%d×%d", test->c, test->h,
                     test->w, train->c, train->h, train->w);
        goto fail;
    }
    const degrade_options *dg = &cfg->data.degrade;
    if (dg->blur > 0 || dg->noise > 0 || dg->downscale > 1 || dg->occlusion > 0) {
        if ((cfg->data.degrade_train && dataset_degrade(train, dg, cfg->data.seed ^ 0x7472616964ULL, err)) ||
            (cfg->data.degrade_test && dataset_degrade(test, dg, cfg->data.seed ^ 0x74657374ULL, err)))
            goto fail;
    }
    if (data_check_finite(train, cfg->source, "training", err) || data_check_finite(test, cfg->source, "test", err))
        goto fail;
    if (cfg->data.normalize) {
        double mean, sd;
        dataset_pixel_stats(train, &mean, &sd);
        if (sd < 1e-12)
            sd = 1;
        dataset_normalize(train, mean, sd);
        dataset_normalize(test, mean, sd);
    }
    return 0;
fail:
    dataset_free(train);
    dataset_free(test);
    pairs_free(pairs);
    return -1;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void format_duration(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, n, "?");
    else if (s >= 3600)
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60)
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, n, "%.0fs", s);
}

typedef struct {
    int epoch;
    long step;
    double lr, train_loss, train_acc, test_acc, norm_mean, norm_sd, scale, seconds;
} epoch_row;

static const char *metrics_header[] = {"epoch",        "step",          "lr",         "train_loss",
                                       "train_acc",    "test_acc",      "feature_norm", "feature_norm_sd",
                                       "learned_scale", "seconds"};
#define METRICS_COLS (int)(sizeof metrics_header / sizeof metrics_header[0])

static int write_metrics(const char *dir, const epoch_row *rows, int n, nb_error *err)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    atomic_file a;
    if (atomic_open(&a, path, err))
        return -1;
    csvlog_row(a.f, metrics_header, METRICS_COLS);
    for (int i = 0; i < n; i++) {
        const epoch_row *r = &rows[i];
        char c[METRICS_COLS][40];
        const char *cells[METRICS_COLS];
        snprintf(c[0], sizeof c[0], "%d", r->epoch);
        snprintf(c[1], sizeof c[1], "%ld", r->step);
        double v[] = {r->lr, r->train_loss, r->train_acc, r->test_acc, r->norm_mean, r->norm_sd, r->scale, r->seconds};
        for (int j = 2; j < METRICS_COLS; j++)
            csvlog_num(c[j], sizeof c[j], v[j - 2]);
        for (int j = 0; j < METRICS_COLS; j++)
            cells[j] = c[j];
        csvlog_row(a.f, cells, METRICS_COLS);
    }
    return atomic_commit(&a, err);
}

static int write_config(const char *dir, const nb_config *cfg, nb_error *err)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    atomic_file a;
    if (atomic_open(&a, path, err))
        return -1;
    if (config_write(cfg, a.f)) {
        atomic_abort(&a);
        return nb_error_set(err, path, 0, 0, "cannot write the resolved configuration");
    }
    return atomic_commit(&a, err);
}

/* YAML double-quoted scalar. */
static void yaml_quoted(FILE *f, const char *key, const char *v)
{
    fprintf(f, "%s: \"", key);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', f);
        if (*p == '\n')
            fputs("\\n", f);
        else
            fputc(*p, f);
    }
    fputs("\"\n", f);
}

static int write_run_record(const char *dir, const nb_config *cfg, const loss *l, int threads, double wall,
                            const char *status, nb_error *err)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/run.yaml", dir);
    atomic_file a;
    if (atomic_open(&a, path, err))
        return -1;
    FILE *f = a.f;
    fprintf(f, "seed: %llu\n", (unsigned long long)cfg->seed);
    yaml_quoted(f, "git_commit", buildinfo_commit());
    yaml_quoted(f, "compiler", buildinfo_compiler());
    yaml_quoted(f, "cflags", buildinfo_cflags());
    yaml_quoted(f, "real", NB_REAL_NAME);
    yaml_quoted(f, "openblas", nb_blas_config());
    fprintf(f, "threads: %d\n", threads);
    yaml_quoted(f, "config_file", cfg->source);
    fprintf(f, "detach_margin: %s\n", cfg->loss.detach_margin ? "true" : "false");
    fprintf(f, "wall_seconds: %.3f\n", wall);
    /* memory: the process's peak resident set so far, and the classification head's
     * share (W, gradient, momentum in their storage type, plus the loss's per-step buffers) */
    fprintf(f, "peak_rss_bytes: %zu\n", memstat_peak_rss());
    fprintf(f, "head_bytes: %zu\n", loss_head_memory(l));
    yaml_quoted(f, "status", status);
    return atomic_commit(&a, err);
}

int run_record_read(const char *dir, double *wall_seconds, int *threads)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/run.yaml", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    /* run.yaml is one flat mapping: scalars alternate key, value at depth 1 */
    char key[64] = "";
    int depth = 0, is_key = 1, found = 0, ok = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev))
            break;
        yaml_event_type_t t = ev.type;
        if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT)
            depth++;
        else if (t == YAML_MAPPING_END_EVENT || t == YAML_SEQUENCE_END_EVENT)
            depth--;
        else if (t == YAML_SCALAR_EVENT && depth == 1) {
            const char *v = (const char *)ev.data.scalar.value;
            if (is_key) {
                snprintf(key, sizeof key, "%s", v);
            } else {
                char *end;
                if (!strcmp(key, "wall_seconds")) {
                    double d = strtod(v, &end);
                    if (*v && !*end) {
                        *wall_seconds = d;
                        found |= 1;
                    }
                } else if (!strcmp(key, "threads")) {
                    long n = strtol(v, &end, 10);
                    if (*v && !*end) {
                        *threads = (int)n;
                        found |= 2;
                    }
                }
            }
            is_key = !is_key;
        }
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT) {
            ok = 1;
            break;
        }
    }
    yaml_parser_delete(&p);
    fclose(f);
    return ok && found == 3 ? 0 : -1;
}

static const char *final_header[] = {"status",     "epochs",    "steps",    "diverged_step", "num_classes",
                                     "train_loss", "min_train_loss", "train_acc", "test_acc", "feature_norm",
                                     "learned_scale"};
#define FINAL_BASE_COLS (int)(sizeof final_header / sizeof final_header[0])
#define FINAL_COLS (FINAL_BASE_COLS + EVAL_SUMMARY_COLS)

/* final.csv: the completion marker, written last: the run's state, its last epoch's metrics and
 * the evaluation's headline numbers (ev may be NULL for a diverged run). */
static int write_final(const char *dir, const train_result *res, const epoch_row *last, const eval_summary *ev,
                       nb_error *err)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/final.csv", dir);
    atomic_file a;
    if (atomic_open(&a, path, err))
        return -1;
    char c[FINAL_COLS][48];
    const char *cells[FINAL_COLS];
    snprintf(c[0], sizeof c[0], "%s", res->diverged ? "diverged" : "complete");
    snprintf(c[1], sizeof c[1], "%d", res->epochs);
    snprintf(c[2], sizeof c[2], "%ld", res->steps);
    if (res->diverged)
        snprintf(c[3], sizeof c[3], "%ld", res->diverged_step);
    else
        c[3][0] = '\0';
    snprintf(c[4], sizeof c[4], "%d", res->num_classes);
    double v[FINAL_COLS - 5] = {last ? last->train_loss : NAN, res->min_train_loss, last ? last->train_acc : NAN,
                                last ? last->test_acc : NAN,   last ? last->norm_mean : NAN, last ? last->scale : NAN};
    for (int j = FINAL_BASE_COLS - 5; j < FINAL_COLS - 5; j++)
        v[j] = NAN;
    if (ev)
        eval_summary_values(ev, v + FINAL_BASE_COLS - 5);
    for (int j = 5; j < FINAL_COLS; j++)
        csvlog_num(c[j], sizeof c[j], res->diverged ? NAN : v[j - 5]);
    const char *head[FINAL_COLS];
    for (int j = 0; j < FINAL_COLS; j++) {
        cells[j] = c[j];
        head[j] = j < FINAL_BASE_COLS ? final_header[j] : eval_summary_names[j - FINAL_BASE_COLS];
    }
    csvlog_row(a.f, head, FINAL_COLS);
    csvlog_row(a.f, cells, FINAL_COLS);
    return atomic_commit(&a, err);
}

/* Leaves the run incomplete after a stop request: run.yaml says "interrupted" (best effort: the
 * disk may be the reason), no final.csv; err says where it stopped. */
static int stopped(const char *dir, const nb_config *cfg, const loss *l, int threads, double wall, long step,
                   int epoch, train_result *res, nb_error *err)
{
    nb_error ignore;
    write_run_record(dir, cfg, l, threads, wall, "interrupted", &ignore);
    res->interrupted = stop_signal;
    return nb_error_set(err, dir, 0, 0, "interrupted by signal %d (%s) at step %ld, epoch %d: the run is incomplete "
                        "(no final.csv); rerun to redo it", (int)stop_signal, strsignal(stop_signal), step, epoch);
}

int train_run(const nb_config *cfg, const train_options *opt, train_result *res, nb_error *err)
{
    memset(res, 0, sizeof *res);
    double t0 = now_seconds();
    int threads = opt->threads > 0 ? opt->threads : 1;
    nb_set_threads(threads);

    dataset train = {0}, test = {0};
    pair_list pairs = {0};
    if (data_load(cfg, &train, &test, &pairs, err))
        return -1;
    int present = 0; /* classes with samples: labels may skip values */
    {
        unsigned char *seen = nb_calloc((size_t)train.num_classes + 1, 1);
        for (int i = 0; i < train.n; i++)
            if (train.labels[i] >= 0 && train.labels[i] < train.num_classes && !seen[train.labels[i]]++)
                present++;
        free(seen);
    }
    if (cfg->loss.type != LOSS_CONTRASTIVE && cfg->loss.type != LOSS_TRIPLET && present < 2) {
        nb_error_set(err, cfg->source, 0, 0, "data: the training set has samples of %d class(es); at least 2 are needed",
                     present);
        dataset_free(&train);
        dataset_free(&test);
        return -1;
    }

    const char *run_id = cfg->run_id;
    char default_id[128];
    if (!run_id[0]) {
        snprintf(default_id, sizeof default_id, "%s_seed%llu", loss_type_name(cfg->loss.type),
                 (unsigned long long)cfg->seed);
        run_id = default_id;
    }
    snprintf(res->run_dir, sizeof res->run_dir, "%s/%s/%s", opt->results_root, cfg->name, run_id);

    int B = cfg->train.batch_size;
    /* An open-set test set has its own identities: the classifier covers the training classes. */
    int num_classes = !test.open_set && test.num_classes > train.num_classes ? test.num_classes : train.num_classes;
    res->num_classes = num_classes;
    res->min_train_loss = INFINITY;
    rng_t rng, r_model, r_order;
    rng_seed(&rng, cfg->seed);
    rng_fork(&r_model, &rng, 11);
    rng_fork(&r_order, &rng, 12);
    model m;
    sampler smp = {0};
    epoch_row *rows = NULL;
    int rc = -1;
    if (model_init(&m, cfg, train.c, train.h, train.w, num_classes, B, &r_model, err))
        goto out_data;
    char final_path[1200], rel[300];
    snprintf(final_path, sizeof final_path, "%s/final.csv", res->run_dir);
    snprintf(rel, sizeof rel, "%s/%s", cfg->name, run_id);
    if (results_path_check(opt->results_root, rel, err)) /* before anything is removed or written */
        goto out_model;
    unlink(final_path); /* a rerun is incomplete until it finishes */
    if (mkdir_p(res->run_dir, err) || write_config(res->run_dir, cfg, err) ||
        write_run_record(res->run_dir, cfg, &m.loss, threads, 0, "running", err))
        goto out_model;

    sampler_init(&smp, &train);
    rows = nb_calloc((size_t)cfg->train.epochs, sizeof *rows);
    long step = 0;
    int epochs = cfg->train.epochs;
    int pk = cfg->train.sampler == SAMPLER_PK;
    double t_train = now_seconds(), last_print = 0;
    long images_done = 0;
    for (int epoch = 0; epoch < epochs; epoch++) {
        int n_order = pk ? sampler_pk(&smp, &r_order, cfg->train.pk_p, cfg->train.pk_k) : sampler_shuffle(&smp, &r_order);
        /* P×K: whole P×K groups per batch (P capped at the classes present; the config checks
         * that P·K fits in train.batch_size) */
        int batch = pk ? sampler_pk_batch(&smp, cfg->train.pk_p, cfg->train.pk_k) : B;
        int n_batches = n_order / batch; /* the last partial batch is dropped */
        if (n_batches == 0) {
            nb_error_set(err, cfg->source, 0, 0, "train.batch_size: %d is larger than the %d training samples", batch,
                         n_order);
            goto out_model;
        }
        double loss_sum = 0, norm_sum = 0, norm_sq = 0;
        long correct = 0, seen = 0;
        int has_acc = 1;
        double lr = 0;
        for (int bi = 0; bi < n_batches; bi++, step++) {
            if (stop_signal) {
                stopped(res->run_dir, cfg, &m.loss, threads, now_seconds() - t0, step, epoch + 1, res, err);
                goto out_model;
            }
            dataset_gather(&train, m.x, m.y, smp.order + (size_t)bi * batch, batch);
            size_t nx = (size_t)batch * train.c * train.h * train.w;
            for (size_t i = 0; i < nx; i++)
                if (!isfinite(m.x[i])) { /* streamed datasets render each sample here */
                    int s = smp.order[(size_t)bi * batch + i / (nx / batch)];
                    nb_error_set(err, cfg->source, 0, 0, "data: training sample %d has a non-finite pixel value (%g)",
                                 s, (double)m.x[i]);
                    goto out_model;
                }
            lr = lr_at(cfg, epoch + (double)bi / n_batches);
            step_stats st;
            model_train_step(&m, cfg, batch, lr, step, &st);
            /* the loss, or the features when a loss clamps them away (a hinge of NaN is 0) */
            if (!isfinite(st.loss) || !isfinite(st.norm_sum)) {
                if (!opt->quiet)
                    fprintf(stderr, "%s%s: diverged: %s became %g at step %ld (epoch %d)\n",
                            opt->progress_tty ? "\r\033[K" : "", run_id, isfinite(st.loss) ? "the feature norm" : "loss",
                            isfinite(st.loss) ? st.norm_sum : st.loss, step, epoch + 1);
                res->diverged = 1;
                res->diverged_step = step;
                res->steps = step;
                res->seconds = now_seconds() - t0;
                if (write_run_record(res->run_dir, cfg, &m.loss, threads, res->seconds, "diverged", err) ||
                    write_final(res->run_dir, res, NULL, NULL, err))
                    goto out_model;
                rc = 0;
                goto out_model;
            }
            loss_sum += st.loss * batch;
            norm_sum += st.norm_sum;
            norm_sq += st.norm_sq_sum;
            seen += batch;
            images_done += batch;
            if (st.correct < 0)
                has_acc = 0;
            else
                correct += st.correct;
            double t = now_seconds();
            if (opt->progress_tty && !opt->quiet && (t - last_print > 0.25 || bi == n_batches - 1)) {
                double rate = images_done / (t - t_train);
                double total = (double)epochs * n_batches * batch;
                char eta[32];
                format_duration(eta, sizeof eta, (total - images_done) / rate);
                fprintf(stderr, "\r%s: epoch %d/%d  batch %d/%d  loss %.4f  %.0f img/s  ETA %s   ", run_id, epoch + 1,
                        epochs, bi + 1, n_batches, loss_sum / seen, rate, eta);
                last_print = t;
            }
        }
        epoch_row *r = &rows[epoch];
        r->epoch = epoch + 1;
        r->step = step;
        r->lr = lr;
        r->train_loss = loss_sum / seen;
        if (r->train_loss < res->min_train_loss)
            res->min_train_loss = r->train_loss;
        r->train_acc = has_acc ? (double)correct / seen : NAN;
        r->test_acc = model_evaluate(&m, &test, B);
        r->norm_mean = norm_sum / seen;
        double var = norm_sq / seen - r->norm_mean * r->norm_mean;
        r->norm_sd = sqrt(var > 0 ? var : 0);
        r->scale = loss_learned_scale(&m.loss);
        r->seconds = now_seconds() - t0;
        if ((cfg->loss.type == LOSS_NORMFACE || cfg->loss.type == LOSS_COSFACE || cfg->loss.type == LOSS_ARCFACE) &&
            !cfg->loss.learn_s) {
            double bound = normface_loss_bound(num_classes, cfg->loss.s);
            if (r->train_loss < bound - 1e-6)
                fprintf(stderr, "\nnormbench: warning: %s epoch %d: training loss %.6g is below the NormFace bound "
                                "%.6g for n = %d, s = %g (docs/theory.md §2) — this indicates a bug\n",
                        run_id, epoch + 1, r->train_loss, bound, num_classes, cfg->loss.s);
        }
        if (write_metrics(res->run_dir, rows, epoch + 1, err))
            goto out_model;
        if (!opt->quiet) {
            if (opt->progress_tty)
                fprintf(stderr, "\r\033[K");
            fprintf(stderr, "%s: epoch %d/%d  loss %.4f  train_acc %.4f  test_acc %.4f  |f| %.2f  %.0fs\n", run_id,
                    epoch + 1, epochs, r->train_loss, r->train_acc, r->test_acc, r->norm_mean, r->seconds);
        }
        res->epochs = epoch + 1;
        res->train_loss = r->train_loss;
        res->train_acc = r->train_acc;
        res->test_acc = r->test_acc;
    }
    res->steps = step;
    res->seconds = now_seconds() - t0;
    res->images_per_second = images_done / (now_seconds() - t_train);
    eval_summary ev;
    if (stop_signal) {
        stopped(res->run_dir, cfg, &m.loss, threads, now_seconds() - t0, step, epochs, res, err);
        goto out_model;
    }
    if (!opt->quiet)
        fprintf(stderr, "%s: evaluating (verification, identification, geometry)\n", run_id);
    if (evaluate_run(&ev, &m, cfg, &train, &test, &pairs, res->run_dir, err))
        goto out_model;
    if (stop_signal) {
        stopped(res->run_dir, cfg, &m.loss, threads, now_seconds() - t0, step, epochs, res, err);
        goto out_model;
    }
    res->seconds = now_seconds() - t0;
    res->verify_acc = ev.verify_acc;
    if (write_run_record(res->run_dir, cfg, &m.loss, threads, res->seconds, "complete", err) ||
        write_final(res->run_dir, res, &rows[epochs - 1], &ev, err))
        goto out_model;
    rc = 0;

out_model:
    free(rows);
    sampler_free(&smp);
    model_free(&m);
out_data:
    dataset_free(&train);
    dataset_free(&test);
    pairs_free(&pairs);
    return rc;
}
