/* dnnl_net.c — the oneDNN backend of the reference backbones; see dnnl_net.h.
 *
 * The oneDNN 2.6 C API (https://oneapi-src.github.io/oneDNN/v2.6/, "Primitives" and "Memory
 * format propagation"): an op descriptor per layer, a primitive descriptor that picks the
 * implementation and, for memory descriptors given as format_tag_any, the layouts; backward
 * primitive descriptors get the forward one as a hint and every diff layout explicitly (the
 * layout of the forward tensor it is the gradient of), so no reorder runs that this file did not
 * ask for. A "plan" is the list of forward and backward steps for one (B, train, threads); its
 * memory objects point into buffers ("slots") shared by all plans of the net, one per (node,
 * role), grown when a plan needs more and re-pointed when the plan in use changes.
 *
 * Gradients between nodes: a backward primitive overwrites its diff_src. A node read by a single
 * consumer gets its dout written directly by it; a node read by several gets one buffer per
 * consumer and a sum primitive adds them up before the node's own backward runs. A residual add
 * and a flatten pass the gradient through unchanged, so their producers read the add's (or
 * flatten's) dout memory itself. Parameter gradients are written to scratch buffers and added to
 * the paramset's gradients by reorders with a sum post-op (dst = src + dst). */
#include "nn/dnnl_net.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/net.h"

static const real *ops_forward(net *n, const real *x, int B, int train)
{
    return dnnl_net_forward(n->backend_state, n, x, B, train);
}
static void ops_backward(net *n, const real *dfeat, int B) { dnnl_net_backward(n->backend_state, n, dfeat, B); }
static void ops_free(void *state) { dnnl_net_free(state); }
static const net_backend_ops dnnl_ops = {ops_forward, ops_backward, ops_free};

int net_set_backend(net *n, int backend, nb_error *err)
{
    if (backend != NET_BACKEND_BLAS && backend != NET_BACKEND_DNNL)
        return nb_error_set(err, NULL, 0, 0, "net_set_backend: unknown backend %d", backend);
    if (backend == NET_BACKEND_DNNL && !n->backend_state) {
        n->backend_state = dnnl_net_init(n, err);
        if (!n->backend_state)
            return -1;
        n->ops = &dnnl_ops;
    }
    n->backend = backend;
    return 0;
}

#ifdef NB_DOUBLE

dnnl_net *dnnl_net_init(const struct net *n, nb_error *err)
{
    (void)n;
    nb_error_set(err, NULL, 0, 0, "the oneDNN backend exists only in the float build (this is -DNB_DOUBLE)");
    return NULL;
}
const real *dnnl_net_forward(dnnl_net *d, const struct net *n, const real *x, int B, int train)
{
    (void)d, (void)n, (void)x, (void)B, (void)train;
    nb_fatal("dnnl_net_forward: no oneDNN backend in the double build");
}
void dnnl_net_backward(dnnl_net *d, const struct net *n, const real *dfeat, int B)
{
    (void)d, (void)n, (void)dfeat, (void)B;
    nb_fatal("dnnl_net_backward: no oneDNN backend in the double build");
}
int dnnl_net_node_tensor(dnnl_net *d, const struct net *n, int i, int dout, real *dst)
{
    (void)d, (void)n, (void)i, (void)dout, (void)dst;
    return -1;
}
void dnnl_net_describe(const dnnl_net *d, FILE *f) { (void)d, (void)f; }
void dnnl_net_profile(dnnl_net *d, int on) { (void)d, (void)on; }
int dnnl_net_profile_rows(const dnnl_net *d, const net *n, int B, int train, dnnl_step_profile *rows, int max)
{
    (void)d, (void)n, (void)B, (void)train, (void)rows, (void)max;
    return 0;
}
void dnnl_net_free(dnnl_net *d) { (void)d; }

#else

#include "nn/dnnl_impl.h"
#include "core/clock.h"

/* ---- plans ---- */

static void plan_free(dn_plan *p, int n_nodes)
{
    if (!p)
        return;
    for (int k = 0; k < 2; k++) {
        dn_step *list = k ? p->bwd : p->fwd;
        int cnt = k ? p->n_bwd : p->n_fwd;
        for (int s = 0; s < cnt; s++) {
            if (list[s].prim)
                dnnl_primitive_destroy(list[s].prim);
            if (list[s].pd)
                dnnl_primitive_desc_destroy(list[s].pd);
        }
    }
    for (int i = 0; i < n_nodes && p->nodes; i++)
        if (p->nodes[i].fwd_pd)
            dnnl_primitive_desc_destroy(p->nodes[i].fwd_pd);
    for (int m = 0; m < p->n_mems; m++)
        dnnl_memory_destroy(p->mems[m].m);
    free(p->fwd);
    free(p->bwd);
    free(p->mems);
    free(p->nodes);
    free(p);
}

static int plan_build(dnnl_net *dn, dn_plan *p, const net *n, nb_error *err)
{
    dnnl_memory_desc_t x_md;
    TRY(dn_md_plain_act(&x_md, p->B, n->in_c, n->in_h, n->in_w, 0, err));
    p->x = dn_plan_mem(dn, p, &x_md, BIND_X, NULL, NULL, err, &(int){0});
    if (!p->x)
        return -1;
    for (int i = 0; i < n->n; i++)
        TRY(dn_fwd_node(dn, p, n, i, err));
    dn_node *last = &p->nodes[n->n - 1];
    dnnl_memory_desc_t f_md;
    TRY(dn_md_plain_act(&f_md, p->B, n->feature_dim, 1, 1, 1, err));
    if (dnnl_memory_desc_equal(&f_md, &last->md)) {
        p->feat = last->out;
    } else {
        p->feat = MEM_SLOT(&f_md, -1, ROLE_OUT);
        TRY(dn_push_reorder(dn, p, 0, n->n - 1, "features", last->out, p->feat, 0, err));
    }
    if (!p->train)
        return 0;
    for (int i = n->n - 1; i >= 0; i--)
        TRY(dn_dout_setup(dn, p, n, i, err));
    for (int i = n->n - 1; i >= 0; i--)
        TRY(dn_bwd_node(dn, p, n, i, err));
    return 0;
}

static void plan_bind(dnnl_net *dn, dn_plan *p)
{
    for (int m = 0; m < p->n_mems; m++) {
        const dn_mem *dm = &p->mems[m];
        void *h = dm->kind == BIND_SLOT ? dm->slot->p : dm->kind == BIND_PTR ? dm->ptr : NULL;
        if (dm->kind == BIND_X)
            h = (void *)dn->x;
        else if (dm->kind == BIND_DFEAT)
            h = (void *)dn->dfeat;
        if (h)
            DN_FATAL(dnnl_memory_set_data_handle(dm->m, h));
    }
    p->epoch = dn->epoch;
}

static dn_plan *plan_get(dnnl_net *dn, const net *n, int B, int train, nb_error *err)
{
    int threads = nb_get_threads();
    int free_k = -1, old_k = -1;
    for (int k = 0; k < MAX_PLANS; k++) {
        dn_plan *p = dn->plans[k];
        if (!p) {
            if (free_k < 0)
                free_k = k;
            continue;
        }
        if (p->B == B && p->train == train && p->threads == threads) {
            p->use = ++dn->clock;
            return p;
        }
        if (old_k < 0 || p->use < dn->plans[old_k]->use)
            old_k = k;
    }
    int k = free_k >= 0 ? free_k : old_k;
    if (dn->plans[k] == dn->cur)
        dn->cur = NULL;
    plan_free(dn->plans[k], dn->n_nodes);
    dn_plan *p = nb_calloc(1, sizeof *p);
    p->B = B;
    p->train = train;
    p->threads = threads;
    p->use = ++dn->clock;
    p->nodes = nb_calloc((size_t)n->n, sizeof *p->nodes);
    dn->plans[k] = p;
    if (plan_build(dn, p, n, err) != 0) {
        plan_free(p, dn->n_nodes);
        dn->plans[k] = NULL;
        return NULL;
    }
    return p;
}

/* Runs one step: a oneDNN primitive, or the running statistics of a batch norm. */
static void run_step(dnnl_net *dn, dn_step *st)
{
    if (st->kind == STEP_PRIM) {
        dnnl_status_t rc = dnnl_primitive_execute(st->prim, dn->stream, st->nargs, st->args);
        if (rc != dnnl_success)
            nb_fatal("oneDNN: node %d %s: %s", st->node, st->what, dnnl_status2str(rc));
        return;
    }
    /* STEP_BN_RUNNING: r ← (1 − momentum)·r + momentum·stat, as batchnorm_forward does (in
     * double, the unbiased variance σ²·M/(M − 1) for the running one) */
    DN_FATAL(dnnl_stream_wait(dn->stream));
    void *pm, *pv;
    DN_FATAL(dnnl_memory_get_data_handle(st->mean, &pm));
    DN_FATAL(dnnl_memory_get_data_handle(st->var, &pv));
    const float *mean = pm, *var = pv;
    const size_t M = st->m_count;
    const real momentum = BN_MOMENTUM;
    for (int c = 0; c < st->channels; c++) {
        const double v = var[c], unbiased = M > 1 ? v * (double)M / (double)(M - 1) : v;
        st->run_mean[c] = (real)((1.0 - momentum) * st->run_mean[c] + momentum * (double)mean[c]);
        st->run_var[c] = (real)((1.0 - momentum) * st->run_var[c] + momentum * unbiased);
    }
}

static void run_steps(dnnl_net *dn, dn_step *list, int cnt)
{
    for (int s = 0; s < cnt; s++) {
        if (!dn->profiling) {
            run_step(dn, &list[s]);
            continue;
        }
        const double t0 = nb_seconds();
        run_step(dn, &list[s]);
        DN_FATAL(dnnl_stream_wait(dn->stream));
        list[s].seconds += nb_seconds() - t0;
        list[s].calls++;
    }
}


/* ---- the interface ---- */

dnnl_net *dnnl_net_init(const net *n, nb_error *err)
{
    dnnl_net *dn = nb_calloc(1, sizeof *dn);
    dn->n_nodes = n->n;
    dn->slots = nb_calloc((size_t)(n->n + 1) * ROLE_COUNT, sizeof *dn->slots);
    dn->consumers = nb_calloc((size_t)n->n, sizeof *dn->consumers);
    for (int i = 0; i < n->n; i++) {
        if (n->nodes[i].in >= 0)
            dn->consumers[n->nodes[i].in]++;
        if (n->nodes[i].in2 >= 0)
            dn->consumers[n->nodes[i].in2]++;
    }
    dnnl_status_t st = dnnl_engine_create(&dn->engine, dnnl_cpu, 0);
    if (st == dnnl_success)
        st = dnnl_stream_create(&dn->stream, dn->engine, dnnl_stream_default_flags);
    if (st != dnnl_success) {
        nb_error_set(err, NULL, 0, 0, "oneDNN: cannot create the CPU engine: %s", dnnl_status2str(st));
        dnnl_net_free(dn);
        return NULL;
    }
    if (!plan_get(dn, n, n->max_batch, 1, err) || !plan_get(dn, n, n->max_batch, 0, err)) {
        dnnl_net_free(dn);
        return NULL;
    }
    return dn;
}

static dn_plan *plan_use(dnnl_net *dn, const net *n, int B, int train)
{
    nb_error err = {0};
    dn_plan *p = plan_get(dn, n, B, train, &err);
    if (!p)
        nb_fatal("dnnl_net: batch %d (%s): %s", B, train ? "train" : "eval", err.msg);
    if (p != dn->cur || p->epoch != dn->epoch) {
        plan_bind(dn, p);
        dn->cur = p;
    }
    return p;
}

const real *dnnl_net_forward(dnnl_net *dn, const net *n, const real *x, int B, int train)
{
    if (B < 1 || B > n->max_batch)
        nb_fatal("dnnl_net_forward: batch %d outside 1..%d", B, n->max_batch);
    dn->x = x;
    dn_plan *p = plan_use(dn, n, B, train);
    DN_FATAL(dnnl_memory_set_data_handle(p->x, (void *)x));
    run_steps(dn, p->fwd, p->n_fwd);
    DN_FATAL(dnnl_stream_wait(dn->stream));
    void *h;
    DN_FATAL(dnnl_memory_get_data_handle(p->feat, &h));
    return h;
}

void dnnl_net_backward(dnnl_net *dn, const net *n, const real *dfeat, int B)
{
    dn_plan *p = dn->cur;
    if (!p || !p->train || p->B != B || p->threads != nb_get_threads())
        nb_fatal("dnnl_net_backward: the last forward was not a training pass of batch %d", B);
    (void)n;
    dn->dfeat = dfeat;
    DN_FATAL(dnnl_memory_set_data_handle(p->dfeat, (void *)dfeat));
    run_steps(dn, p->bwd, p->n_bwd);
    DN_FATAL(dnnl_stream_wait(dn->stream));
}

int dnnl_net_node_tensor(dnnl_net *dn, const net *n, int i, int dout, real *dst)
{
    dn_plan *p = dn->cur;
    if (!p || i < 0 || i >= n->n || (dout && !p->train))
        return -1;
    const dn_node *pn = &p->nodes[i];
    if (!dout && pn->fused_relu)
        return -1;
    dnnl_memory_t src = dout ? pn->dout : pn->out;
    if (!src)
        return -1;
    /* net.c's layout as strides over the logical (B, C, H, W) or (B, D) */
    const net_node *d = &n->nodes[i];
    const dnnl_memory_desc_t *smd;
    DN_FATAL(dnnl_memory_get_memory_desc(src, &smd));
    dnnl_memory_desc_t dmd;
    if (smd->ndims == 2) {
        dnnl_dims_t dims = {p->B, d->c};
        DN_FATAL(dnnl_memory_desc_init_by_tag(&dmd, 2, dims, dnnl_f32, dnnl_nc));
    } else if (d->type == NODE_FLATTEN) { /* (B, C·H·W) row-major is (B, C, H, W) plain */
        DN_FATAL(dnnl_memory_desc_init_by_tag(&dmd, 4, smd->dims, dnnl_f32, dnnl_nchw));
    } else {
        const dnnl_dim_t B = smd->dims[0], C = smd->dims[1], H = smd->dims[2], W = smd->dims[3];
        dnnl_dims_t strides = {H * W, B * H * W, W, 1};
        DN_FATAL(dnnl_memory_desc_init_by_strides(&dmd, 4, smd->dims, dnnl_f32, strides));
        (void)C;
    }
    dnnl_memory_t m;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t r;
    DN_FATAL(dnnl_memory_create(&m, &dmd, dn->engine, dst));
    DN_FATAL(dnnl_reorder_primitive_desc_create(&pd, smd, dn->engine, &dmd, dn->engine, NULL));
    DN_FATAL(dnnl_primitive_create(&r, pd));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, m}};
    DN_FATAL(dnnl_primitive_execute(r, dn->stream, 2, args));
    DN_FATAL(dnnl_stream_wait(dn->stream));
    dnnl_primitive_destroy(r);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(m);
    return 0;
}

void dnnl_net_describe(const dnnl_net *dn, FILE *f)
{
    for (int k = 0; k < MAX_PLANS; k++) {
        const dn_plan *p = dn->plans[k];
        if (!p)
            continue;
        fprintf(f, "plan B=%d %s threads=%d\n", p->B, p->train ? "train" : "eval", p->threads);
        for (int pass = 0; pass < 2; pass++) {
            const dn_step *list = pass ? p->bwd : p->fwd;
            int cnt = pass ? p->n_bwd : p->n_fwd;
            for (int s = 0; s < cnt; s++) {
                const char *impl = "host";
                if (list[s].pd)
                    dnnl_primitive_desc_query(list[s].pd, dnnl_query_impl_info_str, 0, &impl);
                fprintf(f, "  node %2d %-26s %s\n", list[s].node, list[s].what, impl);
            }
        }
    }
}

void dnnl_net_profile(dnnl_net *dn, int on)
{
    dn->profiling = on;
    for (int k = 0; on && k < MAX_PLANS; k++) {
        dn_plan *p = dn->plans[k];
        for (int pass = 0; p && pass < 2; pass++) {
            dn_step *list = pass ? p->bwd : p->fwd;
            for (int s = 0; s < (pass ? p->n_bwd : p->n_fwd); s++)
                list[s].seconds = 0, list[s].calls = 0;
        }
    }
}

int dnnl_net_profile_rows(const dnnl_net *dn, const net *n, int B, int train, dnnl_step_profile *rows, int max)
{
    const dn_plan *p = NULL;
    for (int k = 0; k < MAX_PLANS; k++)
        if (dn->plans[k] && dn->plans[k]->B == B && dn->plans[k]->train == train &&
            dn->plans[k]->threads == nb_get_threads())
            p = dn->plans[k];
    if (!p)
        return 0;
    int cnt = 0;
    for (int pass = 0; pass < 2; pass++) {
        const dn_step *list = pass ? p->bwd : p->fwd;
        for (int s = 0; s < (pass ? p->n_bwd : p->n_fwd); s++, cnt++) {
            if (cnt >= max)
                continue;
            const dn_step *st = &list[s];
            dnnl_step_profile *r = &rows[cnt];
            r->node = st->node;
            r->backward = pass;
            r->what = st->what;
            r->impl = "host";
            r->flops = 0;
            dnnl_primitive_kind_t kind = dnnl_undefined_primitive;
            if (st->pd) {
                dnnl_primitive_desc_query(st->pd, dnnl_query_impl_info_str, 0, &r->impl);
                dnnl_primitive_desc_query(st->pd, dnnl_query_primitive_kind, 0, &kind);
            }
            if (kind == dnnl_convolution || kind == dnnl_inner_product)
                r->flops = (double)B * net_node_flops(n, st->node);
            r->seconds = st->seconds;
            r->calls = st->calls;
        }
    }
    return cnt;
}

void dnnl_net_free(dnnl_net *dn)
{
    if (!dn)
        return;
    for (int k = 0; k < MAX_PLANS; k++)
        plan_free(dn->plans[k], dn->n_nodes);
    if (dn->slots)
        for (int r = 0; r < (dn->n_nodes + 1) * ROLE_COUNT; r++)
            free(dn->slots[r].p);
    free(dn->scratchpad.p);
    free(dn->slots);
    free(dn->consumers);
    if (dn->stream)
        dnnl_stream_destroy(dn->stream);
    if (dn->engine)
        dnnl_engine_destroy(dn->engine);
    free(dn);
}

#endif
