/* paramset.c — one buffer for all learnable parameters; see paramset.h. */
#include "nn/paramset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static const char *group_names[PARAM_GROUP_COUNT] = {"weight", "bias", "prelu", "bn", "head", "scale"};

const char *param_group_name(param_group g) { return group_names[g]; }

int param_group_from_name(const char *name)
{
    for (int g = 0; g < PARAM_GROUP_COUNT; g++)
        if (strcmp(name, group_names[g]) == 0)
            return g;
    return -1;
}

int paramset_add(paramset *ps, const char *name, size_t n, param_group group, double lr_mult)
{
    if (ps->data)
        nb_fatal("paramset_add('%s') after paramset_alloc", name);
    if (ps->count == ps->cap) {
        ps->cap = ps->cap ? 2 * ps->cap : 16;
        ps->t = nb_realloc(ps->t, (size_t)ps->cap * sizeof *ps->t);
    }
    param_tensor *t = &ps->t[ps->count];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->off = ps->total;
    t->n = n;
    t->group = group;
    t->lr_mult = lr_mult;
    t->row_len = 0;
    t->rows = NULL;
    t->n_rows = 0;
    t->bf16 = 0;
    ps->total += n;
    return ps->count++;
}

int paramset_add_rows(paramset *ps, const char *name, size_t n_rows, size_t row_len, param_group group,
                      double lr_mult, int bf16)
{
    if (row_len == 0)
        nb_fatal("paramset_add_rows('%s'): row_len must be > 0", name);
    const int idx = paramset_add(ps, name, n_rows * row_len, group, lr_mult);
    param_tensor *t = &ps->t[idx];
    t->row_len = row_len;
    if (bf16) {
        /* lives in the 16-bit buffers instead */
        ps->total -= t->n;
        t->off = ps->total16;
        t->bf16 = 1;
        ps->total16 += t->n;
    }
    return idx;
}

void paramset_set_rows(paramset *ps, int idx, const int *rows, int n_rows)
{
    param_tensor *t = &ps->t[idx];
    if (t->row_len == 0)
        nb_fatal("paramset_set_rows('%s'): not a row tensor", t->name);
    t->rows = rows;
    t->n_rows = rows ? n_rows : 0;
}

uint16_t *paramset_data16(const paramset *ps, int idx)
{
    return ps->t[idx].bf16 ? ps->data16 + ps->t[idx].off : NULL;
}

uint16_t *paramset_grad16(const paramset *ps, int idx)
{
    return ps->t[idx].bf16 ? ps->grad16 + ps->t[idx].off : NULL;
}

void paramset_alloc(paramset *ps)
{
    ps->data = nb_calloc(ps->total, sizeof(real));
    ps->grad = nb_calloc(ps->total, sizeof(real));
    ps->mom = nb_calloc(ps->total, sizeof(real));
    if (ps->total16) {
        ps->data16 = nb_calloc(ps->total16, sizeof(uint16_t));
        ps->grad16 = nb_calloc(ps->total16, sizeof(uint16_t));
        ps->mom16 = nb_calloc(ps->total16, sizeof(uint16_t));
    }
}

real *paramset_data(const paramset *ps, int idx) { return ps->t[idx].bf16 ? NULL : ps->data + ps->t[idx].off; }
real *paramset_grad(const paramset *ps, int idx) { return ps->t[idx].bf16 ? NULL : ps->grad + ps->t[idx].off; }

/* One memset of the float buffer when no row tensor has a row list (the usual case); otherwise
 * tensor by tensor, a listed row tensor row by row (at C = 10^6 the full head gradient would be
 * gigabytes to clear for the few sampled rows a step writes). */
void paramset_zero_grad(paramset *ps)
{
    int listed = 0;
    for (int i = 0; i < ps->count; i++)
        listed |= ps->t[i].rows != NULL;
    if (!listed) {
        memset(ps->grad, 0, ps->total * sizeof(real));
        if (ps->grad16)
            memset(ps->grad16, 0, ps->total16 * sizeof(uint16_t));
        return;
    }
    for (int i = 0; i < ps->count; i++) {
        const param_tensor *t = &ps->t[i];
        const size_t esz = t->bf16 ? sizeof(uint16_t) : sizeof(real);
        char *g = t->bf16 ? (char *)(ps->grad16 + t->off) : (char *)(ps->grad + t->off);
        if (!t->rows) {
            memset(g, 0, t->n * esz);
            continue;
        }
        for (int r = 0; r < t->n_rows; r++)
            memset(g + (size_t)t->rows[r] * t->row_len * esz, 0, t->row_len * esz);
    }
}

void paramset_free(paramset *ps)
{
    free(ps->t);
    free(ps->data);
    free(ps->grad);
    free(ps->mom);
    free(ps->data16);
    free(ps->grad16);
    free(ps->mom16);
    memset(ps, 0, sizeof *ps);
}
