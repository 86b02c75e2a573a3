/* types.h — the data of a loss: its type, its configuration (every option of the `loss:` section)
 * and the loss object with its parameters and workspace. Functions on them are in loss.h (the
 * dispatcher), table.h (names, traits and keys of each type) and the family files; they all include
 * this header, so the families need not include the dispatcher that calls them. */
#ifndef NB_LOSS_TYPES_H
#define NB_LOSS_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "core/real.h"
#include "nn/paramset.h"

typedef enum {
    LOSS_SOFTMAX,
    LOSS_L2SOFTMAX,
    LOSS_NORMFACE,
    LOSS_SPHEREFACE,
    LOSS_COSFACE,
    LOSS_ARCFACE,
    LOSS_COMBINED,
    LOSS_C_CONTRASTIVE,
    LOSS_C_TRIPLET,
    LOSS_CONTRASTIVE,
    LOSS_TRIPLET,
    /* per-class binary losses with a learned bias (binary.c) and the pair/proxy losses (proxy.c) */
    LOSS_SPHEREFACE2,
    LOSS_UNIFACE,
    LOSS_CIRCLE,
    LOSS_PROXY_ANCHOR,
    /* docs/losses.md §1b, classification family with margins (margin.c) */
    LOSS_MV_SOFTMAX,
    LOSS_CURRICULARFACE,
    LOSS_SUBCENTER_ARCFACE,
    LOSS_ELASTICFACE,
    LOSS_ADACOS,
    LOSS_MAGFACE,
    LOSS_ADAFACE,
    LOSS_TYPE_COUNT
} loss_type;

typedef enum { MINING_BATCH_ALL, MINING_BATCH_HARD } triplet_mining;

/* loss.variant (docs/losses.md §1b): mv_softmax am | arc, elasticface arc | cos, and SphereFace2's
 * margin forms (OpenSphere's magn_type): c additive on g(cos θ), a additive on the target angle,
 * m multiplicative on the target angle. */
typedef enum { VARIANT_AM, VARIANT_ARC, VARIANT_COS, VARIANT_C, VARIANT_A, VARIANT_M } loss_variant;

/* Storage of the classification head's W, its gradient and momentum. */
typedef enum { HEAD_FLOAT32, HEAD_BF16 } head_dtype;

typedef struct {
    loss_type type;
    /* softmax, l2softmax: keep the bias b_j (default 1) */
    int bias;
    /* l2softmax: scale α; alpha_auto picks α = α_low(C, alpha_p) (Ranjan §3.4) */
    double alpha;
    int alpha_auto;
    double alpha_p;
    int learn_alpha;
    /* normface, cosface, arcface, combined: scale s; normface may learn it */
    double s;
    int learn_s;
    /* learned s/α: lr multiplier and lower clamp (docs/losses.md §1: s ≥ 0.01) */
    double scale_lr_mult;
    double scale_min;
    /* margin m: cosface/arcface additive margin, sphereface integer m, contrastive/triplet/
     * c_triplet margin */
    double m;
    /* combined margin: s (cos(m1 θ_y + m2) − m3) */
    double m1, m2, m3;
    /* arcface / combined: easy_margin (margin only where cos θ > 0); otherwise the π − m
     * fallback cos θ − m·sin m where cos θ < cos(π − m) */
    int easy_margin;
    /* margin term without gradient (straight-through), as OpenSphere / InsightFace */
    int detach_margin;
    /* sphereface: λ = max(lambda_min, lambda_base · (1 + lambda_gamma·iter)^(−lambda_power)) */
    double lambda_base, lambda_gamma, lambda_power, lambda_min;
    /* c_contrastive hinges */
    double m_pos, m_neg;
    /* c_triplet: add d_{i,y_i} always (NormFace's add_center_loss) */
    int pull_positive;
    /* triplet mining */
    triplet_mining mining;
    /* center loss (Wen 2016) added to any loss when center_weight > 0:
     * center_weight/2 · mean ‖f_i − c_{y_i}‖², centres moved by rate center_rate */
    double center_weight, center_rate;
    /* classification family, large C (lib/loss/head.c, docs/losses.md §1): sampled softmax / Partial FC
     * keeps each step's positive classes and seeded random negatives, ceil(sample_rate · C)
     * classes in all (0 < r ≤ 1, 1 = every class); head_dtype stores W, ∂W and momentum in bf16 */
    double sample_rate;
    head_dtype head_dtype;
    /* sphereface2, uniface (binary.c, docs/losses.md "Binary losses"): bin_lambda is sphereface2's λ
     * (positive term λ, negatives 1 − λ) and uniface's λ (on the negatives); bin_r is sphereface2's
     * scale r and uniface's r in b's initial value log(C·r·10); bin_lw is sphereface2's loss weight
     * lw; it reads loss.t (the exponent t of g(z) = 2((z+1)/2)^t − 1) and loss.variant (c, a, m)
     * below. sphereface2 reads detach_margin (default 1, OpenSphere's gradient) and m; uniface m, s. */
    double bin_lambda, bin_r, bin_lw;
    /* circle (γ; its m is loss.m) and proxy_anchor (δ; its α is loss.alpha) (proxy.c);
     * proxy_lr_mult: the proxies' learning-rate multiplier (the authors' training script uses 100) */
    double gamma, delta, proxy_lr_mult;
    /* docs/losses.md §1b margin losses (margin.c); m, s and easy_margin above are theirs too */
    loss_variant variant; /* mv_softmax: am | arc; elasticface: arc | cos; sphereface2: c | a | m */
    double t;             /* mv_softmax: weight t of the hard negatives; sphereface2: exponent t */
    int K;                /* subcenter_arcface: sub-centres per class */
    double sigma;         /* elasticface: sd of the per-sample margin */
    int plus;             /* elasticface: sorted margins (ElasticFace+) */
    int dynamic;          /* adacos: dynamic scale (else fixed sqrt(2) log(C − 1)) */
    double l_a, u_a, l_m, u_m, lambda_g; /* magface */
    double h, t_alpha;    /* adaface */
} loss_config;

struct loss_head;   /* lib/loss/head.h */
struct loss_margin; /* lib/loss/margin.h */

typedef struct {
    loss_config cfg;
    int dim, num_classes, max_batch;
    int w_idx, b_idx, scale_idx; /* paramset indices, −1 where the loss has none */
    real *W, *dW;                /* (C, d): class weights or agents, one row per class */
    real *b, *db;                /* (C) */
    real *scale, *dscale;        /* learned s or α: one value */
    real *centers;               /* (C, d) center-loss centres, or NULL */
    real *scratch;               /* per-type workspace, sized in loss_init */
    size_t scratch_n;
    double lambda; /* sphereface: the λ used by the last forward */
    /* classification family: the blocked head (lib/loss/head.h), used instead of the plain path
     * above LOSS_HEAD_PLAIN_MAX_C classes, with sampling or with bf16 storage; NULL otherwise */
    struct loss_head *head;
    paramset *ps;          /* where W is registered (the head sets its row list each step) */
    uint16_t *W16, *dW16;  /* (C, d) W and ∂L/∂W in bf16 when head_dtype is bf16 (W, dW NULL) */
    /* sphereface2, uniface: the learned scalar bias b and its gradient (paramset index bin_b_idx) */
    int bin_b_idx;
    real *bin_b, *dbin_b;
    /* docs/losses.md §1b margin losses: per-step rows, the state they carry between steps
     * (curricularface t, adaface μ and σ, adacos s) and elasticface's generator; NULL otherwise */
    struct loss_margin *margin;
} loss;


/* The family functions (softmax.h, normface.h, agents.h, pairs.h, and the blocked head, head.h)
 * share loss_forward_backward's contract (loss.h): each returns the batch-mean loss of its own
 * term (without the center loss), writes per_sample (B) if non-NULL such that the mean of
 * per_sample equals the returned value, ACCUMULATES ∂L/∂feat into dfeat (if non-NULL) and
 * ∂L/∂params into l->dW, l->db, l->dscale (those that exist). Scratch comes from l->scratch,
 * sized by loss.c for the type. Only the dispatcher loss.c calls them. */

#endif
