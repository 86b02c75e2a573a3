/* dnnl_impl.c — the oneDNN backend's shared pieces (see dnnl_impl.h): slots
 * shared by the plans, memory descriptors, the step lists, primitive creation with a user
 * scratchpad, and the reorders that move weights and gradients between the paramset's plain
 * layouts and the primitives' ones. */
#ifndef NB_DOUBLE

#include "nn/dnnl_impl.h"

#include <stdlib.h>
#include <string.h>

dn_slot *dn_slot_of(dnnl_net *dn, int node, int role)
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

int dn_md_init(dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims, dnnl_format_tag_t tag, nb_error *err)
{
    DN(dnnl_memory_desc_init_by_tag(md, ndims, dims, dnnl_f32, tag));
    return 0;
}

/* The layout of an activation of node d (or of the network input) for B samples, as a plain tag. */
int dn_md_plain_act(dnnl_memory_desc_t *md, int B, int c, int h, int w, int vec, nb_error *err)
{
    if (vec) {
        dnnl_dims_t dims = {B, c};
        return dn_md_init(md, 2, dims, dnnl_nc, err);
    }
    dnnl_dims_t dims = {B, c, h, w};
    return dn_md_init(md, 4, dims, dnnl_nchw, err);
}

/* ---- plan building ---- */

dnnl_memory_t dn_plan_mem(dnnl_net *dn, dn_plan *p, const dnnl_memory_desc_t *md, bind_kind kind, dn_slot *s,
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
dn_step *dn_add_step(dn_step **list, int *n, int *cap)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *list = nb_realloc(*list, (size_t)*cap * sizeof **list);
    }
    dn_step *s = &(*list)[(*n)++];
    memset(s, 0, sizeof *s);
    return s;
}

void dn_step_arg(dn_step *s, int arg, dnnl_memory_t m)
{
    if (s->nargs == MAX_ARGS)
        nb_fatal("dnnl_net: too many arguments");
    s->args[s->nargs].arg = arg;
    s->args[s->nargs].memory = m;
    s->nargs++;
}

int dn_attr_new(dnnl_primitive_attr_t *attr, nb_error *err)
{
    DN(dnnl_primitive_attr_create(attr));
    DN(dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user));
    return 0;
}

/* Creates the primitive desc of op (attr: user scratchpad, plus post_ops when given). */
int dn_pd_create(dnnl_net *dn, dnnl_primitive_desc_t *pd, const void *op, dnnl_post_ops_t po,
                 const_dnnl_primitive_desc_t hint, nb_error *err)
{
    dnnl_primitive_attr_t attr;
    TRY(dn_attr_new(&attr, err));
    if (po)
        dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_status_t st = dnnl_primitive_desc_create(pd, op, attr, dn->engine, hint);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return nb_error_set(err, __FILE__, __LINE__, 0, "oneDNN: dnnl_primitive_desc_create: %s", dnnl_status2str(st));
    return 0;
}

/* Appends a step running pd (which the step then owns), with the scratchpad bound. */
int dn_push_prim(dnnl_net *dn, dn_plan *p, int bwd, int node, const char *what, dnnl_primitive_desc_t pd,
                 dn_step **out, nb_error *err)
{
    dn_step *s = bwd ? dn_add_step(&p->bwd, &p->n_bwd, &p->cap_bwd) : dn_add_step(&p->fwd, &p->n_fwd, &p->cap_fwd);
    s->kind = STEP_PRIM;
    s->node = node;
    s->what = what;
    s->pd = pd;
    DN(dnnl_primitive_create(&s->prim, pd));
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && dnnl_memory_desc_get_size(smd) > 0)
        dn_step_arg(s, DNNL_ARG_SCRATCHPAD, MEM_SLOT(smd, -2, 0));
    *out = s;
    return 0;
}

/* A reorder step src → dst (both memories of this plan); accumulate adds into dst. */
int dn_push_reorder(dnnl_net *dn, dn_plan *p, int bwd, int node, const char *what, dnnl_memory_t src,
                    dnnl_memory_t dst, int accumulate, nb_error *err)
{
    const dnnl_memory_desc_t *smd, *dmd;
    DN(dnnl_memory_get_memory_desc(src, &smd));
    DN(dnnl_memory_get_memory_desc(dst, &dmd));
    dnnl_primitive_attr_t attr;
    TRY(dn_attr_new(&attr, err));
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
    TRY(dn_push_prim(dn, p, bwd, node, what, pd, &s, err));
    dn_step_arg(s, DNNL_ARG_FROM, src);
    dn_step_arg(s, DNNL_ARG_TO, dst);
    return 0;
}

/* A parameter tensor for a primitive wanting layout want: the paramset values themselves when the
 * layouts agree, else a scratch copy on (node, role) reordered from them by a step. */
int dn_param_for(dnnl_net *dn, dn_plan *p, int bwd, int node, int role, const dnnl_memory_desc_t *plain,
                 const dnnl_memory_desc_t *want, real *data, dnnl_memory_t *out, nb_error *err)
{
    dnnl_memory_t pm = MEM_PTR(plain, data);
    if (dnnl_memory_desc_equal(plain, want)) {
        *out = pm;
        return 0;
    }
    dnnl_memory_t m = MEM_SLOT(want, node, role);
    TRY(dn_push_reorder(dn, p, bwd, node, "weights", pm, m, 0, err));
    *out = m;
    return 0;
}

/* A parameter gradient: the primitive writes scratch (node, role) in layout have, and a step adds
 * it to the paramset gradient (layout plain). */
int dn_grad_for(dnnl_net *dn, dn_plan *p, int node, int role, const dnnl_memory_desc_t *plain,
                const dnnl_memory_desc_t *have, real *grad, dnnl_memory_t *scratch, nb_error *err)
{
    *scratch = MEM_SLOT(have, node, role);
    dnnl_memory_t gm = MEM_PTR(plain, grad);
    return dn_push_reorder(dn, p, 1, node, "accumulate gradient", *scratch, gm, 1, err);
}

const dnnl_memory_desc_t *dn_q(const_dnnl_primitive_desc_t pd, dnnl_query_t what)
{
    return dnnl_primitive_desc_query_md(pd, what, 0);
}


/* Whether oneDNN chose its reference (unoptimised C) implementation for pd. */
int dn_pd_is_reference(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl)
        return 0;
    return strncmp(impl, "ref", 3) == 0;
}

/* Inner-product weights in the layout of the source (aBcd16b weights for an aBcd16b source):
 * forward, backward-data and backward-weights then share one layout, and the reorders from and to
 * the paramset's (D_out, C, H, W) are cheap. Left to oneDNN (format_tag_any, which picks a
 * GEMM-packed layout whose reorder costs several times the product) for other sources. */
int dn_ip_weights_md(dnnl_memory_desc_t *md, const dnnl_memory_desc_t *src_md, const dnnl_dims_t wd, nb_error *err)
{
    const dnnl_format_tag_t tags4[] = {dnnl_aBcd16b, dnnl_aBcd8b, dnnl_acdb, dnnl_abcd};
    if (src_md->ndims == 4) {
        for (int t = 0; t < 4; t++) {
            dnnl_memory_desc_t cand;
            TRY(dn_md_init(&cand, 4, src_md->dims, tags4[t], err));
            if (dnnl_memory_desc_equal(&cand, src_md))
                return dn_md_init(md, 4, wd, tags4[t], err);
        }
    }
    return dn_md_init(md, src_md->ndims, wd, dnnl_format_tag_any, err);
}

/* PReLU slopes as oneDNN weights: (1, C, 1, 1) for images, (1, C) for vectors. */
int dn_prelu_w_md(dnnl_memory_desc_t *md, const dnnl_memory_desc_t *data, int c, dnnl_format_tag_t tag,
                  nb_error *err)
{
    dnnl_dims_t wd = {1, c, 1, 1};
    return dn_md_init(md, data->ndims, wd, tag == dnnl_format_tag_any ? tag : data->ndims == 4 ? dnnl_abcd : dnnl_ab,
                   err);
}

#endif
