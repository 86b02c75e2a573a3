/* paramset.c — one buffer for all learnable parameters; see paramset.h. */
#include "paramset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

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
    ps->total += n;
    return ps->count++;
}

void paramset_alloc(paramset *ps)
{
    ps->data = nb_calloc(ps->total, sizeof(real));
    ps->grad = nb_calloc(ps->total, sizeof(real));
    ps->mom = nb_calloc(ps->total, sizeof(real));
}

real *paramset_data(const paramset *ps, int idx) { return ps->data + ps->t[idx].off; }
real *paramset_grad(const paramset *ps, int idx) { return ps->grad + ps->t[idx].off; }

void paramset_zero_grad(paramset *ps) { memset(ps->grad, 0, ps->total * sizeof(real)); }

void paramset_free(paramset *ps)
{
    free(ps->t);
    free(ps->data);
    free(ps->grad);
    free(ps->mom);
    memset(ps, 0, sizeof *ps);
}
