/* net.h — reference backbones as a list of layer nodes in topological order.
 *
 * A network is a small DAG: every node reads the output of one earlier node (two for a residual
 * add), so forward runs the list in order and backward in reverse, each node accumulating into
 * its producers' d-buffers (llm.c's convention). Backbones:
 * - convnet-small: conv5×5(c→w, pad 2)–ReLU–maxpool2, conv5×5(w→2w, pad 2)–ReLU–maxpool2,
 *   FC(→d)–PReLU; w = 32 by default.
 * - lenetpp: LeNet++ of the center-loss paper (Wen et al. 2016): three stages of two
 *   conv5×5 (pad 2) + PReLU with w, 2w, 4w channels, each followed by maxpool2, then FC(→d)–PReLU.
 * - resnet-mini: conv3×3(c→w)–BN–ReLU, then three stages of two basic residual blocks
 *   (He et al. 2016) with w, 2w, 4w channels (stride 2 entering stages 2 and 3, 1×1 conv + BN
 *   shortcut where the shape changes), then FC(→d); w = 16 by default.
 * Parameters live in the model's paramset; initial values are He-normal for conv/linear weights,
 * zero biases, PReLU slopes 0.25, BN γ = 1, β = 0. */
#ifndef NB_NET_H
#define NB_NET_H

#include "core/error.h"
#include "core/real.h"
#include "core/rng.h"
#include "nn/paramset.h"

/* The backbones of model.backbone, in the order of their names (net_backbone_name). */
typedef enum { BACKBONE_CONVNET_SMALL, BACKBONE_LENETPP, BACKBONE_RESNET_MINI } backbone_type;

typedef enum { NODE_CONV, NODE_LINEAR, NODE_RELU, NODE_PRELU, NODE_MAXPOOL, NODE_BATCHNORM, NODE_FLATTEN, NODE_ADD } node_type;

typedef struct {
    node_type type;
    int in, in2;        /* producer nodes; −1 is the network input */
    int c, h, w;        /* output shape per sample; vector outputs have h = w = 1 */
    int vec;            /* output stored (B, D) rather than channel-major (C, B, H, W) */
    int k, stride, pad; /* conv and pool windows */
    int w_idx, b_idx;   /* paramset tensors: conv/linear weight and bias, PReLU slopes, BN γ and β */
    real *out, *dout;   /* max_batch samples each */
    int *argmax;        /* maxpool */
    real *xhat, *mean, *invstd, *run_mean, *run_var; /* batch-norm */
} net_node;

typedef struct net {
    backbone_type backbone;
    int in_c, in_h, in_w, feature_dim, max_batch;
    int n, cap;
    net_node *nodes;
    paramset *ps;
    real *input; /* the batch, channel-major */
    real *col;   /* im2col workspace shared by all convolutions */
    size_t col_cap;
    int backend;                        /* NET_BACKEND_*: what net_forward/net_backward run */
    const struct net_backend_ops *ops;  /* the other backend's functions, NULL until selected */
    void *backend_state;                /* and its state (owned; freed by net_free) */
} net;

/* Implementations of net_forward/net_backward: the layer functions of layers.h over OpenBLAS
 * (the default, in this file), or oneDNN primitives (lib/nn/dnnl_net.h; float build only),
 * reached through the ops table that net_set_backend installs, so net.c does not depend on it. */
enum { NET_BACKEND_BLAS, NET_BACKEND_DNNL };
typedef struct net_backend_ops {
    const real *(*forward)(net *n, const real *x, int B, int train);
    void (*backward)(net *n, const real *dfeat, int B);
    void (*free)(void *state);
} net_backend_ops;

/* Builds the backbone for inputs (in_c, in_h, in_w), registering its parameters in ps. Fails
 * (−1, err) when the input is too small for the backbone. */
int net_build(net *n, backbone_type backbone, int width, int feature_dim, int in_c, int in_h, int in_w,
              int max_batch, paramset *ps, nb_error *err);
/* After paramset_alloc: allocates activations and initialises the parameters from rng. */
void net_bind(net *n, rng_t *rng);
/* After net_build, before net_bind: the bytes net_bind will allocate (the batch, every node's
 * output and gradient, batch-norm and pooling state, the im2col workspace) — what a training
 * needs besides the parameters, before a backend adds its own buffers. */
size_t net_bind_bytes(const net *n);
/* x (B, in_c, in_h, in_w), B ≤ max_batch. train selects batch-norm's mode. Returns the features
 * (B, feature_dim), valid until the next call. */
const real *net_forward(net *n, const real *x, int B, int train);
/* dfeat (B, feature_dim): ∂L/∂features of the last forward (which must have been train = 1).
 * Accumulates the parameter gradients into the paramset. */
void net_backward(net *n, const real *dfeat, int B);
/* After net_bind: selects the backend (defined in lib/nn/dnnl_net.c). NET_BACKEND_DNNL creates
 * the oneDNN primitives for max_batch; it fails (−1, err) in the double build (-DNB_DOUBLE, which
 * has no oneDNN backend) or when oneDNN rejects a layer, leaving the backend unchanged. */
int net_set_backend(net *n, int backend, nb_error *err);
/* Flops (2 × multiply-adds) of one forward pass per sample (for GFLOP/s figures); of node i alone
 * (its convolution or linear layer; 0 for the other node types). */
double net_forward_flops(const net *n);
double net_node_flops(const net *n, int i);
/* Safe on a zeroed net and on one whose net_build failed. */
void net_free(net *n);
/* "convnet-small", "lenetpp" or "resnet-mini". */
const char *net_backbone_name(backbone_type b);
/* The names in backbone_type's order, NULL-terminated (model.backbone's values). */
extern const char *const net_backbone_names[];

#endif
