/* margin.h — the margin losses after NormFace (margin.c, docs/losses.md §1b): mv_softmax,
 * curricularface, subcenter_arcface, elasticface, adacos, magface, adaface. All are softmax
 * cross-entropy over z_ij = a_i u_ij with cos θ_ij = ŵ_jᵀ f̂_i, and differ in
 *   - the row quantities fixed before the step's logits (loss_margin_rows): the scale a_i, the
 *     target's u_iy = φ_i(cos θ_iy) and its derivatives, a hard-negative threshold, state updates;
 *   - the non-target u_ij = ψ_i(cos θ_ij) (loss_margin_neg): cos θ, or a re-weighting of the hard
 *     negatives (mv_softmax, curricularface), or a clamp (adaface).
 * The plain path (loss_margin_fb) and the blocked head (head_pass.c, through the row kernels
 * below) share these two functions, so the head only reorganises the computation. */
#ifndef NB_LOSS_MARGIN_H
#define NB_LOSS_MARGIN_H

#include <stddef.h>

#include "core/real.h"
#include "core/rng.h"
#include "loss/types.h"

/* One row of a step. */
typedef struct {
    double a;    /* logit scale a_i */
    double uy;   /* target u_iy */
    double duy;  /* ∂u_iy/∂cos θ_iy */
    double dny;  /* ∂u_iy/∂‖f_i‖ (magface; 0 otherwise) */
    double thr;  /* non-target j is hard where cos θ_ij > thr (mv_softmax, curricularface) */
    double reg;  /* per-sample term added to the CE (magface: λ_g (a/u_a² + 1/a)) */
    double dreg; /* ∂reg/∂‖f_i‖ */
    double lse;  /* log Σ_j exp z_ij, set by the caller once known */
    double zh;   /* adaface: ẑ_i, the clipped standardised norm */
} margin_row;

/* The per-loss object: rows, state, scratch. */
typedef struct loss_margin {
    margin_row *rows; /* (max_batch) */
    double *mi;       /* (max_batch) elasticface margins of the step */
    int *order;       /* (max_batch) elasticface+ sort scratch */
    double *cy;       /* (max_batch) target cosines */
    double *negsum;   /* (max_batch) adacos: Σ_{j≠y} exp(s_old cos θ_j) */
    int *argk;        /* (max_batch · C) subcenter_arcface: the attaining sub-centre */
    rng_t rng;        /* elasticface draws, forked from the run's generator in loss_bind */
    /* state carried between steps (docs/losses.md §1b, "State") */
    double t;         /* curricularface t (t₀ = 0) */
    double mu, sd;    /* adaface EMA of the batch's norm mean and sd (20, 100) */
    double s;         /* adacos scale */
    int set_margins;  /* tests: the next step uses mi as set (loss_margin_set_draws) */
    int freeze;       /* tests: no state update, no new draws and adaface's ẑ_i kept (finite
                       * differences at a fixed state and detached norm, which is how the
                       * references' no_grad quantities enter the gradient) */
} loss_margin;

/* Is t one of this file's types? */
int loss_is_margin(loss_type t);
/* Sub-centres per class: cfg.K for subcenter_arcface, else 1 (W has C·K rows). */
int loss_margin_rows_per_class(const loss_config *cfg);
/* Reals of l->scratch the plain path needs. */
size_t loss_margin_scratch(const loss_config *cfg, int B, int C, int d);
/* Defaults of docs/losses.md §1b for type t (after the common defaults). */
void loss_margin_defaults(loss_config *cfg, loss_type t);
/* Range checks; 0, or −1 with "loss.<key>: ..." in msg. */
int loss_margin_check(const loss_config *cfg, int num_classes, char *msg, size_t msg_size);
void loss_margin_init(loss *l, int max_batch);
void loss_margin_bind(loss *l, rng_t *rng);
void loss_margin_free(loss *l);

/* Fills rows[0..B) from the target cosines cy and the norms ‖f_i‖, after the state updates
 * that come before use (curricularface t, adaface μ σ, adacos s from negsum, elasticface draws).
 * negsum (B) is needed by dynamic adacos only (else NULL). */
void loss_margin_rows(loss *l, const double *cy, const real *fnorm, const double *negsum, int B);
/* u = ψ_i(c) of a non-target and du/dc. */
double loss_margin_neg(const loss *l, const margin_row *r, double c, double *du);

/* Plain path (same contract as the other family functions, loss/types.h). */
double loss_margin_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B);
/* argmax_j cos θ_ij (max over sub-centres for subcenter_arcface). */
void loss_margin_predict(const loss *l, int *pred, const real *feat, int B);

/* Blocked-head row kernels: row (nb) of G = X W_Jᵀ, cs (nb) = 1/‖w_j‖, yl the target's column in
 * the block or −1. Logits: row ← z (the target's z = −∞ when exclude_target, for adacos's B).
 * Gradient: row ← ∂L/∂G_j = a ∂L/∂z_j ψ'(c_j) cs_j with ∂L/∂z_j = g (exp(z_j − lse) − [j = y]);
 * returns Σ_j ∂L/∂z_j u_j. */
void loss_margin_row_logits(const loss *l, const margin_row *r, real *row, int nb, const real *cs, int yl,
                            int exclude_target);
double loss_margin_row_grad(const loss *l, const margin_row *r, real *row, int nb, const real *cs, int yl, double g);
/* cs may be NULL in both (1: the row holds cosines already). subcenter_arcface's rows hold nb·kr
 * sub-centre values: reduce replaces the first nb by each class's best cosine max_k G_jk cs_jk
 * (the first on ties); grad_sub is loss_margin_row_grad on those, writing ∂L/∂G to the attaining
 * sub-centre of each class and 0 to the others. */
void loss_margin_row_reduce(real *row, int nb, int kr, const real *cs);
double loss_margin_row_grad_sub(const loss *l, const margin_row *r, real *row, int nb, int kr, const real *cs, int yl,
                                double g);
/* Per-row ∂L/∂‖f_i‖ (magface: the margin and regulariser terms) added along f̂_i to dfeat;
 * rows[i].lse must be set. g = 1/B. */
void loss_margin_radial(const loss *l, real *dfeat, const real *fhat, int B, int d, double g);
/* Σ_i rows[i].reg (added to the CE sum), also added to per_sample when non-NULL. */
double loss_margin_extra(const loss *l, real *per_sample, int B);

/* State (docs/losses.md §1b): the values carried between steps, by name ("t", "mu", "sd", "s").
 * loss_margin_state_count gives how many the type has; names in order. Set restores a saved run. */
int loss_margin_state_count(loss_type t);
const char *loss_margin_state_name(loss_type t, int k);
double loss_margin_state_get(const loss *l, int k);
void loss_margin_state_set(loss *l, int k, double v);
/* Tests: the next step's elasticface margins are m (B) instead of draws. */
void loss_margin_set_draws(loss *l, const double *m, int B);

#endif
