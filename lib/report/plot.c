/* plot.c — the plan of an experiment's figures: opening the results folder, the plan's steps
 * (notes and figures with their gnuplot jobs), and taking back what the jobs drew; see plot.h.
 *
 * Planning is split by concept: plot_runs.c finds the run folders and builds the legends,
 * plot_figures.c decides which figures apply, plot_data.c writes the data files the scripts of
 * plots/ read. Every CSV is read with csvread (strict: errors name file and line) and every cell a
 * figure uses is checked to be a number before gnuplot sees the file, so a malformed file gives
 * one error of ours rather than a gnuplot message, and only the figures that need it are lost.
 * Steps keep the order in which they were planned, so the log and the report read as one pass. */
#include "report/plot.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/fsutil.h"
#include "report/plot_impl.h"

/* ---- small helpers ---------------------------------------------------------------------- */

int plot_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int plot_is_number(const char *s, double *v)
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

double plot_cell(const csvread_table *t, int row, int col)
{
    double v;
    if (col < 0 || !plot_is_number(t->rows[row][col], &v))
        return NAN;
    return v;
}

static void add_line(char ***list, int *n, const char *text)
{
    *list = nb_realloc(*list, (size_t)(*n + 1) * sizeof **list);
    (*list)[(*n)++] = nb_strdup(text);
}

/* "file:line: message", "file: message" or "message". */
static void error_text(const nb_error *e, char *buf, size_t size)
{
    if (e->line)
        snprintf(buf, size, "%s:%d: %s", e->file, e->line, e->msg);
    else if (e->file[0])
        snprintf(buf, size, "%s: %s", e->file, e->msg);
    else
        snprintf(buf, size, "%s", e->msg);
}

/* Records an error in r once per file and line, however many figures read it. */
static void result_error(const plot_plan *p, plot_result *r, const char *text)
{
    for (int i = 0; i < r->n_errors; i++)
        if (!strcmp(r->errors[i], text))
            return;
    add_line(&r->errors, &r->n_errors, text);
    if (p->o->log)
        fprintf(p->o->log, "error: %s\n", text);
}

/* ---- the plan's steps ------------------------------------------------------------------- */

static plot_step *new_step(plot_plan *p, plot_step_kind kind)
{
    p->steps = nb_realloc(p->steps, (size_t)(p->n_steps + 1) * sizeof *p->steps);
    plot_step *s = &p->steps[p->n_steps++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    return s;
}

void plan_skip(plot_ctx *c, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    new_step(c->p, PLOT_STEP_SKIP)->text = nb_strdup(buf);
}

void plan_error(plot_ctx *c, const nb_error *e)
{
    char buf[1700];
    error_text(e, buf, sizeof buf);
    for (int i = 0; i < c->p->n_steps; i++)
        if (c->p->steps[i].kind == PLOT_STEP_ERROR && !strcmp(c->p->steps[i].text, buf))
            return;
    new_step(c->p, PLOT_STEP_ERROR)->text = nb_strdup(buf);
}

void plan_figure(plot_ctx *c, const char *stem, const char *script, const char *section, const char *caption,
                 const char *const *args, int nargs)
{
    static const char *const fmts[2] = {"png", "svg"};
    plot_step *s = new_step(c->p, PLOT_STEP_FIGURE);
    snprintf(s->fig.stem, sizeof s->fig.stem, "%s", stem);
    snprintf(s->fig.section, sizeof s->fig.section, "%s", section);
    snprintf(s->fig.caption, sizeof s->fig.caption, "%s Script: plots/%s.", caption, script);
    for (int f = 0; f < 2; f++) {
        plot_job *j = &s->jobs[s->n_jobs++];
        snprintf(j->script, sizeof j->script, "%s/%s", c->p->scripts, script);
        snprintf(j->fmt, sizeof j->fmt, "%s", fmts[f]);
        char final[1400];
        snprintf(final, sizeof final, "%s/%s.%s", c->p->figdir, stem, fmts[f]);
        snprintf(j->final, sizeof j->final, "%s", final);
        snprintf(j->out, sizeof j->out, "%s.tmp.%ld", final, (long)getpid());
        j->argv[j->argc++] = nb_strdup(fmts[f]);
        j->argv[j->argc++] = nb_strdup(j->out);
        for (int i = 0; i < nargs && j->argc < PLOT_JOB_ARGS; i++)
            j->argv[j->argc++] = nb_strdup(args[i]);
    }
}

void plot_note_done(const plot_plan *p, plot_result *r, int i)
{
    const plot_step *s = &p->steps[i];
    if (s->kind == PLOT_STEP_ERROR) {
        result_error(p, r, s->text);
    } else if (s->kind == PLOT_STEP_SKIP) {
        add_line(&r->skipped, &r->n_skipped, s->text);
        if (p->o->log)
            fprintf(p->o->log, "skipped: %s\n", s->text);
    }
}

int plot_job_done(const plot_plan *p, plot_result *r, int i, int j, int status, char *output)
{
    const plot_step *s = &p->steps[i];
    const plot_job *job = &s->jobs[j];
    char text[1700];
    nb_error e = {0};
    struct stat st;
    if (status != 0 || stat(job->out, &st) != 0 || st.st_size == 0) {
        unlink(job->out);
        /* gnuplot's message, on one line */
        for (char *q = output; *q; q++)
            if (*q == '\n')
                *q = ' ';
        nb_error_set(&e, job->script, 0, 0, "gnuplot failed drawing %s.%s (exit %d): %s", s->fig.stem, job->fmt,
                     status, output[0] ? output : "no output");
        error_text(&e, text, sizeof text);
        result_error(p, r, text);
        return -1;
    }
    if (p->o->verbose && output[0] && p->o->log)
        fprintf(p->o->log, "gnuplot (%s.%s): %s", s->fig.stem, job->fmt, output);
    if (rename(job->out, job->final) != 0) {
        nb_error_set(&e, job->final, 0, 0, "cannot rename into place: %s", strerror(errno));
        unlink(job->out);
        error_text(&e, text, sizeof text);
        result_error(p, r, text);
        return -1;
    }
    if (j < s->n_jobs - 1)
        return 0;
    r->figs = nb_realloc(r->figs, (size_t)(r->n_figs + 1) * sizeof *r->figs);
    r->figs[r->n_figs++] = s->fig;
    if (p->o->log)
        fprintf(p->o->log, "drew: figures/%s.png, .svg\n", s->fig.stem);
    return 0;
}

/* ---- opening the folder ----------------------------------------------------------------- */

/* The scripts: o->scripts_dir, else plots/ beside the executable's folder, else ./plots. */
static void find_scripts(plot_plan *p)
{
    if (p->o->scripts_dir) {
        snprintf(p->scripts, sizeof p->scripts, "%s", p->o->scripts_dir);
        return;
    }
    char exe[900];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char path[1100];
            snprintf(path, sizeof path, "%s/../plots/common.gp", exe);
            if (plot_file_exists(path)) {
                snprintf(p->scripts, sizeof p->scripts, "%s/../plots", exe);
                return;
            }
        }
    }
    snprintf(p->scripts, sizeof p->scripts, "plots");
}

int plot_open(plot_plan *p, plot_result *r, const char *dir, const plot_options *o, nb_error *err)
{
    static const plot_options quiet = {0};
    memset(p, 0, sizeof *p);
    memset(r, 0, sizeof *r);
    p->o = o ? o : &quiet;
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    size_t len = strlen(r->dir);
    while (len > 1 && r->dir[len - 1] == '/')
        r->dir[--len] = '\0';
    const char *base = strrchr(r->dir, '/');
    snprintf(r->name, sizeof r->name, "%s", base ? base + 1 : r->dir);
    struct stat st;
    if (stat(r->dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return nb_error_set(err, r->dir, 0, 0, "not a results folder: %s",
                            stat(r->dir, &st) ? strerror(errno) : "not a folder");
    find_scripts(p);
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/common.gp", p->scripts);
    if (!plot_file_exists(probe)) {
        nb_error_set(err, probe, 0, 0, "gnuplot scripts not found");
        return PLOT_NO_SCRIPTS;
    }
    snprintf(p->figdir, sizeof p->figdir, "%s/figures", r->dir);
    snprintf(p->datadir, sizeof p->datadir, "%s/data", p->figdir);
    return mkdir_p(p->datadir, err) ? -1 : 0;
}

/* ---- planning --------------------------------------------------------------------------- */

/* summary.csv, and the swept keys: its columns between run_id and status. */
static void read_summary(plot_ctx *c)
{
    nb_error e = {0};
    char path[1200];
    snprintf(path, sizeof path, "%s/summary.csv", c->r->dir);
    if (!plot_file_exists(path))
        return;
    if (csvread_load(&c->summary, path, &e)) {
        plan_error(c, &e);
        return;
    }
    c->have_summary = 1;
    int js = csvread_col(&c->summary, "status");
    for (int k = 1; k < js; k++) {
        c->swept = nb_realloc(c->swept, (size_t)(c->n_swept + 1) * sizeof *c->swept);
        snprintf(c->swept[c->n_swept++], sizeof *c->swept, "%s", c->summary.header[k]);
    }
}

/* summary_agg.csv, whose columns from "n" on must be numbers or empty. */
static void read_agg(plot_ctx *c)
{
    nb_error e = {0};
    char path[1200];
    snprintf(path, sizeof path, "%s/summary_agg.csv", c->r->dir);
    int exists = plot_file_exists(path);
    snprintf(c->agg_why, sizeof c->agg_why, exists ? "no readable" : "no");
    if (!exists)
        return;
    if (csvread_load(&c->agg, path, &e)) {
        plan_error(c, &e);
        return;
    }
    if (csvread_col(&c->agg, "n") < 0) {
        nb_error_set(&e, path, 1, 0, "missing column 'n' (the column after the swept keys)");
        plan_error(c, &e);
        csvread_free(&c->agg);
        return;
    }
    for (int j = csvread_col(&c->agg, "n"); j < c->agg.ncols; j++)
        for (int i = 0; i < c->agg.nrows; i++) {
            double v;
            if (csvread_number(&c->agg, i, j, &v, &e)) {
                plan_error(c, &e);
                csvread_free(&c->agg);
                return;
            }
        }
    c->have_agg = 1;
}

static void ctx_free(plot_ctx *c)
{
    if (c->have_summary)
        csvread_free(&c->summary);
    if (c->have_agg)
        csvread_free(&c->agg);
    free(c->swept);
    runs_free(c);
}

int plot_plan_make(plot_plan *p, plot_result *r, nb_error *err)
{
    plot_ctx c = {.p = p, .r = r};
    read_summary(&c);
    read_agg(&c);
    if (runs_find(&c, err)) {
        ctx_free(&c);
        return -1;
    }
    if (!c.n_runs && !c.have_agg)
        plan_skip(&c, "every figure: %s holds no run folders (folders with config.yaml or metrics.csv) and no "
                      "summary_agg.csv", r->dir);
    figures_training(&c);
    figures_sweep(&c);
    figures_combined(&c);
    figures_features(&c);
    figures_bars(&c);
    ctx_free(&c);
    return 0;
}

void plot_plan_free(plot_plan *p)
{
    for (int i = 0; i < p->n_steps; i++) {
        free(p->steps[i].text);
        for (int j = 0; j < p->steps[i].n_jobs; j++)
            for (int k = 0; k < p->steps[i].jobs[j].argc; k++)
                free(p->steps[i].jobs[j].argv[k]);
    }
    free(p->steps);
    p->steps = NULL;
    p->n_steps = 0;
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
