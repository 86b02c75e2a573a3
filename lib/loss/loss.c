/* loss.c — the loss module's front: docs/losses.md §1 defaults and range checks, parameter
 * registration and initialisation, dispatch to the per-family files (softmax.c, normface.c,
 * agents.c, pairs.c, and the blocked head in head.c), the center loss of Wen et al. 2016
 * ("A Discriminative Feature Learning Approach for Deep Face Recognition", ECCV) that may be added
 * to any loss, the clamping of learned scales, and the docs/theory.md §2 bounds: the L2-softmax
 * lower bound on α (Ranjan et al. 2017, arXiv 1703.09507, §3.4) and the NormFace loss lower bound
 * (Wang et al. 2017, arXiv 1704.06369, Prop. 2). Type names, traits and keys are table.c's; the
 * row operations the families share are rowops.c's. This file is the only one that includes the
 * families' entry points, so the include graph of lib/loss/ is a DAG with loss.c on top.
 *
 * Initialisation (loss_bind): class weights / agents W ~ N(0, 2/(d + C)) (Glorot/Xavier normal,
 * so softmax logits start at unit order; for the normalised losses only the directions matter),
 * biases 0, a learned s or α starts at cfg.s or cfg.alpha, center-loss centres at 0. */
#include "loss/loss.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bf16.h"
#include "core/error.h"
#include "loss/agents.h"
#include "loss/binary.h"
#include "loss/head.h"
#include "loss/margin.h"
#include "loss/normface.h"
#include "loss/pairs.h"
#include "loss/proxy.h"
#include "loss/softmax.h"

/* docs/losses.md §1 defaults. Every field gets a value (so a config written back is complete); the per-type
 * switch overrides the ones that differ. scale_lr_mult is 1, not NormFace's 100: with our SGD the
 * learned s gets the plain learning rate unless an experiment raises it. */
void loss_config_defaults(loss_config *cfg, loss_type t)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->type = t;
    cfg->bias = 0;
    cfg->alpha = 16;
    cfg->alpha_auto = 0;
    cfg->alpha_p = 0.9;
    cfg->learn_alpha = 0;
    cfg->s = 16;
    cfg->learn_s = 0;
    cfg->scale_lr_mult = 1;
    cfg->scale_min = 0.01;
    cfg->m = 0;
    cfg->m1 = 1;
    cfg->m2 = 0.3;
    cfg->m3 = 0.2;
    cfg->easy_margin = 0;
    cfg->detach_margin = 0;
    cfg->lambda_base = 1000;
    cfg->lambda_gamma = 0.12;
    cfg->lambda_power = 1;
    cfg->lambda_min = 5;
    cfg->m_pos = 0;
    cfg->m_neg = 1;
    cfg->pull_positive = 0;
    cfg->mining = MINING_BATCH_ALL;
    cfg->center_weight = 0;
    cfg->center_rate = 0.5;
    cfg->sample_rate = 1;
    cfg->head_dtype = HEAD_FLOAT32;
    cfg->bin_lambda = 0.7;
    cfg->bin_r = 40;
    cfg->bin_lw = 50;
    cfg->gamma = 256;
    cfg->delta = 0.1;
    cfg->proxy_lr_mult = 1;
    /* docs/losses.md §1b margin losses (margin.c; loss_margin_defaults sets the per-type ones) */
    cfg->variant = VARIANT_AM;
    cfg->t = 1.12;
    cfg->K = 3;
    cfg->sigma = 0.05;
    cfg->plus = 0;
    cfg->dynamic = 1;
    cfg->l_a = 10;
    cfg->u_a = 110;
    cfg->l_m = 0.45;
    cfg->u_m = 0.8;
    cfg->lambda_g = 35;
    cfg->h = 0.333;
    cfg->t_alpha = 0.01;
    switch (t) {
    case LOSS_SOFTMAX: cfg->bias = 1; break;
    case LOSS_L2SOFTMAX: cfg->bias = 1; break;
    case LOSS_NORMFACE: cfg->s = 16; break;
    case LOSS_SPHEREFACE: cfg->m = 4; break;
    case LOSS_COSFACE: cfg->s = 30; cfg->m = 0.35; break;
    case LOSS_ARCFACE: cfg->s = 64; cfg->m = 0.5; break;
    case LOSS_COMBINED: cfg->s = 64; break;
    case LOSS_C_TRIPLET: cfg->m = 0.8; break;
    case LOSS_CONTRASTIVE: cfg->m = 1; break;
    case LOSS_TRIPLET: cfg->m = 0.2; break;
    /* the reference codes' defaults (docs/losses.md, "Binary losses", "Circle and Proxy-Anchor") */
    case LOSS_SPHEREFACE2: cfg->m = 0.4; cfg->detach_margin = 1; cfg->t = 3; cfg->variant = VARIANT_C; break;
    case LOSS_UNIFACE: cfg->m = 0.4; cfg->s = 64; cfg->bin_lambda = 1; cfg->bin_r = 1; break;
    case LOSS_CIRCLE: cfg->m = 0.25; break;
    case LOSS_PROXY_ANCHOR: cfg->alpha = 32; break;
    default: loss_margin_defaults(cfg, t); break;
    }
}

/* Range checks; each failure writes "loss.<key>: <expected>, got <value>". */
#define CHECK(cond, ...)                                                                                   \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            snprintf(msg, msg_size, __VA_ARGS__);                                                          \
            return -1;                                                                                     \
        }                                                                                                  \
    } while (0)

/* The checks of sphereface2, uniface, circle and proxy_anchor. */
static int loss_config_check_more(const loss_config *c, char *msg, size_t msg_size)
{
    switch (c->type) {
    case LOSS_SPHEREFACE2:
        CHECK(c->bin_lambda > 0 && c->bin_lambda < 1, "loss.lambda: must be in (0, 1) for sphereface2, got %g",
              c->bin_lambda);
        CHECK(isfinite(c->bin_r) && c->bin_r > 0, "loss.r: must be a finite number > 0 for sphereface2, got %g",
              c->bin_r);
        CHECK(isfinite(c->t) && c->t >= 1 && c->t <= 64, "loss.t: must be in [1, 64], got %g", c->t);
        CHECK(isfinite(c->bin_lw) && c->bin_lw > 0, "loss.lw: must be a finite number > 0, got %g", c->bin_lw);
        CHECK(c->variant == VARIANT_C || c->variant == VARIANT_A || c->variant == VARIANT_M,
              "loss.variant: must be c, a or m for sphereface2, got %d", (int)c->variant);
        if (c->variant == VARIANT_C)
            CHECK(isfinite(c->m) && c->m >= 0 && c->m <= 2,
                  "loss.m: must be in [0, 2] for sphereface2 variant c (g(cos) is in [-1, 1]), got %g", c->m);
        else if (c->variant == VARIANT_A)
            CHECK(c->m >= 0 && c->m < M_PI, "loss.m: must be in [0, pi) for sphereface2 variant a, got %g", c->m);
        else
            CHECK(c->m >= 1 && c->m <= 64,
                  "loss.m: must be in [1, 64] for sphereface2 variant m (a multiplicative angular margin), got %g",
                  c->m);
        CHECK(c->sample_rate == 1,
              "loss.sample_rate: must be 1 for sphereface2 (its terms and initial b are over every class; OpenSphere "
              "has no Partial FC, docs/losses.md), got %g",
              c->sample_rate);
        break;
    case LOSS_UNIFACE:
        CHECK(isfinite(c->s) && c->s > 0, "loss.s: must be a finite number > 0 for uniface, got %g", c->s);
        CHECK(isfinite(c->m) && c->m >= 0 && c->m <= 2, "loss.m: must be in [0, 2] for uniface, got %g", c->m);
        CHECK(isfinite(c->bin_lambda) && c->bin_lambda > 0, "loss.lambda: must be a finite number > 0 for uniface, got %g",
              c->bin_lambda);
        CHECK(isfinite(c->bin_r) && c->bin_r > 0, "loss.r: must be a finite number > 0 for uniface, got %g", c->bin_r);
        break;
    case LOSS_CIRCLE:
        CHECK(isfinite(c->m) && c->m >= 0 && c->m <= 1, "loss.m: must be in [0, 1] for circle, got %g", c->m);
        CHECK(isfinite(c->gamma) && c->gamma > 0, "loss.gamma: must be a finite number > 0, got %g", c->gamma);
        break;
    case LOSS_PROXY_ANCHOR:
        CHECK(!c->alpha_auto, "loss.alpha: auto is l2softmax's rule; proxy_anchor needs a number");
        CHECK(isfinite(c->alpha) && c->alpha > 0, "loss.alpha: must be a finite number > 0 for proxy_anchor, got %g",
              c->alpha);
        CHECK(isfinite(c->delta) && c->delta >= 0 && c->delta <= 1, "loss.delta: must be in [0, 1], got %g", c->delta);
        CHECK(isfinite(c->proxy_lr_mult) && c->proxy_lr_mult > 0, "loss.proxy_lr_mult: must be a finite number > 0, got %g",
              c->proxy_lr_mult);
        break;
    default: break;
    }
    return 0;
}

int loss_config_check(const loss_config *c, int num_classes, char *msg, size_t msg_size)
{
    char dummy[8];
    if (!msg || msg_size == 0) {
        msg = dummy;
        msg_size = sizeof dummy;
    }
    msg[0] = '\0';
    const loss_type t = c->type;
    const char *tn = loss_type_name(t);
    CHECK((int)t >= 0 && t < LOSS_TYPE_COUNT, "loss.type: unknown loss type %d", (int)t);
    CHECK(num_classes >= 2, "loss: %s needs at least 2 classes, got %d", tn, num_classes);
    CHECK(isfinite(c->center_weight) && c->center_weight >= 0,
          "loss.center_weight: must be a finite number >= 0, got %g", c->center_weight);
    CHECK(isfinite(c->center_rate) && c->center_rate >= 0 && c->center_rate <= 1,
          "loss.center_rate: must be in [0, 1], got %g", c->center_rate);
    CHECK(c->sample_rate > 0 && c->sample_rate <= 1, "loss.sample_rate: must be in (0, 1], got %g", c->sample_rate);
    CHECK(c->head_dtype == HEAD_FLOAT32 || c->head_dtype == HEAD_BF16,
          "loss.head_dtype: must be float32 or bf16, got %d", (int)c->head_dtype);
    const int learns = (t == LOSS_L2SOFTMAX && c->learn_alpha) || (t == LOSS_NORMFACE && c->learn_s);
    if (learns) {
        CHECK(isfinite(c->scale_lr_mult) && c->scale_lr_mult >= 0,
              "loss.scale_lr_mult: must be a finite number >= 0, got %g", c->scale_lr_mult);
        CHECK(isfinite(c->scale_min) && c->scale_min > 0, "loss.scale_min: must be > 0, got %g", c->scale_min);
    }
    if (loss_is_margin(t))
        return loss_margin_check(c, num_classes, msg, msg_size);
    switch (t) {
    case LOSS_SOFTMAX: break;
    case LOSS_L2SOFTMAX:
        CHECK(c->alpha_p > 0 && c->alpha_p < 1, "loss.alpha_p: must be in (0, 1), got %g", c->alpha_p);
        if (c->alpha_auto) {
            CHECK(num_classes > 2, "loss.alpha: auto needs more than 2 classes (alpha_low = log(p (C-2)/(1-p))), got C = %d",
                  num_classes);
            const double a = l2softmax_alpha_low(num_classes, c->alpha_p);
            CHECK(a > 0,
                  "loss.alpha: auto needs alpha_low = log(p (C-2)/(1-p)) > 0, got %g for C = %d, alpha_p = %g; "
                  "raise alpha_p or set alpha",
                  a, num_classes, c->alpha_p);
            if (c->learn_alpha)
                CHECK(a >= c->scale_min, "loss.alpha: auto must be >= scale_min (%g) when learned, got %g",
                      c->scale_min, a);
        } else {
            CHECK(isfinite(c->alpha) && c->alpha > 0, "loss.alpha: must be > 0 or auto, got %g", c->alpha);
            if (c->learn_alpha)
                CHECK(c->alpha >= c->scale_min, "loss.alpha: must be >= scale_min (%g) when learned, got %g",
                      c->scale_min, c->alpha);
        }
        break;
    case LOSS_NORMFACE:
    case LOSS_COSFACE:
    case LOSS_ARCFACE:
    case LOSS_COMBINED:
        CHECK(isfinite(c->s) && c->s > 0, "loss.s: must be > 0 for %s, got %g", tn, c->s);
        if (t == LOSS_NORMFACE && c->learn_s)
            CHECK(c->s >= c->scale_min, "loss.s: must be >= scale_min (%g) when learned, got %g", c->scale_min, c->s);
        if (t == LOSS_COSFACE)
            CHECK(isfinite(c->m) && c->m >= 0, "loss.m: must be a finite number >= 0 for cosface, got %g", c->m);
        if (t == LOSS_ARCFACE)
            CHECK(c->m >= 0 && c->m < M_PI, "loss.m: must be in [0, pi) for arcface, got %g", c->m);
        if (t == LOSS_COMBINED) {
            CHECK(isfinite(c->m1) && c->m1 > 0, "loss.m1: must be > 0 for combined, got %g", c->m1);
            CHECK(c->m2 >= 0 && c->m2 < M_PI, "loss.m2: must be in [0, pi) for combined, got %g", c->m2);
            CHECK(isfinite(c->m3) && c->m3 >= 0, "loss.m3: must be a finite number >= 0 for combined, got %g", c->m3);
        }
        break;
    case LOSS_SPHEREFACE:
        CHECK(c->m >= 1 && c->m <= 64 && c->m == floor(c->m),
              "loss.m: must be an integer in [1, 64] for sphereface, got %g", c->m);
        CHECK(isfinite(c->lambda_base) && c->lambda_base >= 0, "loss.lambda_base: must be >= 0, got %g",
              c->lambda_base);
        CHECK(isfinite(c->lambda_gamma) && c->lambda_gamma >= 0, "loss.lambda_gamma: must be >= 0, got %g",
              c->lambda_gamma);
        CHECK(isfinite(c->lambda_power) && c->lambda_power >= 0, "loss.lambda_power: must be >= 0, got %g",
              c->lambda_power);
        CHECK(isfinite(c->lambda_min) && c->lambda_min >= 0, "loss.lambda_min: must be >= 0, got %g", c->lambda_min);
        break;
    case LOSS_C_CONTRASTIVE:
        CHECK(c->m_pos >= 0 && c->m_pos < 4, "loss.m_pos: must be in [0, 4) (d_ij is in [0, 4]), got %g", c->m_pos);
        CHECK(c->m_neg > 0 && c->m_neg <= 4, "loss.m_neg: must be in (0, 4] (d_ij is in [0, 4]), got %g", c->m_neg);
        break;
    case LOSS_C_TRIPLET:
    case LOSS_CONTRASTIVE:
    case LOSS_TRIPLET:
        CHECK(isfinite(c->m) && c->m >= 0, "loss.m: must be a finite number >= 0 for %s, got %g", tn, c->m);
        if (t == LOSS_TRIPLET)
            CHECK(c->mining == MINING_BATCH_ALL || c->mining == MINING_BATCH_HARD,
                  "loss.mining: must be batch_all or batch_hard, got %d", (int)c->mining);
        break;
    case LOSS_SPHEREFACE2:
    case LOSS_UNIFACE:
    case LOSS_CIRCLE:
    case LOSS_PROXY_ANCHOR: return loss_config_check_more(c, msg, msg_size);
    default: break;
    }
    return 0;
}
#undef CHECK

/* Reals of scratch the loss type needs for batches of B (shared by forward_backward and predict). */
static size_t scratch_size(const loss_config *cfg, int B, int C, int d)
{
    const size_t b = (size_t)B, c = (size_t)C, n = (size_t)d;
    const loss_type t = cfg->type;
    if (loss_is_margin(t))
        return loss_margin_scratch(cfg, B, C, d);
    switch (t) {
    case LOSS_SOFTMAX: return b * c;
    /* logits (B,C), f̂ (B,d), ‖f‖ (B), G = ∂L/∂(α f̂) (B,d) */
    case LOSS_L2SOFTMAX: return b * c + 2 * b * n + b;
    /* cos (B,C), f̂ (B,d), ‖f‖ (B), ŵ (C,d), ‖w‖ (C), ∂f̂ (B,d), ∂ŵ (C,d), per-row and per-column
     * scalars (B), (C) */
    case LOSS_CONTRASTIVE:
    case LOSS_TRIPLET:
    case LOSS_CIRCLE:
        /* f̂ (B,d), ‖f‖ (B), D² or S (B,B), ∂L/∂D² or ∂L/∂S (B,B), ∂f̂ (B,d), per-anchor loss (B) */
        return 2 * b * n + 2 * b * b + 2 * b;
    /* the default's buffers, then ∂L/∂S (B,C) */
    case LOSS_PROXY_ANCHOR: return 2 * b * c + 2 * b * n + 2 * c * n + 2 * b + 2 * c;
    default: return b * c + 2 * b * n + 2 * c * n + 2 * b + 2 * c;
    }
}

void loss_init(loss *l, const loss_config *cfg, int dim, int num_classes, int max_batch, paramset *ps)
{
    memset(l, 0, sizeof *l);
    l->cfg = *cfg;
    l->dim = dim;
    l->num_classes = num_classes;
    l->max_batch = max_batch;
    l->w_idx = l->b_idx = l->scale_idx = l->bin_b_idx = -1;
    const loss_type t = cfg->type;
    if (t == LOSS_L2SOFTMAX && cfg->alpha_auto)
        l->cfg.alpha = l2softmax_alpha_low(num_classes, cfg->alpha_p);
    /* the classification head at large C, with sampling or in bf16 is blocked (head.h); its W
     * and b are row tensors, so sampled steps update only their rows */
    const int blocked = loss_is_classification(t) && (num_classes > LOSS_HEAD_PLAIN_MAX_C || cfg->sample_rate < 1 ||
                                                 cfg->head_dtype == HEAD_BF16);
    l->ps = ps;
    /* one row per class; subcenter_arcface's row holds its K sub-centres (K·d values) */
    const size_t kr = (size_t)loss_margin_rows_per_class(cfg);
    if (blocked)
        l->w_idx = paramset_add_rows(ps, "loss.W", (size_t)num_classes, kr * (size_t)dim, PARAM_HEAD, 1.0,
                                     cfg->head_dtype == HEAD_BF16);
    else if (t != LOSS_CONTRASTIVE && t != LOSS_TRIPLET && t != LOSS_CIRCLE)
        l->w_idx = paramset_add(ps, "loss.W", (size_t)num_classes * kr * (size_t)dim, PARAM_HEAD,
                                t == LOSS_PROXY_ANCHOR ? cfg->proxy_lr_mult : 1.0);
    if ((t == LOSS_SOFTMAX || t == LOSS_L2SOFTMAX) && cfg->bias)
        l->b_idx = blocked ? paramset_add_rows(ps, "loss.b", (size_t)num_classes, 1, PARAM_HEAD, 1.0, 0)
                           : paramset_add(ps, "loss.b", (size_t)num_classes, PARAM_HEAD, 1.0);
    if (t == LOSS_L2SOFTMAX && cfg->learn_alpha)
        l->scale_idx = paramset_add(ps, "loss.alpha", 1, PARAM_SCALE, cfg->scale_lr_mult);
    if (t == LOSS_NORMFACE && cfg->learn_s)
        l->scale_idx = paramset_add(ps, "loss.s", 1, PARAM_SCALE, cfg->scale_lr_mult);
    if (loss_is_binary(t)) /* the scalar bias b of sphereface2 / uniface: a learned scalar, no decay */
        l->bin_b_idx = paramset_add(ps, "loss.binary_b", 1, PARAM_SCALE, 1.0);
    /* centres (C,d), then loss_after_step's workspace: Δc (C,d) and n_j (C) */
    if (cfg->center_weight > 0)
        l->centers = nb_calloc(2 * (size_t)num_classes * (size_t)dim + (size_t)num_classes, sizeof(real));
    l->scratch_n = blocked ? 0 : scratch_size(cfg, max_batch, num_classes, dim);
    l->scratch = nb_calloc(l->scratch_n ? l->scratch_n : 1, sizeof(real));
    l->lambda = 0;
    if (loss_is_classification(t))
        loss_head_init(l, max_batch);
    if (loss_is_margin(t))
        loss_margin_init(l, max_batch);
}

void loss_bind(loss *l, const paramset *ps, rng_t *rng)
{
    const int C = l->num_classes, d = l->dim;
    if (l->w_idx >= 0) {
        l->W = paramset_data(ps, l->w_idx); /* NULL when stored in bf16 */
        l->dW = paramset_grad(ps, l->w_idx);
        l->W16 = paramset_data16(ps, l->w_idx);
        l->dW16 = paramset_grad16(ps, l->w_idx);
        const double sd = sqrt(2.0 / (double)(d + C));
        const size_t rows = (size_t)C * (size_t)loss_margin_rows_per_class(&l->cfg);
        for (size_t k = 0; k < rows * (size_t)d; k++) {
            const double v = sd * rng_normal(rng);
            if (l->W)
                l->W[k] = (real)v;
            else
                l->W16[k] = bf16_from_float((float)v);
        }
    }
    if (l->b_idx >= 0) {
        l->b = paramset_data(ps, l->b_idx);
        l->db = paramset_grad(ps, l->b_idx);
        for (int j = 0; j < C; j++)
            l->b[j] = 0;
    }
    if (l->scale_idx >= 0) {
        l->scale = paramset_data(ps, l->scale_idx);
        l->dscale = paramset_grad(ps, l->scale_idx);
        l->scale[0] = (real)(l->cfg.type == LOSS_L2SOFTMAX ? l->cfg.alpha : l->cfg.s);
    }
    if (l->bin_b_idx >= 0) {
        l->bin_b = paramset_data(ps, l->bin_b_idx);
        l->dbin_b = paramset_grad(ps, l->bin_b_idx);
        l->bin_b[0] = (real)loss_binary_initial_b(&l->cfg, C);
    }
    loss_head_bind(l, rng);
    loss_margin_bind(l, rng);
}

/* ---- dispatch, center loss ---- */

/* Center loss (Wen 2016): L_c = (center_weight/2) · (1/B) Σ_i ‖f_i − c_{y_i}‖² on the raw features;
 * ∂L_c/∂f_i = center_weight · (f_i − c_{y_i}) / B. The centres get no gradient (loss_after_step
 * moves them). Returns L_c; adds the per-sample terms to per_sample. */
static double center_fb(const loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B)
{
    const int d = l->dim;
    const double w = l->cfg.center_weight;
    double total = 0;
    for (int i = 0; i < B; i++) {
        const real *f = feat + (size_t)i * d, *c = l->centers + (size_t)labels[i] * d;
        double ss = 0;
        for (int k = 0; k < d; k++) {
            const double diff = (double)f[k] - c[k];
            ss += diff * diff;
            if (dfeat)
                dfeat[(size_t)i * d + k] += (real)(w * diff / B);
        }
        const double li = 0.5 * w * ss;
        total += li;
        if (per_sample)
            per_sample[i] += (real)li;
    }
    return total / B;
}

double loss_forward_backward(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B,
                             long iter)
{
    return loss_forward_backward_predict(l, dfeat, per_sample, NULL, feat, labels, B, iter);
}

double loss_forward_backward_predict(loss *l, real *dfeat, real *per_sample, int *pred, const real *feat,
                                     const int *labels, int B, long iter)
{
    if (B > l->max_batch)
        nb_fatal("loss_forward_backward: batch %d larger than max_batch %d", B, l->max_batch);
    if (B <= 0)
        return 0;
    for (int i = 0; i < B; i++)
        if (labels[i] < 0 || labels[i] >= l->num_classes)
            nb_fatal("loss_forward_backward: label %d of sample %d outside [0, %d)", labels[i], i, l->num_classes);
    double L = 0;
    if (l->head && l->head->use) {
        if (l->cfg.sample_rate < 1)
            loss_head_sample(l, labels, B);
        L = loss_is_binary(l->cfg.type) ? loss_head_binary_fb(l, dfeat, per_sample, pred, feat, labels, B)
                                        : loss_head_forward_backward(l, dfeat, per_sample, pred, feat, labels, B, iter);
        if (l->cfg.center_weight > 0)
            L += center_fb(l, dfeat, per_sample, feat, labels, B);
        return L;
    }
    switch (l->cfg.type) {
    case LOSS_SOFTMAX:
    case LOSS_L2SOFTMAX: L = loss_softmax_fb(l, dfeat, per_sample, feat, labels, B); break;
    case LOSS_NORMFACE:
    case LOSS_SPHEREFACE:
    case LOSS_COSFACE:
    case LOSS_ARCFACE:
    case LOSS_COMBINED: L = loss_angular_fb(l, dfeat, per_sample, feat, labels, B, iter); break;
    case LOSS_C_CONTRASTIVE:
    case LOSS_C_TRIPLET: L = loss_agents_fb(l, dfeat, per_sample, feat, labels, B); break;
    case LOSS_CONTRASTIVE:
    case LOSS_TRIPLET: L = loss_pairs_fb(l, dfeat, per_sample, feat, labels, B); break;
    case LOSS_SPHEREFACE2:
    case LOSS_UNIFACE: L = loss_binary_fb(l, dfeat, per_sample, feat, labels, B); break;
    case LOSS_CIRCLE:
    case LOSS_PROXY_ANCHOR: L = loss_proxy_fb(l, dfeat, per_sample, feat, labels, B); break;
    case LOSS_MV_SOFTMAX:
    case LOSS_CURRICULARFACE:
    case LOSS_SUBCENTER_ARCFACE:
    case LOSS_ELASTICFACE:
    case LOSS_ADACOS:
    case LOSS_MAGFACE:
    case LOSS_ADAFACE: L = loss_margin_fb(l, dfeat, per_sample, feat, labels, B); break;
    default: nb_fatal("loss_forward_backward: unknown loss type %d", (int)l->cfg.type);
    }
    if (l->cfg.center_weight > 0)
        L += center_fb(l, dfeat, per_sample, feat, labels, B);
    if (pred) /* small C (or no class weights): a separate pass is cheap */
        loss_predict(l, pred, feat, B);
    return L;
}

/* Predictions: argmax of the logits (softmax, l2softmax), argmax of cos θ_j without margin or scale
 * (normface, sphereface, cosface, arcface, combined: the same argmax as s·cos θ_j or ‖f‖ cos θ_j),
 * the nearest agent by cosine (c_contrastive, c_triplet: max cos = min d_ij), the largest cos θ_j
 * (sphereface2, uniface: their per-class logits r·g(cos θ_j) + b and s cos θ_j − b are increasing in
 * it; proxy_anchor: the nearest proxy). contrastive, triplet and circle have no classifier: every
 * pred is −1 (closed-set evaluation must use the features). */
void loss_predict(const loss *l, int *pred, const real *feat, int B)
{
    const int chunk = l->max_batch > 0 ? l->max_batch : 1;
    for (int i0 = 0; i0 < B; i0 += chunk) {
        const int n = B - i0 < chunk ? B - i0 : chunk;
        const real *f = feat + (size_t)i0 * l->dim;
        if (l->head && l->head->use) {
            loss_head_predict(l, pred + i0, f, n);
            continue;
        }
        switch (l->cfg.type) {
        case LOSS_SOFTMAX:
        case LOSS_L2SOFTMAX: loss_softmax_predict(l, pred + i0, f, n); break;
        case LOSS_CONTRASTIVE:
        case LOSS_TRIPLET:
        case LOSS_CIRCLE:
            for (int i = 0; i < n; i++)
                pred[i0 + i] = -1;
            break;
        case LOSS_MV_SOFTMAX:
        case LOSS_CURRICULARFACE:
        case LOSS_SUBCENTER_ARCFACE:
        case LOSS_ELASTICFACE:
        case LOSS_ADACOS:
        case LOSS_MAGFACE:
        case LOSS_ADAFACE: loss_margin_predict(l, pred + i0, f, n); break;
        default: loss_angular_predict(l, pred + i0, f, n); break;
        }
    }
}

/* Δc_j = Σ_{i: y_i = j} (c_j − f_i) / (1 + n_j);  c_j ← c_j − center_rate · Δc_j (Wen 2016, eq. 4). */
void loss_after_step(loss *l, const real *feat, const int *labels, int B)
{
    if (l->scale && l->scale[0] < l->cfg.scale_min)
        l->scale[0] = (real)l->cfg.scale_min;
    if (!l->centers || B <= 0)
        return;
    const int d = l->dim;
    const size_t cd = (size_t)l->num_classes * (size_t)d;
    real *delta = l->centers + cd, *cnt = l->centers + 2 * cd; /* workspace behind the centres */
    for (int i = 0; i < B; i++) {
        const int j = labels[i];
        cnt[j] = 0;
        for (int k = 0; k < d; k++)
            delta[(size_t)j * d + k] = 0;
    }
    for (int i = 0; i < B; i++) {
        const int j = labels[i];
        cnt[j] += 1;
        for (int k = 0; k < d; k++)
            delta[(size_t)j * d + k] += l->centers[(size_t)j * d + k] - feat[(size_t)i * d + k];
    }
    for (int i = 0; i < B; i++) {
        const int j = labels[i];
        if (cnt[j] == 0)
            continue; /* class already moved */
        for (int k = 0; k < d; k++)
            l->centers[(size_t)j * d + k] -= (real)(l->cfg.center_rate * delta[(size_t)j * d + k] / (1 + cnt[j]));
        cnt[j] = 0;
    }
}

/* adacos's s is not learned by gradient but moves every step (dynamic) or is fixed by C: it is the
 * loss's scale all the same, and where the runs log it. */
double loss_learned_scale(const loss *l)
{
    if (l->cfg.type == LOSS_ADACOS && l->margin)
        return l->margin->s;
    return l->scale ? (double)l->scale[0] : NAN;
}

int loss_state_count(const loss *l) { return l->margin ? loss_margin_state_count(l->cfg.type) : 0; }

const char *loss_state_name(const loss *l, int k) { return loss_margin_state_name(l->cfg.type, k); }

double loss_state_get(const loss *l, int k) { return loss_margin_state_get(l, k); }

void loss_state_set(loss *l, int k, double v) { loss_margin_state_set(l, k, v); }

double loss_learned_bias(const loss *l) { return l->bin_b ? (double)l->bin_b[0] : NAN; }

size_t loss_head_memory(const loss *l)
{
    if (l->w_idx < 0 || !l->ps)
        return 0;
    const param_tensor *t = &l->ps->t[l->w_idx];
    size_t bytes = 3 * t->n * (t->bf16 ? sizeof(uint16_t) : sizeof(real));
    if (l->b_idx >= 0)
        bytes += 3 * l->ps->t[l->b_idx].n * sizeof(real);
    bytes += l->scratch_n * sizeof(real);
    if (l->head)
        bytes += l->head->bytes;
    return bytes;
}

void loss_free(loss *l)
{
    loss_head_free(l);
    loss_margin_free(l);
    free(l->centers);
    free(l->scratch);
    memset(l, 0, sizeof *l);
}

/* ---- docs/theory.md §2 ---- */

/* α_low = log(p (C − 2) / (1 − p)) (Ranjan §3.4); NAN where undefined (C ≤ 2 or p ∉ (0, 1)). */
double l2softmax_alpha_low(int num_classes, double p)
{
    if (num_classes <= 2 || !(p > 0 && p < 1))
        return NAN;
    return log(p * (num_classes - 2) / (1 - p));
}

/* L ≥ log(1 + (n − 1) exp(−s n / (n − 1))) (NormFace Prop. 2), via log1p for small values. */
double normface_loss_bound(int n, double s)
{
    if (n < 2)
        return NAN;
    return log1p((n - 1) * exp(-s * n / (n - 1)));
}
