/* net.c — the reference backbones and their forward/backward passes; see net.h. */
#include "nn/net.h"

#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"

#define COL_TARGET ((size_t)4 << 20) /* im2col workspace: 4 M reals, so one GEMM covers many samples */

static int add_node(net *n, node_type type, int in)
{
    if (n->n == n->cap) {
        n->cap = n->cap ? 2 * n->cap : 32;
        n->nodes = nb_realloc(n->nodes, (size_t)n->cap * sizeof *n->nodes);
    }
    net_node *d = &n->nodes[n->n];
    memset(d, 0, sizeof *d);
    d->type = type;
    d->in = in;
    d->in2 = -1;
    d->w_idx = d->b_idx = -1;
    if (in >= 0) {
        d->c = n->nodes[in].c;
        d->h = n->nodes[in].h;
        d->w = n->nodes[in].w;
        d->vec = n->nodes[in].vec;
    } else {
        d->c = n->in_c;
        d->h = n->in_h;
        d->w = n->in_w;
    }
    return n->n++;
}

static void pname(char *buf, size_t size, int node, const char *what)
{
    snprintf(buf, size, "net.%d.%s", node, what);
}

static int conv(net *n, int in, int oc, int k, int stride, int pad, int bias)
{
    int i = add_node(n, NODE_CONV, in);
    net_node *d = &n->nodes[i];
    int ic = d->c;
    d->k = k;
    d->stride = stride;
    d->pad = pad;
    d->c = oc;
    d->h = conv_out_size(d->h, k, stride, pad);
    d->w = conv_out_size(d->w, k, stride, pad);
    char name[64];
    pname(name, sizeof name, i, "conv.w");
    d->w_idx = paramset_add(n->ps, name, (size_t)oc * ic * k * k, PARAM_WEIGHT, 1.0);
    if (bias) {
        pname(name, sizeof name, i, "conv.b");
        d->b_idx = paramset_add(n->ps, name, (size_t)oc, PARAM_BIAS, 1.0);
    }
    return i;
}

static int simple(net *n, node_type t, int in) { return add_node(n, t, in); }

static int prelu(net *n, int in)
{
    int i = add_node(n, NODE_PRELU, in);
    char name[64];
    pname(name, sizeof name, i, "prelu.a");
    n->nodes[i].w_idx = paramset_add(n->ps, name, (size_t)n->nodes[i].c, PARAM_PRELU, 1.0);
    return i;
}

static int bn(net *n, int in)
{
    int i = add_node(n, NODE_BATCHNORM, in);
    char name[64];
    pname(name, sizeof name, i, "bn.gamma");
    n->nodes[i].w_idx = paramset_add(n->ps, name, (size_t)n->nodes[i].c, PARAM_BN, 1.0);
    pname(name, sizeof name, i, "bn.beta");
    n->nodes[i].b_idx = paramset_add(n->ps, name, (size_t)n->nodes[i].c, PARAM_BN, 1.0);
    return i;
}

static int pool(net *n, int in)
{
    int i = add_node(n, NODE_MAXPOOL, in);
    net_node *d = &n->nodes[i];
    d->k = d->stride = 2;
    d->h = conv_out_size(d->h, 2, 2, 0);
    d->w = conv_out_size(d->w, 2, 2, 0);
    return i;
}

static int fc(net *n, int in, int out)
{
    int i = in;
    if (!n->nodes[in].vec) {
        i = add_node(n, NODE_FLATTEN, in);
        net_node *f = &n->nodes[i];
        f->c = f->c * f->h * f->w;
        f->h = f->w = 1;
        f->vec = 1;
    }
    int in_dim = n->nodes[i].c;
    int j = add_node(n, NODE_LINEAR, i);
    n->nodes[j].c = out;
    char name[64];
    pname(name, sizeof name, j, "fc.w");
    n->nodes[j].w_idx = paramset_add(n->ps, name, (size_t)out * in_dim, PARAM_WEIGHT, 1.0);
    pname(name, sizeof name, j, "fc.b");
    n->nodes[j].b_idx = paramset_add(n->ps, name, (size_t)out, PARAM_BIAS, 1.0);
    return j;
}

static int add(net *n, int a, int b)
{
    int i = add_node(n, NODE_ADD, a);
    n->nodes[i].in2 = b;
    return i;
}

/* Basic residual block: conv3–BN–ReLU–conv3–BN, plus the shortcut, then ReLU. */
static int res_block(net *n, int in, int oc, int stride)
{
    int x = conv(n, in, oc, 3, stride, 1, 0);
    x = simple(n, NODE_RELU, bn(n, x));
    x = bn(n, conv(n, x, oc, 3, 1, 1, 0));
    int sc = in;
    if (stride != 1 || n->nodes[in].c != oc)
        sc = bn(n, conv(n, in, oc, 1, stride, 0, 0));
    return simple(n, NODE_RELU, add(n, x, sc));
}

int net_build(net *n, backbone_type backbone, int width, int feature_dim, int in_c, int in_h, int in_w,
              int max_batch, paramset *ps, nb_error *err)
{
    memset(n, 0, sizeof *n);
    n->backbone = backbone;
    n->in_c = in_c;
    n->in_h = in_h;
    n->in_w = in_w;
    n->feature_dim = feature_dim;
    n->max_batch = max_batch;
    n->ps = ps;
    int min_size = backbone == BACKBONE_LENETPP ? 8 : 4;
    if (in_h < min_size || in_w < min_size)
        return nb_error_set(err, NULL, 0, 0, "model.backbone: %s needs inputs of at least %d×%d pixels, got %d×%d",
                            net_backbone_name(backbone), min_size, min_size, in_h, in_w);
    int x = -1;
    switch (backbone) {
    case BACKBONE_CONVNET_SMALL: {
        int w = width ? width : 32;
        x = pool(n, simple(n, NODE_RELU, conv(n, x, w, 5, 1, 2, 1)));
        x = pool(n, simple(n, NODE_RELU, conv(n, x, 2 * w, 5, 1, 2, 1)));
        x = prelu(n, fc(n, x, feature_dim));
        break;
    }
    case BACKBONE_LENETPP: {
        int w = width ? width : 32;
        for (int s = 0; s < 3; s++) {
            x = prelu(n, conv(n, x, w << s, 5, 1, 2, 1));
            x = pool(n, prelu(n, conv(n, x, w << s, 5, 1, 2, 1)));
        }
        x = prelu(n, fc(n, x, feature_dim));
        break;
    }
    case BACKBONE_RESNET_MINI: {
        int w = width ? width : 16;
        x = simple(n, NODE_RELU, bn(n, conv(n, x, w, 3, 1, 1, 0)));
        for (int s = 0; s < 3; s++) {
            x = res_block(n, x, w << s, s == 0 ? 1 : 2);
            x = res_block(n, x, w << s, 1);
        }
        x = fc(n, x, feature_dim);
        break;
    }
    }
    return 0;
}

static size_t node_size(const net_node *d, int B) { return (size_t)B * d->c * d->h * d->w; }

static void init_normal(real *p, size_t n, double sd, rng_t *rng)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (real)(sd * rng_normal(rng));
}

size_t net_bind_bytes(const net *n)
{
    int B = n->max_batch;
    size_t col_need = 0, bytes = (size_t)B * n->in_c * n->in_h * n->in_w * sizeof(real);
    for (int i = 0; i < n->n; i++) {
        const net_node *d = &n->nodes[i];
        size_t sz = node_size(d, B);
        bytes += 2 * sz * sizeof(real); /* out, dout */
        int ic = d->in >= 0 ? n->nodes[d->in].c : n->in_c;
        if (d->type == NODE_CONV && (size_t)ic * d->k * d->k * d->h * d->w > col_need)
            col_need = (size_t)ic * d->k * d->k * d->h * d->w;
        else if (d->type == NODE_BATCHNORM)
            bytes += sz * sizeof(real) + 4 * (size_t)d->c * sizeof(real);
        else if (d->type == NODE_MAXPOOL)
            bytes += sz * sizeof(int);
    }
    return bytes + (col_need > COL_TARGET ? col_need : COL_TARGET) * sizeof(real);
}

void net_bind(net *n, rng_t *rng)
{
    int B = n->max_batch;
    size_t col_need = 0;
    n->input = nb_malloc((size_t)B * n->in_c * n->in_h * n->in_w * sizeof(real));
    for (int i = 0; i < n->n; i++) {
        net_node *d = &n->nodes[i];
        size_t sz = node_size(d, B);
        d->out = nb_malloc(sz * sizeof(real));
        d->dout = nb_malloc(sz * sizeof(real));
        int ic = d->in >= 0 ? n->nodes[d->in].c : n->in_c;
        switch (d->type) {
        case NODE_CONV: {
            size_t fan_in = (size_t)ic * d->k * d->k;
            size_t need = fan_in * d->h * d->w;
            if (need > col_need)
                col_need = need;
            init_normal(paramset_data(n->ps, d->w_idx), (size_t)d->c * fan_in, sqrt(2.0 / fan_in), rng);
            break;
        }
        case NODE_LINEAR:
            init_normal(paramset_data(n->ps, d->w_idx), (size_t)d->c * ic, sqrt(2.0 / ic), rng);
            break;
        case NODE_PRELU: {
            real *a = paramset_data(n->ps, d->w_idx);
            for (int c = 0; c < d->c; c++)
                a[c] = (real)0.25;
            break;
        }
        case NODE_BATCHNORM: {
            real *g = paramset_data(n->ps, d->w_idx);
            for (int c = 0; c < d->c; c++)
                g[c] = 1;
            d->xhat = nb_malloc(sz * sizeof(real));
            d->mean = nb_calloc((size_t)d->c, sizeof(real));
            d->invstd = nb_calloc((size_t)d->c, sizeof(real));
            d->run_mean = nb_calloc((size_t)d->c, sizeof(real));
            d->run_var = nb_malloc((size_t)d->c * sizeof(real));
            for (int c = 0; c < d->c; c++)
                d->run_var[c] = 1;
            break;
        }
        case NODE_MAXPOOL:
            d->argmax = nb_malloc(sz * sizeof(int));
            break;
        default:
            break;
        }
    }
    n->col_cap = col_need > COL_TARGET ? col_need : COL_TARGET;
    n->col = nb_malloc(n->col_cap * sizeof(real));
}

static const real *node_input(const net *n, int in) { return in >= 0 ? n->nodes[in].out : n->input; }
static int in_c(const net *n, int in) { return in >= 0 ? n->nodes[in].c : n->in_c; }
static int in_h(const net *n, int in) { return in >= 0 ? n->nodes[in].h : n->in_h; }
static int in_w(const net *n, int in) { return in >= 0 ? n->nodes[in].w : n->in_w; }

/* Per-channel layers see (outer, C, inner): images (1, C, B·H·W), vectors (B, D, 1). */
static void channel_view(const net_node *d, int B, int *outer, int *inner)
{
    *outer = d->vec ? B : 1;
    *inner = d->vec ? 1 : B * d->h * d->w;
}

const real *net_forward(net *n, const real *x, int B, int train)
{
    if (n->backend != NET_BACKEND_BLAS)
        return n->ops->forward(n, x, B, train);
    int C = n->in_c, HW = n->in_h * n->in_w;
    /* (B, C, H, W) → channel-major (C, B, H, W); the same memory when C = 1. */
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            memcpy(n->input + ((size_t)c * B + b) * HW, x + ((size_t)b * C + c) * HW, (size_t)HW * sizeof(real));
    for (int i = 0; i < n->n; i++) {
        net_node *d = &n->nodes[i];
        const real *inp = node_input(n, d->in);
        const real *w = d->w_idx >= 0 ? paramset_data(n->ps, d->w_idx) : NULL;
        const real *bias = d->b_idx >= 0 ? paramset_data(n->ps, d->b_idx) : NULL;
        int outer, inner;
        channel_view(d, B, &outer, &inner);
        switch (d->type) {
        case NODE_CONV:
            conv2d_forward(d->out, n->col, n->col_cap, inp, w, bias, B, in_c(n, d->in), in_h(n, d->in),
                           in_w(n, d->in), d->c, d->k, d->stride, d->pad);
            break;
        case NODE_LINEAR:
            linear_forward(d->out, inp, w, bias, B, in_c(n, d->in), d->c);
            break;
        case NODE_RELU:
            relu_forward(d->out, inp, node_size(d, B));
            break;
        case NODE_PRELU:
            prelu_forward(d->out, inp, w, outer, d->c, inner);
            break;
        case NODE_MAXPOOL:
            maxpool_forward(d->out, d->argmax, inp, d->c * B, in_h(n, d->in), in_w(n, d->in), d->k, d->stride);
            break;
        case NODE_BATCHNORM:
            batchnorm_forward(d->out, d->xhat, d->mean, d->invstd, d->run_mean, d->run_var, inp, w, bias, outer,
                              d->c, inner, train, (real)0.1, (real)1e-5);
            break;
        case NODE_FLATTEN:
            flatten_forward(d->out, inp, B, in_c(n, d->in), in_h(n, d->in) * in_w(n, d->in));
            break;
        case NODE_ADD:
            add_forward(d->out, inp, n->nodes[d->in2].out, node_size(d, B));
            break;
        }
    }
    return n->nodes[n->n - 1].out;
}

void net_backward(net *n, const real *dfeat, int B)
{
    if (n->backend != NET_BACKEND_BLAS) {
        n->ops->backward(n, dfeat, B);
        return;
    }
    for (int i = 0; i < n->n; i++)
        memset(n->nodes[i].dout, 0, node_size(&n->nodes[i], B) * sizeof(real));
    net_node *last = &n->nodes[n->n - 1];
    memcpy(last->dout, dfeat, node_size(last, B) * sizeof(real));
    for (int i = n->n - 1; i >= 0; i--) {
        net_node *d = &n->nodes[i];
        const real *inp = node_input(n, d->in);
        real *dinp = d->in >= 0 ? n->nodes[d->in].dout : NULL;
        const real *w = d->w_idx >= 0 ? paramset_data(n->ps, d->w_idx) : NULL;
        real *dw = d->w_idx >= 0 ? paramset_grad(n->ps, d->w_idx) : NULL;
        real *db = d->b_idx >= 0 ? paramset_grad(n->ps, d->b_idx) : NULL;
        int outer, inner;
        channel_view(d, B, &outer, &inner);
        /* Layers with no parameters and no input gradient to pass on have nothing to do. */
        if (!dinp && d->type != NODE_CONV && d->type != NODE_LINEAR && d->type != NODE_PRELU &&
            d->type != NODE_BATCHNORM)
            continue;
        switch (d->type) {
        case NODE_CONV:
            conv2d_backward(dinp, dw, db, n->col, n->col_cap, d->dout, inp, w, B, in_c(n, d->in), in_h(n, d->in),
                            in_w(n, d->in), d->c, d->k, d->stride, d->pad);
            break;
        case NODE_LINEAR:
            linear_backward(dinp, dw, db, d->dout, inp, w, B, in_c(n, d->in), d->c);
            break;
        case NODE_RELU:
            relu_backward(dinp, d->dout, d->out, node_size(d, B));
            break;
        case NODE_PRELU:
            prelu_backward(dinp, dw, d->dout, inp, w, outer, d->c, inner);
            break;
        case NODE_MAXPOOL:
            maxpool_backward(dinp, d->dout, d->argmax, d->c * B, in_h(n, d->in), in_w(n, d->in), d->k, d->stride);
            break;
        case NODE_BATCHNORM:
            batchnorm_backward(dinp, dw, db, d->dout, d->xhat, d->invstd, w, outer, d->c, inner);
            break;
        case NODE_FLATTEN:
            flatten_backward(dinp, d->dout, B, in_c(n, d->in), in_h(n, d->in) * in_w(n, d->in));
            break;
        case NODE_ADD:
            add_backward(dinp, n->nodes[d->in2].dout, d->dout, node_size(d, B));
            break;
        }
    }
}

double net_node_flops(const net *n, int i)
{
    const net_node *d = &n->nodes[i];
    int ic = in_c(n, d->in);
    if (d->type == NODE_CONV)
        return 2.0 * d->c * d->h * d->w * ic * d->k * d->k;
    if (d->type == NODE_LINEAR)
        return 2.0 * d->c * ic;
    return 0;
}

double net_forward_flops(const net *n)
{
    double f = 0;
    for (int i = 0; i < n->n; i++)
        f += net_node_flops(n, i);
    return f;
}

const char *const net_backbone_names[] = {"convnet-small", "lenetpp", "resnet-mini", NULL};

const char *net_backbone_name(backbone_type b)
{
    return (unsigned)b < sizeof net_backbone_names / sizeof net_backbone_names[0] - 1 ? net_backbone_names[b] : "?";
}

void net_free(net *n)
{
    for (int i = 0; n->nodes && i < n->n; i++) {
        net_node *d = &n->nodes[i];
        free(d->out);
        free(d->dout);
        free(d->argmax);
        free(d->xhat);
        free(d->mean);
        free(d->invstd);
        free(d->run_mean);
        free(d->run_var);
    }
    free(n->nodes);
    free(n->input);
    free(n->col);
    if (n->ops)
        n->ops->free(n->backend_state);
    memset(n, 0, sizeof *n);
}
