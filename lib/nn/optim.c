/* optim.c — SGD with momentum, per-group weight decay, and lr schedules; see optim.h. */
#include "nn/optim.h"

#include <math.h>

#include "core/bf16.h"

/* Row tensors (paramset.h; the classification head at large C): the same update as the
 * dense loop below, row by row — only the listed rows when the tensor has a row list (Partial FC:
 * the other rows' values and momentum stay bit-identical) — in parallel over rows (OpenMP; each
 * value is updated independently, so the result does not depend on the thread count). bf16
 * storage is widened to float for the update and rounded to nearest even on store; an update
 * smaller than half a bf16 spacing (≈ 0.2% of |p|) is lost, the price of half the memory. */
static void sgd_rows(paramset *ps, const param_tensor *t, real step, real mu, real wd)
{
    const long n_rows = t->rows ? t->n_rows : (long)(t->n / t->row_len);
    const size_t len = t->row_len;
#pragma omp parallel for schedule(static) if (n_rows * (long)len > 65536)
    for (long r = 0; r < n_rows; r++) {
        const size_t o = t->off + (size_t)(t->rows ? t->rows[r] : r) * len;
        if (t->bf16) {
            uint16_t *p = ps->data16 + o, *g = ps->grad16 + o, *v = ps->mom16 + o;
            for (size_t j = 0; j < len; j++) {
                const real pj = bf16_to_float(p[j]);
                const real vj = mu * (real)bf16_to_float(v[j]) + ((real)bf16_to_float(g[j]) + wd * pj);
                v[j] = bf16_from_float((float)vj);
                p[j] = bf16_from_float((float)(pj - step * vj));
            }
        } else {
            real *p = ps->data + o, *g = ps->grad + o, *v = ps->mom + o;
            for (size_t j = 0; j < len; j++) {
                v[j] = mu * v[j] + (g[j] + wd * p[j]);
                p[j] -= step * v[j];
            }
        }
    }
}

void sgd_step(paramset *ps, double lr, double momentum, double weight_decay, unsigned no_decay_mask)
{
    for (int i = 0; i < ps->count; i++) {
        const param_tensor *t = &ps->t[i];
        real wd = ((no_decay_mask >> t->group) & 1u) ? 0 : (real)weight_decay;
        real step = (real)(lr * t->lr_mult), mu = (real)momentum;
        if (t->row_len) {
            sgd_rows(ps, t, step, mu, wd);
            continue;
        }
        real *p = ps->data + t->off, *g = ps->grad + t->off, *v = ps->mom + t->off;
        for (size_t j = 0; j < t->n; j++) {
            v[j] = mu * v[j] + (g[j] + wd * p[j]);
            p[j] -= step * v[j];
        }
    }
}

double lr_at(const lr_schedule *s, double t)
{
    double base = s->lr, warm = s->warmup_epochs;
    if (t < warm)
        return base * t / warm;
    switch (s->type) {
    case SCHEDULE_CONSTANT:
        return base;
    case SCHEDULE_STEP: {
        double lr = base;
        for (int i = 0; i < s->n_milestones; i++)
            if (t >= s->milestones[i])
                lr *= s->gamma;
        return lr;
    }
    case SCHEDULE_COSINE: {
        double span = s->epochs - warm;
        return base * 0.5 * (1.0 + cos(M_PI * (t - warm) / span));
    }
    }
    return base;
}
