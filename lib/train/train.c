/* train.c — data loading, the training loop and the run folder; see train.h. */
#include "train/train.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/runrecord.h"
#include "data/insightface_bin.h"
#include "core/clock.h"
#include "core/gemm.h"
#include "eval/evaluate.h"
#include "eval/verify.h"
#include "io/csvlog.h"
#include "io/fsutil.h"
#include "io/runfolder.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist/"

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
    case DATA_INSIGHTFACE_BIN: { /* train on the folder's identities, verify on the .bin's pairs */
        lfw_options o = cfg->data.lfw;
        o.width = o.height = cfg->data.size;
        vi = cfg->data.bin;
        if (ifbin_load(test, pairs, cfg->data.bin, cfg->eval.folds, &o, err) ||
            lfw_load_train(train, cfg->data.root, cfg->data.train_list[0] ? cfg->data.train_list : NULL, NULL, &o,
                           err))
            goto fail;
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
    double lr, train_loss, train_acc, test_acc, norm_mean, norm_sd, scale, bias, seconds;
    double state[LOSS_STATE_MAX]; /* the loss's carried state at the epoch's end (loss_state_get) */
} epoch_row;

static const char *metrics_header[] = {"epoch",        "step",          "lr",         "train_loss",
                                       "train_acc",    "test_acc",      "feature_norm", "feature_norm_sd",
                                       "learned_scale", "learned_bias", "seconds"};
#define METRICS_COLS (int)(sizeof metrics_header / sizeof metrics_header[0])

/* One row of steps.csv: the means over the window of steps since the previous row. */
typedef struct {
    long step;   /* steps done */
    double epoch; /* fractional: epoch index + batches done / batches per epoch */
    double lr, train_loss, train_acc, norm_mean, norm_sd, scale, bias;
    double state[LOSS_STATE_MAX];
} step_row;

static const char *steps_header[] = {"step",         "epoch",           "lr",            "train_loss",  "train_acc",
                                     "feature_norm", "feature_norm_sd", "learned_scale", "learned_bias"};
#define STEPS_COLS (int)(sizeof steps_header / sizeof steps_header[0])

/* hdr ← the n fixed columns, then one "loss_<name>" column per value of state the loss carries
 * between steps (docs/losses.md §1b: curricularface's t, adaface's mu and sd, adacos's s), only for
 * the losses that have one; names (LOSS_STATE_MAX × 40) holds their text. Returns the column count. */
static int table_header(const char **hdr, char (*names)[40], const char *const *fixed, int n, const loss *l)
{
    const int ns = loss_state_count(l);
    for (int j = 0; j < n; j++)
        hdr[j] = fixed[j];
    for (int k = 0; k < ns; k++) {
        snprintf(names[k], 40, "loss_%s", loss_state_name(l, k));
        hdr[n + k] = names[k];
    }
    return n + ns;
}

_Static_assert(STEPS_COLS <= METRICS_COLS, "write_table holds METRICS_COLS + LOSS_STATE_MAX cells");

/* Fills the fixed cells c[0..) of row i of rows and returns the row's loss state. */
typedef const double *(*table_row_fn)(const void *rows, int i, char (*c)[40]);

/* Writes the run-folder table `name` atomically: the ncols fixed columns (ncols ≤ METRICS_COLS),
 * then the loss's carried state (table_header), one row per row(rows, i) for i < n. */
static int write_table(const char *dir, const char *name, const char *const *fixed, int ncols, const loss *l,
                       const void *rows, int n, table_row_fn row, nb_error *err)
{
    const int ns = loss_state_count(l);
    char sh[LOSS_STATE_MAX][40];
    const char *hdr[METRICS_COLS + LOSS_STATE_MAX];
    int nc = table_header(hdr, sh, fixed, ncols, l);
    char path[1200];
    if (runfolder_file(path, sizeof path, dir, name, err))
        return -1;
    atomic_file a;
    if (atomic_open(&a, path, err))
        return -1;
    csvlog_row(a.f, hdr, nc);
    for (int i = 0; i < n; i++) {
        char c[METRICS_COLS + LOSS_STATE_MAX][40];
        const char *cells[METRICS_COLS + LOSS_STATE_MAX];
        const double *state = row(rows, i, c);
        for (int k = 0; k < ns; k++)
            csvlog_num(c[ncols + k], sizeof c[ncols + k], state[k]);
        for (int j = 0; j < nc; j++)
            cells[j] = c[j];
        csvlog_row(a.f, cells, nc);
    }
    return atomic_commit(&a, err);
}

/* A row of metrics.csv (metrics_header). */
static const double *metrics_cells(const void *rows, int i, char (*c)[40])
{
    const epoch_row *r = (const epoch_row *)rows + i;
    snprintf(c[0], sizeof c[0], "%d", r->epoch);
    snprintf(c[1], sizeof c[1], "%ld", r->step);
    double v[] = {r->lr, r->train_loss, r->train_acc, r->test_acc, r->norm_mean, r->norm_sd, r->scale, r->bias,
                  r->seconds};
    for (int j = 2; j < METRICS_COLS; j++)
        csvlog_num(c[j], sizeof c[j], v[j - 2]);
    return r->state;
}

/* A row of steps.csv (steps_header): one per train.log_every steps and at each epoch's end; no
 * time column, so that it is byte-identical for one config and seed. */
static const double *steps_cells(const void *rows, int i, char (*c)[40])
{
    const step_row *r = (const step_row *)rows + i;
    snprintf(c[0], sizeof c[0], "%ld", r->step);
    double v[] = {r->epoch, r->lr, r->train_loss, r->train_acc, r->norm_mean, r->norm_sd, r->scale, r->bias};
    for (int j = 1; j < STEPS_COLS; j++)
        csvlog_num(c[j], sizeof c[j], v[j - 1]);
    return r->state;
}

static int write_metrics(const char *dir, const loss *l, const epoch_row *rows, int n, nb_error *err)
{
    return write_table(dir, "metrics.csv", metrics_header, METRICS_COLS, l, rows, n, metrics_cells, err);
}

static int write_steps(const char *dir, const loss *l, const step_row *rows, int n, nb_error *err)
{
    return write_table(dir, "steps.csv", steps_header, STEPS_COLS, l, rows, n, steps_cells, err);
}

static int write_config(const char *dir, const nb_config *cfg, nb_error *err)
{
    char path[1200];
    if (runfolder_file(path, sizeof path, dir, "config.yaml", err))
        return -1;
    atomic_file a;
    if (atomic_open(&a, path, err))
        return -1;
    if (config_write(cfg, a.f)) {
        atomic_abort(&a);
        return nb_error_set(err, path, 0, 0, "cannot write the resolved configuration");
    }
    return atomic_commit(&a, err);
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
    if (runfolder_file(path, sizeof path, dir, RUNFOLDER_FINAL, err))
        return -1;
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

/* Sums over one epoch's batches, or over a window of steps.csv. */
typedef struct {
    double loss_sum, norm_sum, norm_sq, lr;
    long correct, seen;
    int has_acc;
} epoch_acc;

/* One training run: its inputs, data, model and progress (train_run's steps share it). */
typedef struct {
    const nb_config *cfg;
    const train_options *opt;
    train_result *res;
    char run_id[128];
    runfolder_lock lock;
    int threads;
    double t0;      /* the run's start */
    dataset train, test;
    pair_list pairs;
    model m;
    sampler smp;
    rng_t r_order;  /* the sampler's */
    lr_schedule sched;
    epoch_row *rows; /* (train.epochs) */
    step_row *steps; /* the rows of steps.csv so far (n_steps of cap_steps) */
    int n_steps, cap_steps;
    epoch_acc window; /* the steps since the last row of steps.csv */
    long step, images_done;
    double t_train, last_print; /* the training loop's start; the last progress line */
} run_ctx;

/* run.yaml with status and the wall time so far. */
static int record(const run_ctx *r, const char *status, double wall, nb_error *err)
{
    return run_record_write(r->res->run_dir, r->cfg, loss_head_memory(&r->m.loss), r->m.net.backend, r->threads,
                            wall, status, err);
}

/* Leaves the run incomplete after a stop request: run.yaml says "interrupted" (best effort: the
 * disk may be the reason), no final.csv; err says where it stopped. Returns −1. */
static int stopped(run_ctx *r, int epoch, nb_error *err)
{
    nb_error ignore;
    record(r, "interrupted", nb_seconds() - r->t0, &ignore);
    r->res->interrupted = stop_signal;
    return nb_error_set(err, r->res->run_dir, 0, 0, "interrupted by signal %d (%s) at step %ld, epoch %d: the run is "
                        "incomplete (no final.csv); rerun to redo it", (int)stop_signal, strsignal(stop_signal),
                        r->step, epoch);
}

/* Loads the data and checks that the training set has two classes (a pair loss aside). */
static int data_prepare(run_ctx *r, nb_error *err)
{
    const nb_config *cfg = r->cfg;
    if (data_load(cfg, &r->train, &r->test, &r->pairs, err))
        return -1;
    if (cfg->data.num_classes > 0) { /* the classes the user says the label files have */
        int L = cfg->data.num_classes;
        /* the test labels are classes of the same label set for the IDX types (disjoint
         * identities elsewhere) */
        const int sets = cfg->data.type <= DATA_IDX ? 2 : 1;
        for (int s = 0; s < sets; s++) {
            const dataset *ds = s ? &r->test : &r->train;
            for (int i = 0; i < ds->n; i++)
                if (ds->labels[i] >= L)
                    return nb_error_set(err, cfg->source, 0, 0,
                                        "data.num_classes is %d, but %s sample %d has label %d (expected 0 .. %d)", L,
                                        s ? "test" : "training", i, ds->labels[i], L - 1);
        }
        if (r->train.num_classes < L)
            r->train.num_classes = L;
    }
    int present = 0; /* classes with samples: labels may skip values */
    unsigned char *seen = nb_calloc((size_t)r->train.num_classes + 1, 1);
    for (int i = 0; i < r->train.n; i++)
        if (r->train.labels[i] >= 0 && r->train.labels[i] < r->train.num_classes && !seen[r->train.labels[i]]++)
            present++;
    free(seen);
    int top = r->train.num_classes - 1, n_top = 0; /* the largest label, which sized the classifier */
    for (int i = 0; i < r->train.n; i++)
        n_top += r->train.labels[i] == top;
    if (present < r->train.num_classes) /* even when quiet: nobody else says it */
        fprintf(stderr, "normbench: warning: %s: data: the training labels run to %d, so the classifier has %d "
                        "classes, but only %d of them have samples (label %d: %d sample%s); check the label file\n",
                cfg->source, top, r->train.num_classes, present, top, n_top, n_top == 1 ? "" : "s");
    if (cfg->loss.type != LOSS_CONTRASTIVE && cfg->loss.type != LOSS_TRIPLET && present < 2)
        return nb_error_set(err, cfg->source, 0, 0,
                            "data: the training set has samples of %d class(es); at least 2 are needed", present);
    return 0;
}

int train_folder_differs(const char *dir, const nb_config *cfg)
{
    char path[1200];
    struct stat st;
    if (runfolder_file(path, sizeof path, dir, "config.yaml", NULL))
        return 1;
    if (lstat(path, &st) != 0)
        return 0; /* none */
    FILE *f = fsutil_open_read(path, "configuration", CONFIG_FILE_MAX, FSUTIL_NOFOLLOW, NULL);
    if (!f)
        return 1; /* a link, a FIFO, too large: not this run's */
    char *now = NULL;
    size_t n_now = 0;
    FILE *m = open_memstream(&now, &n_now);
    int bad = config_write(cfg, m) != 0;
    fclose(m);
    /* the old text, compared as it is read: a folder's config.yaml is a few kB */
    size_t at = 0;
    char buf[4096];
    for (size_t k; !bad && (k = fread(buf, 1, sizeof buf, f)) > 0; at += k)
        bad = at + k > n_now || memcmp(buf, now + at, k) != 0;
    bad = bad || ferror(f) || at != n_now;
    fclose(f);
    if (bad) { /* another configuration, one written before a key existed, or no configuration at all? */
        nb_config *old = nb_calloc(1, sizeof *old);
        nb_error ignore;
        if (config_load(old, path, &ignore))
            bad = 2;
        else { /* the old file read with today's defaults for the keys it lacks: the same run if it
                * writes out as this one does */
            char *then = NULL;
            size_t n_then = 0;
            FILE *t = open_memstream(&then, &n_then);
            int werr = config_write(old, t) != 0;
            fclose(t);
            bad = werr || n_then != n_now || memcmp(then, now, n_now) != 0;
            free(then);
        }
        free(old);
    }
    free(now);
    return bad;
}

const char *train_folder_difference(int differs)
{
    return differs == 2 ? "a config.yaml that is not a configuration normbench can read (damaged or edited)"
                        : "a run with a different configuration";
}

/* The run's id and folder, and the folder's lock: then whether to train it (0), keep it as it
 * is (1: res->already_complete), or refuse it (−1 with err; res->busy or res->changed). Nothing
 * of the folder is read or changed before the lock is held. */
static int run_take(run_ctx *r, nb_error *err)
{
    const nb_config *cfg = r->cfg;
    train_result *res = r->res;
    const train_options *o = r->opt;
    if (cfg->run_id[0])
        snprintf(r->run_id, sizeof r->run_id, "%s", cfg->run_id);
    else
        snprintf(r->run_id, sizeof r->run_id, "%s_seed%llu", loss_type_name(cfg->loss.type),
                 (unsigned long long)cfg->seed);
    char rel[300];
    snprintf(rel, sizeof rel, "%s/%s", cfg->name, r->run_id); /* both at most 127 bytes */
    if (runfolder_path(res->run_dir, sizeof res->run_dir, o->results_root, cfg->name, r->run_id, err) ||
        runfolder_check_length(res->run_dir, err) ||
        results_path_check(o->results_root, rel, err)) /* before anything is removed or written */
        return -1;
    int rc = runfolder_lock_take(&r->lock, o->results_root, cfg->name, r->run_id, o->wait_lock, &stop_signal, err);
    if (rc && stop_signal) {
        res->interrupted = stop_signal;
        return -1;
    }
    if (rc) {
        res->busy = rc > 0;
        return -1;
    }
    run_state s = runfolder_state(res->run_dir);
    int differs = s != RUN_ABSENT ? train_folder_differs(res->run_dir, cfg) : 0;
    if (differs && !o->force && (s == RUN_COMPLETE || o->keep_complete)) {
        res->changed = 1;
        return nb_error_set(err, res->run_dir, 0, 0, "the folder of a%s run holds %s",
                            s == RUN_COMPLETE ? " finished" : "n unfinished", train_folder_difference(differs));
    }
    nb_error why = {0};
    if (s == RUN_COMPLETE && runfolder_final_check(res->run_dir, NULL, &why)) { /* redone, said so */
        if (!o->quiet)
            fprintf(stderr, "normbench: warning: %s: %s: the run is redone\n", why.file, why.msg);
        s = RUN_INCOMPLETE;
    }
    if (s == RUN_COMPLETE && !differs && o->keep_complete) {
        res->already_complete = 1;
        return 1;
    }
    return 0;
}

/* Loads the data, builds the model and starts the run folder: config.yaml, run.yaml "running",
 * no final.csv. */
static int run_open(run_ctx *r, nb_error *err)
{
    const nb_config *cfg = r->cfg;
    train_result *res = r->res;
    r->t0 = nb_seconds();
    r->threads = r->opt->threads > 0 ? r->opt->threads : 1;
    nb_set_threads(r->threads);
    if (data_prepare(r, err))
        return -1;
    /* An open-set test set has its own identities: the classifier covers the training classes. */
    const dataset *tr = &r->train, *te = &r->test;
    int num_classes = !te->open_set && te->num_classes > tr->num_classes ? te->num_classes : tr->num_classes;
    res->num_classes = num_classes;
    res->min_train_loss = INFINITY;
    rng_t rng, r_model;
    rng_seed(&rng, cfg->seed);
    rng_fork(&r_model, &rng, 11);
    rng_fork(&r->r_order, &rng, 12);
    if (model_init(&r->m, cfg, tr->c, tr->h, tr->w, num_classes, cfg->train.batch_size, &r_model, err))
        return -1;
    char final_path[1200];
    if (runfolder_file(final_path, sizeof final_path, res->run_dir, RUNFOLDER_FINAL, err))
        return -1;
    unlink(final_path); /* a rerun is incomplete until it finishes (the lock is ours) */
    runfolder_clear_outputs(res->run_dir); /* and starts over: an earlier attempt's files are not its own */
    if (mkdir_p(res->run_dir, err) || write_config(res->run_dir, cfg, err) || record(r, "running", 0, err))
        return -1;
    sampler_init(&r->smp, &r->train);
    model_schedule(&r->sched, cfg);
    r->rows = nb_calloc((size_t)cfg->train.epochs, sizeof *r->rows);
    r->window = (epoch_acc){.has_acc = 1};
    r->t_train = nb_seconds();
    return 0;
}

/* Adds one step's batch to the sums of an epoch or a window. */
static void acc_add(epoch_acc *a, const step_stats *st, int batch, double lr)
{
    a->lr = lr;
    a->loss_sum += st->loss * batch;
    a->norm_sum += st->norm_sum;
    a->norm_sq += st->norm_sq_sum;
    a->seen += batch;
    if (st->correct < 0)
        a->has_acc = 0;
    else
        a->correct += st->correct;
}

/* The mean and sd of the feature norms summed in a. */
static void acc_norm(const epoch_acc *a, double *mean, double *sd)
{
    *mean = a->norm_sum / a->seen;
    double var = a->norm_sq / a->seen - *mean * *mean;
    *sd = sqrt(var > 0 ? var : 0);
}

/* Ends the window of steps.csv: its row, after `steps` steps at fractional epoch `epoch`, from
 * the sums of r->window and the loss's learned values now; then an empty window. */
static void step_row_add(run_ctx *r, long steps, double epoch)
{
    const epoch_acc *w = &r->window;
    if (r->n_steps == r->cap_steps) {
        r->cap_steps = r->cap_steps ? 2 * r->cap_steps : 64;
        r->steps = nb_realloc(r->steps, (size_t)r->cap_steps * sizeof *r->steps);
    }
    step_row *row = &r->steps[r->n_steps++];
    memset(row, 0, sizeof *row);
    row->step = steps;
    row->epoch = epoch;
    row->lr = w->lr;
    row->train_loss = w->loss_sum / w->seen;
    row->train_acc = w->has_acc ? (double)w->correct / w->seen : NAN;
    acc_norm(w, &row->norm_mean, &row->norm_sd);
    row->scale = loss_learned_scale(&r->m.loss);
    row->bias = loss_learned_bias(&r->m.loss);
    for (int k = 0; k < loss_state_count(&r->m.loss); k++)
        row->state[k] = loss_state_get(&r->m.loss, k);
    r->window = (epoch_acc){.has_acc = 1};
}

/* A diverged run is complete: run.yaml "diverged", final.csv without metrics, and steps.csv up
 * to the last finite step (at fractional epoch `at`), so that the way there can be drawn (that
 * last row's learned scalars are read after the failing step, and may be empty). */
static int run_diverged(run_ctx *r, const step_stats *st, int epoch, double at, nb_error *err)
{
    train_result *res = r->res;
    if (r->window.seen > 0)
        step_row_add(r, r->step, at);
    if (!r->opt->quiet)
        fprintf(stderr, "%s%s: diverged: %s became %g at step %ld (epoch %d)\n", r->opt->progress_tty ? "\r\033[K" : "",
                r->run_id, isfinite(st->loss) ? "the feature norm" : "loss", isfinite(st->loss) ? st->norm_sum : st->loss,
                r->step, epoch + 1);
    res->diverged = 1;
    res->diverged_step = r->step;
    res->steps = r->step;
    res->seconds = nb_seconds() - r->t0;
    if (write_steps(res->run_dir, &r->m.loss, r->steps, r->n_steps, err) || record(r, "diverged", res->seconds, err) ||
        write_final(res->run_dir, res, NULL, NULL, err))
        return -1;
    return 1;
}

/* Batch images must be finite: streamed datasets render each sample at dataset_gather. */
static int batch_check_finite(const run_ctx *r, const int *order, int batch, nb_error *err)
{
    size_t nx = (size_t)batch * r->train.c * r->train.h * r->train.w;
    for (size_t i = 0; i < nx; i++)
        if (!isfinite(r->m.x[i]))
            return nb_error_set(err, r->cfg->source, 0, 0, "data: training sample %d has a non-finite pixel value (%g)",
                                order[i / (nx / batch)], (double)r->m.x[i]);
    return 0;
}

/* The live progress line (a terminal), at most four times a second and after an epoch's last
 * batch. */
static void progress_line(run_ctx *r, const epoch_acc *acc, int epoch, int bi, int n_batches, int batch)
{
    double t = nb_seconds();
    if (!r->opt->progress_tty || r->opt->quiet || !(t - r->last_print > 0.25 || bi == n_batches - 1))
        return;
    double rate = r->images_done / (t - r->t_train);
    double total = (double)r->cfg->train.epochs * n_batches * batch;
    char eta[32];
    format_duration(eta, sizeof eta, (total - r->images_done) / rate);
    fprintf(stderr, "\r%s: epoch %d/%d  batch %d/%d  loss %.4f  %.0f img/s  ETA %s   ", r->run_id, epoch + 1,
            r->cfg->train.epochs, bi + 1, n_batches, acc->loss_sum / acc->seen, rate, eta);
    r->last_print = t;
}

/* One SGD step on batch bi of the epoch's order. Returns 0, 1 when the run diverged (and is
 * complete), or −1 with err. */
static int batch_run(run_ctx *r, epoch_acc *acc, int epoch, int bi, int n_batches, int batch, nb_error *err)
{
    if (stop_signal)
        return stopped(r, epoch + 1, err);
    const int *order = r->smp.order + (size_t)bi * batch;
    dataset_gather(&r->train, r->m.x, r->m.y, order, batch);
    if (batch_check_finite(r, order, batch, err))
        return -1;
    double lr = lr_at(&r->sched, epoch + (double)bi / n_batches);
    step_stats st;
    model_train_step(&r->m, r->cfg, batch, lr, r->step, &st);
    /* the loss, or the features when a loss clamps them away (a hinge of NaN is 0) */
    if (!isfinite(st.loss) || !isfinite(st.norm_sum))
        return run_diverged(r, &st, epoch, epoch + (double)bi / n_batches, err);
    acc_add(acc, &st, batch, lr);
    acc_add(&r->window, &st, batch, lr);
    r->images_done += batch;
    /* a row of steps.csv every train.log_every steps, and at the epoch's end (a window never
     * spans two epochs: the epoch's last row is the epoch's own mean when log_every ≥ its steps) */
    if ((r->step + 1) % r->cfg->train.log_every == 0 || bi == n_batches - 1)
        step_row_add(r, r->step + 1, epoch + (double)(bi + 1) / n_batches);
    progress_line(r, acc, epoch, bi, n_batches, batch);
    return 0;
}

/* Warns when a fixed-scale normalised softmax's training loss is below the NormFace bound: that
 * cannot happen without a bug. */
static void bound_check(const run_ctx *r, const epoch_row *row)
{
    const nb_config *cfg = r->cfg;
    if ((cfg->loss.type != LOSS_NORMFACE && cfg->loss.type != LOSS_COSFACE && cfg->loss.type != LOSS_ARCFACE) ||
        cfg->loss.learn_s)
        return;
    int num_classes = r->res->num_classes;
    double bound = normface_loss_bound(num_classes, cfg->loss.s);
    if (row->train_loss < bound - 1e-6)
        fprintf(stderr, "\nnormbench: warning: %s epoch %d: training loss %.6g is below the NormFace bound "
                        "%.6g for n = %d, s = %g (docs/theory.md §2) — this indicates a bug\n",
                r->run_id, row->epoch, row->train_loss, bound, num_classes, cfg->loss.s);
}

/* The epoch's row of metrics.csv (with the test accuracy), written out, and the epoch line. */
static int epoch_finish(run_ctx *r, const epoch_acc *acc, int epoch, nb_error *err)
{
    train_result *res = r->res;
    epoch_row *row = &r->rows[epoch];
    row->epoch = epoch + 1;
    row->step = r->step;
    row->lr = acc->lr;
    row->train_loss = acc->loss_sum / acc->seen;
    if (row->train_loss < res->min_train_loss)
        res->min_train_loss = row->train_loss;
    row->train_acc = acc->has_acc ? (double)acc->correct / acc->seen : NAN;
    row->test_acc = model_evaluate(&r->m, &r->test, r->cfg->train.batch_size);
    acc_norm(acc, &row->norm_mean, &row->norm_sd);
    row->scale = loss_learned_scale(&r->m.loss);
    row->bias = loss_learned_bias(&r->m.loss);
    for (int k = 0; k < loss_state_count(&r->m.loss); k++)
        row->state[k] = loss_state_get(&r->m.loss, k);
    row->seconds = nb_seconds() - r->t0;
    bound_check(r, row);
    /* steps.csv, then metrics.csv: both hold the epochs finished, and a rerun (there is no
     * checkpoint: an incomplete run starts over) rewrites both from its first step */
    if (write_steps(res->run_dir, &r->m.loss, r->steps, r->n_steps, err) ||
        write_metrics(res->run_dir, &r->m.loss, r->rows, epoch + 1, err))
        return -1;
    if (!r->opt->quiet) {
        if (r->opt->progress_tty)
            fprintf(stderr, "\r\033[K");
        fprintf(stderr, "%s: epoch %d/%d  loss %.4f  train_acc %.4f  test_acc %.4f  |f| %.2f  %.0fs\n", r->run_id,
                epoch + 1, r->cfg->train.epochs, row->train_loss, row->train_acc, row->test_acc, row->norm_mean,
                row->seconds);
    }
    res->epochs = epoch + 1;
    res->train_loss = row->train_loss;
    res->train_acc = row->train_acc;
    res->test_acc = row->test_acc;
    return 0;
}

/* One pass over the training set (the last partial batch dropped). Returns 0, 1 when the run
 * diverged (and is complete), or −1 with err. */
static int epoch_run(run_ctx *r, int epoch, nb_error *err)
{
    const nb_config *cfg = r->cfg;
    int pk = cfg->train.sampler == SAMPLER_PK;
    int n_order = pk ? sampler_pk(&r->smp, &r->r_order, cfg->train.pk_p, cfg->train.pk_k)
                     : sampler_shuffle(&r->smp, &r->r_order);
    /* P×K: whole P×K groups per batch (P capped at the classes present; the config checks
     * that P·K fits in train.batch_size) */
    int batch = pk ? sampler_pk_batch(&r->smp, cfg->train.pk_p, cfg->train.pk_k) : cfg->train.batch_size;
    int n_batches = n_order / batch;
    if (n_batches == 0)
        return nb_error_set(err, cfg->source, 0, 0, "train.batch_size: %d is larger than the %d training samples",
                            batch, n_order);
    epoch_acc acc = {.has_acc = 1};
    for (int bi = 0; bi < n_batches; bi++, r->step++) {
        int rc = batch_run(r, &acc, epoch, bi, n_batches, batch, err);
        if (rc)
            return rc;
    }
    return epoch_finish(r, &acc, epoch, err);
}

/* The eval section of cfg as the evaluation's options. */
/* After the last epoch: the evaluation, run.yaml "complete" and final.csv, the completion
 * marker, last. */
static int run_finish(run_ctx *r, nb_error *err)
{
    const nb_config *cfg = r->cfg;
    train_result *res = r->res;
    int epochs = cfg->train.epochs;
    res->steps = r->step;
    res->seconds = nb_seconds() - r->t0;
    res->images_per_second = r->images_done / (nb_seconds() - r->t_train);
    if (stop_signal)
        return stopped(r, epochs, err);
    if (!r->opt->quiet)
        fprintf(stderr, "%s: evaluating (verification, identification, geometry)\n", r->run_id);
    eval_summary ev;
    eval_model em = model_view(&r->m);
    if (evaluate_run(&ev, &em, &cfg->eval, cfg->seed, &r->train, &r->test, &r->pairs, res->run_dir, err))
        return -1;
    if (stop_signal)
        return stopped(r, epochs, err);
    res->seconds = nb_seconds() - r->t0;
    res->verify_acc = ev.verify_acc;
    if (record(r, "complete", res->seconds, err) || write_final(res->run_dir, res, &r->rows[epochs - 1], &ev, err))
        return -1;
    return 0;
}

static void run_close(run_ctx *r)
{
    free(r->rows);
    free(r->steps);
    sampler_free(&r->smp);
    model_free(&r->m);
    dataset_free(&r->train);
    dataset_free(&r->test);
    pairs_free(&r->pairs);
}

int train_run(const nb_config *cfg, const train_options *opt, train_result *res, nb_error *err)
{
    memset(res, 0, sizeof *res);
    run_ctx *r = nb_calloc(1, sizeof *r);
    r->cfg = cfg;
    r->opt = opt;
    r->res = res;
    r->lock.fd = -1;
    int rc = run_take(r, err);
    if (rc) {
        runfolder_lock_release(&r->lock);
        free(r);
        return rc < 0 ? -1 : 0;
    }
    rc = run_open(r, err);
    for (int epoch = 0; rc == 0 && epoch < cfg->train.epochs; epoch++)
        rc = epoch_run(r, epoch, err);
    if (rc == 0)
        rc = run_finish(r, err);
    run_close(r);
    runfolder_lock_release(&r->lock); /* after final.csv: the run is done */
    free(r);
    return rc < 0 ? -1 : 0;
}
