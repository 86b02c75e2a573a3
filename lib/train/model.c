/* model.c — model assembly and one training step; see model.h. The backbone's backend is
 * model.backend's (config.h says what auto, blas and dnnl mean in each build). */
#include "train/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/memstat.h"

/* net_bind has run: the backend model.backend asks for (see config.h's model_backend). */
static int model_select_backend(model *m, const nb_config *cfg, nb_error *err)
{
    const model_backend b = cfg->model.backend;
    if (b == MODEL_BACKEND_BLAS)
        return net_set_backend(&m->net, NET_BACKEND_BLAS, err);
#ifdef NB_DOUBLE
    if (b == MODEL_BACKEND_AUTO)
        return net_set_backend(&m->net, NET_BACKEND_BLAS, err);
    return config_key_error(cfg, err, "model.backend", "model.backend: dnnl: the oneDNN backend exists only in the "
                            "float build (this one is -DNB_DOUBLE); use auto or blas");
#else
    nb_error why = {0};
    if (net_set_backend(&m->net, NET_BACKEND_DNNL, &why) == 0)
        return 0;
    if (b == MODEL_BACKEND_AUTO) /* oneDNN refused a layer: the OpenBLAS layers compute the same network */
        return net_set_backend(&m->net, NET_BACKEND_BLAS, err);
    return config_key_error(cfg, err, "model.backend", "model.backend: dnnl: %s", why.msg);
#endif
}

/* Refuses, before anything large is allocated, a model that cannot fit in the memory this
 * process can still take (core/memstat.h): its parameters with their gradients and momentum, the
 * activations of a batch (net_bind_bytes) and the batch buffers below. A lower bound: a backend's
 * buffers and the loss's workspace come on top. The error names the keys that set the size. */
static int model_memory_check(const model *m, const nb_config *cfg, int c, int h, int w, int num_classes,
                              int max_batch, nb_error *err)
{
    const char *what;
    size_t avail = memstat_available(&what);
    double gib = 1024.0 * 1024.0 * 1024.0;
    double params = 3.0 * ((double)m->ps.total * sizeof(real) + (double)m->ps.total16 * sizeof(uint16_t));
    double acts = (double)net_bind_bytes(&m->net) +
                  (double)max_batch * ((double)c * h * w + 2.0 * cfg->model.feature_dim) * sizeof(real);
    if (!what || params + acts <= (double)avail)
        return 0;
    const char *key = cfg->model.width ? "model.width" : "model.feature_dim";
    return config_key_error(cfg, err, key,
                            "%s: %d (%s, %d×%d×%d inputs, %d classes, train.batch_size %d): the model needs at least "
                            "%.1f GiB (parameters with their gradients and momentum %.1f GiB, activations of a "
                            "batch %.1f GiB) but %.1f GiB are available (%s); lower model.width, "
                            "model.feature_dim or train.batch_size",
                            key, cfg->model.width ? cfg->model.width : cfg->model.feature_dim,
                            net_backbone_name(cfg->model.backbone), c, h, w, num_classes, max_batch,
                            (params + acts) / gib, params / gib, acts / gib, (double)avail / gib, what);
}

int model_init(model *m, const nb_config *cfg, int c, int h, int w, int num_classes, int max_batch, rng_t *rng,
               nb_error *err)
{
    memset(m, 0, sizeof *m);
    int d = cfg->model.feature_dim;
    if (net_build(&m->net, cfg->model.backbone, cfg->model.width, d, c, h, w, max_batch, &m->ps, err)) {
        if (err && !err->file[0] && cfg->source[0]) /* the layers know no file: the config is the cause */
            snprintf(err->file, sizeof err->file, "%s", cfg->source);
        goto fail;
    }
    char msg[512];
    if (loss_config_check(&cfg->loss, num_classes, msg, sizeof msg)) {
        nb_error_set(err, cfg->source, 0, 0, "%s", msg);
        goto fail;
    }
    loss_init(&m->loss, &cfg->loss, d, num_classes, max_batch, &m->ps);
    if (model_memory_check(m, cfg, c, h, w, num_classes, max_batch, err))
        goto fail;
    paramset_alloc(&m->ps);
    rng_t r_net, r_loss;
    rng_fork(&r_net, rng, 1);
    rng_fork(&r_loss, rng, 2);
    net_bind(&m->net, &r_net);
    loss_bind(&m->loss, &m->ps, &r_loss);
    if (model_select_backend(m, cfg, err))
        goto fail;
    m->x = nb_malloc((size_t)max_batch * c * h * w * sizeof(real));
    m->y = nb_malloc((size_t)max_batch * sizeof(int));
    m->dfeat = nb_malloc((size_t)max_batch * d * sizeof(real));
    m->pred = nb_malloc((size_t)max_batch * sizeof(int));
    return 0;
fail:
    model_free(m); /* net_build may have registered tensors and nodes */
    return -1;
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

eval_model model_view(model *m)
{
    return (eval_model){.net = &m->net, .loss = &m->loss, .x = m->x, .y = m->y, .pred = m->pred};
}

double model_evaluate(model *m, const dataset *d, int batch)
{
    eval_model v = model_view(m);
    return evaluate_accuracy(&v, d, batch);
}

_Static_assert(sizeof ((lr_schedule *)0)->milestones == sizeof ((nb_config *)0)->train.milestones,
               "lr_schedule holds every milestone of train.milestones");

void model_schedule(lr_schedule *s, const nb_config *cfg)
{
    memset(s, 0, sizeof *s);
    s->type = cfg->train.schedule;
    s->lr = cfg->train.lr;
    s->epochs = cfg->train.epochs;
    memcpy(s->milestones, cfg->train.milestones, sizeof s->milestones);
    s->n_milestones = cfg->train.n_milestones;
    s->gamma = cfg->train.gamma;
    s->warmup_epochs = cfg->train.warmup_epochs;
}
