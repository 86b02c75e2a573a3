/* plot_runs.c — the run folders of a results folder and their legends; see plot_impl.h.
 *
 * A run folder is a sub-folder holding config.yaml or metrics.csv; whether it is complete is
 * io/runfolder.h's rule. Its config.yaml is read through lib/config/ (flatten.h) as key paths; what
 * a loss type implies (does it normalise features?) comes from lib/loss/loss.h, so a new loss needs
 * no edit here. A legend names the loss type and its parameters, then the other swept keys that
 * tell runs apart. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/fsutil.h"
#include "io/runfolder.h"
#include "loss/loss.h"
#include "report/plot_impl.h"

/* Loss parameters named in a legend, in this order (by config key: any loss that has the key). */
static const struct {
    const char *key, *name, *learn; /* learn: the key saying the value is learned, or NULL */
} legend_params[] = {
    {"loss.m", "m", NULL},           {"loss.m1", "m1", NULL},         {"loss.m2", "m2", NULL},
    {"loss.m3", "m3", NULL},         {"loss.alpha", "α", "loss.learn_alpha"},
    {"loss.s", "s", "loss.learn_s"}, {"loss.m_pos", "m_pos", NULL},   {"loss.m_neg", "m_neg", NULL},
    {"loss.mining", "mining", NULL},
};
#define N_LEGEND_PARAMS (sizeof legend_params / sizeof legend_params[0])

/* Whether loss type `name` normalises the features, so that only their directions matter (the
 * loss table's trait); a name that is no loss type does not. */
static int normalises_features(const char *name)
{
    int t = loss_type_from_name(name);
    return t >= 0 && loss_normalizes_features((loss_type)t);
}

/* "0.29999999999999999" → "0.3"; text that is not a number stays as it is. */
static void format_value(char *out, size_t size, const char *s)
{
    double v;
    if (plot_is_number(s, &v))
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

/* Appends " name=value" to out. */
static void append_param(char *out, size_t size, const char *name, const char *value)
{
    char v[256];
    format_value(v, sizeof v, value);
    size_t n = strlen(out);
    snprintf(out + n, size - n, "%s%s=%s", n ? " " : "", name, v);
}

static int is_legend_param(const char *key)
{
    for (size_t i = 0; i < N_LEGEND_PARAMS; i++)
        if (!strcmp(key, legend_params[i].key))
            return 1;
    return 0;
}

/* The loss type and its parameters (m, m1..m3, α, s, hinges, mining, centre weight), the part of
 * a legend that is always there; `exclude` is left out. */
static void loss_label(const run_info *u, const char *exclude, char *out, size_t size)
{
    snprintf(out, size, "%s", u->loss_type[0] ? u->loss_type : u->id);
    if (!u->cfg.n)
        return;
    for (size_t i = 0; i < N_LEGEND_PARAMS; i++) {
        const char *v = config_entries_get(&u->cfg, legend_params[i].key);
        if (!v || !v[0] || (exclude && !strcmp(exclude, legend_params[i].key)))
            continue;
        append_param(out, size, legend_params[i].name, v);
        const char *learn = legend_params[i].learn ? config_entries_get(&u->cfg, legend_params[i].learn) : NULL;
        if (learn && !strcmp(learn, "true")) {
            size_t n = strlen(out);
            snprintf(out + n, size - n, " (learned)");
        }
    }
    const char *cw = config_entries_get(&u->cfg, "loss.center_weight");
    double w;
    if (cw && plot_is_number(cw, &w) && w > 0)
        append_param(out, size, "+center λ", cw);
}

/* Whether swept key `key` is named in legends beside the loss label: not seed or loss.type (named
 * apart), not a loss parameter (in the loss label), not `exclude`. */
static int swept_in_legend(const char *key, const char *exclude)
{
    return strcmp(key, "seed") && strcmp(key, "loss.type") && !is_legend_param(key) &&
           !(exclude && !strcmp(key, exclude));
}

static const char *run_value(const run_info *u, const char *key)
{
    const char *v = u->cfg.n ? config_entries_get(&u->cfg, key) : NULL;
    return v ? v : "";
}

/* The runs' labels so far and one swept key's values, for sorting run indices by both. */
typedef struct {
    char (*label)[1024];
    const char **value;
} legend_sort;

static int legend_cmp(const void *a, const void *b, void *ctx)
{
    const legend_sort *ls = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    int d = strcmp(ls->label[i], ls->label[j]);
    return d ? d : strcmp(ls->value[i], ls->value[j]);
}

/* c->legend_keep[k]: whether swept key k is in the legends when `exclude` is left out. A key is
 * named only where it tells runs apart: some two runs with the same label so far (the loss label
 * and the keys kept before it, in the summary's order) have different values of it. So the
 * quickstart's train.momentum, data.train_subset and eval.features, which only its feature_dim 2
 * runs change, are not repeated beside feature_dim in every legend. */
static void legend_keys(plot_ctx *c, const char *exclude)
{
    const char *ex = exclude ? exclude : "";
    if (c->legend_keep && !strcmp(c->legend_keep_for, ex))
        return;
    free(c->legend_keep);
    c->legend_keep = nb_calloc((size_t)c->n_swept + 1, 1);
    snprintf(c->legend_keep_for, sizeof c->legend_keep_for, "%s", ex);
    int n = c->n_runs;
    legend_sort ls = {nb_calloc((size_t)n + 1, sizeof *ls.label), nb_calloc((size_t)n + 1, sizeof *ls.value)};
    int *idx = nb_calloc((size_t)n + 1, sizeof *idx);
    for (int i = 0; i < n; i++)
        loss_label(&c->runs[i], exclude, ls.label[i], sizeof ls.label[i]);
    for (int k = 0; k < c->n_swept; k++) {
        const char *key = c->swept[k];
        if (!swept_in_legend(key, exclude))
            continue;
        for (int i = 0; i < n; i++) {
            idx[i] = i;
            ls.value[i] = run_value(&c->runs[i], key);
        }
        if (n > 1)
            qsort_r(idx, (size_t)n, sizeof *idx, legend_cmp, &ls);
        for (int i = 1; i < n && !c->legend_keep[k]; i++)
            c->legend_keep[k] = !strcmp(ls.label[idx[i]], ls.label[idx[i - 1]]) &&
                                strcmp(ls.value[idx[i]], ls.value[idx[i - 1]]);
        for (int i = 0; c->legend_keep[k] && i < n; i++)
            if (ls.value[i][0])
                append_param(ls.label[i], sizeof ls.label[i], last_name(key), ls.value[i]);
    }
    free(ls.label);
    free(ls.value);
    free(idx);
}

/* e.g. "arcface m=0.3 s=16 feature_dim=2": the loss label, then the other swept keys but seed
 * that tell runs apart (legend_keys). */
void runs_group_label(plot_ctx *c, const run_info *u, const char *exclude, char *out, size_t size)
{
    loss_label(u, exclude, out, size);
    if (!u->cfg.n) {
        clean_label(out);
        return;
    }
    legend_keys(c, exclude);
    for (int k = 0; k < c->n_swept; k++) {
        const char *key = c->swept[k], *v = run_value(u, key);
        if (swept_in_legend(key, exclude) && c->legend_keep[k] && v[0])
            append_param(out, size, last_name(key), v);
    }
    clean_label(out);
}

int agg_keys(const plot_ctx *c)
{
    int n = csvread_col(&c->agg, "n");
    return n < 0 ? 0 : n;
}

/* The legend of a run with the same swept values (so that loss parameters set outside the sweep
 * appear too), else the row's values. */
void runs_agg_label(plot_ctx *c, int row, const char *exclude, char *out, size_t size)
{
    int nk = agg_keys(c);
    int idc = c->have_summary ? csvread_col(&c->summary, "run_id") : -1;
    for (int i = 0; idc >= 0 && i < c->summary.nrows; i++) {
        int match = 1;
        for (int k = 0; k < nk && match; k++) {
            int j = csvread_col(&c->summary, c->agg.header[k]);
            match = j >= 0 && !strcmp(c->summary.rows[i][j], c->agg.rows[row][k]);
        }
        if (!match)
            continue;
        for (int u = 0; u < c->n_runs; u++)
            if (!strcmp(c->runs[u].id, c->summary.rows[i][idc]) && c->runs[u].cfg.n) {
                runs_group_label(c, &c->runs[u], exclude, out, size);
                return;
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

static int run_cmp(const void *a, const void *b)
{
    return strverscmp(((const run_info *)a)->id, ((const run_info *)b)->id);
}

/* The sub-folders holding config.yaml or metrics.csv, in version order (s4 before s16). */
static int list_runs(plot_ctx *c, nb_error *err)
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
        nb_error link = {0};
        if (results_read_check(c->r->dir, e->d_name, &link)) { /* a run folder never is a link */
            plan_error(c, &link);
            continue;
        }
        struct stat st;
        if (stat(sub, &st) || !S_ISDIR(st.st_mode))
            continue;
        snprintf(p1, sizeof p1, "%s/config.yaml", sub);
        snprintf(p2, sizeof p2, "%s/metrics.csv", sub);
        if (!plot_file_exists(p1) && !plot_file_exists(p2))
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
    return 0;
}

/* The runs named in summary.csv first, in its order. */
static void order_by_summary(plot_ctx *c)
{
    if (!c->have_summary)
        return;
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

/* A run's config.yaml (absent: the legend is its folder name), loss type and state. */
static void describe_run(plot_ctx *c, run_info *u)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/config.yaml", u->dir);
    if (plot_file_exists(path)) {
        nb_error e = {0};
        if (config_entries_read(&u->cfg, path, &e)) {
            plan_skip(c, "legend of %s: config.yaml not read (%s:%d: %s); the run is named by its folder", u->id,
                      e.file, e.line, e.msg);
        }
    }
    const char *t = config_entries_get(&u->cfg, "loss.type");
    snprintf(u->loss_type, sizeof u->loss_type, "%s", t ? t : "");
    u->normalised = normalises_features(u->loss_type);
    u->complete = runfolder_state(u->dir) == RUN_COMPLETE;
}

/* Legend, colour (one per group) and dash (one per seed within the group) of run i. */
static void style_run(plot_ctx *c, int i)
{
    run_info *u = &c->runs[i];
    runs_group_label(c, u, NULL, u->group, sizeof u->group);
    const char *seed = config_entries_get(&u->cfg, "seed");
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

int runs_find(plot_ctx *c, nb_error *err)
{
    if (list_runs(c, err))
        return -1;
    order_by_summary(c);
    for (int i = 0; i < c->n_runs; i++) {
        describe_run(c, &c->runs[i]);
        c->r->n_complete += c->runs[i].complete;
    }
    for (int i = 0; i < c->n_runs; i++)
        style_run(c, i);
    c->r->n_runs = c->n_runs;
    return 0;
}

void runs_free(plot_ctx *c)
{
    for (int i = 0; i < c->n_runs; i++)
        config_entries_free(&c->runs[i].cfg);
    free(c->runs);
    free(c->legend_keep);
    c->legend_keep = NULL;
    c->runs = NULL;
    c->n_runs = 0;
}
