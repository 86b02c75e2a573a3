/* dnnl_impl.h — what the files of the oneDNN backend share (dnnl_net.c, dnnl_impl.c, dnnl_fwd.c,
 * dnnl_bwd.c); not part of lib/nn's interface (that is dnnl_net.h). Float build only.
 *
 * The types: a slot is a buffer shared by all plans of a net, one per (node, role); a plan is
 * the forward and backward step lists for one (batch size, train/eval, thread count), its memory
 * objects bound to slots, to the paramset, or to the caller's input and gradient; a step runs one
 * primitive (or the batch-norm running statistics). docs/architecture.md has the design. */
#ifndef NB_DNNL_IMPL_H
#define NB_DNNL_IMPL_H
#ifndef NB_DOUBLE

#include "core/error.h"
#include "core/real.h"
#include "nn/net.h"

typedef struct dnnl_net dnnl_net; /* as dnnl_net.h; defined below */

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

#define MEM_SLOT(md, node, role)                                                                                      \
    ({                                                                                                                \
        int st__ = 0;                                                                                                 \
        dn_slot *sl__ = (node) == -2 ? &dn->scratchpad : dn_slot_of(dn, (node), (role));                              \
        dnnl_memory_t m__ = dn_plan_mem(dn, p, (md), BIND_SLOT, sl__, NULL, err, &st__);                              \
        if (!m__)                                                                                                     \
            return -1;                                                                                                \
        m__;                                                                                                          \
    })
#define MEM_PTR(md, ptr_)                                                                                             \
    ({                                                                                                                \
        int st__ = 0;                                                                                                 \
        dnnl_memory_t m__ = dn_plan_mem(dn, p, (md), BIND_PTR, NULL, (ptr_), err, &st__);                             \
        if (!m__)                                                                                                     \
            return -1;                                                                                                \
        m__;                                                                                                          \
    })

/* ---- dnnl_impl.c: slots, memory descriptors, steps and the reorders between layouts ---- */
dn_slot *dn_slot_of(dnnl_net *dn, int node, int role);
int dn_md_init(dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims, dnnl_format_tag_t tag, nb_error *err);
int dn_md_plain_act(dnnl_memory_desc_t *md, int B, int c, int h, int w, int vec, nb_error *err);
dnnl_memory_t dn_plan_mem(dnnl_net *dn, dn_plan *p, const dnnl_memory_desc_t *md, bind_kind kind, dn_slot *s,
                          void *ptr, nb_error *err, int *status);
dn_step *dn_add_step(dn_step **list, int *n, int *cap);
void dn_step_arg(dn_step *s, int arg, dnnl_memory_t m);
int dn_attr_new(dnnl_primitive_attr_t *attr, nb_error *err);
int dn_pd_create(dnnl_net *dn, dnnl_primitive_desc_t *pd, const void *op, dnnl_post_ops_t po,
                 const_dnnl_primitive_desc_t hint, nb_error *err);
int dn_push_prim(dnnl_net *dn, dn_plan *p, int bwd, int node, const char *what, dnnl_primitive_desc_t pd,
                 dn_step **out, nb_error *err);
int dn_push_reorder(dnnl_net *dn, dn_plan *p, int bwd, int node, const char *what, dnnl_memory_t src,
                    dnnl_memory_t dst, int accumulate, nb_error *err);
int dn_param_for(dnnl_net *dn, dn_plan *p, int bwd, int node, int role, const dnnl_memory_desc_t *plain,
                 const dnnl_memory_desc_t *want, real *data, dnnl_memory_t *out, nb_error *err);
int dn_grad_for(dnnl_net *dn, dn_plan *p, int node, int role, const dnnl_memory_desc_t *plain,
                const dnnl_memory_desc_t *have, real *grad, dnnl_memory_t *scratch, nb_error *err);
const dnnl_memory_desc_t *dn_q(const_dnnl_primitive_desc_t pd, dnnl_query_t what);
int dn_ip_weights_md(dnnl_memory_desc_t *md, const dnnl_memory_desc_t *src_md, const dnnl_dims_t wd, nb_error *err);
int dn_prelu_w_md(dnnl_memory_desc_t *md, const dnnl_memory_desc_t *data, int c, dnnl_format_tag_t tag,
                  nb_error *err);
int dn_pd_is_reference(const_dnnl_primitive_desc_t pd);

/* ---- dnnl_fwd.c and dnnl_bwd.c: node i's forward steps; its dout memory (in reverse node order);
 * its backward steps ---- */
int dn_fwd_node(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err);
int dn_dout_setup(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err);
int dn_bwd_node(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err);

#endif
#endif
