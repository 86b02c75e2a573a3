/* plot.c — deciding which figures apply to a results folder, writing the data files the gnuplot
 * scripts of plots/ read, and running gnuplot; see plot.h.
 *
 * Every CSV is read with csvread (strict: errors name file and line) and every cell a figure uses
 * is checked to be a number before gnuplot sees the file, so a malformed file gives one error of
 * ours rather than a gnuplot message, and only the figures that need it are lost. Multi-run
 * figures read one CSV of blocks (one per run, separated by two blank lines) whose header's first
 * cell is the run's legend; the scripts take it with `title columnhead(1)`. Theory (docs/theory.md §2) comes
 * from lib/loss: α_low (Ranjan §3.4) on α sweeps, the NormFace Prop. 2 loss bound on s sweeps. */
#include "report/plot.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/csvread.h"
#include "io/fsutil.h"
#include "loss/loss.h"

/* α_low is drawn for this target probability p (Ranjan §3.4); the legend says so. */
#define ALPHA_LOW_P 0.9

typedef struct {
    char key[128]; /* "loss.s", "seed", … */
    char value[256];
} kv;

typedef struct {
    char id[256];
    char dir[1300];
    kv *cfg; /* config.yaml, flattened to section.key */
    int n_cfg;
    char loss_type[256];
    char group[512]; /* legend without the seed */
    char label[1024]; /* legend */
    int normalised;  /* the loss normalises features */
    int complete;    /* final.csv exists */
    int color, dash; /* line colour per group, dash per seed within the group */
} run_info;

typedef struct {
    plot_result *r;
    const plot_options *o;
    char scripts[1024];
    char figdir[1100], datadir[1200];
    run_info *runs;
    int n_runs;
    char (*swept)[128]; /* swept keys (summary.csv columns between run_id and status) */
    int n_swept;
    int last_missing; /* runs without the file in the last read_all */
    char agg_why[64];   /* why there is no summary_agg table: "no" or "no readable" */
    csvread_table summary, agg;
    int have_summary, have_agg;
} plot_ctx;

/* ---- small helpers ---------------------------------------------------------------------- */

static void add_line(char ***list, int *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add_line(char ***list, int *n, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    *list = nb_realloc(*list, (size_t)(*n + 1) * sizeof **list);
    (*list)[(*n)++] = nb_strdup(buf);
}

#define SKIP(c, ...)                                                                                                   \
    do {                                                                                                               \
        add_line(&(c)->r->skipped, &(c)->r->n_skipped, __VA_ARGS__);                                                   \
        if ((c)->o->log) {                                                                                             \
            fprintf((c)->o->log, "skipped: ");                                                                         \
            fprintf((c)->o->log, __VA_ARGS__);                                                                         \
            fputc('\n', (c)->o->log);                                                                                  \
        }                                                                                                              \
    } while (0)

static void record_error(plot_ctx *c, const nb_error *e)
{
    char buf[1700];
    if (e->line)
        snprintf(buf, sizeof buf, "%s:%d: %s", e->file, e->line, e->msg);
    else if (e->file[0])
        snprintf(buf, sizeof buf, "%s: %s", e->file, e->msg);
    else
        snprintf(buf, sizeof buf, "%s", e->msg);
    /* one error per file and line, however many figures read it */
    for (int i = 0; i < c->r->n_errors; i++)
        if (!strcmp(c->r->errors[i], buf))
            return;
    add_line(&c->r->errors, &c->r->n_errors, "%s", buf);
    if (c->o->log)
        fprintf(c->o->log, "error: %s\n", buf);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_number(const char *s, double *v)
{
    char *end;
    if (!s[0])
        return 0;
    errno = 0;
    double x = strtod(s, &end);
    if (*end || end == s)
        return 0;
    if (v)
        *v = x;
    return 1;
}

/* "0.29999999999999999" → "0.3"; text that is not a number stays as it is. */
static void format_value(char *out, size_t size, const char *s)
{
    double v;
    if (is_number(s, &v))
        snprintf(out, size, "%g", v);
    else
        snprintf(out, size, "%s", s);
}

/* Legends go into CSV headers read by gnuplot: no commas, quotes or line breaks. */
static void clean_label(char *s)
{
    for (; *s; s++)
        if (*s == ',' || *s == '"' || *s == '\n' || *s == '\r')
            *s = (*s == ',') ? ';' : ' ';
}

static const char *last_name(const char *key)
{
    const char *d = strrchr(key, '.');
    return d ? d + 1 : key;
}

/* Reads a CSV and checks that it has the named columns (NULL-terminated) and that every cell of
 * them is a number or empty. Returns 0, or −1 with err naming file and line. */
static int read_checked(csvread_table *t, const char *path, const char *const *cols, nb_error *err)
{
    if (csvread_load(t, path, err))
        return -1;
    for (int k = 0; cols && cols[k]; k++) {
        int j = csvread_col(t, cols[k]);
        if (j < 0) {
            nb_error_set(err, path, 1, 0, "missing column '%s'", cols[k]);
            csvread_free(t);
            return -1;
        }
        for (int i = 0; i < t->nrows; i++) {
            double v;
            if (csvread_number(t, i, j, &v, err)) {
                csvread_free(t);
                return -1;
            }
        }
    }
    return 0;
}

static double cell(const csvread_table *t, int row, int col)
{
    double v;
    if (col < 0 || !is_number(t->rows[row][col], &v))
        return NAN;
    return v;
}

/* ---- runs ------------------------------------------------------------------------------- */

static const char *cfg_get(const run_info *u, const char *key)
{
    for (int i = 0; i < u->n_cfg; i++)
        if (!strcmp(u->cfg[i].key, key))
            return u->cfg[i].value;
    return NULL;
}

/* config.yaml as normbench writes it: top-level "key: value" and "section:" lines, then
 * "  key: value" lines of that section. Lists and comments are kept as text. */
static void read_config(run_info *u, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[1024], section[128] = "";
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        int indent = (int)strspn(line, " ");
        char *p = line + indent;
        char *colon = strchr(p, ':');
        if (!*p || *p == '#' || !colon)
            continue;
        *colon = '\0';
        char *val = colon + 1;
        val += strspn(val, " ");
        if (indent == 0 && !*val) {
            snprintf(section, sizeof section, "%s", p);
            continue;
        }
        u->cfg = nb_realloc(u->cfg, (size_t)(u->n_cfg + 1) * sizeof *u->cfg);
        kv *e = &u->cfg[u->n_cfg++];
        if (indent && section[0])
            snprintf(e->key, sizeof e->key, "%s.%s", section, p);
        else
            snprintf(e->key, sizeof e->key, "%s", p);
        snprintf(e->value, sizeof e->value, "%s", val);
    }
    fclose(f);
}

static int loss_normalises_features(const char *type)
{
    static const char *const norm[] = {"l2softmax", "normface", "cosface", "arcface", "combined",
                                       "c_contrastive", "c_triplet", "contrastive", "triplet"};
    for (size_t i = 0; i < sizeof norm / sizeof norm[0]; i++)
        if (!strcmp(type, norm[i]))
            return 1;
    return 0;
}

/* Appends " name=value" to out. */
static void append_param(char *out, size_t size, const char *name, const char *value)
{
    char v[256];
    format_value(v, sizeof v, value);
    size_t n = strlen(out);
    snprintf(out + n, size - n, "%s%s=%s", n ? " " : "", name, v);
}

/* A run's legend: the loss type and its parameters (m, m1..m3, α, s, hinges, mining, centre
 * weight), then every other swept key but seed, e.g. "arcface m=0.3 s=16 feature_dim=2"; the key
 * `exclude` (the x axis of a sweep plot) is left out. */
static void build_group_label(const plot_ctx *c, const run_info *u, const char *exclude, char *out, size_t size)
{
    static const struct {
        const char *key, *name;
    } params[] = {{"loss.m", "m"},       {"loss.m1", "m1"},         {"loss.m2", "m2"},
                  {"loss.m3", "m3"},     {"loss.alpha", "α"},       {"loss.s", "s"},
                  {"loss.m_pos", "m_pos"}, {"loss.m_neg", "m_neg"}, {"loss.mining", "mining"}};
    out[0] = '\0';
    snprintf(out, size, "%s", u->loss_type[0] ? u->loss_type : u->id);
    if (!u->n_cfg) {
        clean_label(out);
        return;
    }
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        const char *v = cfg_get(u, params[i].key);
        if (!v || !v[0] || (exclude && !strcmp(exclude, params[i].key)))
            continue;
        append_param(out, size, params[i].name, v);
        const char *learn = !strcmp(params[i].key, "loss.s") ? cfg_get(u, "loss.learn_s")
                            : !strcmp(params[i].key, "loss.alpha") ? cfg_get(u, "loss.learn_alpha")
                                                                   : NULL;
        if (learn && !strcmp(learn, "true")) {
            size_t n = strlen(out);
            snprintf(out + n, size - n, " (learned)");
        }
    }
    const char *cw = cfg_get(u, "loss.center_weight");
    double w;
    if (cw && is_number(cw, &w) && w > 0)
        append_param(out, size, "+center λ", cw);
    for (int k = 0; k < c->n_swept; k++) {
        const char *key = c->swept[k];
        if (!strcmp(key, "seed") || !strcmp(key, "loss.type") || (exclude && !strcmp(key, exclude)))
            continue;
        int known = 0;
        for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
            known |= !strcmp(key, params[i].key);
        const char *v = cfg_get(u, key);
        if (!known && v && v[0])
            append_param(out, size, last_name(key), v);
    }
    clean_label(out);
}

static int run_cmp(const void *a, const void *b)
{
    return strverscmp(((const run_info *)a)->id, ((const run_info *)b)->id);
}

/* Run folders: sub-folders holding config.yaml or metrics.csv, in summary.csv's order, then the
 * others in version order (s4 before s16). */
static int find_runs(plot_ctx *c, nb_error *err)
{
    DIR *d = opendir(c->r->dir);
    if (!d)
        return nb_error_set(err, c->r->dir, 0, 0, "cannot open results folder: %s", strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "figures"))
            continue;
        char sub[1300], p1[1400], p2[1400];
        snprintf(sub, sizeof sub, "%s/%s", c->r->dir, e->d_name);
        struct stat st;
        if (stat(sub, &st) || !S_ISDIR(st.st_mode))
            continue;
        snprintf(p1, sizeof p1, "%s/config.yaml", sub);
        snprintf(p2, sizeof p2, "%s/metrics.csv", sub);
        if (!file_exists(p1) && !file_exists(p2))
            continue;
        c->runs = nb_realloc(c->runs, (size_t)(c->n_runs + 1) * sizeof *c->runs);
        run_info *u = &c->runs[c->n_runs++];
        memset(u, 0, sizeof *u);
        snprintf(u->id, sizeof u->id, "%s", e->d_name);
        snprintf(u->dir, sizeof u->dir, "%s", sub);
    }
    closedir(d);
    if (c->n_runs) /* qsort(NULL, 0, …) is undefined (UBSan) */
        qsort(c->runs, (size_t)c->n_runs, sizeof *c->runs, run_cmp);
    if (c->have_summary) { /* summary.csv order first */
        int at = 0, idc = csvread_col(&c->summary, "run_id");
        for (int i = 0; idc >= 0 && i < c->summary.nrows; i++)
            for (int k = at; k < c->n_runs; k++)
                if (!strcmp(c->runs[k].id, c->summary.rows[i][idc])) {
                    run_info t = c->runs[k];
                    memmove(&c->runs[at + 1], &c->runs[at], (size_t)(k - at) * sizeof t);
                    c->runs[at++] = t;
                    break;
                }
    }
    for (int i = 0; i < c->n_runs; i++) {
        run_info *u = &c->runs[i];
        char p[1400];
        snprintf(p, sizeof p, "%s/config.yaml", u->dir);
        read_config(u, p);
        const char *t = cfg_get(u, "loss.type");
        snprintf(u->loss_type, sizeof u->loss_type, "%s", t ? t : "");
        u->normalised = loss_normalises_features(u->loss_type);
        snprintf(p, sizeof p, "%s/final.csv", u->dir);
        u->complete = file_exists(p);
        c->r->n_complete += u->complete;
    }
    for (int i = 0; i < c->n_runs; i++) {
        run_info *u = &c->runs[i];
        build_group_label(c, u, NULL, u->group, sizeof u->group);
        const char *seed = cfg_get(u, "seed");
        if (seed)
            snprintf(u->label, sizeof u->label, "%s seed %s", u->group, seed);
        else
            snprintf(u->label, sizeof u->label, "%s", u->group);
        if (!u->complete)
            snprintf(u->label + strlen(u->label), sizeof u->label - strlen(u->label), " (running)");
        clean_label(u->label);
        int colors = 0;
        u->color = 0;
        for (int j = 0; j < i && !u->color; j++)
            if (!strcmp(c->runs[j].group, u->group))
                u->color = c->runs[j].color;
        for (int j = 0; j < i; j++)
            colors = c->runs[j].color > colors ? c->runs[j].color : colors;
        if (!u->color)
            u->color = colors + 1;
        u->dash = 1;
        for (int j = 0; j < i; j++)
            u->dash += !strcmp(c->runs[j].group, u->group);
    }
    c->r->n_runs = c->n_runs;
    return 0;
}

/* ---- running gnuplot -------------------------------------------------------------------- */

/* Runs `gnuplot -c script args…` with stdout and stderr collected into out. Returns its exit
 * status (127 when it cannot be started). */
static int run_gnuplot(const plot_ctx *c, const char *script, const char *const *args, int nargs, char *out,
                       size_t outsize)
{
    int fd[2];
    out[0] = '\0';
    if (pipe(fd))
        nb_fatal("pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        nb_fatal("fork: %s", strerror(errno));
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[1]);
        const char *argv[16];
        int n = 0;
        argv[n++] = c->o->gnuplot ? c->o->gnuplot : "gnuplot";
        argv[n++] = "-c";
        argv[n++] = script;
        for (int i = 0; i < nargs && n < 15; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0;
    char buf[4096];
    ssize_t k;
    while ((k = read(fd[0], buf, sizeof buf)) > 0 || (k < 0 && errno == EINTR))
        for (ssize_t i = 0; i < k; i++)
            if (len + 1 < outsize)
                out[len++] = buf[i];
    out[len] = '\0';
    close(fd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            nb_fatal("waitpid: %s", strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Draws figures/<stem>.png and .svg with plots/<script>, each to a temporary name renamed into
 * place; args are the script's arguments after FMT and OUT. Records the figure, or an error. */
static int draw(plot_ctx *c, const char *stem, const char *script, const char *section, const char *caption,
                const char *const *args, int nargs)
{
    static const char *const fmts[2] = {"png", "svg"};
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", c->scripts, script);
    for (int f = 0; f < 2; f++) {
        char final[1400], tmp[1500], out[8192];
        snprintf(final, sizeof final, "%s/%s.%s", c->figdir, stem, fmts[f]);
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", final, (long)getpid());
        const char *a[14];
        int n = 0;
        a[n++] = fmts[f];
        a[n++] = tmp;
        for (int i = 0; i < nargs && n < 14; i++)
            a[n++] = args[i];
        int rc = run_gnuplot(c, path, a, n, out, sizeof out);
        struct stat st;
        if (rc != 0 || stat(tmp, &st) != 0 || st.st_size == 0) {
            unlink(tmp);
            /* gnuplot's message, on one line */
            for (char *p = out; *p; p++)
                if (*p == '\n')
                    *p = ' ';
            nb_error e = {0};
            nb_error_set(&e, path, 0, 0, "gnuplot failed drawing %s.%s (exit %d): %s", stem, fmts[f], rc,
                         out[0] ? out : "no output");
            record_error(c, &e);
            return -1;
        }
        if (c->o->verbose && out[0] && c->o->log)
            fprintf(c->o->log, "gnuplot (%s.%s): %s", stem, fmts[f], out);
        if (rename(tmp, final) != 0) {
            nb_error e = {0};
            nb_error_set(&e, final, 0, 0, "cannot rename into place: %s", strerror(errno));
            unlink(tmp);
            record_error(c, &e);
            return -1;
        }
    }
    plot_result *r = c->r;
    r->figs = nb_realloc(r->figs, (size_t)(r->n_figs + 1) * sizeof *r->figs);
    plot_figure *g = &r->figs[r->n_figs++];
    snprintf(g->stem, sizeof g->stem, "%s", stem);
    snprintf(g->section, sizeof g->section, "%s", section);
    snprintf(g->caption, sizeof g->caption, "%s Script: plots/%s.", caption, script);
    if (c->o->log)
        fprintf(c->o->log, "drew: figures/%s.png, .svg\n", stem);
    return 0;
}

/* Data files: figures/data/<name>, written atomically. */
static int data_open(plot_ctx *c, atomic_file *a, char *path, size_t size, const char *name)
{
    nb_error e = {0};
    if (snprintf(path, size, "%s/%s", c->datadir, name) >= (int)size) {
        nb_error_set(&e, c->datadir, 0, 0, "path too long");
        record_error(c, &e);
        return -1;
    }
    if (atomic_open(a, path, &e)) {
        record_error(c, &e);
        return -1;
    }
    return 0;
}

static int data_commit(plot_ctx *c, atomic_file *a)
{
    nb_error e = {0};
    if (atomic_commit(a, &e)) {
        record_error(c, &e);
        return -1;
    }
    return 0;
}

/* "1 1 2 2" / "1 2 1 2": colours and dash types of the runs in sel. */
static void styles(const plot_ctx *c, const int *sel, int n, char *colors, char *dashes, size_t size)
{
    colors[0] = dashes[0] = '\0';
    for (int i = 0; i < n; i++) {
        size_t a = strlen(colors), b = strlen(dashes);
        snprintf(colors + a, size - a, "%s%d", i ? " " : "", c->runs[sel[i]].color);
        snprintf(dashes + b, size - b, "%s%d", i ? " " : "", c->runs[sel[i]].dash);
    }
}

/* ---- per-run figures combined: training, ROC, CMC, norms, θ_y ---------------------------- */

/* Reads <run>/<file> for every run, checking cols; runs without the file are noted as left out
 * of `what`, malformed ones recorded as errors. Returns the number of runs read; tables[i] is
 * valid (nrows ≥ 1) where ok[i]. */
static int read_all(plot_ctx *c, const char *file, const char *const *cols, const char *what, csvread_table *tables,
                    int *ok)
{
    int n = 0, missing = 0;
    char missing_ids[1024] = "";
    c->last_missing = 0;
    for (int i = 0; i < c->n_runs; i++) {
        ok[i] = 0;
        char p[1400];
        snprintf(p, sizeof p, "%s/%s", c->runs[i].dir, file);
        if (!file_exists(p)) {
            missing++;
            size_t m = strlen(missing_ids);
            if (m < 900)
                snprintf(missing_ids + m, sizeof missing_ids - m, "%s%s", m ? ", " : "", c->runs[i].id);
            continue;
        }
        nb_error e = {0};
        if (read_checked(&tables[i], p, cols, &e)) {
            record_error(c, &e);
            SKIP(c, "%s: left out %s: %s is malformed (see the error)", what, c->runs[i].id, file);
            continue;
        }
        if (tables[i].nrows == 0) {
            SKIP(c, "%s: left out %s: %s has no rows yet", what, c->runs[i].id, file);
            csvread_free(&tables[i]);
            continue;
        }
        ok[i] = 1;
        n++;
    }
    if (missing && n)
        SKIP(c, "%s: left out %d run(s) without %s: %s", what, missing, file, missing_ids);
    c->last_missing = missing;
    return n;
}

static void free_all(plot_ctx *c, csvread_table *tables, int *ok)
{
    for (int i = 0; i < c->n_runs; i++)
        if (ok[i])
            csvread_free(&tables[i]);
}

static void training_figures(plot_ctx *c)
{
    static const char *const cols[] = {"epoch", "train_loss", "train_acc", "test_acc", "feature_norm", NULL};
    csvread_table *t = nb_calloc((size_t)c->n_runs + 1, sizeof *t);
    int *ok = nb_calloc((size_t)c->n_runs + 1, sizeof *ok);
    int n = read_all(c, "metrics.csv", cols, "training curves", t, ok);
    if (!n) {
        SKIP(c, "training curves: no run has %smetrics.csv with an epoch in it",
             c->last_missing == c->n_runs ? "" : "a readable ");
        goto done;
    }
    atomic_file a;
    char path[1400];
    if (data_open(c, &a, path, sizeof path, "training.csv"))
        goto done;
    int *sel = nb_calloc((size_t)n, sizeof *sel), k = 0;
    for (int i = 0; i < c->n_runs; i++) {
        if (!ok[i])
            continue;
        if (k)
            fputs("\n\n", a.f);
        sel[k++] = i;
        fprintf(a.f, "%s", c->runs[i].label);
        for (int j = 0; j < t[i].ncols; j++)
            fprintf(a.f, ",%s", t[i].header[j]);
        fputc('\n', a.f);
        for (int r = 0; r < t[i].nrows; r++) {
            for (int j = 0; j < t[i].ncols; j++)
                fprintf(a.f, ",%s", t[i].rows[r][j]);
            fputc('\n', a.f);
        }
    }
    if (data_commit(c, &a)) {
        free(sel);
        goto done;
    }
    char colors[512], dashes[512];
    styles(c, sel, n, colors, dashes, sizeof colors);
    free(sel);
    static const struct {
        const char *col, *stem, *ylabel, *caption;
    } figs[] = {
        {"train_loss", "training_loss", "training loss (nats)",
         "Training loss per epoch (mean over the epoch's batches), one line per run."},
        {"train_acc", "training_train_acc", "training accuracy (fraction)",
         "Training accuracy per epoch, one line per run."},
        {"test_acc", "training_test_acc", "test accuracy, closed-set top-1 (fraction)",
         "Test accuracy (closed-set top-1) after each epoch, one line per run."},
        {"feature_norm", "training_feature_norm", "mean feature norm ‖f‖ before normalisation",
         "Mean feature norm ‖f‖ before normalisation per epoch, one line per run: under a normalised loss the "
         "gradient is orthogonal to f, so ‖f‖ can only grow (NormFace Prop. 1)."},
        {"learned_scale", "training_learned_scale", "learned scale s or α",
         "The learned scale (s of NormFace or α of L2-softmax) per epoch, for runs that learn it."},
    };
    for (size_t f = 0; f < sizeof figs / sizeof figs[0]; f++) {
        double lo = INFINITY, hi = -INFINITY;
        int have = 0;
        for (int i = 0; i < c->n_runs; i++) {
            if (!ok[i])
                continue;
            int j = csvread_col(&t[i], figs[f].col);
            for (int r = 0; j >= 0 && r < t[i].nrows; r++) {
                double v = cell(&t[i], r, j);
                if (isfinite(v)) {
                    have = 1;
                    lo = fmin(lo, v);
                    hi = fmax(hi, v);
                }
            }
        }
        if (!have) {
            if (strcmp(figs[f].col, "learned_scale"))
                SKIP(c, "%s: no run has a value in metrics.csv column '%s'", figs[f].stem, figs[f].col);
            continue;
        }
        int logy = lo > 0 && hi / lo >= 30;
        char ylabel[256];
        snprintf(ylabel, sizeof ylabel, "%s%s", figs[f].ylabel, logy ? ", log scale" : "");
        const char *args[] = {path, figs[f].col, ylabel, logy ? "1" : "0", colors, dashes};
        draw(c, figs[f].stem, "training.gp", "Training curves", figs[f].caption, args, 6);
    }
done:
    free_all(c, t, ok);
    free(t);
    free(ok);
}

/* ROC (far > 0 rows only: the axis is logarithmic), CMC, θ_y histograms and norm per quality:
 * one block per run of the listed columns; `fraction` divides column 3 by its total. */
static int write_blocks(plot_ctx *c, const char *name, csvread_table *t, const int *ok, const char *const *cols,
                        int positive_first, int fraction, char *path, size_t size, int *sel)
{
    atomic_file a;
    if (data_open(c, &a, path, size, name))
        return -1;
    int k = 0;
    for (int i = 0; i < c->n_runs; i++) {
        if (!ok[i])
            continue;
        int idx[8], nc = 0;
        for (; cols[nc]; nc++)
            idx[nc] = csvread_col(&t[i], cols[nc]);
        double total = 0;
        if (fraction)
            for (int r = 0; r < t[i].nrows; r++) {
                double v = cell(&t[i], r, idx[nc - 1]);
                total += isfinite(v) ? v : 0;
            }
        int rows = 0;
        for (int r = 0; r < t[i].nrows; r++) {
            double v = cell(&t[i], r, idx[0]);
            rows += !positive_first || (isfinite(v) && v > 0);
        }
        if (!rows)
            continue;
        if (k)
            fputs("\n\n", a.f);
        sel[k++] = i;
        fprintf(a.f, "%s", c->runs[i].label);
        for (int j = 0; j < nc; j++)
            fprintf(a.f, ",%s", (fraction && j == nc - 1) ? "fraction" : cols[j]);
        fputc('\n', a.f);
        for (int r = 0; r < t[i].nrows; r++) {
            double v0 = cell(&t[i], r, idx[0]);
            if (positive_first && !(isfinite(v0) && v0 > 0))
                continue;
            for (int j = 0; j < nc; j++) {
                if (fraction && j == nc - 1) {
                    double v = cell(&t[i], r, idx[j]);
                    fprintf(a.f, ",%.9g", total > 0 && isfinite(v) ? v / total : 0.0);
                } else
                    fprintf(a.f, ",%s", t[i].rows[r][idx[j]]);
            }
            fputc('\n', a.f);
        }
    }
    if (data_commit(c, &a))
        return -1;
    return k;
}

typedef struct {
    const char *file;        /* per-run CSV */
    const char *const *cols; /* its columns, in the data file's order */
    const char *stem;        /* figure and data file name */
    const char *script, *section, *caption;
    int positive_first; /* keep rows whose first column is > 0 (log axis) */
    int fraction;       /* last column divided by its total */
} combined_spec;

/* A figure of one line per run from the runs' copies of one CSV. */
static void combined_figure(plot_ctx *c, const combined_spec *s)
{
    csvread_table *t = nb_calloc((size_t)c->n_runs + 1, sizeof *t);
    int *ok = nb_calloc((size_t)c->n_runs + 1, sizeof *ok);
    int *sel = nb_calloc((size_t)c->n_runs + 1, sizeof *sel);
    int n = read_all(c, s->file, s->cols, s->stem, t, ok);
    if (!n) {
        SKIP(c, "%s: no run has %s%s", s->stem, c->last_missing == c->n_runs ? "" : "a readable ", s->file);
        goto done;
    }
    int logy = 0;
    if (!strcmp(s->stem, "norm_quality")) {
        /* only worth a figure when some run has test samples at two quality levels or more */
        int levels = 0;
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < c->n_runs; i++) {
            if (!ok[i])
                continue;
            int jc = csvread_col(&t[i], "count"), jm = csvread_col(&t[i], "norm_mean"), l = 0;
            for (int r = 0; r < t[i].nrows; r++) {
                double cnt = cell(&t[i], r, jc), m = cell(&t[i], r, jm);
                l += isfinite(cnt) && cnt > 0;
                if (isfinite(m) && m > 0) {
                    lo = fmin(lo, m);
                    hi = fmax(hi, m);
                }
            }
            levels = l > levels ? l : levels;
        }
        if (levels < 2) {
            SKIP(c, "norm_quality: every run's norms.csv has one quality level only (degrade the test set, "
                    "data.degrade_*, to compare clean and degraded samples)");
            goto done;
        }
        logy = hi / lo >= 30;
    }
    char path[1400], name[200];
    snprintf(name, sizeof name, "%s.csv", s->stem);
    int k = write_blocks(c, name, t, ok, s->cols, s->positive_first, s->fraction, path, sizeof path, sel);
    if (k < 0)
        goto done;
    if (k == 0) {
        SKIP(c, "%s: no run has a row to draw in %s", s->stem, s->file);
        goto done;
    }
    char colors[512], dashes[512];
    styles(c, sel, k, colors, dashes, sizeof colors);
    if (!strcmp(s->stem, "norm_quality")) {
        const char *args[] = {path, logy ? "1" : "0", colors, dashes};
        draw(c, s->stem, s->script, s->section, s->caption, args, 4);
    } else {
        const char *args[] = {path, colors, dashes};
        draw(c, s->stem, s->script, s->section, s->caption, args, 3);
    }
done:
    free_all(c, t, ok);
    free(t);
    free(ok);
    free(sel);
}

static void combined_figures(plot_ctx *c)
{
    static const char *const roc_cols[] = {"far", "tar", NULL};
    static const char *const cmc_cols[] = {"rank", "identification_rate", NULL};
    static const char *const nq_cols[] = {"quality", "count", "norm_mean", "norm_sd", NULL};
    static const char *const th_cols[] = {"bin_start_deg", "bin_end_deg", "count", NULL};
    static const combined_spec specs[] = {
        {"roc.csv", roc_cols, "roc", "roc.gp", "Verification and identification",
         "Verification ROC: true accept rate against false accept rate (log axis) over the test pairs, one line "
         "per run; the dotted line is chance.",
         1, 0},
        {"cmc.csv", cmc_cols, "cmc", "cmc.gp", "Verification and identification",
         "Open-set identification: cumulative match characteristic (rate of probes whose identity is among the "
         "k nearest gallery identities), one line per run.",
         0, 0},
        {"norms.csv", nq_cols, "norm_quality", "norm_quality.gp", "Feature geometry",
         "Mean feature norm ‖f‖ (± sd over test samples) against the quality level of the sample (0 = clean): "
         "the norm shrinks on degraded samples (L2-softmax Fig. 1, docs/claims.md §5 claim 1).",
         0, 0},
        {"theta_hist.csv", th_cols, "theta_hist", "theta_hist.gp", "Feature geometry",
         "Histogram of θ_y, the angle between each test feature and its class weight, as the fraction of test "
         "samples per bin, one line per run.",
         0, 1},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        combined_figure(c, &specs[i]);
}

/* ---- features: scatter (d = 2, 3) and norm histograms ------------------------------------ */

static void feature_figures(plot_ctx *c)
{
    int any = 0, n_without = 0;
    for (int i = 0; i < c->n_runs; i++) {
        run_info *u = &c->runs[i];
        char fp[1400], wp[1400];
        snprintf(fp, sizeof fp, "%s/features.csv", u->dir);
        snprintf(wp, sizeof wp, "%s/weights.csv", u->dir);
        if (!file_exists(fp)) {
            n_without++;
            continue;
        }
        any = 1;
        csvread_table t;
        nb_error e = {0};
        if (csvread_load(&t, fp, &e)) {
            record_error(c, &e);
            SKIP(c, "scatter_%s, norm_hist_%s: features.csv is malformed (see the error)", u->id, u->id);
            continue;
        }
        /* label, quality, then f0 … f<d-1>, every cell a number */
        int dim = 0, bad = 0;
        while (1) {
            char name[32];
            snprintf(name, sizeof name, "f%d", dim);
            if (csvread_col(&t, name) != 2 + dim)
                break;
            dim++;
        }
        const char *need[] = {"label", "quality", "f0"};
        for (int k = 0; k < 3 && !bad; k++)
            if (csvread_col(&t, need[k]) < 0) {
                nb_error_set(&e, fp, 1, 0, "missing column '%s' (expected label,quality,f0,f1,…)", need[k]);
                bad = 1;
            }
        for (int r = 0; r < t.nrows && !bad; r++)
            for (int j = 0; j < 2 + dim && !bad; j++) {
                double v;
                if (csvread_number(&t, r, j, &v, &e) || (j < 2 && !isfinite(v))) {
                    if (!e.msg[0] || j < 2)
                        nb_error_set(&e, fp, t.line[r], 0, "column '%s': expected a number, got '%s'",
                                     t.header[j], t.rows[r][j]);
                    bad = 1;
                }
            }
        int nrows = t.nrows;
        csvread_free(&t);
        if (bad) {
            record_error(c, &e);
            SKIP(c, "scatter_%s, norm_hist_%s: features.csv is malformed (see the error)", u->id, u->id);
            continue;
        }
        if (!nrows) {
            SKIP(c, "scatter_%s, norm_hist_%s: features.csv has no rows", u->id, u->id);
            continue;
        }
        /* the weights are optional: without them the scatter has no arrows */
        const char *wts = "";
        if (file_exists(wp)) {
            const char *wcols[5] = {"class", "w0", "w1", dim >= 3 ? "w2" : NULL, NULL};
            csvread_table w;
            if (read_checked(&w, wp, wcols, &e)) {
                record_error(c, &e);
                SKIP(c, "scatter_%s: class-weight directions not drawn: weights.csv is malformed", u->id);
            } else {
                wts = wp;
                csvread_free(&w);
            }
        }
        char stem[300], cap[2048], dims[16];
        if (dim == 2 || dim == 3) {
            snprintf(stem, sizeof stem, "scatter_%s", u->id);
            snprintf(cap, sizeof cap,
                     "%s: %d-D test features coloured by class%s%s.", u->label, dim,
                     wts[0] ? ", arrows along the class weights" : "",
                     u->normalised ? (dim == 2 ? "; right: the directions f/‖f‖ on the unit circle, what the loss sees"
                                               : "; drawn as directions f/‖f‖ on the unit sphere, what the loss sees")
                                   : "");
            const char *args[] = {fp, wts, u->label, u->normalised ? "1" : "0"};
            draw(c, stem, dim == 2 ? "scatter2d.gp" : "scatter3d.gp", "Feature geometry", cap, args, 4);
        } else {
            SKIP(c, "scatter_%s: feature_dim is %d; the scatter needs 2 or 3 (model.feature_dim)", u->id, dim);
        }
        snprintf(stem, sizeof stem, "norm_hist_%s", u->id);
        snprintf(dims, sizeof dims, "%d", dim);
        snprintf(cap, sizeof cap,
                 "%s: histogram of the feature norm ‖f‖ (before normalisation) of the test samples, per quality "
                 "level (0 = clean).",
                 u->label);
        const char *args[] = {fp, dims, u->label};
        draw(c, stem, "norm_hist.gp", "Feature geometry", cap, args, 3);
    }
    if (!any)
        SKIP(c, "feature scatter and norm histograms: no run has features.csv (set eval.features: true)");
    else if (n_without)
        SKIP(c, "feature scatter and norm histograms: %d run(s) without features.csv", n_without);
}

/* ---- sweep curves and bars from summary_agg.csv ------------------------------------------ */

/* Swept keys of summary_agg.csv: the columns before "n". */
static int agg_keys(const plot_ctx *c)
{
    int n = csvread_col(&c->agg, "n");
    return n < 0 ? 0 : n;
}

/* The legend of an aggregated row: the legend of a run with the same swept values (so that loss
 * parameters set outside the sweep appear too), else the row's values. `exclude` is left out. */
static void agg_label(const plot_ctx *c, int row, const char *exclude, char *out, size_t size)
{
    int nk = agg_keys(c);
    if (c->have_summary) {
        int idc = csvread_col(&c->summary, "run_id");
        for (int i = 0; idc >= 0 && i < c->summary.nrows; i++) {
            int match = 1;
            for (int k = 0; k < nk && match; k++) {
                int j = csvread_col(&c->summary, c->agg.header[k]);
                match = j >= 0 && !strcmp(c->summary.rows[i][j], c->agg.rows[row][k]);
            }
            if (!match)
                continue;
            for (int u = 0; u < c->n_runs; u++)
                if (!strcmp(c->runs[u].id, c->summary.rows[i][idc]) && c->runs[u].n_cfg) {
                    build_group_label(c, &c->runs[u], exclude, out, size);
                    return;
                }
        }
    }
    out[0] = '\0';
    for (int k = 0; k < nk; k++) {
        const char *key = c->agg.header[k], *v = c->agg.rows[row][k];
        if ((exclude && !strcmp(key, exclude)) || !v[0])
            continue;
        if (!strcmp(key, "loss.type")) {
            size_t n = strlen(out);
            snprintf(out + n, size - n, "%s%s", n ? " " : "", v);
        } else
            append_param(out, size, last_name(key), v);
    }
    if (!out[0])
        snprintf(out, size, "%s", c->r->name);
    clean_label(out);
}

static const char *metric_label(const char *m)
{
    static const struct {
        const char *metric, *label;
    } t[] = {
        {"min_train_loss", "minimum training loss over epochs (nats)"},
        {"train_loss", "final training loss (nats)"},
        {"test_acc", "test accuracy, closed-set top-1 (fraction)"},
        {"train_acc", "training accuracy (fraction)"},
        {"verify_acc", "verification accuracy, 10-fold (fraction)"},
        {"auc", "verification ROC AUC"},
        {"eer", "equal error rate (fraction)"},
        {"rank1", "open-set rank-1 identification rate"},
        {"learned_scale", "learned scale s or α at the end"},
        {"feature_norm", "mean feature norm ‖f‖ (training set)"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].metric, m))
            return t[i].label;
    return m;
}

static void key_label(const char *key, int logx, char *out, size_t size)
{
    static const struct {
        const char *key, *label;
    } t[] = {
        {"loss.alpha", "L2-softmax scale α (norm of the normalised features)"},
        {"loss.s", "scale s"},
        {"loss.m", "margin m"},
        {"loss.m1", "multiplicative angular margin m1"},
        {"loss.m2", "additive angular margin m2 (radians)"},
        {"loss.m3", "additive cosine margin m3"},
        {"data.identities", "training identities (classes)"},
        {"model.feature_dim", "feature dimension d"},
        {"train.lr", "learning rate"},
        {"train.epochs", "epochs"},
        {"train.batch_size", "batch size"},
    };
    const char *l = key;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].key, key))
            l = t[i].label;
    snprintf(out, size, "%s%s", l, logx ? " (log scale)" : "");
}

typedef struct {
    double x, mean, sd;
} sweep_point;

static int point_cmp(const void *a, const void *b)
{
    double x = ((const sweep_point *)a)->x, y = ((const sweep_point *)b)->x;
    return (x > y) - (x < y);
}

/* Whether every setting of summary_agg.csv has at most one run (no spread over seeds). */
static int agg_one_seed(const csvread_table *a)
{
    int jn = csvread_col(a, "n");
    if (jn < 0)
        return 0;
    for (int r = 0; r < a->nrows; r++)
        if (cell(a, r, jn) > 1)
            return 0;
    return 1;
}

/* metric against swept key kx: one block per combination of the other swept keys. */
static void sweep_figure(plot_ctx *c, int kx, const char *metric, int num_classes)
{
    const csvread_table *a = &c->agg;
    const char *key = a->header[kx];
    char mcol[160], scol[160];
    snprintf(mcol, sizeof mcol, "%s_mean", metric);
    snprintf(scol, sizeof scol, "%s_sd", metric);
    int jm = csvread_col(a, mcol), js = csvread_col(a, scol), nk = agg_keys(c);
    /* With one seed per setting there is no spread over seeds to draw; verification accuracy still
     * has its spread over the folds (verify_acc_sd), which is drawn instead and named as such. */
    int one_seed = agg_one_seed(a), jf = csvread_col(a, "verify_acc_sd_mean");
    int fold_sd = one_seed && !strcmp(metric, "verify_acc") && jf >= 0;
    if (fold_sd)
        js = jf;
    char stem[200];
    snprintf(stem, sizeof stem, "sweep_%s_vs_%s", metric, key);
    for (char *p = stem; *p; p++)
        if (*p == '.')
            *p = '_';
    if (jm < 0) {
        SKIP(c, "%s: summary_agg.csv has no column '%s'", stem, mcol);
        return;
    }
    /* groups: rows with equal values of every other swept key */
    int *group = nb_calloc((size_t)a->nrows + 1, sizeof *group), ngroups = 0;
    for (int r = 0; r < a->nrows; r++) {
        group[r] = -1;
        for (int q = 0; q < r && group[r] < 0; q++) {
            int same = 1;
            for (int k = 0; k < nk && same; k++)
                same = k == kx || !strcmp(a->rows[r][k], a->rows[q][k]);
            if (same)
                group[r] = group[q];
        }
        if (group[r] < 0)
            group[r] = ngroups++;
    }
    sweep_point *pts = nb_calloc((size_t)a->nrows + 1, sizeof *pts);
    int drawn_groups = 0, most = 0;
    double xmin = INFINITY, xmax = -INFINITY;
    atomic_file af;
    char path[1400], name[220];
    snprintf(name, sizeof name, "%s.csv", stem);
    if (data_open(c, &af, path, sizeof path, name))
        goto done;
    for (int g = 0; g < ngroups; g++) {
        int np = 0, first = -1;
        for (int r = 0; r < a->nrows; r++) {
            if (group[r] != g)
                continue;
            double x = cell(a, r, kx), m = cell(a, r, jm), s = cell(a, r, js);
            if (!isfinite(x) || !isfinite(m))
                continue;
            if (first < 0)
                first = r;
            pts[np++] = (sweep_point){x, m, isfinite(s) ? s : 0};
        }
        if (!np)
            continue;
        qsort(pts, (size_t)np, sizeof *pts, point_cmp);
        char label[512];
        agg_label(c, first, key, label, sizeof label);
        if (drawn_groups)
            fputs("\n\n", af.f);
        fprintf(af.f, "%s,x,mean,sd\n", label);
        for (int i = 0; i < np; i++) {
            fprintf(af.f, ",%.10g,%.10g,%.10g\n", pts[i].x, pts[i].mean, pts[i].sd);
            xmin = fmin(xmin, pts[i].x);
            xmax = fmax(xmax, pts[i].x);
        }
        drawn_groups++;
        most = np > most ? np : most;
    }
    if (most < 2) {
        atomic_abort(&af);
        SKIP(c, "%s: fewer than two values of %s have a %s", stem, key, metric);
        goto done;
    }
    if (data_commit(c, &af))
        goto done;
    int logx = xmin > 0 && xmax / xmin >= 8;
    int logy = 0;
    char vline[256] = "", bound[1400] = "", boundtitle[256] = "", caption[1024];
    if (fold_sd)
        snprintf(caption, sizeof caption,
                 "%s against %s, one seed per setting: the error bars are the sd over the verification "
                 "folds (verify_acc_sd in summary_agg.csv), one line per loss setting.",
                 metric_label(metric), key);
    else if (one_seed)
        snprintf(caption, sizeof caption,
                 "%s against %s, one seed per setting (so no error bars; summary_agg.csv), one line per "
                 "loss setting.",
                 metric_label(metric), key);
    else
        snprintf(caption, sizeof caption,
                 "%s against %s: mean ± sd over seeds (summary_agg.csv), one line per loss setting.",
                 metric_label(metric), key);
    for (int r = 0; r < a->nrows; r++) {
        double v;
        if (a->rows[r][kx][0] && !is_number(a->rows[r][kx], &v)) {
            size_t n = strlen(caption);
            snprintf(caption + n, sizeof caption - n, " Settings where %s is not a number (%s = %s) are not on the curve.",
                     key, key, a->rows[r][kx]);
            break;
        }
    }
    if (!strcmp(key, "loss.alpha") && num_classes > 2) {
        double al = l2softmax_alpha_low(num_classes, ALPHA_LOW_P);
        snprintf(vline, sizeof vline, "%.10g;α_low(C=%d, p=%g) = %.2f", al, num_classes, ALPHA_LOW_P, al);
        size_t n = strlen(caption);
        snprintf(caption + n, sizeof caption - n,
                 " The dotted vertical line is the L2-softmax lower bound α_low = log(p(C−2)/(1−p)) for C = %d "
                 "classes and target probability p = %g (Ranjan et al. §3.4): accuracy should collapse well "
                 "below it and saturate above it.",
                 num_classes, ALPHA_LOW_P);
    }
    if (!strcmp(key, "loss.s") && num_classes > 1 && (!strcmp(metric, "min_train_loss") || !strcmp(metric, "train_loss"))) {
        atomic_file bf;
        char bname[240];
        snprintf(bname, sizeof bname, "%s_bound.csv", stem);
        if (!data_open(c, &bf, bound, sizeof bound, bname)) {
            double lo = logx ? xmin / 1.25 : xmin - 0.05 * (xmax - xmin), hi = logx ? xmax * 1.25 : xmax + 0.05 * (xmax - xmin);
            lo = lo > 1e-3 ? lo : 1e-3;
            fprintf(bf.f, "s,bound\n");
            for (int i = 0; i <= 200; i++) {
                double s = logx ? lo * pow(hi / lo, i / 200.0) : lo + (hi - lo) * i / 200.0;
                fprintf(bf.f, "%.10g,%.10g\n", s, normface_loss_bound(num_classes, s));
            }
            if (data_commit(c, &bf))
                bound[0] = '\0';
        } else
            bound[0] = '\0';
        if (bound[0]) {
            logy = 1;
            snprintf(boundtitle, sizeof boundtitle, "NormFace bound log(1+(n−1)exp(−sn/(n−1))), n=%d", num_classes);
            size_t n = strlen(caption);
            snprintf(caption + n, sizeof caption - n,
                     " The dashed black curve is the NormFace lower bound on the loss for n = %d classes (Wang et "
                     "al. Prop. 2): no run can go below it, and the minimum loss should track it as s grows.",
                     num_classes);
        }
    }
    char xlabel[256], ylabel[256];
    key_label(key, logx, xlabel, sizeof xlabel);
    snprintf(ylabel, sizeof ylabel, "%s%s", metric_label(metric), logy ? ", log scale" : "");
    const char *log_axes = logx && logy ? "xy" : logx ? "x" : logy ? "y" : "";
    const char *args[] = {path, xlabel, ylabel, log_axes, vline, bound, boundtitle};
    draw(c, stem, "sweep.gp", "Sweep curves", caption, args, bound[0] ? 7 : 5);
done:
    free(group);
    free(pts);
}

static void sweep_figures(plot_ctx *c)
{
    if (!c->have_agg) {
        SKIP(c, "sweep curves: %s summary_agg.csv (normbench collect EXPERIMENT.yaml writes it)", c->agg_why);
        return;
    }
    const csvread_table *a = &c->agg;
    int nk = agg_keys(c), any = 0;
    int jc = csvread_col(a, "num_classes_mean");
    int num_classes = 0;
    for (int r = 0; r < a->nrows && jc >= 0 && !num_classes; r++) {
        double v = cell(a, r, jc);
        if (isfinite(v) && v > 0)
            num_classes = (int)lround(v);
    }
    for (int k = 0; k < nk; k++) {
        /* a key with two numeric values or more; its other values (empty, or a word such as
         * α: auto) are left off the curve (sweep_figure skips them and its caption says so) */
        int distinct = 0;
        double first = NAN;
        for (int r = 0; r < a->nrows; r++) {
            double v;
            if (!a->rows[r][k][0] || !is_number(a->rows[r][k], &v))
                continue;
            if (isnan(first))
                first = v, distinct = 1;
            else if (v != first)
                distinct = 2;
        }
        if (distinct < 2)
            continue;
        any = 1;
        static const char *const metrics[] = {"min_train_loss", "test_acc", "verify_acc", "learned_scale"};
        for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
            char col[160];
            snprintf(col, sizeof col, "%s_mean", metrics[m]);
            int j = csvread_col(a, col), have = 0;
            for (int r = 0; j >= 0 && r < a->nrows; r++)
                have |= isfinite(cell(a, r, j));
            if (!have) {
                if (strcmp(metrics[m], "learned_scale"))
                    SKIP(c, "sweep of %s against %s: no value in summary_agg.csv", metrics[m], a->header[k]);
                continue;
            }
            sweep_figure(c, k, metrics[m], num_classes);
        }
    }
    if (!any)
        SKIP(c, "sweep curves: no swept numeric key with two values or more besides seed");
}

static void bar_figure(plot_ctx *c)
{
    if (!c->have_agg) {
        SKIP(c, "final_metrics: %s summary_agg.csv (normbench collect EXPERIMENT.yaml writes it)", c->agg_why);
        return;
    }
    const csvread_table *a = &c->agg;
    static const struct {
        const char *metric, *title;
    } ms[] = {{"test_acc", "test accuracy (top-1)"},
              {"verify_acc", "verification accuracy (10-fold)"},
              {"auc", "ROC AUC"},
              {"rank1", "open-set rank-1"}};
    int use[4], nm = 0;
    for (int m = 0; m < 4; m++) {
        char col[160];
        snprintf(col, sizeof col, "%s_mean", ms[m].metric);
        int j = csvread_col(a, col);
        use[m] = 0;
        for (int r = 0; j >= 0 && r < a->nrows; r++)
            use[m] |= isfinite(cell(a, r, j));
        nm += use[m];
    }
    if (!nm || !a->nrows) {
        SKIP(c, "final_metrics: summary_agg.csv has no accuracy values yet");
        return;
    }
    atomic_file af;
    char path[1400];
    if (data_open(c, &af, path, sizeof path, "final_metrics.csv"))
        return;
    fprintf(af.f, "label");
    for (int m = 0; m < 4; m++)
        if (use[m])
            fprintf(af.f, ",%s,%s_sd", ms[m].title, ms[m].metric);
    fputc('\n', af.f);
    for (int r = 0; r < a->nrows; r++) {
        char label[512];
        agg_label(c, r, "seed", label, sizeof label);
        fprintf(af.f, "%s", label);
        for (int m = 0; m < 4; m++) {
            if (!use[m])
                continue;
            char col[160];
            snprintf(col, sizeof col, "%s_mean", ms[m].metric);
            double v = cell(a, r, csvread_col(a, col));
            snprintf(col, sizeof col, "%s_sd", ms[m].metric);
            double s = cell(a, r, csvread_col(a, col));
            fprintf(af.f, ",%.10g,%.10g", isfinite(v) ? v : 0.0, isfinite(s) ? s : 0.0);
        }
        fputc('\n', af.f);
    }
    if (data_commit(c, &af))
        return;
    char nms[8];
    snprintf(nms, sizeof nms, "%d", nm);
    int one_seed = agg_one_seed(a);
    const char *args[] = {path, nms, one_seed ? "one seed (fraction)" : "mean over seeds ± sd (fraction)"};
    draw(c, "final_metrics", "bars.gp", "Final metrics",
         one_seed ? "Final metrics per loss setting, one seed per setting, so no error bars (summary_agg.csv)."
                  : "Final metrics per loss setting: mean over seeds with ± sd error bars (summary_agg.csv).",
         args, 3);
}

/* ---- entry point ------------------------------------------------------------------------- */

static void find_scripts(plot_ctx *c)
{
    if (c->o->scripts_dir) {
        snprintf(c->scripts, sizeof c->scripts, "%s", c->o->scripts_dir);
        return;
    }
    char exe[900];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char p[1100];
            snprintf(p, sizeof p, "%s/../plots/common.gp", exe);
            if (file_exists(p)) {
                snprintf(c->scripts, sizeof c->scripts, "%s/../plots", exe);
                return;
            }
        }
    }
    snprintf(c->scripts, sizeof c->scripts, "plots");
}

int plot_results(plot_result *r, const char *dir, const plot_options *o, nb_error *err)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    size_t len = strlen(r->dir);
    while (len > 1 && r->dir[len - 1] == '/')
        r->dir[--len] = '\0';
    const char *base = strrchr(r->dir, '/');
    snprintf(r->name, sizeof r->name, "%s", base ? base + 1 : r->dir);
    plot_options quiet = {0};
    plot_ctx c = {.r = r, .o = o ? o : &quiet};
    struct stat st;
    if (stat(r->dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return nb_error_set(err, r->dir, 0, 0, "not a results folder: %s", stat(r->dir, &st) ? strerror(errno) : "not a folder");
    find_scripts(&c);
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/common.gp", c.scripts);
    if (!file_exists(probe))
        return nb_error_set(err, probe, 0, 0, "gnuplot scripts not found (give --scripts DIR, the repository's plots/)");
    snprintf(c.figdir, sizeof c.figdir, "%s/figures", r->dir);
    snprintf(c.datadir, sizeof c.datadir, "%s/data", c.figdir);
    if (mkdir_p(c.datadir, err))
        return -1;
    {
        char out[2048];
        const char *none[1] = {NULL};
        snprintf(probe, sizeof probe, "%s/common.gp", c.scripts);
        /* gnuplot present? `gnuplot -c common.gp` with no arguments fails inside gnuplot, but a
         * missing program gives 127 */
        if (run_gnuplot(&c, "/dev/null", none, 0, out, sizeof out) == 127)
            return nb_error_set(err, NULL, 0, 0, "cannot run %s (Debian package gnuplot-nox): %s",
                                c.o->gnuplot ? c.o->gnuplot : "gnuplot", out);
    }

    nb_error e = {0};
    char p[1200];
    snprintf(p, sizeof p, "%s/summary.csv", r->dir);
    if (file_exists(p)) {
        if (csvread_load(&c.summary, p, &e))
            record_error(&c, &e);
        else
            c.have_summary = 1;
    }
    if (c.have_summary) {
        int js = csvread_col(&c.summary, "status");
        for (int k = 1; k < js; k++) {
            c.swept = nb_realloc(c.swept, (size_t)(c.n_swept + 1) * sizeof *c.swept);
            snprintf(c.swept[c.n_swept++], sizeof *c.swept, "%s", c.summary.header[k]);
        }
    }
    snprintf(p, sizeof p, "%s/summary_agg.csv", r->dir);
    snprintf(c.agg_why, sizeof c.agg_why, file_exists(p) ? "no readable" : "no");
    if (file_exists(p)) {
        if (csvread_load(&c.agg, p, &e)) {
            record_error(&c, &e);
        } else if (csvread_col(&c.agg, "n") < 0) {
            nb_error_set(&e, p, 1, 0, "missing column 'n' (the column after the swept keys)");
            record_error(&c, &e);
            csvread_free(&c.agg);
        } else {
            /* every metric column must be numbers or empty */
            int bad = 0;
            for (int j = csvread_col(&c.agg, "n"); j < c.agg.ncols && !bad; j++)
                for (int i = 0; i < c.agg.nrows && !bad; i++) {
                    double v;
                    if (csvread_number(&c.agg, i, j, &v, &e))
                        bad = 1;
                }
            if (bad) {
                record_error(&c, &e);
                csvread_free(&c.agg);
            } else
                c.have_agg = 1;
        }
    }
    if (find_runs(&c, err)) {
        csvread_free(&c.summary);
        csvread_free(&c.agg);
        free(c.swept);
        return -1;
    }
    if (!c.n_runs && !c.have_agg)
        SKIP(&c, "every figure: %s holds no run folders (folders with config.yaml or metrics.csv) and no "
                 "summary_agg.csv", r->dir);

    training_figures(&c);
    sweep_figures(&c);
    combined_figures(&c);
    feature_figures(&c);
    bar_figure(&c);

    if (c.have_summary)
        csvread_free(&c.summary);
    if (c.have_agg)
        csvread_free(&c.agg);
    free(c.swept);
    for (int i = 0; i < c.n_runs; i++)
        free(c.runs[i].cfg);
    free(c.runs);
    return 0;
}

void plot_result_free(plot_result *r)
{
    for (int i = 0; i < r->n_skipped; i++)
        free(r->skipped[i]);
    for (int i = 0; i < r->n_errors; i++)
        free(r->errors[i]);
    free(r->skipped);
    free(r->errors);
    free(r->figs);
    memset(r, 0, sizeof *r);
}
