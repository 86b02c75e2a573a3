/* dnnl_fwd.c — the forward steps of the oneDNN backend, one function per node
 * type (convolution with fused ReLU, inner product, ReLU, PReLU, max pooling, batch norm, residual
 * add); each chooses its primitive and layouts and appends its steps to the plan. */
#ifndef NB_DOUBLE

#include "nn/dnnl_impl.h"

#include <stdlib.h>
#include <string.h>

/* ---- forward steps, one function per node type ---- */

/* The forward convolution desc of node i reading src layout sm, writing dst_tag (any: oneDNN chooses). */
static int conv_fwd_pd(dnnl_net *dn, const dn_plan *p, const net *n, int i, const dnnl_memory_desc_t *sm,
                       dnnl_format_tag_t dst_tag, dnnl_post_ops_t po, dnnl_primitive_desc_t *pd, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    int ic = d->in >= 0 ? n->nodes[d->in].c : n->in_c;
    dnnl_memory_desc_t any_w, any_dst, b_md;
    dnnl_dims_t wd = {d->c, ic, d->k, d->k}, bd = {d->c}, dd = {p->B, d->c, d->h, d->w};
    TRY(dn_md_init(&any_w, 4, wd, dnnl_format_tag_any, err));
    TRY(dn_md_init(&b_md, 1, bd, dnnl_x, err));
    TRY(dn_md_init(&any_dst, 4, dd, dst_tag, err));
    dnnl_dims_t strides = {d->stride, d->stride}, pad = {d->pad, d->pad};
    dnnl_convolution_desc_t cd;
    DN(dnnl_convolution_forward_desc_init(&cd, p->train ? dnnl_forward_training : dnnl_forward_inference,
                                          dnnl_convolution_direct, sm, &any_w, d->b_idx >= 0 ? &b_md : NULL,
                                          &any_dst, strides, pad, pad));
    return dn_pd_create(dn, pd, &cd, po, NULL, err);
}

/* Whether node i's backward (data and weights), given its forward desc, has only the reference kernel. */
static int conv_bwd_is_reference(dnnl_net *dn, const net *n, int i, const_dnnl_primitive_desc_t fwd, int *ref,
                                 nb_error *err)
{
    const net_node *d = &n->nodes[i];
    int ic = d->in >= 0 ? n->nodes[d->in].c : n->in_c;
    dnnl_memory_desc_t any_w, b_md;
    dnnl_dims_t wd = {d->c, ic, d->k, d->k}, bd = {d->c};
    TRY(dn_md_init(&any_w, 4, wd, dnnl_format_tag_any, err));
    TRY(dn_md_init(&b_md, 1, bd, dnnl_x, err));
    dnnl_dims_t strides = {d->stride, d->stride}, pad = {d->pad, d->pad};
    const dnnl_memory_desc_t *src_md = dn_q(fwd, dnnl_query_src_md), *dst_md = dn_q(fwd, dnnl_query_dst_md);
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd;
    *ref = 0;
    if (d->in >= 0) {
        DN(dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, src_md, &any_w, dst_md, strides, pad,
                                                    pad));
        TRY(dn_pd_create(dn, &pd, &cd, NULL, fwd, err));
        *ref |= dn_pd_is_reference(pd);
        dnnl_primitive_desc_destroy(pd);
    }
    DN(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, src_md, &any_w,
                                                   d->b_idx >= 0 ? &b_md : NULL, dst_md, strides, pad, pad));
    TRY(dn_pd_create(dn, &pd, &cd, NULL, fwd, err));
    *ref |= dn_pd_is_reference(pd);
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
    TRY(dn_md_init(&cand[1], 4, sd, dnnl_format_tag_any, err));
    TRY(dn_md_init(&cand[2], 4, sd, dnnl_acdb, err));
    TRY(dn_md_init(&cand[3], 4, sd, dnnl_abcd, err));
    for (int c = first; c < 4; c++) {
        TRY(conv_fwd_pd(dn, p, n, i, &cand[c], dst_tag[c], po, pd, err));
        int ref = dn_pd_is_reference(*pd);
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
    TRY(dn_md_init(&w_plain, 4, wd, dnnl_oihw, err));
    TRY(dn_md_init(&b_md, 1, bd, dnnl_x, err));
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
    pn->md = *dn_q(pd, dnnl_query_dst_md);
    const dnnl_memory_desc_t *want = dn_q(pd, dnnl_query_src_md);
    if (reorder && !dnnl_memory_desc_equal(want, src_md)) { /* the input into the chosen layout */
        dnnl_memory_t m = MEM_SLOT(want, d->in < 0 ? -1 : i, ROLE_SRC);
        TRY(dn_push_reorder(dn, p, 0, i, d->in < 0 ? "input" : "conv input", src, m, 0, err));
        src = m;
        pn->src_reorder = d->in >= 0;
    }
    pn->src = src;
    dnnl_memory_t w;
    TRY(dn_param_for(dn, p, 0, i, ROLE_W, &w_plain, dn_q(pd, dnnl_query_weights_md), paramset_data(n->ps, d->w_idx), &w,
                  err));
    pn->w_fwd = w;
    /* A fused conv writes the ReLU node's output slot. */
    pn->out = MEM_SLOT(&pn->md, pn->fused_relu ? i + 1 : i, ROLE_OUT);
    dnnl_primitive_desc_t pd_clone;
    DN(dnnl_primitive_desc_clone(&pd_clone, pd));
    dn_step *s;
    TRY(dn_push_prim(dn, p, 0, i, pn->fused_relu ? "conv+relu fwd" : "conv fwd", pd_clone, &s, err));
    dn_step_arg(s, DNNL_ARG_SRC, src);
    dn_step_arg(s, DNNL_ARG_WEIGHTS, w);
    if (d->b_idx >= 0)
        dn_step_arg(s, DNNL_ARG_BIAS, MEM_PTR(&b_md, paramset_data(n->ps, d->b_idx)));
    dn_step_arg(s, DNNL_ARG_DST, pn->out);
    return 0;
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
    TRY(dn_ip_weights_md(&any_w, src_md, wd, err));
    TRY(dn_md_init(&w_plain, nd, wd, nd == 4 ? dnnl_oihw : dnnl_oi, err));
    TRY(dn_md_init(&b_md, 1, bd, dnnl_x, err));
    TRY(dn_md_init(&dst_md, 2, dd, dnnl_nc, err));
    dnnl_inner_product_desc_t ipd;
    DN(dnnl_inner_product_forward_desc_init(&ipd, p->train ? dnnl_forward_training : dnnl_forward_inference, src_md,
                                            &any_w, &b_md, &dst_md));
    dnnl_primitive_desc_t pd;
    TRY(dn_pd_create(dn, &pd, &ipd, NULL, NULL, err));
    pn->fwd_pd = pd;
    pn->md = dst_md;
    dnnl_memory_t w;
    TRY(dn_param_for(dn, p, 0, i, ROLE_W, &w_plain, dn_q(pd, dnnl_query_weights_md), paramset_data(n->ps, d->w_idx), &w,
                  err));
    pn->w_fwd = w;
    pn->out = MEM_SLOT(&pn->md, i, ROLE_OUT);
    dnnl_primitive_desc_t pd_clone;
    DN(dnnl_primitive_desc_clone(&pd_clone, pd));
    dn_step *s;
    TRY(dn_push_prim(dn, p, 0, i, "inner product fwd", pd_clone, &s, err));
    dn_step_arg(s, DNNL_ARG_SRC, src);
    dn_step_arg(s, DNNL_ARG_WEIGHTS, w);
    dn_step_arg(s, DNNL_ARG_BIAS, MEM_PTR(&b_md, paramset_data(n->ps, d->b_idx)));
    dn_step_arg(s, DNNL_ARG_DST, pn->out);
    return 0;
}

static int fwd_relu(dnnl_net *dn, dn_plan *p, const net *n, int i, dnnl_memory_t src, const dnnl_memory_desc_t *src_md,
                    nb_error *err)
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
    TRY(dn_pd_create(dn, &pd, &ed, NULL, NULL, err));
    pn->out = MEM_SLOT(src_md, i, ROLE_OUT);
    TRY(dn_push_prim(dn, p, 0, i, "relu fwd", pd, &s, err));
    dn_step_arg(s, DNNL_ARG_SRC, src);
    dn_step_arg(s, DNNL_ARG_DST, pn->out);
    return 0;
}

static int fwd_prelu(dnnl_net *dn, dn_plan *p, const net *n, int i, dnnl_memory_t src, const dnnl_memory_desc_t *src_md,
                     nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    dnnl_prop_kind_t prop = p->train ? dnnl_forward_training : dnnl_forward_inference;
    dnnl_primitive_desc_t pd;
    dn_step *s;
    pn->md = *src_md;
    dnnl_memory_desc_t w_any, w_plain;
    TRY(dn_prelu_w_md(&w_any, src_md, d->c, dnnl_format_tag_any, err));
    TRY(dn_prelu_w_md(&w_plain, src_md, d->c, dnnl_abcd, err));
    dnnl_prelu_desc_t prd;
    DN(dnnl_prelu_forward_desc_init(&prd, prop, src_md, &w_any));
    TRY(dn_pd_create(dn, &pd, &prd, NULL, NULL, err));
    dnnl_primitive_desc_t pd_clone;
    DN(dnnl_primitive_desc_clone(&pd_clone, pd));
    pn->fwd_pd = pd;
    dnnl_memory_t w;
    TRY(dn_param_for(dn, p, 0, i, ROLE_W, &w_plain, dn_q(pd, dnnl_query_weights_md), paramset_data(n->ps, d->w_idx),
                  &w, err));
    pn->w_fwd = w;
    pn->out = MEM_SLOT(src_md, i, ROLE_OUT);
    TRY(dn_push_prim(dn, p, 0, i, "prelu fwd", pd_clone, &s, err));
    dn_step_arg(s, DNNL_ARG_SRC, src);
    dn_step_arg(s, DNNL_ARG_WEIGHTS, w);
    dn_step_arg(s, DNNL_ARG_DST, pn->out);
    return 0;
}

static int fwd_maxpool(dnnl_net *dn, dn_plan *p, const net *n, int i, dnnl_memory_t src,
                       const dnnl_memory_desc_t *src_md, nb_error *err)
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
    TRY(dn_md_init(&dst_any, 4, dd, dnnl_format_tag_any, err));
    dnnl_pooling_desc_t pld;
    DN(dnnl_pooling_forward_desc_init(&pld, prop, dnnl_pooling_max, src_md, &dst_any, strides, kernel, pl, pr));
    TRY(dn_pd_create(dn, &pd, &pld, NULL, NULL, err));
    dnnl_primitive_desc_t pd_clone;
    DN(dnnl_primitive_desc_clone(&pd_clone, pd));
    pn->fwd_pd = pd;
    pn->md = *dn_q(pd, dnnl_query_dst_md);
    pn->out = MEM_SLOT(&pn->md, i, ROLE_OUT);
    TRY(dn_push_prim(dn, p, 0, i, "maxpool fwd", pd_clone, &s, err));
    dn_step_arg(s, DNNL_ARG_SRC, src);
    dn_step_arg(s, DNNL_ARG_DST, pn->out);
    if (p->train) {
        pn->ws = MEM_SLOT(dn_q(pd, dnnl_query_workspace_md), i, ROLE_WS);
        dn_step_arg(s, DNNL_ARG_WORKSPACE, pn->ws);
    }
    return 0;
}

static int fwd_batchnorm(dnnl_net *dn, dn_plan *p, const net *n, int i, dnnl_memory_t src,
                         const dnnl_memory_desc_t *src_md, nb_error *err)
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
    TRY(dn_pd_create(dn, &pd, &bd, NULL, NULL, err));
    dnnl_primitive_desc_t pd_clone;
    DN(dnnl_primitive_desc_clone(&pd_clone, pd));
    pn->fwd_pd = pd;
    dnnl_memory_desc_t c_md;
    dnnl_dims_t cd = {d->c};
    TRY(dn_md_init(&c_md, 1, cd, dnnl_x, err));
    pn->out = MEM_SLOT(src_md, i, ROLE_OUT);
    if (p->train) {
        pn->mean = MEM_SLOT(&c_md, i, ROLE_MEAN);
        pn->var = MEM_SLOT(&c_md, i, ROLE_VAR);
    } else {
        pn->mean = MEM_PTR(&c_md, dm->run_mean);
        pn->var = MEM_PTR(&c_md, dm->run_var);
    }
    TRY(dn_push_prim(dn, p, 0, i, "batchnorm fwd", pd_clone, &s, err));
    dn_step_arg(s, DNNL_ARG_SRC, src);
    dn_step_arg(s, DNNL_ARG_SCALE, MEM_PTR(&c_md, paramset_data(n->ps, d->w_idx)));
    dn_step_arg(s, DNNL_ARG_SHIFT, MEM_PTR(&c_md, paramset_data(n->ps, d->b_idx)));
    dn_step_arg(s, DNNL_ARG_MEAN, pn->mean);
    dn_step_arg(s, DNNL_ARG_VARIANCE, pn->var);
    dn_step_arg(s, DNNL_ARG_DST, pn->out);
    if (p->train) {
        dn_step *r = dn_add_step(&p->fwd, &p->n_fwd, &p->cap_fwd);
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

static int fwd_add(dnnl_net *dn, dn_plan *p, const net *n, int i, dnnl_memory_t src, const dnnl_memory_desc_t *src_md,
                   nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    dnnl_primitive_desc_t pd;
    dn_step *s;
    /* The sum in the first input's layout; the second is reordered to it if need be. */
    dnnl_memory_t b = p->nodes[d->in2].out;
    if (!dnnl_memory_desc_equal(src_md, &p->nodes[d->in2].md)) {
        dnnl_memory_t m = MEM_SLOT(src_md, i, ROLE_SRC);
        TRY(dn_push_reorder(dn, p, 0, i, "add: second input", b, m, 0, err));
        b = m;
        pn->in2_reorder = 1;
    }
    pn->md = *src_md;
    dnnl_memory_desc_t srcs[2] = {*src_md, *src_md};
    const float scales[2] = {1.0f, 1.0f};
    dnnl_primitive_attr_t attr;
    TRY(dn_attr_new(&attr, err));
    dnnl_status_t st = dnnl_sum_primitive_desc_create(&pd, src_md, 2, scales, srcs, attr, dn->engine);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return nb_error_set(err, __FILE__, __LINE__, 0, "oneDNN: sum: %s", dnnl_status2str(st));
    pn->out = MEM_SLOT(src_md, i, ROLE_OUT);
    TRY(dn_push_prim(dn, p, 0, i, "add fwd", pd, &s, err));
    dn_step_arg(s, DNNL_ARG_MULTIPLE_SRC + 0, src);
    dn_step_arg(s, DNNL_ARG_MULTIPLE_SRC + 1, b);
    dn_step_arg(s, DNNL_ARG_DST, pn->out);
    return 0;
}

int dn_fwd_node(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    dnnl_memory_t src = d->in >= 0 ? p->nodes[d->in].out : p->x;
    dnnl_memory_desc_t x_md;
    const dnnl_memory_desc_t *src_md;
    if (d->in >= 0) {
        src_md = &p->nodes[d->in].md;
    } else {
        TRY(dn_md_plain_act(&x_md, p->B, n->in_c, n->in_h, n->in_w, 0, err));
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

#endif
