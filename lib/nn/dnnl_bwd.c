/* dnnl_bwd.c — the backward steps of the oneDNN backend: which memory holds
 * each node's ∂L/∂output (written by its consumer, or summed over several), and one function per
 * node type appending its backward-data / backward-weights steps, with the forward primitive as
 * hint and the forward layouts given explicitly. */
#ifndef NB_DOUBLE

#include "nn/dnnl_impl.h"

#include <stdlib.h>
#include <string.h>

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
int dn_dout_setup(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
{
    dn_node *pn = &p->nodes[i];
    if (i == n->n - 1) {
        dnnl_memory_desc_t f_md;
        TRY(dn_md_plain_act(&f_md, p->B, n->feature_dim, 1, 1, 1, err));
        p->dfeat = dn_plan_mem(dn, p, &f_md, BIND_DFEAT, NULL, NULL, err, &(int){0});
        if (!p->dfeat)
            return -1;
        if (dnnl_memory_desc_equal(&f_md, &pn->md)) {
            pn->dout = p->dfeat;
        } else {
            pn->dout = MEM_SLOT(&pn->md, i, ROLE_DOUT);
            TRY(dn_push_reorder(dn, p, 1, i, "dfeat", p->dfeat, pn->dout, 0, err));
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
    TRY(dn_attr_new(&attr, err));
    dnnl_status_t st = dnnl_sum_primitive_desc_create(&pd, &p->nodes[i].md, k, scales, mds, attr, dn->engine);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return nb_error_set(err, __FILE__, __LINE__, 0, "oneDNN: sum: %s", dnnl_status2str(st));
    dn_step *s;
    TRY(dn_push_prim(dn, p, 1, i, "gradient sum", pd, &s, err));
    for (int e = 0; e < k; e++)
        dn_step_arg(s, DNNL_ARG_MULTIPLE_SRC + e, srcs[e]);
    dn_step_arg(s, DNNL_ARG_DST, p->nodes[i].dout);
    return 0;
}

static int bwd_conv(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    int ic = d->in >= 0 ? n->nodes[d->in].c : n->in_c;
    const dnnl_memory_desc_t *src_md = dn_q(pn->fwd_pd, dnnl_query_src_md);
    dnnl_memory_desc_t any_w, w_plain, b_md;
    dnnl_dims_t wd = {d->c, ic, d->k, d->k}, bd = {d->c};
    TRY(dn_md_init(&any_w, 4, wd, dnnl_format_tag_any, err));
    TRY(dn_md_init(&w_plain, 4, wd, dnnl_oihw, err));
    TRY(dn_md_init(&b_md, 1, bd, dnnl_x, err));
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
        TRY(dn_pd_create(dn, &pd, &cd, NULL, pn->fwd_pd, err));
        dnnl_memory_t w = pn->w_fwd;
        const dnnl_memory_desc_t *want = dn_q(pd, dnnl_query_weights_md), *have;
        DN(dnnl_memory_get_memory_desc(w, &have));
        if (!dnnl_memory_desc_equal(want, have))
            TRY(dn_param_for(dn, p, 1, i, ROLE_W_BWD, &w_plain, want, paramset_data(n->ps, d->w_idx), &w, err));
        dnnl_memory_t dsrc, edge;
        TRY(edge_mem(dn, p, n, i, 0, &edge, err));
        /* A reordered input: ∂L/∂input in the conv's layout, then reordered back after the step. */
        dsrc = pn->src_reorder ? MEM_SLOT(src_md, i, ROLE_DSRC) : edge;
        TRY(dn_push_prim(dn, p, 1, i, "conv bwd data", pd, &s, err));
        dn_step_arg(s, DNNL_ARG_DIFF_DST, dout);
        dn_step_arg(s, DNNL_ARG_WEIGHTS, w);
        dn_step_arg(s, DNNL_ARG_DIFF_SRC, dsrc);
        if (pn->src_reorder)
            TRY(dn_push_reorder(dn, p, 1, i, "conv input gradient", dsrc, edge, 0, err));
    }
    DN(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, src_md, &any_w,
                                                   d->b_idx >= 0 ? &b_md : NULL, &pn->md, strides, pad, pad));
    TRY(dn_pd_create(dn, &pd, &cd, NULL, pn->fwd_pd, err));
    dnnl_memory_t dw, db = NULL;
    /* The step order: the primitive, then the accumulating reorders. */
    dnnl_primitive_desc_t pdw = pd;
    TRY(dn_push_prim(dn, p, 1, i, "conv bwd weights", pdw, &s, err));
    int si = p->n_bwd - 1;
    TRY(dn_grad_for(dn, p, i, ROLE_DW, &w_plain, dn_q(pdw, dnnl_query_diff_weights_md),
                    paramset_grad(n->ps, d->w_idx), &dw, err));
    if (d->b_idx >= 0)
        TRY(dn_grad_for(dn, p, i, ROLE_DB, &b_md, &b_md, paramset_grad(n->ps, d->b_idx), &db, err));
    s = &p->bwd[si]; /* add_step may have moved the list */
    dn_step_arg(s, DNNL_ARG_SRC, src);
    dn_step_arg(s, DNNL_ARG_DIFF_DST, dout);
    dn_step_arg(s, DNNL_ARG_DIFF_WEIGHTS, dw);
    if (db)
        dn_step_arg(s, DNNL_ARG_DIFF_BIAS, db);
    return 0;
}

static int bwd_linear(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
{
    const net_node *d = &n->nodes[i];
    dn_node *pn = &p->nodes[i];
    const dnnl_memory_desc_t *src_md = dn_q(pn->fwd_pd, dnnl_query_src_md);
    int nd = src_md->ndims;
    dnnl_memory_desc_t any_w, w_plain, b_md;
    dnnl_dims_t wd = {d->c, src_md->dims[1], nd == 4 ? src_md->dims[2] : 0, nd == 4 ? src_md->dims[3] : 0};
    dnnl_dims_t bd = {d->c};
    TRY(dn_ip_weights_md(&any_w, src_md, wd, err));
    TRY(dn_md_init(&w_plain, nd, wd, nd == 4 ? dnnl_oihw : dnnl_oi, err));
    TRY(dn_md_init(&b_md, 1, bd, dnnl_x, err));
    dnnl_inner_product_desc_t ipd;
    dnnl_primitive_desc_t pd;
    dn_step *s;
    dnnl_memory_t src = p->nodes[d->in].out;
    {
        DN(dnnl_inner_product_backward_data_desc_init(&ipd, src_md, &any_w, &pn->md));
        TRY(dn_pd_create(dn, &pd, &ipd, NULL, pn->fwd_pd, err));
        dnnl_memory_t w = pn->w_fwd;
        const dnnl_memory_desc_t *want = dn_q(pd, dnnl_query_weights_md), *have;
        DN(dnnl_memory_get_memory_desc(w, &have));
        if (!dnnl_memory_desc_equal(want, have))
            TRY(dn_param_for(dn, p, 1, i, ROLE_W_BWD, &w_plain, want, paramset_data(n->ps, d->w_idx), &w, err));
        /* The producer is a flatten (or a vector node): ∂L/∂input goes to its edge. */
        dnnl_memory_t dsrc;
        TRY(edge_mem(dn, p, n, i, 0, &dsrc, err));
        TRY(dn_push_prim(dn, p, 1, i, "inner product bwd data", pd, &s, err));
        dn_step_arg(s, DNNL_ARG_DIFF_DST, pn->dout);
        dn_step_arg(s, DNNL_ARG_WEIGHTS, w);
        dn_step_arg(s, DNNL_ARG_DIFF_SRC, dsrc);
    }
    DN(dnnl_inner_product_backward_weights_desc_init(&ipd, src_md, &any_w, &b_md, &pn->md));
    TRY(dn_pd_create(dn, &pd, &ipd, NULL, pn->fwd_pd, err));
    TRY(dn_push_prim(dn, p, 1, i, "inner product bwd weights", pd, &s, err));
    int si = p->n_bwd - 1;
    dnnl_memory_t dw, db;
    TRY(dn_grad_for(dn, p, i, ROLE_DW, &w_plain, dn_q(pd, dnnl_query_diff_weights_md),
                    paramset_grad(n->ps, d->w_idx), &dw, err));
    TRY(dn_grad_for(dn, p, i, ROLE_DB, &b_md, &b_md, paramset_grad(n->ps, d->b_idx), &db, err));
    s = &p->bwd[si];
    dn_step_arg(s, DNNL_ARG_SRC, src);
    dn_step_arg(s, DNNL_ARG_DIFF_DST, pn->dout);
    dn_step_arg(s, DNNL_ARG_DIFF_WEIGHTS, dw);
    dn_step_arg(s, DNNL_ARG_DIFF_BIAS, db);
    return 0;
}

static int bwd_add(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
{
    dn_node *pn = &p->nodes[i];
    if (!pn->in2_reorder)
        return 0; /* both producers read this node's dout */
    dnnl_memory_t dsrc;
    TRY(edge_mem(dn, p, n, i, 1, &dsrc, err));
    return dn_push_reorder(dn, p, 1, i, "add bwd: second input", pn->dout, dsrc, 0, err);
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
    TRY(dn_pd_create(dn, &hint, &fed, NULL, NULL, err));
    int rc = dn_pd_create(dn, &pd, &ed, NULL, hint, err);
    dnnl_primitive_desc_destroy(hint);
    TRY(rc);
    /* The fused conv's dout is where this writes: the conv has only this consumer. */
    dnnl_memory_t dsrc;
    TRY(edge_mem(dn, p, n, i, 0, &dsrc, err));
    TRY(dn_push_prim(dn, p, 1, i, "relu bwd", pd, &s, err));
    dn_step_arg(s, DNNL_ARG_DST, pn->out);
    dn_step_arg(s, DNNL_ARG_DIFF_DST, pn->dout);
    dn_step_arg(s, DNNL_ARG_DIFF_SRC, dsrc);
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
    TRY(dn_prelu_w_md(&w_any, src_md, d->c, dnnl_format_tag_any, err));
    TRY(dn_prelu_w_md(&w_plain, src_md, d->c, dnnl_abcd, err));
    const dnnl_memory_desc_t *w_md;
    DN(dnnl_memory_get_memory_desc(pn->w_fwd, &w_md));
    dnnl_prelu_desc_t prd;
    DN(dnnl_prelu_backward_desc_init(&prd, src_md, w_md, src_md, &w_any));
    TRY(dn_pd_create(dn, &pd, &prd, NULL, pn->fwd_pd, err));
    TRY(dn_push_prim(dn, p, 1, i, "prelu bwd", pd, &s, err));
    int si = p->n_bwd - 1;
    dnnl_memory_t dsrc = NULL, dw;
    if (d->in >= 0)
        TRY(edge_mem(dn, p, n, i, 0, &dsrc, err));
    else
        dsrc = MEM_SLOT(src_md, i, ROLE_EDGE0);
    TRY(dn_grad_for(dn, p, i, ROLE_DW, &w_plain, dn_q(pd, dnnl_query_diff_weights_md), paramset_grad(n->ps, d->w_idx),
                 &dw, err));
    s = &p->bwd[si];
    dn_step_arg(s, DNNL_ARG_SRC, src ? src : p->x);
    dn_step_arg(s, DNNL_ARG_WEIGHTS, pn->w_fwd);
    dn_step_arg(s, DNNL_ARG_DIFF_DST, pn->dout);
    dn_step_arg(s, DNNL_ARG_DIFF_SRC, dsrc);
    dn_step_arg(s, DNNL_ARG_DIFF_WEIGHTS, dw);
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
    TRY(dn_pd_create(dn, &pd, &pld, NULL, pn->fwd_pd, err));
    dnnl_memory_t dsrc;
    TRY(edge_mem(dn, p, n, i, 0, &dsrc, err));
    dnnl_memory_t ws = pn->ws;
    TRY(dn_push_prim(dn, p, 1, i, "maxpool bwd", pd, &s, err));
    dn_step_arg(s, DNNL_ARG_DIFF_DST, pn->dout);
    dn_step_arg(s, DNNL_ARG_WORKSPACE, ws);
    dn_step_arg(s, DNNL_ARG_DIFF_SRC, dsrc);
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
    TRY(dn_pd_create(dn, &pd, &bd, NULL, pn->fwd_pd, err));
    TRY(dn_push_prim(dn, p, 1, i, "batchnorm bwd", pd, &s, err));
    int si = p->n_bwd - 1;
    dnnl_memory_desc_t c_md;
    dnnl_dims_t cd = {d->c};
    TRY(dn_md_init(&c_md, 1, cd, dnnl_x, err));
    dnnl_memory_t dsrc = NULL, dg, dbt;
    if (d->in >= 0)
        TRY(edge_mem(dn, p, n, i, 0, &dsrc, err));
    else
        dsrc = MEM_SLOT(src_md, i, ROLE_EDGE0);
    TRY(dn_grad_for(dn, p, i, ROLE_DW, &c_md, &c_md, paramset_grad(n->ps, d->w_idx), &dg, err));
    TRY(dn_grad_for(dn, p, i, ROLE_DB, &c_md, &c_md, paramset_grad(n->ps, d->b_idx), &dbt, err));
    s = &p->bwd[si];
    dn_step_arg(s, DNNL_ARG_SRC, src);
    dn_step_arg(s, DNNL_ARG_MEAN, pn->mean);
    dn_step_arg(s, DNNL_ARG_VARIANCE, pn->var);
    dn_step_arg(s, DNNL_ARG_DIFF_DST, pn->dout);
    dn_step_arg(s, DNNL_ARG_SCALE, MEM_PTR(&c_md, paramset_data(n->ps, d->w_idx)));
    dn_step_arg(s, DNNL_ARG_SHIFT, MEM_PTR(&c_md, paramset_data(n->ps, d->b_idx))); /* asked for, unread */
    dn_step_arg(s, DNNL_ARG_DIFF_SRC, dsrc);
    dn_step_arg(s, DNNL_ARG_DIFF_SCALE, dg);
    dn_step_arg(s, DNNL_ARG_DIFF_SHIFT, dbt);
    return 0;
}

int dn_bwd_node(dnnl_net *dn, dn_plan *p, const net *n, int i, nb_error *err)
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

#endif
