/* optim.c — SGD with momentum, per-group weight decay, and lr schedules; see optim.h. */
#include "optim.h"

#include <math.h>

void sgd_step(paramset *ps, double lr, double momentum, double weight_decay, unsigned no_decay_mask)
{
    for (int i = 0; i < ps->count; i++) {
        const param_tensor *t = &ps->t[i];
        real wd = ((no_decay_mask >> t->group) & 1u) ? 0 : (real)weight_decay;
        real step = (real)(lr * t->lr_mult), mu = (real)momentum;
        real *p = ps->data + t->off, *g = ps->grad + t->off, *v = ps->mom + t->off;
        for (size_t j = 0; j < t->n; j++) {
            v[j] = mu * v[j] + (g[j] + wd * p[j]);
            p[j] -= step * v[j];
        }
    }
}

double lr_at(const nb_config *cfg, double t)
{
    double base = cfg->train.lr, warm = cfg->train.warmup_epochs;
    if (t < warm)
        return base * t / warm;
    switch (cfg->train.schedule) {
    case SCHEDULE_CONSTANT:
        return base;
    case SCHEDULE_STEP: {
        double lr = base;
        for (int i = 0; i < cfg->train.n_milestones; i++)
            if (t >= cfg->train.milestones[i])
                lr *= cfg->train.gamma;
        return lr;
    }
    case SCHEDULE_COSINE: {
        double span = cfg->train.epochs - warm;
        return base * 0.5 * (1.0 + cos(M_PI * (t - warm) / span));
    }
    }
    return base;
}
