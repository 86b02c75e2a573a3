/* dnnl_net.h — the oneDNN backend of the reference backbones (lib/nn/net.h), behind net_forward
 * and net_backward.
 *
 * From a built and bound net (its node list and paramset) this backend creates oneDNN primitives
 * for every node (oneDNN 2.6 C API, https://oneapi-src.github.io/oneDNN/v2.6/): convolution
 * forward (with bias; a ReLU that is a convolution's only consumer is fused as an eltwise
 * post-op), backward-data and backward-weights(+bias); inner product forward, backward-data,
 * backward-weights; max pooling with its workspace; eltwise ReLU; PReLU; batch normalisation
 * (training with the batch statistics and inference with the running ones, updated exactly as
 * lib/nn/batchnorm.c does); sum for the residual add. Activations stay in the layouts the
 * convolutions choose (format_tag_any, blocked nChw16c on AVX-512) from the network input to the
 * features; the input is reordered once per step from (B, C, H, W) and the features come out
 * (B, feature_dim) row-major. Weights stay in the paramset's plain layouts (conv OIHW, linear
 * (D_out, D_in)) where SGD updates them: each step reorders them into the layouts the primitives
 * prefer, and reorders the weight gradients back with a sum post-op, so backward ACCUMULATES into
 * the paramset gradients like net_backward. Every buffer is allocated when a batch size is first
 * seen (at net_set_backend for max_batch) and reused; primitives are cached per (batch size,
 * train/eval, thread count), so the short last batch of an epoch gets its own cached set.
 * Results are deterministic at a fixed thread count. The node buffers of net.c (out, dout,
 * argmax, xhat) are not filled by this backend.
 *
 * Only the float build has it: in the double build (-DNB_DOUBLE) dnnl_net_init fails. */
#ifndef NB_DNNL_NET_H
#define NB_DNNL_NET_H

#include "core/error.h"
#include "core/real.h"

struct net;
typedef struct dnnl_net dnnl_net;

/* Creates the backend for n (built and bound, n->ps allocated) and its primitives for max_batch
 * (training and eval). Fails (NULL, err) in the double build or when oneDNN refuses a primitive. */
dnnl_net *dnnl_net_init(const struct net *n, nb_error *err);
/* As net_forward: x (B, in_c, in_h, in_w); returns the features (B, feature_dim). */
const real *dnnl_net_forward(dnnl_net *d, const struct net *n, const real *x, int B, int train);
/* As net_backward: dfeat (B, feature_dim) for the last forward (train = 1, same B); accumulates
 * the parameter gradients into n->ps and updates nothing else. */
void dnnl_net_backward(dnnl_net *d, const struct net *n, const real *dfeat, int B);
/* For tests: copies node i's output (dout = 0) or ∂L/∂output (dout = 1) from the last forward /
 * backward pass into dst in net.c's layout (channel-major (C, B, H, W) for images, (B, D) for
 * vectors, B of that pass). Returns −1 when the backend does not keep that tensor (the output of
 * a convolution whose ReLU is fused into it; dout after an eval-mode pass). */
int dnnl_net_node_tensor(dnnl_net *d, const struct net *n, int i, int dout, real *dst);
/* One line per primitive of the cached sets: node, kind and the implementation oneDNN chose. */
void dnnl_net_describe(const dnnl_net *d, FILE *f);
/* Per-step timing for benchmarks: with profiling on, every step of every pass is timed (the
 * stream waited on after it) and its seconds and calls accumulated; turning it on clears them. */
typedef struct {
    int node;          /* net node the step belongs to */
    int backward;      /* 0 forward pass, 1 backward pass */
    const char *what;  /* "conv+relu fwd", "conv bwd weights", "weights" (a reorder), … */
    const char *impl;  /* oneDNN's implementation name ("host" for normbench's own steps) */
    double seconds;    /* accumulated */
    long calls;
    double flops;      /* per call: the node's convolution / inner product flops for its conv and
                        * inner-product steps, 0 for the others (reorders, pooling, …) */
} dnnl_step_profile;
void dnnl_net_profile(dnnl_net *d, int on);
/* The steps of the cached plan for (B, train) at the current thread count, up to max rows, forward
 * then backward; returns how many there are (0 when no such plan). */
int dnnl_net_profile_rows(const dnnl_net *d, const struct net *n, int B, int train, dnnl_step_profile *rows,
                          int max);
/* Frees everything; NULL is fine. */
void dnnl_net_free(dnnl_net *d);

#endif
