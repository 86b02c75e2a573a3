/* test_train.c — the training loop end to end: a few SGD steps on a small Fashion-MNIST subset
 * lower the loss for each backbone; the normbench binary run twice on the same config writes
 * byte-identical metrics.csv (time column aside), steps.csv and config.yaml; steps.csv has a row
 * every train.log_every steps and at each epoch's end, whose last window of an epoch agrees with
 * the epoch's row of metrics.csv; a run SIGKILLed mid-way leaves a steps.csv that is a prefix of
 * the straight run's, and its rerun writes the straight run's steps.csv and metrics.csv; bad
 * invocations fail cleanly. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "config/runrecord.h"
#include "io/csvread.h"
#include "nb_bin.h"
#include "train/train.h"

static void few_steps_lower_loss(backbone_type bb, int side_pad)
{
    nb_config cfg;
    nb_error err = {0};
    assert_int_equal(config_load(&cfg, "tests/fixtures/tiny_train.yaml", &err), 0);
    cfg.model.backbone = bb;
    dataset tr = {0}, te = {0};
    pair_list pl;
    if (data_load(&cfg, &tr, &te, &pl, &err)) {
        nb_error_print(&err, stderr);
        fail();
    }
    (void)side_pad;
    int B = 32;
    model m;
    rng_t rng;
    rng_seed(&rng, 5);
    assert_int_equal(model_init(&m, &cfg, tr.c, tr.h, tr.w, tr.num_classes, B, &rng, &err), 0);
    int idx[32];
    for (int i = 0; i < B; i++)
        idx[i] = i;
    dataset_gather(&tr, m.x, m.y, idx, B);
    step_stats st;
    double first = 0, last = 0;
    for (int s = 0; s < 15; s++) {
        model_train_step(&m, &cfg, B, 0.02, s, &st);
        if (s == 0)
            first = st.loss;
        last = st.loss;
    }
    printf("%s: loss %.4f -> %.4f\n", net_backbone_name(bb), first, last);
    assert_true(last < 0.7 * first);
    model_free(&m);
    dataset_free(&tr);
    dataset_free(&te);
}

static void test_steps_lower_loss_convnet(void **s) { (void)s; few_steps_lower_loss(BACKBONE_CONVNET_SMALL, 0); }
static void test_steps_lower_loss_lenetpp(void **s) { (void)s; few_steps_lower_loss(BACKBONE_LENETPP, 0); }
static void test_steps_lower_loss_resnet(void **s) { (void)s; few_steps_lower_loss(BACKBONE_RESNET_MINI, 0); }

/* model.backend in the double build (the tests'): auto and blas run the OpenBLAS layers; an
 * explicit dnnl is an error naming the key and the line that set it (there is no oneDNN backend
 * in this build, and the test must not silently compare BLAS against itself). */
static void test_model_backend_double(void **state)
{
    (void)state;
    nb_config cfg;
    nb_error err = {0};
    assert_int_equal(config_load(&cfg, "tests/fixtures/tiny_train.yaml", &err), 0);
    rng_t rng;
    model m;
    const model_backend ok[] = {MODEL_BACKEND_AUTO, MODEL_BACKEND_BLAS};
    for (int i = 0; i < 2; i++) {
        cfg.model.backend = ok[i];
        rng_seed(&rng, 5);
        assert_int_equal(model_init(&m, &cfg, 1, 28, 28, 10, 8, &rng, &err), 0);
        assert_int_equal(m.net.backend, NET_BACKEND_BLAS);
        model_free(&m);
    }
    cfg.model.backend = MODEL_BACKEND_DNNL;
    rng_seed(&rng, 5);
    assert_int_equal(model_init(&m, &cfg, 1, 28, 28, 10, 8, &rng, &err), -1);
    nb_error_print(&err, stdout);
    assert_non_null(strstr(err.msg, "model.backend: dnnl: "));
    assert_non_null(strstr(err.msg, "only in the float build"));
    assert_null(m.net.nodes);
    assert_null(m.ps.t);
    model_free(&m);
}

/* A model_init that fails frees what it built (net_build registers tensors and nodes before the
 * loss options are checked) and leaves m zeroed; model_free is safe on it and on a zeroed model. */
static void test_model_init_failure_frees(void **state)
{
    (void)state;
    nb_config cfg;
    nb_error err = {0};
    assert_int_equal(config_load(&cfg, "tests/fixtures/tiny_train.yaml", &err), 0);
    rng_t rng;
    rng_seed(&rng, 5);
    model m;
    /* net built, then the loss refuses one class */
    assert_int_equal(model_init(&m, &cfg, 1, 28, 28, 1, 8, &rng, &err), -1);
    assert_non_null(strstr(err.msg, "at least 2 classes"));
    assert_null(m.net.nodes);
    assert_int_equal(m.net.n, 0);
    assert_null(m.ps.t);
    assert_int_equal(m.ps.count, 0);
    assert_null(m.x);
    model_free(&m);
    /* inputs too small for the backbone */
    cfg.model.backbone = BACKBONE_LENETPP;
    assert_int_equal(model_init(&m, &cfg, 1, 4, 4, 10, 8, &rng, &err), -1);
    assert_non_null(strstr(err.msg, "lenetpp"));
    assert_null(m.net.nodes);
    assert_null(m.ps.t);
    model_free(&m);
    model zero = {0};
    model_free(&zero);
    model_free(&zero);
}

/* lr_at on the schedule model_schedule builds from train.*: warm-up, step and cosine. */
static void test_lr_schedule(void **state)
{
    (void)state;
    nb_config cfg;
    nb_error err = {0};
    assert_int_equal(config_load(&cfg, "tests/fixtures/tiny_train.yaml", &err), 0);
    cfg.train.epochs = 6;
    cfg.train.lr = 0.1;
    cfg.train.warmup_epochs = 1;
    cfg.train.schedule = SCHEDULE_STEP;
    cfg.train.milestones[0] = 2;
    cfg.train.milestones[1] = 4;
    cfg.train.n_milestones = 2;
    cfg.train.gamma = 0.5;
    lr_schedule s;
    model_schedule(&s, &cfg);
    assert_int_equal(s.type, SCHEDULE_STEP);
    assert_int_equal(s.n_milestones, 2);
    assert_int_equal(s.milestones[1], 4);
    assert_true(lr_at(&s, 0.5) == 0.1 * 0.5 / 1.0);
    assert_true(lr_at(&s, 1.5) == 0.1);
    assert_true(lr_at(&s, 2.0) == 0.1 * 0.5);
    assert_true(lr_at(&s, 5.0) == 0.1 * 0.5 * 0.5);
    s.type = SCHEDULE_COSINE;
    assert_true(lr_at(&s, 1.0) == 0.1);
    assert_true(fabs(lr_at(&s, 3.5) - 0.05) < 1e-15); /* half-way through the 5 epochs after warm-up */
    s.type = SCHEDULE_CONSTANT;
    assert_true(lr_at(&s, 5.9) == 0.1);
}

/* Reads a file, dropping the last CSV column (seconds) of every line when strip_last. */
static char *slurp(const char *path, int strip_last)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *out = calloc(1 << 20, 1), line[4096];
    while (fgets(line, sizeof line, f)) {
        if (strip_last) {
            char *c = strrchr(line, ',');
            if (c)
                strcpy(c, "\n");
        }
        strcat(out, line);
    }
    fclose(f);
    return out;
}

/* This process's scratch folder (tests running at once must not share one) and paths in it. */
static char scratch[64];
static const char *in_scratch(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", scratch, name);
    return buf[k];
}

static void test_binary_deterministic(void **state)
{
    (void)state;
    const char *files[] = {"metrics.csv", "config.yaml", "steps.csv"};
    const char *run_dir = in_scratch("det/tiny/softmax_seed3");
    char *first[3], cmd[1024], run_path[512];
    snprintf(run_path, sizeof run_path, "%s", run_dir);
    for (int run = 0; run < 2; run++) {
        snprintf(cmd, sizeof cmd,
                 "rm -rf %s && bin/normbench train tests/fixtures/tiny_train.yaml --quiet --results %s "
                 "--set train.log_every=3 > /dev/null",
                 in_scratch("det"), in_scratch("det"));
        assert_int_equal(nb_system(cmd), 0);
        for (int i = 0; i < 3; i++) {
            char path[640];
            snprintf(path, sizeof path, "%s/%s", run_path, files[i]);
            char *text = slurp(path, i == 0);
            assert_non_null(text);
            if (run == 0) {
                first[i] = text;
            } else {
                assert_string_equal(first[i], text);
                free(first[i]);
                free(text);
            }
        }
    }
    char path[640];
    snprintf(path, sizeof path, "%s/metrics.csv", run_path);
    char *m = slurp(path, 0);
    assert_non_null(strstr(m, "epoch,step,lr,train_loss,train_acc,test_acc,feature_norm"));
    free(m);
    /* the run record reads back: wall time and the thread count the run used */
    double wall = -1;
    int threads = -1;
    assert_int_equal(run_record_read(run_path, &wall, &threads), 0);
    assert_true(wall > 0 && wall < 600);
    assert_true(threads >= 1);
    assert_int_equal(run_record_read(in_scratch("det/tiny/no_such_run"), &wall, &threads), -1);
    snprintf(path, sizeof path, "%s/run.yaml", run_path);
    FILE *bad = fopen(path, "w");
    assert_non_null(bad);
    fputs("seed: 3\nwall_seconds: [1\n", bad); /* not YAML: an unclosed flow sequence */
    fclose(bad);
    assert_int_equal(run_record_read(run_path, &wall, &threads), -1);
}

static void test_binary_bad_input(void **state)
{
    (void)state;
    char cmd[1024];
    const char *err_file = in_scratch("err.txt");
    /* a bad config: non-zero exit and the file:line in the message */
    snprintf(cmd, sizeof cmd, "bin/normbench train tests/fixtures/config/unknown_key.yaml 2> %s", err_file);
    assert_true(nb_system(cmd) != 0);
    char *e = slurp(err_file, 0);
    assert_non_null(strstr(e, "tests/fixtures/config/unknown_key.yaml:4:3: unknown key 'train.learning_rate'"));
    free(e);
    /* a missing data file: names the file */
    snprintf(cmd, sizeof cmd,
             "bin/normbench train tests/fixtures/tiny_train.yaml --set data.type=idx "
             "--set data.train_images=/nonexistent/a.gz --set data.train_labels=/nonexistent/b.gz "
             "--set data.test_images=/nonexistent/c.gz --set data.test_labels=/nonexistent/d.gz "
             "--results %s 2> %s",
             in_scratch("bad"), err_file);
    assert_true(nb_system(cmd) != 0);
    e = slurp(err_file, 0);
    assert_non_null(strstr(e, "/nonexistent/a.gz"));
    free(e);
}


/* ---- steps.csv ---------------------------------------------------------------------------- */

/* Trains tests/fixtures/tiny_train.yaml (512 images, batch 64: 8 steps per epoch, 2 epochs) into
 * the scratch folder `name` with the extra options `set`; loads steps.csv and metrics.csv of its
 * run folder `run`. */
static void tiny_run(const char *name, const char *run, const char *set, csvread_table *steps,
                     csvread_table *metrics)
{
    char cmd[1400], path[700];
    snprintf(cmd, sizeof cmd,
             "rm -rf %s && bin/normbench train tests/fixtures/tiny_train.yaml --quiet --results %s %s > /dev/null",
             in_scratch(name), in_scratch(name), set);
    assert_int_equal(nb_system(cmd), 0);
    nb_error err = {0};
    snprintf(path, sizeof path, "%s/%s/tiny/%s/steps.csv", scratch, name, run);
    if (csvread_load(steps, path, &err))
        fail_msg("%s: %s", path, err.msg);
    snprintf(path, sizeof path, "%s/%s/tiny/%s/metrics.csv", scratch, name, run);
    if (csvread_load(metrics, path, &err))
        fail_msg("%s: %s", path, err.msg);
}

static const char *cell(const csvread_table *t, int row, const char *col)
{
    int j = csvread_col(t, col);
    if (j < 0)
        fail_msg("no column '%s'", col);
    return t->rows[row][j];
}

static double num_cell(const csvread_table *t, int row, const char *col) { return atof(cell(t, row, col)); }

/* A row every train.log_every steps and at each epoch's end: its step column, the fractional
 * epoch, and the epoch's last window against metrics.csv. */
static void test_steps_rows(void **state)
{
    (void)state;
    csvread_table st, m;
    /* log_every 4 divides the 8 steps of an epoch: 16 / 4 rows, epochs 0.5, 1, 1.5, 2 */
    tiny_run("steps4", "softmax_seed3", "--set train.log_every=4", &st, &m);
    assert_int_equal(st.nrows, 16 / 4);
    assert_int_equal(m.nrows, 2);
    assert_string_equal(st.header[0], "step");
    assert_string_equal(st.header[1], "epoch");
    for (int r = 0; r < st.nrows; r++) {
        assert_int_equal(atol(cell(&st, r, "step")), 4 * (r + 1));
        assert_true(num_cell(&st, r, "epoch") == 0.5 * (r + 1));
    }
    for (int e = 0; e < 2; e++) {
        /* the epoch's last row: same step, lr and epoch; its two windows of 4 batches of 64 images
         * average to the epoch's mean loss and accuracy */
        int last = 2 * e + 1;
        assert_string_equal(cell(&st, last, "step"), cell(&m, e, "step"));
        assert_string_equal(cell(&st, last, "lr"), cell(&m, e, "lr"));
        assert_true(num_cell(&st, last, "epoch") == atof(cell(&m, e, "epoch")));
        const char *cols[] = {"train_loss", "train_acc", "feature_norm"};
        for (int k = 0; k < 3; k++) {
            double mean = 0.5 * (num_cell(&st, last - 1, cols[k]) + num_cell(&st, last, cols[k]));
            double want = num_cell(&m, e, cols[k]);
            if (fabs(mean - want) > 1e-7 * fabs(want))
                fail_msg("epoch %d: the windows' mean %s %.10g is not metrics.csv's %.10g", e + 1, cols[k], mean,
                         want);
        }
    }
    /* the windows are not all alike: the loss falls over the run */
    assert_true(num_cell(&st, 3, "train_loss") < num_cell(&st, 0, "train_loss"));
    csvread_free(&st);
    csvread_free(&m);

    /* log_every 3 does not divide 8: rows at steps 3, 6, 8 (the epoch's end), 9, 12, 15, 16 */
    tiny_run("steps3", "softmax_seed3", "--set train.log_every=3", &st, &m);
    const long want3[] = {3, 6, 8, 9, 12, 15, 16};
    assert_int_equal(st.nrows, 7);
    for (int r = 0; r < 7; r++)
        assert_int_equal(atol(cell(&st, r, "step")), want3[r]);
    assert_true(num_cell(&st, 3, "epoch") == 1.125);
    csvread_free(&st);
    csvread_free(&m);

    /* the default, 50, is more than an epoch: one window per epoch, which is the epoch's own row of
     * metrics.csv, digit for digit */
    tiny_run("steps50", "softmax_seed3", "", &st, &m);
    assert_int_equal(st.nrows, 2);
    for (int e = 0; e < 2; e++) {
        const char *cols[] = {"step", "lr", "train_loss", "train_acc", "feature_norm", "feature_norm_sd",
                              "learned_scale", "learned_bias"};
        for (int k = 0; k < 8; k++)
            if (strcmp(cell(&st, e, cols[k]), cell(&m, e, cols[k])))
                fail_msg("epoch %d: steps.csv %s '%s', metrics.csv '%s'", e + 1, cols[k], cell(&st, e, cols[k]),
                         cell(&m, e, cols[k]));
    }
    csvread_free(&st);
    csvread_free(&m);
}

/* A loss that learns its scale has it in steps.csv (learned_scale, every row). */
static void test_steps_learned_scale(void **state)
{
    (void)state;
    csvread_table st, m;
    tiny_run("steps_s", "normface_seed3", "--set loss.type=normface --set loss.s=4 --set loss.learn_s=true "
             "--set train.log_every=2", &st, &m);
    assert_int_equal(st.nrows, 8);
    for (int r = 0; r < st.nrows; r++)
        assert_true(num_cell(&st, r, "learned_scale") > 0);
    assert_string_equal(cell(&st, 7, "learned_scale"), cell(&m, 1, "learned_scale"));
    assert_true(num_cell(&st, 0, "learned_scale") != num_cell(&st, 7, "learned_scale"));
    csvread_free(&st);
    csvread_free(&m);
}

/* A run that diverges (lr 50: the loss is infinite at step 3) is complete with status diverged,
 * and its steps.csv ends with the partial window up to the last finite step. */
static void test_steps_diverged(void **state)
{
    (void)state;
    char cmd[1400], path[700];
    snprintf(cmd, sizeof cmd,
             "rm -rf %s && bin/normbench train tests/fixtures/tiny_train.yaml --quiet --results %s --set train.lr=50 "
             "--set train.log_every=3 > /dev/null 2>&1",
             in_scratch("div"), in_scratch("div"));
    int rc = nb_system(cmd);
    assert_true(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 1); /* train's status for a diverged run */
    csvread_table st, f;
    nb_error err = {0};
    snprintf(path, sizeof path, "%s/div/tiny/softmax_seed3/final.csv", scratch);
    if (csvread_load(&f, path, &err))
        fail_msg("%s: %s", path, err.msg);
    assert_string_equal(cell(&f, 0, "status"), "diverged");
    snprintf(path, sizeof path, "%s/div/tiny/softmax_seed3/steps.csv", scratch);
    if (csvread_load(&st, path, &err))
        fail_msg("%s: %s", path, err.msg);
    assert_true(st.nrows >= 1);
    assert_string_equal(cell(&st, st.nrows - 1, "step"), cell(&f, 0, "diverged_step"));
    assert_true(isfinite(num_cell(&st, st.nrows - 1, "train_loss")));
    csvread_free(&st);
    csvread_free(&f);
}

static pid_t start_train(const char *results, const char *const *extra)
{
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr) || !freopen("/dev/null", "w", stdout))
            _exit(126);
        const char *args[24] = {"normbench", "train", "tests/fixtures/tiny_train.yaml", "--quiet", "--results",
                                results};
        int n = 6;
        for (int i = 0; extra[i] && n < 23; i++)
            args[n++] = extra[i];
        args[n] = NULL;
        execv(nb_bin(), (char *const *)args);
        _exit(127);
    }
    return pid;
}

/* The number of data rows of a CSV (lines after the header), −1 when it cannot be read. */
static int csv_rows(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = -1;
    for (int c; (c = fgetc(f)) != EOF;)
        n += c == '\n';
    fclose(f);
    return n;
}

/* A run SIGKILLed after some epochs (there is no checkpoint: its rerun starts over), its steps.csv
 * given a stray row as well, then rerun: steps.csv and metrics.csv (time aside) are the straight
 * run's, byte for byte. While killed, steps.csv is a prefix of the straight run's and holds no
 * epoch that metrics.csv lacks beyond the one being written. */
static void test_steps_after_kill_and_rerun(void **state)
{
    (void)state;
    const char *set[] = {"--set", "train.epochs=20", "--set", "train.log_every=3", "--threads", "1", NULL};
    char cmd[1400], dir[600], path[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", in_scratch("straight"));
    assert_int_equal(system(cmd), 0);
    pid_t pid = start_train(in_scratch("straight"), set);
    int st_code;
    assert_int_equal(waitpid(pid, &st_code, 0), pid);
    assert_true(WIFEXITED(st_code) && WEXITSTATUS(st_code) == 0);
    snprintf(dir, sizeof dir, "%s/straight/tiny/softmax_seed3", scratch);
    snprintf(path, sizeof path, "%s/steps.csv", dir);
    char *steps_ref = slurp(path, 0);
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    char *metrics_ref = slurp(path, 1);
    assert_non_null(steps_ref);
    assert_non_null(metrics_ref);
    assert_int_equal(csv_rows(path), 20);

    snprintf(cmd, sizeof cmd, "rm -rf %s", in_scratch("killed"));
    assert_int_equal(system(cmd), 0);
    snprintf(dir, sizeof dir, "%s/killed/tiny/softmax_seed3", scratch);
    char metrics[700], steps[700], final[700];
    snprintf(metrics, sizeof metrics, "%s/metrics.csv", dir);
    snprintf(steps, sizeof steps, "%s/steps.csv", dir);
    snprintf(final, sizeof final, "%s/final.csv", dir);
    pid = start_train(in_scratch("killed"), set);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rows = -1;
    do { /* a few epochs in, long before the 20th */
        usleep(2000);
        rows = csv_rows(metrics);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (rows < 3 && t.tv_sec - t0.tv_sec < 60);
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &st_code, 0), pid);
    struct stat sb;
    if (stat(final, &sb) == 0)
        skip(); /* the machine was too fast to catch the run mid-way: nothing to test */
    rows = csv_rows(metrics);
    char *partial = slurp(steps, 0);
    assert_non_null(partial);
    printf("killed after %d epoch(s); steps.csv had %d rows\n", rows, csv_rows(steps));
    assert_true(rows >= 3 && rows < 20);
    assert_true(strlen(partial) < strlen(steps_ref));
    assert_memory_equal(partial, steps_ref, strlen(partial)); /* a prefix, whole rows */
    assert_true(partial[strlen(partial) - 1] == '\n');
    /* its rows reach the last epoch metrics.csv holds (8 steps an epoch), at most one epoch further */
    csvread_table s;
    nb_error err = {0};
    assert_int_equal(csvread_load(&s, steps, &err), 0);
    long last = atol(s.rows[s.nrows - 1][0]);
    assert_true(last == 8L * rows || last == 8L * (rows + 1));
    csvread_free(&s);
    free(partial);
    /* a stray row past the restart: the rerun starts from step 0 and must not keep it */
    FILE *f = fopen(steps, "a");
    assert_non_null(f);
    fputs("999,999,0.05,1,0.5,1,0,,\n", f);
    fclose(f);
    pid = start_train(in_scratch("killed"), set);
    assert_int_equal(waitpid(pid, &st_code, 0), pid);
    assert_true(WIFEXITED(st_code) && WEXITSTATUS(st_code) == 0);
    char *steps_new = slurp(steps, 0), *metrics_new = slurp(metrics, 1);
    assert_non_null(steps_new);
    assert_non_null(metrics_new);
    assert_string_equal(steps_new, steps_ref);
    assert_string_equal(metrics_new, metrics_ref);
    free(steps_new);
    free(metrics_new);
    free(steps_ref);
    free(metrics_ref);
}

/* A run started again in the folder of an earlier attempt holds only its own files from the
 * moment it says "running": the attempt's metrics.csv and roc.csv (each marked here) are gone,
 * not left to be plotted or read as this run's until it writes its own. One epoch of 20,000
 * images, so that the first epoch is far from over when run.yaml says running. */
static void test_rerun_clears_the_earlier_attempts_files(void **state)
{
    (void)state;
    const char *set[] = {"--set", "data.train_subset=20000", "--set", "train.epochs=1", "--threads", "1", NULL};
    char cmd[3000], dir[600], runyaml[700], metrics[700], roc[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", in_scratch("again"));
    assert_int_equal(system(cmd), 0);
    snprintf(dir, sizeof dir, "%s/again/tiny/softmax_seed3", scratch);
    snprintf(runyaml, sizeof runyaml, "%s/run.yaml", dir);
    snprintf(metrics, sizeof metrics, "%s/metrics.csv", dir);
    snprintf(roc, sizeof roc, "%s/roc.csv", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && echo 'epoch,stale' > %s && echo 'stale attempt' >> %s && "
             "echo 'stale attempt' > %s", dir, metrics, metrics, roc);
    assert_int_equal(system(cmd), 0);
    pid_t pid = start_train(in_scratch("again"), set);
    time_t t0 = time(NULL);
    char *text = NULL;
    while (time(NULL) - t0 < 60) {
        free(text);
        text = slurp(runyaml, 0);
        if (text && strstr(text, "status: \"running\""))
            break;
        usleep(1000);
    }
    assert_non_null(text);
    assert_non_null(strstr(text, "status: \"running\""));
    free(text);
    char *m = slurp(metrics, 0), *r = slurp(roc, 0);
    int stale = (m && strstr(m, "stale")) || (r && strstr(r, "stale"));
    free(m);
    free(r);
    kill(pid, SIGKILL);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_false(stale);
}

static int make_scratch(void **state)
{
    (void)state;
    snprintf(scratch, sizeof scratch, "/tmp/nb_test_train.XXXXXX");
    return mkdtemp(scratch) ? 0 : -1;
}

/* cmocka reports a failed group teardown but still exits 0: main checks this flag */
static int scratch_left;

static int remove_scratch(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", scratch);
    scratch_left = system(cmd) != 0;
    return scratch_left ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_init_failure_frees),
        cmocka_unit_test(test_model_backend_double),
        cmocka_unit_test(test_lr_schedule),
        cmocka_unit_test(test_steps_lower_loss_convnet),
        cmocka_unit_test(test_steps_lower_loss_lenetpp),
        cmocka_unit_test(test_steps_lower_loss_resnet),
        cmocka_unit_test(test_binary_deterministic),
        cmocka_unit_test(test_steps_rows),
        cmocka_unit_test(test_steps_learned_scale),
        cmocka_unit_test(test_steps_diverged),
        cmocka_unit_test(test_steps_after_kill_and_rerun),
        cmocka_unit_test(test_rerun_clears_the_earlier_attempts_files),
        cmocka_unit_test(test_binary_bad_input),
    };
    int failed = cmocka_run_group_tests(tests, make_scratch, remove_scratch);
    return failed || scratch_left ? 1 : 0;
}
