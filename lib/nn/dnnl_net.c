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

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "core/gemm.h"
#include "nn/paramset.h"

#define BN_MOMENTUM ((real)0.1) /* as net.c passes to batchnorm_forward */
#define BN_EPS ((real)1e-5)
#define MAX_PLANS 8
#define MAX_ARGS 12

/* A buffer shared by the plans: grown (and zeroed) when a plan needs more. */
typedef struct {
    void *p;
    size_t cap;
} dn_slot;

enum {
    ROLE_OUT,    /* the node's output */
    ROLE_DOUT,   /* ∂L/∂output */
    ROLE_EDGE0,  /* ∂L/∂input written by this node when its producer has several consumers */
    ROLE_EDGE1,  /* the same for the second input (a residual add's, when it came in another layout) */
    ROLE_SRC,    /* an input reordered: the network input for the first conv, an add's second input, a conv's
                  * input when its producer's layout has only the reference kernel */
    ROLE_DSRC,   /* ∂L/∂input in the layout of a reordered input (reordered back by a step) */
    ROLE_WS,     /* max-pool workspace */
    ROLE_MEAN,   /* batch-norm batch mean */
    ROLE_VAR,    /* batch-norm batch variance (biased) */
    ROLE_W,      /* weights reordered for the forward primitive */
    ROLE_W_BWD,  /* weights reordered for backward-data when it prefers another layout */
    ROLE_DW,     /* weight gradient in the primitive's layout */
    ROLE_DB,     /* bias / β gradient */
    ROLE_COUNT
};

typedef enum { BIND_SLOT, BIND_PTR, BIND_X, BIND_DFEAT } bind_kind;

typedef struct {
    dnnl_memory_t m;
    bind_kind kind;
    dn_slot *slot; /* BIND_SLOT */
    void *ptr;     /* BIND_PTR: paramset values/gradients, running statistics */
} dn_mem;

typedef enum { STEP_PRIM, STEP_BN_RUNNING } step_kind;

typedef struct {
    step_kind kind;
    int node;
    dnnl_primitive_t prim;
    dnnl_primitive_desc_t pd; /* kept for dnnl_net_describe */
    const char *what;
    int nargs;
    dnnl_exec_arg_t args[MAX_ARGS];
    dnnl_memory_t mean; /* STEP_BN_RUNNING: the batch statistics of the node */
    dnnl_memory_t var;
    real *run_mean, *run_var; /* and its running statistics (the net node's) */
    int channels;
    size_t m_count;     /* values per channel */
    double seconds;     /* with profiling on: accumulated time and calls */
    long calls;
} dn_step;

typedef struct {
    dnnl_memory_desc_t md;
    dnnl_memory_t out, dout;
    dnnl_primitive_desc_t fwd_pd; /* hint for backward */
    dnnl_memory_t src;            /* conv: the source as the forward read it */
    dnnl_memory_t ws;             /* max-pool workspace */
    dnnl_memory_t w_fwd;          /* weights in the forward layout (for reuse by backward) */
    dnnl_memory_t mean, var;      /* batch-norm statistics of this plan */
    int fused_relu;               /* conv: writes the following ReLU's output */
    int src_reorder;              /* conv: reads its input reordered into a layout it has a fast kernel for */
    int in2_reorder;              /* add: the second input comes in another layout */
} dn_node;

typedef struct {
    int B, train, threads;
    unsigned long use;
    dn_node *nodes;
    dn_mem *mems;
    int n_mems, cap_mems;
    dn_step *fwd, *bwd;
    int n_fwd, cap_fwd, n_bwd, cap_bwd;
    dnnl_memory_t x, feat, dfeat;
    unsigned long epoch; /* dn->epoch when the handles were last set */
} dn_plan;

struct dnnl_net {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int n_nodes;
    dn_slot *slots;      /* (n_nodes + 1) × ROLE_COUNT; the last row is the network input/output */
    dn_slot scratchpad;  /* one for all primitives: they run one at a time */
    int *consumers;      /* per node: how many nodes read it */
    dn_plan *plans[MAX_PLANS];
    dn_plan *cur;
    unsigned long epoch, clock;
    const real *x;
    const real *dfeat;
    int profiling;
};

#define DN(call)                                                                                                      \
    do {                                                                                                              \
        dnnl_status_t st_ = (call);                                                                                   \
        if (st_ != dnnl_success)                                                                                      \
            return nb_error_set(err, __FILE__, __LINE__, 0, "oneDNN: %s: %s", #call, dnnl_status2str(st_));           \
    } while (0)
#define TRY(call)                                                                                                     \
    do {                                                                                                              \
        if ((call) != 0)                                                                                              \
            return -1;                                                                                                \
    } while (0)
#define DN_FATAL(call)                                                                                                \
    do {                                                                                                              \
        dnnl_status_t st_ = (call);                                                                                   \
        if (st_ != dnnl_success)                                                                                      \
            nb_fatal("oneDNN: %s: %s", #call, dnnl_status2str(st_));                                                  \
    } while (0)

static dn_slot *slot_of(dnnl_net *dn, int node, int role)
{
    int row = node >= 0 ? node : dn->n_nodes;
    return &dn->slots[(size_t)row * ROLE_COUNT + role];
}

static void slot_reserve(dnnl_net *dn, dn_slot *s, size_t bytes)
{
    if (bytes <= s->cap)
        return;
    free(s->p);
    size_t cap = (bytes + 63) / 64 * 64;
    s->p = aligned_alloc(64, cap);
    if (!s->p)
        nb_fatal("dnnl_net: out of memory (%zu bytes)", cap);
    memset(s->p, 0, cap);
    s->cap = cap;
    dn->epoch++;
}

/* ---- memory descriptors ---- */

static int md_init(dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims, dnnl_format_tag_t tag, nb_error *err)
{
    DN(dnnl_memory_desc_init_by_tag(md, ndims, dims, dnnl_f32, tag));
    return 0;
}

/* The layout of an activation of node d (or of the network input) for B samples, as a plain tag. */
static int md_plain_act(dnnl_memory_desc_t *md, int B, int c, int h, int w, int vec, nb_error *err)
{
    if (vec) {
        dnnl_dims_t dims = {B, c};
        return md_init(md, 2, dims, dnnl_nc, err);
    }
    dnnl_dims_t dims = {B, c, h, w};
    return md_init(md, 4, dims, dnnl_nchw, err);
}

/* ---- plan building ---- */

static dnnl_memory_t plan_mem(dnnl_net *dn, dn_plan *p, const dnnl_memory_desc_t *md, bind_kind kind, dn_slot *s,
                              void *ptr, nb_error *err, int *status)
{
    if (p->n_mems == p->cap_mems) {
        p->cap_mems = p->cap_mems ? 2 * p->cap_mems : 64;
        p->mems = nb_realloc(p->mems, (size_t)p->cap_mems * sizeof *p->mems);
    }
    dn_mem *m = &p->mems[p->n_mems];
    memset(m, 0, sizeof *m);
    dnnl_status_t st = dnnl_memory_create(&m->m, md, dn->engine, DNNL_MEMORY_NONE);
    if (st != dnnl_success) {
        *status = nb_error_set(err, __FILE__, __LINE__, 0, "oneDNN: dnnl_memory_create: %s", dnnl_status2str(st));
        return NULL;
    }
    p->n_mems++;
    m->kind = kind;
    m->slot = s;
    m->ptr = ptr;
    if (kind == BIND_SLOT)
        slot_reserve(dn, s, dnnl_memory_desc_get_size(md));
    return m->m;
}

/* A memory on slot (node, role) with layout md; node −2 is the shared scratchpad. */
#define MEM_SLOT(md, node, role)                                                                                      \
    ({                                                                                                                \
        int st__ = 0;                                                                                                 \
        dn_slot *sl__ = (node) == -2 ? &dn->scratchpad : slot_of(dn, (node), (role));                                 \
        dnnl_memory_t m__ = plan_mem(dn, p, (md), BIND_SLOT, sl__, NULL, err, &st__);                                 \
        if (!m__)                                                                                                     \
            return -1;                                                                                                \
        m__;                                                                                                          \
    })
#define MEM_PTR(md, ptr_)                                                                                             \
    ({                                                                                                                \
        int st__ = 0;                                                                                                 \
        dnnl_memory_t m__ = plan_mem(dn, p, (md), BIND_PTR, NULL, (ptr_), err, &st__);                                \
        if (!m__)                                                                                                     \
            return -1;                                                                                                \
        m__;                                                                                                          \
    })

static dn_step *add_step(dn_step **list, int *n, int *cap)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *list = nb_realloc(*list, (size_t)*cap * sizeof **list);
    }
    dn_step *s = &(*list)[(*n)++];
    memset(s, 0, sizeof *s);
    return s;
}

static void step_arg(dn_step *s, int arg, dnnl_memory_t m)
{
    if (s->nargs == MAX_ARGS)
        nb_fatal("dnnl_net: too many arguments");
    s->args[s->nargs].arg = arg;
    s->args[s->nargs].memory = m;
    s->nargs++;
}

static int attr_new(dnnl_primitive_attr_t *attr, nb_error *err)
{
    DN(dnnl_primitive_attr_create(attr));
    DN(dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user));
    return 0;
}

/* Creates the primitive desc of op (attr: user scratchpad, plus post_ops when given). */
static int pd_create(dnnl_net *dn, dnnl_primitive_desc_t *pd, const void *op, dnnl_post_ops_t po,
                     const_dnnl_primitive_desc_t hint, nb_error *err)
{
    dnnl_primitive_attr_t attr;
    TRY(attr_new(&attr, err));
    if (po)
        dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_status_t st = dnnl_primitive_desc_create(pd, op, attr, dn->engine, hint);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return nb_error_set(err, __FILE__, __LINE__, 0, "oneDNN: dnnl_primitive_desc_create: %s", dnnl_status2str(st));
    return 0;
}

/* Appends a step running pd (which the step then owns), with the scratchpad bound. */
static int push_prim(dnnl_net *dn, dn_plan *p, int bwd, int node, const char *what, dnnl_primitive_desc_t pd,
                     dn_step **out, nb_error *err)
{
    dn_step *s = bwd ? add_step(&p->bwd, &p->n_bwd, &p->cap_bwd) : add_step(&p->fwd, &p->n_fwd, &p->cap_fwd);
    s->kind = STEP_PRIM;
    s->node = node;
    s->what = what;
    s->pd = pd;
    DN(dnnl_primitive_create(&s->prim, pd));
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && dnnl_memory_desc_get_size(smd) > 0)
        step_arg(s, DNNL_ARG_SCRATCHPAD, MEM_SLOT(smd, -2, 0));
    *out = s;
    return 0;
}

/* A reorder step src → dst (both memories of this plan); accumulate adds into dst. */
static int push_reorder(dnnl_net *dn, dn_plan *p, int bwd, int node, const char *what, dnnl_memory_t src,
                        dnnl_memory_t dst, int accumulate, nb_error *err)
{
    const dnnl_memory_desc_t *smd, *dmd;
    DN(dnnl_memory_get_memory_desc(src, &smd));
    DN(dnnl_memory_get_memory_desc(dst, &dmd));
    dnnl_primitive_attr_t attr;
    TRY(attr_new(&attr, err));
    dnnl_post_ops_t po = NULL;
    if (accumulate) {
        DN(dnnl_post_ops_create(&po));
        DN(dnnl_post_ops_append_sum(po, 1.0f));
        DN(dnnl_primitive_attr_set_post_ops(attr, po));
    }
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, smd, dn->engine, dmd, dn->engine, attr);
    dnnl_primitive_attr_destroy(attr);
    if (po)
        dnnl_post_ops_destroy(po);
    if (st != dnnl_success)
        return nb_error_set(err, __FILE__, __LINE__, 0, "oneDNN: reorder (%s): %s", what, dnnl_status2str(st));
    dn_step *s;
    TRY(push_prim(dn, p, bwd, node, what, pd, &s, err));
    step_arg(s, DNNL_ARG_FROM, src);
    step_arg(s, DNNL_ARG_TO, dst);
    return 0;
}

/* A parameter tensor for a primitive wanting layout want: the paramset values themselves when the
 * layouts agree, else a scratch copy on (node, role) reordered from them by a step. */
static int param_for(dnnl_net *dn, dn_plan *p, int bwd, int node, int role, const dnnl_memory_desc_t *plain,
                     const dnnl_memory_desc_t *want, real *data, dnnl_memory_t *out, nb_error *err)
{
    dnnl_memory_t pm = MEM_PTR(plain, data);
    if (dnnl_memory_desc_equal(plain, want)) {
        *out = pm;
        return 0;
    }
    dnnl_memory_t m = MEM_SLOT(want, node, role);
    TRY(push_reorder(dn, p, bwd, node, "weights", pm, m, 0, err));
    *out = m;
    return 0;
}

/* A parameter gradient: the primitive writes scratch (node, role) in layout have, and a step adds
 * it to the paramset gradient (layout plain). */
static int grad_for(dnnl_net *dn, dn_plan *p, int node, int role, const dnnl_memory_desc_t *plain,
                    const dnnl_memory_desc_t *have, real *grad, dnnl_memory_t *scratch, nb_error *err)
{
    *scratch = MEM_SLOT(have, node, role);
    dnnl_memory_t gm = MEM_PTR(plain, grad);
    return push_reorder(dn, p, 1, node, "accumulate gradient", *scratch, gm, 1, err);
}

static const dnnl_memory_desc_t *q(const_dnnl_primitive_desc_t pd, dnnl_query_t what)
{
    return dnnl_primitive_desc_query_md(pd, what, 0);
}

/* ---- forward steps, one function per node type ---- */

/* Whether oneDNN chose its reference (unoptimised C) implementation for pd. */
static int pd_is_reference(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl)
        return 0;
    return strncmp(impl, "ref", 3) == 0;
}

/* The forward convolution desc of node i reading src layout sm, writing dst_tag (any: oneDNN chooses). */
static int conv_fwd_pd(dnnl_net *dn, const dn_plan *p, const net *n, int i, const dnnl_memory_desc_t *sm,
                       dnnl_format_tag_t dst_tag, dnnl_post_ops_t po, dnnl_primitive_desc_t *pd, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    int ic = d->in >= 0 ? n->nodes[d->in].c : n->in_c;
    dnnl_memory_desc_t any_w, any_dst, b_md;
    dnnl_dims_t wd = {d->c, ic, d->k, d->k}, bd = {d->c}, dd = {p->B, d->c, d->h, d->w};
    TRY(md_init(&any_w, 4, wd, dnnl_format_tag_any, err));
    TRY(md_init(&b_md, 1, bd, dnnl_x, err));
    TRY(md_init(&any_dst, 4, dd, dst_tag, err));
    dnnl_dims_t strides = {d->stride, d->stride}, pad = {d->pad, d->pad};
    dnnl_convolution_desc_t cd;
    DN(dnnl_convolution_forward_desc_init(&cd, p->train ? dnnl_forward_training : dnnl_forward_inference,
                                          dnnl_convolution_direct, sm, &any_w, d->b_idx >= 0 ? &b_md : NULL,
                                          &any_dst, strides, pad, pad));
    return pd_create(dn, pd, &cd, po, NULL, err);
}

/* Whether node i's backward (data and weights), given its forward desc, has only the reference kernel. */
static int conv_bwd_is_reference(dnnl_net *dn, const net *n, int i, const_dnnl_primitive_desc_t fwd, int *ref,
                                 nb_error *err)
{
    const net_node *d = &n->nodes[i];
    int ic = d->in >= 0 ? n->nodes[d->in].c : n->in_c;
    dnnl_memory_desc_t any_w, b_md;
    dnnl_dims_t wd = {d->c, ic, d->k, d->k}, bd = {d->c};
    TRY(md_init(&any_w, 4, wd, dnnl_format_tag_any, err));
    TRY(md_init(&b_md, 1, bd, dnnl_x, err));
    dnnl_dims_t strides = {d->stride, d->stride}, pad = {d->pad, d->pad};
    const dnnl_memory_desc_t *src_md = q(fwd, dnnl_query_src_md), *dst_md = q(fwd, dnnl_query_dst_md);
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd;
    *ref = 0;
    if (d->in >= 0) {
        DN(dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, src_md, &any_w, dst_md, strides, pad,
                                                    pad));
        TRY(pd_create(dn, &pd, &cd, NULL, fwd, err));
        *ref |= pd_is_reference(pd);
        dnnl_primitive_desc_destroy(pd);
    }
    DN(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, src_md, &any_w,
                                                   d->b_idx >= 0 ? &b_md : NULL, dst_md, strides, pad, pad));
    TRY(pd_create(dn, &pd, &cd, NULL, fwd, err));
    *ref |= pd_is_reference(pd);
    dnnl_primitive_desc_destroy(pd);
    return 0;
}

/* Chooses node i's forward desc: its producer's layout first (no reorder); but a layout can have
 * only oneDNN's reference kernel for this shape, forward or backward (a blocked input of fewer
 * channels than the block, e.g. width 8 in 16-wide blocks: ~1000x slower), then the layouts oneDNN
 * picks, then channels-last in and out, then plain (its GEMM kernels take any shape), with the
 * input reordered each step. The network input: oneDNN picks first. */
static int conv_choose_pd(dnnl_net *dn, const dn_plan *p, const net *n, int i, const dnnl_memory_desc_t *src_md,
                          dnnl_post_ops_t po, dnnl_primitive_desc_t *pd, int *reorder, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dnnl_memory_desc_t cand[4];
    dnnl_format_tag_t dst_tag[4] = {dnnl_format_tag_any, dnnl_format_tag_any, dnnl_acdb, dnnl_abcd};
    dnnl_dims_t sd = {p->B, d->in >= 0 ? n->nodes[d->in].c : n->in_c, d->in >= 0 ? n->nodes[d->in].h : n->in_h,
                      d->in >= 0 ? n->nodes[d->in].w : n->in_w};
    int first = d->in >= 0 ? 0 : 1;
    if (d->in >= 0)
        cand[0] = *src_md;
    TRY(md_init(&cand[1], 4, sd, dnnl_format_tag_any, err));
    TRY(md_init(&cand[2], 4, sd, dnnl_acdb, err));
    TRY(md_init(&cand[3], 4, sd, dnnl_abcd, err));
    for (int c = first; c < 4; c++) {
        TRY(conv_fwd_pd(dn, p, n, i, &cand[c], dst_tag[c], po, pd, err));
        int ref = pd_is_reference(*pd);
        if (!ref && p->train && conv_bwd_is_reference(dn, n, i, *pd, &ref, err) != 0) {
            dnnl_primitive_desc_destroy(*pd);
            return -1;
        }
        if (!ref || c == 3) {
            *reorder = c > 0;
            return 0;
        }
        dnnl_primitive_desc_destroy(*pd);
    }
    return 0;
}

static int fwd_conv(dnnl_net *dn, dn_plan *p, const net *n, int i, dnnl_memory_t src, const dnnl_memory_desc_t *src_md,
                    nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    int ic = d->in >= 0 ? n->nodes[d->in].c : n->in_c;
    dnnl_memory_desc_t b_md, w_plain;
    dnnl_dims_t wd = {d->c, ic, d->k, d->k}, bd = {d->c};
    TRY(md_init(&w_plain, 4, wd, dnnl_oihw, err));
    TRY(md_init(&b_md, 1, bd, dnnl_x, err));
    /* ReLU fusion: the ReLU node directly after, when it is this conv's only consumer. */
    dnnl_post_ops_t po = NULL;
    if (i + 1 < n->n && n->nodes[i + 1].type == NODE_RELU && n->nodes[i + 1].in == i && dn->consumers[i] == 1) {
        DN(dnnl_post_ops_create(&po));
        DN(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
        pn->fused_relu = 1;
    }
    dnnl_primitive_desc_t pd;
    int reorder = 0;
    int rc = conv_choose_pd(dn, p, n, i, src_md, po, &pd, &reorder, err);
    if (po)
        dnnl_post_ops_destroy(po);
    TRY(rc);
    pn->fwd_pd = pd;
    pn->md = *q(pd, dnnl_query_dst_md);
    const dnnl_memory_desc_t *want = q(pd, dnnl_query_src_md);
    if (reorder && !dnnl_memory_desc_equal(want, src_md)) { /* the input into the chosen layout */
        dnnl_memory_t m = MEM_SLOT(want, d->in < 0 ? -1 : i, ROLE_SRC);
        TRY(push_reorder(dn, p, 0, i, d->in < 0 ? "input" : "conv input", src, m, 0, err));
        src = m;
        pn->src_reorder = d->in >= 0;
    }
    pn->src = src;
    dnnl_memory_t w;
    TRY(param_for(dn, p, 0, i, ROLE_W, &w_plain, q(pd, dnnl_query_weights_md), paramset_data(n->ps, d->w_idx), &w,
                  err));
    pn->w_fwd = w;
    /* A fused conv writes the ReLU node's output slot. */
    pn->out = MEM_SLOT(&pn->md, pn->fused_relu ? i + 1 : i, ROLE_OUT);
    dnnl_primitive_desc_t pd_clone;
    DN(dnnl_primitive_desc_clone(&pd_clone, pd));
    dn_step *s;
    TRY(push_prim(dn, p, 0, i, pn->fused_relu ? "conv+relu fwd" : "conv fwd", pd_clone, &s, err));
    step_arg(s, DNNL_ARG_SRC, src);
    step_arg(s, DNNL_ARG_WEIGHTS, w);
    if (d->b_idx >= 0)
        step_arg(s, DNNL_ARG_BIAS, MEM_PTR(&b_md, paramset_data(n->ps, d->b_idx)));
    step_arg(s, DNNL_ARG_DST, pn->out);
    return 0;
}

/* Inner-product weights in the layout of the source (aBcd16b weights for an aBcd16b source):
 * forward, backward-data and backward-weights then share one layout, and the reorders from and to
 * the paramset's (D_out, C, H, W) are cheap. Left to oneDNN (format_tag_any, which picks a
 * GEMM-packed layout whose reorder costs several times the product) for other sources. */
static int ip_weights_md(dnnl_memory_desc_t *md, const dnnl_memory_desc_t *src_md, const dnnl_dims_t wd, nb_error *err)
{
    const dnnl_format_tag_t tags4[] = {dnnl_aBcd16b, dnnl_aBcd8b, dnnl_acdb, dnnl_abcd};
    if (src_md->ndims == 4) {
        for (int t = 0; t < 4; t++) {
            dnnl_memory_desc_t cand;
            TRY(md_init(&cand, 4, src_md->dims, tags4[t], err));
            if (dnnl_memory_desc_equal(&cand, src_md))
                return md_init(md, 4, wd, tags4[t], err);
        }
    }
    return md_init(md, src_md->ndims, wd, dnnl_format_tag_any, err);
}

static int fwd_linear(dnnl_net *dn, dn_plan *p, const net *n, int i, dnnl_memory_t src,
                      const dnnl_memory_desc_t *src_md, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    /* The source keeps its producer's layout: (B, C, H, W) when a flatten stood before (the
     * weights are then (D_out, C, H, W), the same bytes as (D_out, C·H·W) with inner (c, h, w)). */
    int nd = src_md->ndims;
    dnnl_memory_desc_t any_w, w_plain, b_md, dst_md;
    dnnl_dims_t wd = {d->c, src_md->dims[1], nd == 4 ? src_md->dims[2] : 0, nd == 4 ? src_md->dims[3] : 0};
    dnnl_dims_t bd = {d->c}, dd = {p->B, d->c};
    TRY(ip_weights_md(&any_w, src_md, wd, err));
    TRY(md_init(&w_plain, nd, wd, nd == 4 ? dnnl_oihw : dnnl_oi, err));
    TRY(md_init(&b_md, 1, bd, dnnl_x, err));
    TRY(md_init(&dst_md, 2, dd, dnnl_nc, err));
    dnnl_inner_product_desc_t ipd;
    DN(dnnl_inner_product_forward_desc_init(&ipd, p->train ? dnnl_forward_training : dnnl_forward_inference, src_md,
                                            &any_w, &b_md, &dst_md));
    dnnl_primitive_desc_t pd;
    TRY(pd_create(dn, &pd, &ipd, NULL, NULL, err));
    pn->fwd_pd = pd;
    pn->md = dst_md;
    dnnl_memory_t w;
    TRY(param_for(dn, p, 0, i, ROLE_W, &w_plain, q(pd, dnnl_query_weights_md), paramset_data(n->ps, d->w_idx), &w,
                  err));
    pn->w_fwd = w;
    pn->out = MEM_SLOT(&pn->md, i, ROLE_OUT);
    dnnl_primitive_desc_t pd_clone;
    DN(dnnl_primitive_desc_clone(&pd_clone, pd));
    dn_step *s;
    TRY(push_prim(dn, p, 0, i, "inner product fwd", pd_clone, &s, err));
    step_arg(s, DNNL_ARG_SRC, src);
    step_arg(s, DNNL_ARG_WEIGHTS, w);
    step_arg(s, DNNL_ARG_BIAS, MEM_PTR(&b_md, paramset_data(n->ps, d->b_idx)));
    step_arg(s, DNNL_ARG_DST, pn->out);
    return 0;
}

/* PReLU slopes as oneDNN weights: (1, C, 1, 1) for images, (1, C) for vectors. */
static int prelu_w_md(dnnl_memory_desc_t *md, const dnnl_memory_desc_t *data, int c, dnnl_format_tag_t tag,
                      nb_error *err)
{
    dnnl_dims_t wd = {1, c, 1, 1};
    return md_init(md, data->ndims, wd, tag == dnnl_format_tag_any ? tag : data->ndims == 4 ? dnnl_abcd : dnnl_ab,
                   err);
}

static int fwd_relu(dnnl_net *dn, dn_plan *p, const net *n, int i, dnnl_memory_t src, const dnnl_memory_desc_t *src_md, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    dnnl_prop_kind_t prop = p->train ? dnnl_forward_training : dnnl_forward_inference;
    dnnl_primitive_desc_t pd;
    dn_step *s;
    pn->md = *src_md;
    if (d->in >= 0 && p->nodes[d->in].fused_relu) { /* computed by the conv */
        pn->out = src;
        return 0;
    }
    dnnl_eltwise_desc_t ed;
    DN(dnnl_eltwise_forward_desc_init(&ed, prop, dnnl_eltwise_relu_use_dst_for_bwd, src_md, 0.0f, 0.0f));
    TRY(pd_create(dn, &pd, &ed, NULL, NULL, err));
    pn->out = MEM_SLOT(src_md, i, ROLE_OUT);
    TRY(push_prim(dn, p, 0, i, "relu fwd", pd, &s, err));
    step_arg(s, DNNL_ARG_SRC, src);
    step_arg(s, DNNL_ARG_DST, pn->out);
    return 0;
}

static int fwd_prelu(dnnl_net *dn, dn_plan *p, const net *n, int i, dnnl_memory_t src, const dnnl_memory_desc_t *src_md, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    dnnl_prop_kind_t prop = p->train ? dnnl_forward_training : dnnl_forward_inference;
    dnnl_primitive_desc_t pd;
    dn_step *s;
    pn->md = *src_md;
    dnnl_memory_desc_t w_any, w_plain;
    TRY(prelu_w_md(&w_any, src_md, d->c, dnnl_format_tag_any, err));
    TRY(prelu_w_md(&w_plain, src_md, d->c, dnnl_abcd, err));
    dnnl_prelu_desc_t prd;
    DN(dnnl_prelu_forward_desc_init(&prd, prop, src_md, &w_any));
    TRY(pd_create(dn, &pd, &prd, NULL, NULL, err));
    dnnl_primitive_desc_t pd_clone;
    DN(dnnl_primitive_desc_clone(&pd_clone, pd));
    pn->fwd_pd = pd;
    dnnl_memory_t w;
    TRY(param_for(dn, p, 0, i, ROLE_W, &w_plain, q(pd, dnnl_query_weights_md), paramset_data(n->ps, d->w_idx),
                  &w, err));
    pn->w_fwd = w;
    pn->out = MEM_SLOT(src_md, i, ROLE_OUT);
    TRY(push_prim(dn, p, 0, i, "prelu fwd", pd_clone, &s, err));
    step_arg(s, DNNL_ARG_SRC, src);
    step_arg(s, DNNL_ARG_WEIGHTS, w);
    step_arg(s, DNNL_ARG_DST, pn->out);
    return 0;
}

static int fwd_maxpool(dnnl_net *dn, dn_plan *p, const net *n, int i, dnnl_memory_t src, const dnnl_memory_desc_t *src_md, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    dnnl_prop_kind_t prop = p->train ? dnnl_forward_training : dnnl_forward_inference;
    dnnl_primitive_desc_t pd;
    dn_step *s;
    /* Floor output size: the right/bottom padding may be negative (an unused last row). */
    dnnl_dims_t dd = {p->B, d->c, d->h, d->w}, strides = {d->stride, d->stride}, kernel = {d->k, d->k},
                pl = {0, 0};
    int ih = n->nodes[d->in].h, iw = n->nodes[d->in].w;
    dnnl_dims_t pr = {(d->h - 1) * d->stride + d->k - ih, (d->w - 1) * d->stride + d->k - iw};
    dnnl_memory_desc_t dst_any;
    TRY(md_init(&dst_any, 4, dd, dnnl_format_tag_any, err));
    dnnl_pooling_desc_t pld;
    DN(dnnl_pooling_forward_desc_init(&pld, prop, dnnl_pooling_max, src_md, &dst_any, strides, kernel, pl, pr));
    TRY(pd_create(dn, &pd, &pld, NULL, NULL, err));
    dnnl_primitive_desc_t pd_clone;
    DN(dnnl_primitive_desc_clone(&pd_clone, pd));
    pn->fwd_pd = pd;
    pn->md = *q(pd, dnnl_query_dst_md);
    pn->out = MEM_SLOT(&pn->md, i, ROLE_OUT);
    TRY(push_prim(dn, p, 0, i, "maxpool fwd", pd_clone, &s, err));
    step_arg(s, DNNL_ARG_SRC, src);
    step_arg(s, DNNL_ARG_DST, pn->out);
    if (p->train) {
        pn->ws = MEM_SLOT(q(pd, dnnl_query_workspace_md), i, ROLE_WS);
        step_arg(s, DNNL_ARG_WORKSPACE, pn->ws);
    }
    return 0;
}

static int fwd_batchnorm(dnnl_net *dn, dn_plan *p, const net *n, int i, dnnl_memory_t src, const dnnl_memory_desc_t *src_md, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    dnnl_prop_kind_t prop = p->train ? dnnl_forward_training : dnnl_forward_inference;
    dnnl_primitive_desc_t pd;
    dn_step *s;
    pn->md = *src_md;
    net_node *dm = (net_node *)d; /* running statistics are updated through the node */
    unsigned flags = dnnl_use_scale | dnnl_use_shift | (p->train ? 0 : dnnl_use_global_stats);
    dnnl_batch_normalization_desc_t bd;
    DN(dnnl_batch_normalization_forward_desc_init(&bd, prop, src_md, BN_EPS, flags));
    TRY(pd_create(dn, &pd, &bd, NULL, NULL, err));
    dnnl_primitive_desc_t pd_clone;
    DN(dnnl_primitive_desc_clone(&pd_clone, pd));
    pn->fwd_pd = pd;
    dnnl_memory_desc_t c_md;
    dnnl_dims_t cd = {d->c};
    TRY(md_init(&c_md, 1, cd, dnnl_x, err));
    pn->out = MEM_SLOT(src_md, i, ROLE_OUT);
    if (p->train) {
        pn->mean = MEM_SLOT(&c_md, i, ROLE_MEAN);
        pn->var = MEM_SLOT(&c_md, i, ROLE_VAR);
    } else {
        pn->mean = MEM_PTR(&c_md, dm->run_mean);
        pn->var = MEM_PTR(&c_md, dm->run_var);
    }
    TRY(push_prim(dn, p, 0, i, "batchnorm fwd", pd_clone, &s, err));
    step_arg(s, DNNL_ARG_SRC, src);
    step_arg(s, DNNL_ARG_SCALE, MEM_PTR(&c_md, paramset_data(n->ps, d->w_idx)));
    step_arg(s, DNNL_ARG_SHIFT, MEM_PTR(&c_md, paramset_data(n->ps, d->b_idx)));
    step_arg(s, DNNL_ARG_MEAN, pn->mean);
    step_arg(s, DNNL_ARG_VARIANCE, pn->var);
    step_arg(s, DNNL_ARG_DST, pn->out);
    if (p->train) {
        dn_step *r = add_step(&p->fwd, &p->n_fwd, &p->cap_fwd);
        r->kind = STEP_BN_RUNNING;
        r->node = i;
        r->what = "batchnorm running stats";
        r->mean = pn->mean;
        r->var = pn->var;
        r->run_mean = dm->run_mean;
        r->run_var = dm->run_var;
        r->channels = d->c;
        r->m_count = (size_t)p->B * d->h * d->w;
    }
    return 0;
}

static int fwd_add(dnnl_net *dn, dn_plan *p, const net *n, int i, dnnl_memory_t src, const dnnl_memory_desc_t *src_md, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    dnnl_primitive_desc_t pd;
    dn_step *s;
    /* The sum in the first input's layout; the second is reordered to it if need be. */
    dnnl_memory_t b = p->nodes[d->in2].out;
    if (!dnnl_memory_desc_equal(src_md, &p->nodes[d->in2].md)) {
        dnnl_memory_t m = MEM_SLOT(src_md, i, ROLE_SRC);
        TRY(push_reorder(dn, p, 0, i, "add: second input", b, m, 0, err));
        b = m;
        pn->in2_reorder = 1;
    }
    pn->md = *src_md;
    dnnl_memory_desc_t srcs[2] = {*src_md, *src_md};
    const float scales[2] = {1.0f, 1.0f};
    dnnl_primitive_attr_t attr;
    TRY(attr_new(&attr, err));
    dnnl_status_t st = dnnl_sum_primitive_desc_create(&pd, src_md, 2, scales, srcs, attr, dn->engine);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return nb_error_set(err, __FILE__, __LINE__, 0, "oneDNN: sum: %s", dnnl_status2str(st));
    pn->out = MEM_SLOT(src_md, i, ROLE_OUT);
    TRY(push_prim(dn, p, 0, i, "add fwd", pd, &s, err));
    step_arg(s, DNNL_ARG_MULTIPLE_SRC + 0, src);
    step_arg(s, DNNL_ARG_MULTIPLE_SRC + 1, b);
    step_arg(s, DNNL_ARG_DST, pn->out);
    return 0;
}

static int fwd_node(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    dnnl_memory_t src = d->in >= 0 ? p->nodes[d->in].out : p->x;
    dnnl_memory_desc_t x_md;
    const dnnl_memory_desc_t *src_md;
    if (d->in >= 0) {
        src_md = &p->nodes[d->in].md;
    } else {
        TRY(md_plain_act(&x_md, p->B, n->in_c, n->in_h, n->in_w, 0, err));
        src_md = &x_md;
    }
    switch (d->type) {
    case NODE_CONV:
        return fwd_conv(dn, p, n, i, src, src_md, err);
    case NODE_LINEAR:
        return fwd_linear(dn, p, n, i, src, src_md, err);
    case NODE_FLATTEN:
        if (i + 1 >= n->n || n->nodes[i + 1].type != NODE_LINEAR || dn->consumers[i] != 1)
            return nb_error_set(err, NULL, 0, 0, "dnnl_net: node %d: a flatten must feed one linear layer", i);
        pn->md = *src_md;
        pn->out = src;
        return 0;
    case NODE_RELU:
        return fwd_relu(dn, p, n, i, src, src_md, err);
    case NODE_PRELU:
        return fwd_prelu(dn, p, n, i, src, src_md, err);
    case NODE_MAXPOOL:
        return fwd_maxpool(dn, p, n, i, src, src_md, err);
    case NODE_BATCHNORM:
        return fwd_batchnorm(dn, p, n, i, src, src_md, err);
    case NODE_ADD:
        return fwd_add(dn, p, n, i, src, src_md, err);
    }
    return nb_error_set(err, NULL, 0, 0, "dnnl_net: node %d: unknown type", i);
}

/* ---- backward: gradient memories between nodes ---- */

/* Which memory node j's backward writes ∂L/∂(its input number k): its producer's dout when the
 * producer has one consumer, else this edge's own buffer (summed later). */
static int edge_mem(dnnl_net *dn, dn_plan *p, const net *n, int j, int k, dnnl_memory_t *out, nb_error *err)
{
    int prod = k == 0 ? n->nodes[j].in : n->nodes[j].in2;
    if (dn->consumers[prod] == 1) {
        *out = p->nodes[prod].dout;
        return 0;
    }
    *out = MEM_SLOT(&p->nodes[prod].md, j, k == 0 ? ROLE_EDGE0 : ROLE_EDGE1);
    return 0;
}

/* Pass-through nodes (add, flatten) hand their dout memory on to their input number k, unless
 * that input came in another layout (an add's second input; backward reorders for it then). */
static int passes_dout(const dn_plan *p, const net *n, int j, int k)
{
    const net_node *d = &n->nodes[j];
    return d->type == NODE_FLATTEN || (d->type == NODE_ADD && !(k == 1 && p->nodes[j].in2_reorder));
}

/* Sets up node i's dout memory, in reverse node order (all its consumers are set up already). */
static int dout_setup(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
{
    dn_node *pn = &p->nodes[i];
    if (i == n->n - 1) {
        dnnl_memory_desc_t f_md;
        TRY(md_plain_act(&f_md, p->B, n->feature_dim, 1, 1, 1, err));
        p->dfeat = plan_mem(dn, p, &f_md, BIND_DFEAT, NULL, NULL, err, &(int){0});
        if (!p->dfeat)
            return -1;
        if (dnnl_memory_desc_equal(&f_md, &pn->md)) {
            pn->dout = p->dfeat;
        } else {
            pn->dout = MEM_SLOT(&pn->md, i, ROLE_DOUT);
            TRY(push_reorder(dn, p, 1, i, "dfeat", p->dfeat, pn->dout, 0, err));
        }
        return 0;
    }
    if (dn->consumers[i] == 0)
        return nb_error_set(err, NULL, 0, 0, "dnnl_net: node %d has no consumer", i);
    /* A single consumer: it writes our dout, or (pass-through) its dout is ours. */
    if (dn->consumers[i] == 1) {
        for (int j = i + 1; j < n->n; j++) {
            if (n->nodes[j].in != i && n->nodes[j].in2 != i)
                continue;
            if (passes_dout(p, n, j, n->nodes[j].in == i ? 0 : 1))
                pn->dout = p->nodes[j].dout;
            else
                pn->dout = MEM_SLOT(&pn->md, i, ROLE_DOUT);
        }
        return 0;
    }
    pn->dout = MEM_SLOT(&pn->md, i, ROLE_DOUT);
    return 0;
}

/* The sum step for a node with several consumers: dout = Σ of the consumers' contributions. */
static int push_grad_sum(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
{
    dnnl_memory_t srcs[4];
    dnnl_memory_desc_t mds[4];
    int k = 0;
    for (int j = i + 1; j < n->n; j++) {
        for (int e = 0; e < 2; e++) {
            if ((e == 0 ? n->nodes[j].in : n->nodes[j].in2) != i)
                continue;
            if (k == 4)
                return nb_error_set(err, NULL, 0, 0, "dnnl_net: node %d has more than 4 consumers", i);
            if (passes_dout(p, n, j, e)) {
                srcs[k] = p->nodes[j].dout;
            } else {
                TRY(edge_mem(dn, p, n, j, e, &srcs[k], err));
            }
            mds[k++] = p->nodes[i].md;
        }
    }
    const float scales[4] = {1, 1, 1, 1};
    dnnl_primitive_desc_t pd;
    dnnl_primitive_attr_t attr;
    TRY(attr_new(&attr, err));
    dnnl_status_t st = dnnl_sum_primitive_desc_create(&pd, &p->nodes[i].md, k, scales, mds, attr, dn->engine);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return nb_error_set(err, __FILE__, __LINE__, 0, "oneDNN: sum: %s", dnnl_status2str(st));
    dn_step *s;
    TRY(push_prim(dn, p, 1, i, "gradient sum", pd, &s, err));
    for (int e = 0; e < k; e++)
        step_arg(s, DNNL_ARG_MULTIPLE_SRC + e, srcs[e]);
    step_arg(s, DNNL_ARG_DST, p->nodes[i].dout);
    return 0;
}

static int bwd_conv(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    int ic = d->in >= 0 ? n->nodes[d->in].c : n->in_c;
    const dnnl_memory_desc_t *src_md = q(pn->fwd_pd, dnnl_query_src_md);
    dnnl_memory_desc_t any_w, w_plain, b_md;
    dnnl_dims_t wd = {d->c, ic, d->k, d->k}, bd = {d->c};
    TRY(md_init(&any_w, 4, wd, dnnl_format_tag_any, err));
    TRY(md_init(&w_plain, 4, wd, dnnl_oihw, err));
    TRY(md_init(&b_md, 1, bd, dnnl_x, err));
    dnnl_dims_t strides = {d->stride, d->stride}, pad = {d->pad, d->pad};
    /* The conv's own dout: for a fused conv+ReLU, the ReLU backward (before this) wrote it. */
    dnnl_memory_t dout = pn->dout;
    dnnl_memory_t src = pn->src;
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd;
    dn_step *s;
    if (d->in >= 0) { /* backward data: diff_src in the producer's layout */
        DN(dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, src_md, &any_w, &pn->md, strides, pad,
                                                    pad));
        TRY(pd_create(dn, &pd, &cd, NULL, pn->fwd_pd, err));
        dnnl_memory_t w = pn->w_fwd;
        const dnnl_memory_desc_t *want = q(pd, dnnl_query_weights_md), *have;
        DN(dnnl_memory_get_memory_desc(w, &have));
        if (!dnnl_memory_desc_equal(want, have))
            TRY(param_for(dn, p, 1, i, ROLE_W_BWD, &w_plain, want, paramset_data(n->ps, d->w_idx), &w, err));
        dnnl_memory_t dsrc, edge;
        TRY(edge_mem(dn, p, n, i, 0, &edge, err));
        /* A reordered input: ∂L/∂input in the conv's layout, then reordered back after the step. */
        dsrc = pn->src_reorder ? MEM_SLOT(src_md, i, ROLE_DSRC) : edge;
        TRY(push_prim(dn, p, 1, i, "conv bwd data", pd, &s, err));
        step_arg(s, DNNL_ARG_DIFF_DST, dout);
        step_arg(s, DNNL_ARG_WEIGHTS, w);
        step_arg(s, DNNL_ARG_DIFF_SRC, dsrc);
        if (pn->src_reorder)
            TRY(push_reorder(dn, p, 1, i, "conv input gradient", dsrc, edge, 0, err));
    }
    DN(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, src_md, &any_w,
                                                   d->b_idx >= 0 ? &b_md : NULL, &pn->md, strides, pad, pad));
    TRY(pd_create(dn, &pd, &cd, NULL, pn->fwd_pd, err));
    dnnl_memory_t dw, db = NULL;
    /* The step order: the primitive, then the accumulating reorders. */
    dnnl_primitive_desc_t pdw = pd;
    TRY(push_prim(dn, p, 1, i, "conv bwd weights", pdw, &s, err));
    int si = p->n_bwd - 1;
    TRY(grad_for(dn, p, i, ROLE_DW, &w_plain, q(pdw, dnnl_query_diff_weights_md), paramset_grad(n->ps, d->w_idx), &dw, err));
    if (d->b_idx >= 0)
        TRY(grad_for(dn, p, i, ROLE_DB, &b_md, &b_md, paramset_grad(n->ps, d->b_idx), &db, err));
    s = &p->bwd[si]; /* add_step may have moved the list */
    step_arg(s, DNNL_ARG_SRC, src);
    step_arg(s, DNNL_ARG_DIFF_DST, dout);
    step_arg(s, DNNL_ARG_DIFF_WEIGHTS, dw);
    if (db)
        step_arg(s, DNNL_ARG_DIFF_BIAS, db);
    return 0;
}

static int bwd_linear(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    const dnnl_memory_desc_t *src_md = q(pn->fwd_pd, dnnl_query_src_md);
    int nd = src_md->ndims;
    dnnl_memory_desc_t any_w, w_plain, b_md;
    dnnl_dims_t wd = {d->c, src_md->dims[1], nd == 4 ? src_md->dims[2] : 0, nd == 4 ? src_md->dims[3] : 0};
    dnnl_dims_t bd = {d->c};
    TRY(ip_weights_md(&any_w, src_md, wd, err));
    TRY(md_init(&w_plain, nd, wd, nd == 4 ? dnnl_oihw : dnnl_oi, err));
    TRY(md_init(&b_md, 1, bd, dnnl_x, err));
    dnnl_inner_product_desc_t ipd;
    dnnl_primitive_desc_t pd;
    dn_step *s;
    dnnl_memory_t src = p->nodes[d->in].out;
    {
        DN(dnnl_inner_product_backward_data_desc_init(&ipd, src_md, &any_w, &pn->md));
        TRY(pd_create(dn, &pd, &ipd, NULL, pn->fwd_pd, err));
        dnnl_memory_t w = pn->w_fwd;
        const dnnl_memory_desc_t *want = q(pd, dnnl_query_weights_md), *have;
        DN(dnnl_memory_get_memory_desc(w, &have));
        if (!dnnl_memory_desc_equal(want, have))
            TRY(param_for(dn, p, 1, i, ROLE_W_BWD, &w_plain, want, paramset_data(n->ps, d->w_idx), &w, err));
        /* The producer is a flatten (or a vector node): ∂L/∂input goes to its edge. */
        dnnl_memory_t dsrc;
        TRY(edge_mem(dn, p, n, i, 0, &dsrc, err));
        TRY(push_prim(dn, p, 1, i, "inner product bwd data", pd, &s, err));
        step_arg(s, DNNL_ARG_DIFF_DST, pn->dout);
        step_arg(s, DNNL_ARG_WEIGHTS, w);
        step_arg(s, DNNL_ARG_DIFF_SRC, dsrc);
    }
    DN(dnnl_inner_product_backward_weights_desc_init(&ipd, src_md, &any_w, &b_md, &pn->md));
    TRY(pd_create(dn, &pd, &ipd, NULL, pn->fwd_pd, err));
    TRY(push_prim(dn, p, 1, i, "inner product bwd weights", pd, &s, err));
    int si = p->n_bwd - 1;
    dnnl_memory_t dw, db;
    TRY(grad_for(dn, p, i, ROLE_DW, &w_plain, q(pd, dnnl_query_diff_weights_md), paramset_grad(n->ps, d->w_idx), &dw, err));
    TRY(grad_for(dn, p, i, ROLE_DB, &b_md, &b_md, paramset_grad(n->ps, d->b_idx), &db, err));
    s = &p->bwd[si];
    step_arg(s, DNNL_ARG_SRC, src);
    step_arg(s, DNNL_ARG_DIFF_DST, pn->dout);
    step_arg(s, DNNL_ARG_DIFF_WEIGHTS, dw);
    step_arg(s, DNNL_ARG_DIFF_BIAS, db);
    return 0;
}

static int bwd_add(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
{
    dn_node *pn = &p->nodes[i];
    if (!pn->in2_reorder)
        return 0; /* both producers read this node's dout */
    dnnl_memory_t dsrc;
    TRY(edge_mem(dn, p, n, i, 1, &dsrc, err));
    return push_reorder(dn, p, 1, i, "add bwd: second input", pn->dout, dsrc, 0, err);
}

static int bwd_relu(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    dnnl_primitive_desc_t pd;
    dn_step *s;
    if (d->in < 0)
        return 0;
    /* ∂L/∂x = dout where out > 0: from the ReLU's output, so a fused conv+ReLU needs nothing else */
    dnnl_eltwise_desc_t ed;
    DN(dnnl_eltwise_backward_desc_init(&ed, dnnl_eltwise_relu_use_dst_for_bwd, &pn->md, &pn->md, 0.0f, 0.0f));
    dnnl_primitive_desc_t hint;
    dnnl_eltwise_desc_t fed;
    DN(dnnl_eltwise_forward_desc_init(&fed, dnnl_forward_training, dnnl_eltwise_relu_use_dst_for_bwd, &pn->md, 0.0f,
                                      0.0f));
    TRY(pd_create(dn, &hint, &fed, NULL, NULL, err));
    int rc = pd_create(dn, &pd, &ed, NULL, hint, err);
    dnnl_primitive_desc_destroy(hint);
    TRY(rc);
    /* The fused conv's dout is where this writes: the conv has only this consumer. */
    dnnl_memory_t dsrc;
    TRY(edge_mem(dn, p, n, i, 0, &dsrc, err));
    TRY(push_prim(dn, p, 1, i, "relu bwd", pd, &s, err));
    step_arg(s, DNNL_ARG_DST, pn->out);
    step_arg(s, DNNL_ARG_DIFF_DST, pn->dout);
    step_arg(s, DNNL_ARG_DIFF_SRC, dsrc);
    return 0;
}

static int bwd_prelu(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    dnnl_primitive_desc_t pd;
    dn_step *s;
    const dnnl_memory_desc_t *src_md = d->in >= 0 ? &p->nodes[d->in].md : NULL;
    dnnl_memory_t src = d->in >= 0 ? p->nodes[d->in].out : NULL;
    dnnl_memory_desc_t w_any, w_plain;
    TRY(prelu_w_md(&w_any, src_md, d->c, dnnl_format_tag_any, err));
    TRY(prelu_w_md(&w_plain, src_md, d->c, dnnl_abcd, err));
    const dnnl_memory_desc_t *w_md;
    DN(dnnl_memory_get_memory_desc(pn->w_fwd, &w_md));
    dnnl_prelu_desc_t prd;
    DN(dnnl_prelu_backward_desc_init(&prd, src_md, w_md, src_md, &w_any));
    TRY(pd_create(dn, &pd, &prd, NULL, pn->fwd_pd, err));
    TRY(push_prim(dn, p, 1, i, "prelu bwd", pd, &s, err));
    int si = p->n_bwd - 1;
    dnnl_memory_t dsrc = NULL, dw;
    if (d->in >= 0)
        TRY(edge_mem(dn, p, n, i, 0, &dsrc, err));
    else
        dsrc = MEM_SLOT(src_md, i, ROLE_EDGE0);
    TRY(grad_for(dn, p, i, ROLE_DW, &w_plain, q(pd, dnnl_query_diff_weights_md), paramset_grad(n->ps, d->w_idx),
                 &dw, err));
    s = &p->bwd[si];
    step_arg(s, DNNL_ARG_SRC, src ? src : p->x);
    step_arg(s, DNNL_ARG_WEIGHTS, pn->w_fwd);
    step_arg(s, DNNL_ARG_DIFF_DST, pn->dout);
    step_arg(s, DNNL_ARG_DIFF_SRC, dsrc);
    step_arg(s, DNNL_ARG_DIFF_WEIGHTS, dw);
    return 0;
}

static int bwd_maxpool(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    dnnl_primitive_desc_t pd;
    dn_step *s;
    const dnnl_memory_desc_t *src_md = d->in >= 0 ? &p->nodes[d->in].md : NULL;
    if (d->in < 0)
        return 0;
    dnnl_dims_t strides = {d->stride, d->stride}, kernel = {d->k, d->k}, pl = {0, 0};
    int ih = n->nodes[d->in].h, iw = n->nodes[d->in].w;
    dnnl_dims_t pr = {(d->h - 1) * d->stride + d->k - ih, (d->w - 1) * d->stride + d->k - iw};
    dnnl_pooling_desc_t pld;
    DN(dnnl_pooling_backward_desc_init(&pld, dnnl_pooling_max, src_md, &pn->md, strides, kernel, pl, pr));
    TRY(pd_create(dn, &pd, &pld, NULL, pn->fwd_pd, err));
    dnnl_memory_t dsrc;
    TRY(edge_mem(dn, p, n, i, 0, &dsrc, err));
    dnnl_memory_t ws = pn->ws;
    TRY(push_prim(dn, p, 1, i, "maxpool bwd", pd, &s, err));
    step_arg(s, DNNL_ARG_DIFF_DST, pn->dout);
    step_arg(s, DNNL_ARG_WORKSPACE, ws);
    step_arg(s, DNNL_ARG_DIFF_SRC, dsrc);
    return 0;
}

static int bwd_batchnorm(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    dnnl_primitive_desc_t pd;
    dn_step *s;
    const dnnl_memory_desc_t *src_md = d->in >= 0 ? &p->nodes[d->in].md : NULL;
    dnnl_memory_t src = d->in >= 0 ? p->nodes[d->in].out : NULL;
    dnnl_batch_normalization_desc_t bd;
    DN(dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, src_md, src_md, BN_EPS,
                                                   dnnl_use_scale | dnnl_use_shift));
    TRY(pd_create(dn, &pd, &bd, NULL, pn->fwd_pd, err));
    TRY(push_prim(dn, p, 1, i, "batchnorm bwd", pd, &s, err));
    int si = p->n_bwd - 1;
    dnnl_memory_desc_t c_md;
    dnnl_dims_t cd = {d->c};
    TRY(md_init(&c_md, 1, cd, dnnl_x, err));
    dnnl_memory_t dsrc = NULL, dg, dbt;
    if (d->in >= 0)
        TRY(edge_mem(dn, p, n, i, 0, &dsrc, err));
    else
        dsrc = MEM_SLOT(src_md, i, ROLE_EDGE0);
    TRY(grad_for(dn, p, i, ROLE_DW, &c_md, &c_md, paramset_grad(n->ps, d->w_idx), &dg, err));
    TRY(grad_for(dn, p, i, ROLE_DB, &c_md, &c_md, paramset_grad(n->ps, d->b_idx), &dbt, err));
    s = &p->bwd[si];
    step_arg(s, DNNL_ARG_SRC, src);
    step_arg(s, DNNL_ARG_MEAN, pn->mean);
    step_arg(s, DNNL_ARG_VARIANCE, pn->var);
    step_arg(s, DNNL_ARG_DIFF_DST, pn->dout);
    step_arg(s, DNNL_ARG_SCALE, MEM_PTR(&c_md, paramset_data(n->ps, d->w_idx)));
    step_arg(s, DNNL_ARG_SHIFT, MEM_PTR(&c_md, paramset_data(n->ps, d->b_idx))); /* asked for, unread */
    step_arg(s, DNNL_ARG_DIFF_SRC, dsrc);
    step_arg(s, DNNL_ARG_DIFF_SCALE, dg);
    step_arg(s, DNNL_ARG_DIFF_SHIFT, dbt);
    return 0;
}

static int bwd_node(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    if (dn->consumers[i] > 1)
        TRY(push_grad_sum(dn, p, n, i, err));
    switch (d->type) {
    case NODE_CONV:
        return bwd_conv(dn, p, n, i, err);
    case NODE_LINEAR:
        return bwd_linear(dn, p, n, i, err);
    case NODE_FLATTEN:
        return 0; /* its producer reads this node's dout */
    case NODE_ADD:
        return bwd_add(dn, p, n, i, err);
    case NODE_RELU:
        return bwd_relu(dn, p, n, i, err);
    case NODE_PRELU:
        return bwd_prelu(dn, p, n, i, err);
    case NODE_MAXPOOL:
        return bwd_maxpool(dn, p, n, i, err);
    case NODE_BATCHNORM:
        return bwd_batchnorm(dn, p, n, i, err);
    }
    return 0;
}

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
    TRY(md_plain_act(&x_md, p->B, n->in_c, n->in_h, n->in_w, 0, err));
    p->x = plan_mem(dn, p, &x_md, BIND_X, NULL, NULL, err, &(int){0});
    if (!p->x)
        return -1;
    for (int i = 0; i < n->n; i++)
        TRY(fwd_node(dn, p, n, i, err));
    dn_node *last = &p->nodes[n->n - 1];
    dnnl_memory_desc_t f_md;
    TRY(md_plain_act(&f_md, p->B, n->feature_dim, 1, 1, 1, err));
    if (dnnl_memory_desc_equal(&f_md, &last->md)) {
        p->feat = last->out;
    } else {
        p->feat = MEM_SLOT(&f_md, -1, ROLE_OUT);
        TRY(push_reorder(dn, p, 0, n->n - 1, "features", last->out, p->feat, 0, err));
    }
    if (!p->train)
        return 0;
    for (int i = n->n - 1; i >= 0; i--)
        TRY(dout_setup(dn, p, n, i, err));
    for (int i = n->n - 1; i >= 0; i--)
        TRY(bwd_node(dn, p, n, i, err));
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

static double profile_clock(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
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
        const double t0 = profile_clock();
        run_step(dn, &list[s]);
        DN_FATAL(dnnl_stream_wait(dn->stream));
        list[s].seconds += profile_clock() - t0;
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
