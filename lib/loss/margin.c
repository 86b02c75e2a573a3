/* margin.c — the margin losses after NormFace (docs/losses.md §1b), each as its authors' reference
 * code computes it:
 *   mv_softmax        MV-Softmax (Wang, Zhang, Wang, Fu & Mei 2020, AAAI; JDAI-CV/FaceX-Zoo
 *                     head/MV_Softmax.py): AM or Arc target, hard negatives t·c + t − 1
 *   curricularface    Huang et al. 2020, CVPR (HuangYG123/CurricularFace head/metrics.py): ArcFace
 *                     target with the fallback, hard negatives c·(t + c), t an EMA of mean cos θ_y
 *   subcenter_arcface Deng et al. 2020, ECCV (pytorch-metric-learning subcenter_arcface_loss.py):
 *                     cos θ_j = max over K sub-centres, then ArcFace with the fallback
 *   elasticface       Boutros et al. 2022, CVPRW (fdbtrs/ElasticFace utils/losses.py): per-sample
 *                     margin m_i ~ N(m, σ), Arc s·cos(θ_y + m_i) or Cos s·(cos θ_y − m_i)
 *   adacos            Zhang et al. 2019, CVPR (JDAI-CV/FaceX-Zoo head/AdaCos.py): no margin, fixed
 *                     or dynamic scale
 *   magface           Meng et al. 2021, CVPR (IrvingMeng/MagFace models/magface.py): margin m(‖f‖)
 *                     and the regulariser λ_g (a/u_a² + 1/a)
 *   adaface           Kim, Jain & Liu 2022, CVPR (mk-minchul/AdaFace head.py): angular and additive
 *                     margins from the batch-standardised, detached ‖f‖
 * Every one is CE over z_ij = a_i u_ij; margin.h says how the row quantities and the non-target
 * function split the work. The backward follows normface.c: ∂L/∂cos_ij = a_i ∂L/∂z_ij u'_ij, then
 * ∂L/∂f̂ = (∂L/∂cos) Ŵ, ∂L/∂Ŵ = (∂L/∂cos)ᵀ F̂ and the exact normalisation backward; magface adds
 * ∂L/∂‖f_i‖ along f̂_i (its margin and regulariser depend on the norm). Where acos or sin θ is
 * needed the target cosine is clamped to [−1 + NB_COS_EPS, 1 − NB_COS_EPS] as in normface.c
 * (adaface clamps every cosine to [−1 + 10⁻³, 1 − 10⁻³] as its code does, with zero gradient
 * outside). Quantities the references compute under no_grad (thresholds, t, μ, σ, the adacos s,
 * the adaface norms) get no gradient here either. */
#include "loss/margin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/gemm.h"
#include "loss/head_rows.h"
#include "loss/rowops.h"
#include "loss/table.h"

#define ADAFACE_EPS 1e-3

int loss_is_margin(loss_type t) { return t >= LOSS_MV_SOFTMAX && t <= LOSS_ADAFACE; }

int loss_margin_rows_per_class(const loss_config *cfg)
{
    return cfg->type == LOSS_SUBCENTER_ARCFACE && cfg->K > 1 ? cfg->K : 1;
}

size_t loss_margin_scratch(const loss_config *cfg, int B, int C, int d)
{
    const size_t b = (size_t)B, c = (size_t)C, n = (size_t)d, r = c * (size_t)loss_margin_rows_per_class(cfg);
    /* full cosines (B,R), class cosines (B,C), logits (B,C), f̂, ∂f̂ (B,d), ‖f‖ (B), Ŵ, ∂Ŵ (R,d), ‖w‖ (R) */
    return b * r + 2 * b * c + 2 * b * n + b + 2 * r * n + r;
}

void loss_margin_defaults(loss_config *cfg, loss_type t)
{
    switch (t) {
    case LOSS_MV_SOFTMAX: cfg->variant = VARIANT_AM; cfg->m = 0.35; cfg->t = 1.12; cfg->s = 32; break;
    case LOSS_CURRICULARFACE: cfg->m = 0.5; cfg->s = 64; break;
    case LOSS_SUBCENTER_ARCFACE: cfg->K = 3; cfg->m = 0.5; cfg->s = 64; break;
    case LOSS_ELASTICFACE: cfg->variant = VARIANT_ARC; cfg->m = 0.5; cfg->sigma = 0.05; cfg->s = 64; break;
    case LOSS_ADACOS: cfg->dynamic = 1; break;
    case LOSS_MAGFACE: cfg->s = 64; cfg->easy_margin = 1; break;
    case LOSS_ADAFACE: cfg->m = 0.4; cfg->s = 64; break;
    default: break;
    }
}

#define CHECK(cond, ...)                                                                                   \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            snprintf(msg, msg_size, __VA_ARGS__);                                                          \
            return -1;                                                                                     \
        }                                                                                                  \
    } while (0)

int loss_margin_check(const loss_config *c, int num_classes, char *msg, size_t msg_size)
{
    const loss_type t = c->type;
    if (t != LOSS_ADACOS)
        CHECK(isfinite(c->s) && c->s > 0, "loss.s: must be > 0, got %g", c->s);
    switch (t) {
    case LOSS_MV_SOFTMAX:
        CHECK(c->variant == VARIANT_AM || c->variant == VARIANT_ARC, "loss.variant: must be am or arc for mv_softmax");
        CHECK(c->variant == VARIANT_AM ? isfinite(c->m) && c->m >= 0 : c->m >= 0 && c->m < M_PI,
              "loss.m: must be >= 0 (am) or in [0, pi) (arc) for mv_softmax, got %g", c->m);
        CHECK(isfinite(c->t) && c->t >= 1, "loss.t: must be a finite number >= 1, got %g", c->t);
        break;
    case LOSS_CURRICULARFACE:
    case LOSS_SUBCENTER_ARCFACE:
        CHECK(c->m >= 0 && c->m < M_PI, "loss.m: must be in [0, pi), got %g", c->m);
        if (t == LOSS_SUBCENTER_ARCFACE)
            CHECK(c->K >= 1 && c->K <= 64, "loss.K: must be an integer in [1, 64], got %d", c->K);
        break;
    case LOSS_ELASTICFACE:
        CHECK(c->variant == VARIANT_ARC || c->variant == VARIANT_COS, "loss.variant: must be arc or cos for elasticface");
        CHECK(isfinite(c->m) && c->m >= 0 && c->m < M_PI, "loss.m: must be in [0, pi), got %g", c->m);
        CHECK(isfinite(c->sigma) && c->sigma >= 0 && c->sigma <= 1, "loss.sigma: must be in [0, 1], got %g", c->sigma);
        break;
    case LOSS_ADACOS:
        CHECK(num_classes >= 3, "loss: adacos needs at least 3 classes (s = sqrt(2) log(C - 1)), got %d", num_classes);
        break;
    case LOSS_MAGFACE:
        CHECK(isfinite(c->l_a) && c->l_a > 0, "loss.l_a: must be > 0, got %g", c->l_a);
        CHECK(isfinite(c->u_a) && c->u_a > c->l_a, "loss.u_a: must be > l_a (%g), got %g", c->l_a, c->u_a);
        CHECK(c->l_m >= 0 && c->l_m < M_PI, "loss.l_m: must be in [0, pi), got %g", c->l_m);
        CHECK(c->u_m >= 0 && c->u_m < M_PI, "loss.u_m: must be in [0, pi), got %g", c->u_m);
        CHECK(isfinite(c->lambda_g) && c->lambda_g >= 0, "loss.lambda_g: must be a finite number >= 0, got %g",
              c->lambda_g);
        break;
    case LOSS_ADAFACE:
        CHECK(isfinite(c->m) && c->m >= 0 && c->m < 1, "loss.m: must be in [0, 1), got %g", c->m);
        CHECK(isfinite(c->h) && c->h >= 0, "loss.h: must be a finite number >= 0, got %g", c->h);
        CHECK(c->t_alpha >= 0 && c->t_alpha <= 1, "loss.t_alpha: must be in [0, 1], got %g", c->t_alpha);
        break;
    default: break;
    }
    return 0;
}
#undef CHECK

void loss_margin_init(loss *l, int max_batch)
{
    loss_margin *g = nb_calloc(1, sizeof *g);
    const size_t B = (size_t)(max_batch > 0 ? max_batch : 1);
    g->rows = nb_calloc(B, sizeof *g->rows);
    g->mi = nb_calloc(B, sizeof *g->mi);
    g->order = nb_calloc(B, sizeof *g->order);
    g->cy = nb_calloc(B, sizeof *g->cy);
    g->negsum = nb_calloc(B, sizeof *g->negsum);
    if (l->cfg.type == LOSS_SUBCENTER_ARCFACE)
        g->argk = nb_calloc(B * (size_t)l->num_classes, sizeof *g->argk);
    g->t = 0;
    g->mu = 20;
    g->sd = 100;
    g->s = l->num_classes > 2 ? sqrt(2.0) * log(l->num_classes - 1.0) : 1;
    l->margin = g;
}

void loss_margin_bind(loss *l, rng_t *rng)
{
    if (l->margin)
        rng_fork(&l->margin->rng, rng, 0x656c6173746963ULL); /* "elastic" */
}

void loss_margin_free(loss *l)
{
    loss_margin *g = l->margin;
    if (!g)
        return;
    free(g->rows);
    free(g->mi);
    free(g->order);
    free(g->cy);
    free(g->negsum);
    free(g->argk);
    free(g);
    l->margin = NULL;
}

/* ---- state ---- */

static const char *const state_names[][2] = {
    [LOSS_CURRICULARFACE] = {"t", NULL}, [LOSS_ADACOS] = {"s", NULL}, [LOSS_ADAFACE] = {"mu", "sd"}};

int loss_margin_state_count(loss_type t)
{
    return t == LOSS_CURRICULARFACE || t == LOSS_ADACOS ? 1 : (t == LOSS_ADAFACE ? 2 : 0);
}

const char *loss_margin_state_name(loss_type t, int k)
{
    return k >= 0 && k < loss_margin_state_count(t) ? state_names[t][k] : NULL;
}

static double *state_slot(const loss *l, int k)
{
    loss_margin *g = l->margin;
    if (!g || k < 0 || k >= loss_margin_state_count(l->cfg.type))
        return NULL;
    switch (l->cfg.type) {
    case LOSS_CURRICULARFACE: return &g->t;
    case LOSS_ADACOS: return &g->s;
    default: return k == 0 ? &g->mu : &g->sd;
    }
}

double loss_margin_state_get(const loss *l, int k)
{
    const double *p = state_slot(l, k);
    return p ? *p : NAN;
}

void loss_margin_state_set(loss *l, int k, double v)
{
    double *p = state_slot(l, k);
    if (!p)
        nb_fatal("loss_margin_state_set: %s has no state value %d", loss_type_name(l->cfg.type), k);
    *p = v;
}

void loss_margin_set_draws(loss *l, const double *m, int B)
{
    if (!l->margin || B > l->max_batch)
        nb_fatal("loss_margin_set_draws: no margin loss, or batch %d > %d", B, l->max_batch);
    memcpy(l->margin->mi, m, (size_t)B * sizeof *m);
    l->margin->set_margins = 1;
}

/* ---- the row quantities ---- */

static double clamp_cos(double c)
{
    const double lo = -1.0 + NB_COS_EPS, hi = 1.0 - NB_COS_EPS;
    return c < lo ? lo : (c > hi ? hi : c);
}

/* cos(θ + m) of c = cos θ (clamped), its derivative in c and in m. */
static double cos_plus(double c, double m, double *dc, double *dm)
{
    const double cc = clamp_cos(c), sn = sqrt(1 - cc * cc), cm = cos(m), sm = sin(m);
    *dc = cm + cc * sm / sn;
    if (dm)
        *dm = -(sn * cm + cc * sm);
    return cc * cm - sn * sm;
}

/* ArcFace with InsightFace's fallback (also curricularface's and subcenter_arcface's target). */
static double arc_fallback(double c, double m, double *du)
{
    if (c > cos(M_PI - m))
        return cos_plus(c, m, du, NULL);
    *du = 1;
    return c - m * sin(m);
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* elasticface: this step's margins, drawn from the loss's generator (or as set by a test); plus:
 * sorted, the k-th largest target cosine given the k-th smallest margin. */
static void elastic_draws(loss *l, const double *cy, int B)
{
    loss_margin *g = l->margin;
    if (!g->set_margins)
        for (int i = 0; i < B; i++)
            g->mi[i] = l->cfg.m + l->cfg.sigma * rng_normal(&g->rng);
    g->set_margins = 0;
    if (!l->cfg.plus)
        return;
    qsort(g->mi, (size_t)B, sizeof *g->mi, cmp_double);
    for (int i = 0; i < B; i++)
        g->order[i] = i;
    /* insertion sort of the samples by descending cy, ties in index order (B is a batch) */
    for (int i = 1; i < B; i++) {
        const int v = g->order[i];
        int k = i - 1;
        while (k >= 0 && cy[g->order[k]] < cy[v]) {
            g->order[k + 1] = g->order[k];
            k--;
        }
        g->order[k + 1] = v;
    }
    for (int k = 0; k < B; k++)
        g->negsum[g->order[k]] = g->mi[k]; /* negsum is free scratch for elasticface */
    memcpy(g->mi, g->negsum, (size_t)B * sizeof *g->mi);
}

/* The state updates that come before use in a step. */
static void update_state(loss *l, const double *cy, const real *fnorm, const double *negsum, int B)
{
    loss_margin *g = l->margin;
    const loss_config *c = &l->cfg;
    if (c->type == LOSS_CURRICULARFACE) {
        double mean = 0;
        for (int i = 0; i < B; i++)
            mean += cy[i] < -1 ? -1 : (cy[i] > 1 ? 1 : cy[i]);
        g->t = 0.01 * (mean / B) + 0.99 * g->t;
    } else if (c->type == LOSS_ADAFACE) {
        double mean = 0, ss = 0;
        for (int i = 0; i < B; i++)
            mean += fmin(fmax((double)fnorm[i], 0.001), 100);
        mean /= B;
        for (int i = 0; i < B; i++) {
            const double e = fmin(fmax((double)fnorm[i], 0.001), 100) - mean;
            ss += e * e;
        }
        g->mu = c->t_alpha * mean + (1 - c->t_alpha) * g->mu;
        if (B > 1) /* the unbiased sd is undefined for one sample: σ is kept */
            g->sd = c->t_alpha * sqrt(ss / (B - 1)) + (1 - c->t_alpha) * g->sd;
    } else if (c->type == LOSS_ADACOS && c->dynamic) {
        double bsum = 0;
        for (int i = 0; i < B; i++)
            bsum += negsum[i];
        /* lower median of the target angles = acos of the upper median of the cosines */
        double *th = g->mi; /* free scratch for adacos */
        for (int i = 0; i < B; i++)
            th[i] = acos(clamp_cos(cy[i]));
        qsort(th, (size_t)B, sizeof *th, cmp_double);
        const double med = th[(B - 1) / 2];
        g->s = log(bsum / B) / cos(fmin(M_PI / 4, med));
    } else if (c->type == LOSS_ELASTICFACE) {
        elastic_draws(l, cy, B);
    }
}

/* magface's target and norm terms for row r (n = ‖f_i‖). */
static void magface_row(const loss_config *c, margin_row *r, double cy, double n)
{
    const int inside = n > c->l_a && n < c->u_a;
    const double a = fmin(fmax(n, c->l_a), c->u_a), slope = (c->u_m - c->l_m) / (c->u_a - c->l_a);
    const double m = c->l_m + slope * (a - c->l_a);
    double dm = 0;
    if (c->easy_margin ? cy > 0 : cy > cos(M_PI - m)) {
        r->uy = cos_plus(cy, m, &r->duy, &dm);
    } else if (c->easy_margin) {
        r->uy = cy;
        r->duy = 1;
    } else {
        r->uy = cy - sin(m) * m;
        r->duy = 1;
        dm = -(sin(m) + m * cos(m));
    }
    r->dny = inside ? dm * slope : 0;
    r->reg = c->lambda_g * (a / (c->u_a * c->u_a) + 1 / a);
    r->dreg = inside ? c->lambda_g * (1 / (c->u_a * c->u_a) - 1 / (a * a)) : 0;
}

/* adaface's target for row r: ẑ from the detached norm n and the state μ, σ. */
static void adaface_row(const loss_config *c, const loss_margin *g, margin_row *r, double cy, double n)
{
    const double e = ADAFACE_EPS, nn = fmin(fmax(n, 0.001), 100);
    if (!g->freeze)
        r->zh = fmin(fmax(c->h * (nn - g->mu) / (g->sd + e), -1), 1);
    const double zh = r->zh;
    const int cin = cy > -1 + e && cy < 1 - e;
    const double cc = cin ? cy : (cy <= -1 + e ? -1 + e : 1 - e);
    const double th = acos(cc), tm0 = th - c->m * zh;
    const int tin = tm0 > e && tm0 < M_PI - e;
    const double tm = tin ? tm0 : (tm0 <= e ? e : M_PI - e);
    r->uy = cos(tm) - (c->m + c->m * zh);
    r->duy = cin && tin ? sin(tm) / sin(th) : 0;
}

static void fill_row(loss *l, margin_row *r, int i, double cy, double n)
{
    const loss_config *c = &l->cfg;
    const loss_margin *g = l->margin;
    r->a = c->type == LOSS_ADACOS ? g->s : c->s;
    r->uy = cy;
    r->duy = 1;
    r->dny = r->reg = r->dreg = 0;
    r->thr = INFINITY;
    switch (c->type) {
    case LOSS_MV_SOFTMAX:
        if (c->variant == VARIANT_AM) {
            r->thr = cy - c->m;
            r->uy = cy > c->m ? cy - c->m : cy;
        } else {
            double du;
            const double ctm = cos_plus(cy, c->m, &du, NULL);
            r->thr = ctm;
            if (cy > 0) {
                r->uy = ctm;
                r->duy = du;
            }
        }
        break;
    case LOSS_CURRICULARFACE: {
        double du;
        r->thr = cos_plus(cy, c->m, &du, NULL);
        r->uy = arc_fallback(cy, c->m, &r->duy);
        break;
    }
    case LOSS_SUBCENTER_ARCFACE: r->uy = arc_fallback(cy, c->m, &r->duy); break;
    case LOSS_ELASTICFACE:
        if (c->variant == VARIANT_ARC)
            r->uy = cos_plus(cy, g->mi[i], &r->duy, NULL);
        else
            r->uy = cy - g->mi[i];
        break;
    case LOSS_MAGFACE: magface_row(c, r, cy, n); break;
    case LOSS_ADAFACE: adaface_row(c, g, r, cy, n); break;
    default: break;
    }
}

void loss_margin_rows(loss *l, const double *cy, const real *fnorm, const double *negsum, int B)
{
    if (!l->margin->freeze)
        update_state(l, cy, fnorm, negsum, B);
    for (int i = 0; i < B; i++)
        fill_row(l, &l->margin->rows[i], i, cy[i], (double)fnorm[i]);
}

double loss_margin_neg(const loss *l, const margin_row *r, double c, double *du)
{
    switch (l->cfg.type) {
    case LOSS_MV_SOFTMAX:
        if (c > r->thr) {
            *du = l->cfg.t;
            return l->cfg.t * c + l->cfg.t - 1;
        }
        break;
    case LOSS_CURRICULARFACE:
        if (c > r->thr) {
            const double t = l->margin->t;
            *du = t + 2 * c;
            return c * (t + c);
        }
        break;
    case LOSS_ADAFACE:
        if (!(c > -1 + ADAFACE_EPS && c < 1 - ADAFACE_EPS)) {
            *du = 0;
            return c <= -1 + ADAFACE_EPS ? -1 + ADAFACE_EPS : 1 - ADAFACE_EPS;
        }
        break;
    default: break;
    }
    *du = 1;
    return c;
}

/* ---- what both paths add per row ---- */

void loss_margin_radial(const loss *l, real *dfeat, const real *fhat, int B, int d, double g)
{
    if (l->cfg.type != LOSS_MAGFACE)
        return;
    for (int i = 0; i < B; i++) {
        const margin_row *r = &l->margin->rows[i];
        const double dzy = g * (exp((double)(real)(r->a * r->uy) - r->lse) - 1.0);
        const double dn = r->a * dzy * r->dny + g * r->dreg;
        for (int k = 0; k < d; k++)
            dfeat[(size_t)i * d + k] += (real)(dn * fhat[(size_t)i * d + k]);
    }
}

double loss_margin_extra(const loss *l, real *per_sample, int B)
{
    if (l->cfg.type != LOSS_MAGFACE)
        return 0;
    double total = 0;
    for (int i = 0; i < B; i++) {
        total += l->margin->rows[i].reg;
        if (per_sample)
            per_sample[i] += (real)l->margin->rows[i].reg;
    }
    return total;
}

/* ---- blocked-head row kernels ---- */

/* loss_margin_neg in the row kernels' form (head_rows.h). A row without cs (the sub-centre
 * reduction's cosines) belongs to subcenter_arcface, whose non-targets are the identity. */
static head_neg row_neg(const loss *l, const margin_row *r, const real *cs)
{
    head_neg n = {HEAD_NEG_IDENTITY, 0, 0, 0, 0, 0, 0};
    switch (l->cfg.type) {
    case LOSS_MV_SOFTMAX:
        n = (head_neg){HEAD_NEG_HARD, (real)r->thr, (real)(l->cfg.t - 1), (real)l->cfg.t, 0, 0, 0};
        break;
    case LOSS_CURRICULARFACE: n = (head_neg){HEAD_NEG_HARD, (real)r->thr, 0, (real)l->margin->t, 1, 0, 0}; break;
    case LOSS_ADAFACE: n = (head_neg){HEAD_NEG_CLAMP, 0, 0, 0, 0, (real)(-1 + ADAFACE_EPS), (real)(1 - ADAFACE_EPS)}; break;
    default: break;
    }
    if (!cs && n.kind != HEAD_NEG_IDENTITY)
        nb_fatal("loss_margin_row kernels: no 1/||w|| for a row of loss type %d", (int)l->cfg.type);
    return n;
}

void loss_margin_row_logits(const loss *l, const margin_row *r, real *row, int nb, const real *cs, int yl,
                            int exclude_target)
{
    const head_neg n = row_neg(l, r, cs);
    if (n.kind == HEAD_NEG_IDENTITY)
        head_row_logits(row, nb, (real)r->a, cs, NULL);
    else
        head_row_margin_logits(row, nb, (real)r->a, cs, &n);
    if (yl >= 0)
        row[yl] = exclude_target ? (real)-INFINITY : (real)(r->a * r->uy);
}

/* Every element as a non-target through the row kernel, then the target's terms replaced (its
 * non-target value recomputed exactly as the kernel did, and subtracted). */
double loss_margin_row_grad(const loss *l, const margin_row *r, real *row, int nb, const real *cs, int yl, double g)
{
    const head_neg n = row_neg(l, r, cs);
    const real a = (real)r->a, lse_hi = (real)r->lse, lse_lo = (real)(r->lse - (double)lse_hi), gr = (real)g;
    const real gy = yl >= 0 ? row[yl] : 0, cy = yl >= 0 && cs ? cs[yl] : 1;
    double zdot = n.kind == HEAD_NEG_IDENTITY ? head_row_grad(row, nb, a, cs, NULL, lse_hi, lse_lo, gr)
                                              : head_row_margin_grad(row, nb, a, cs, &n, lse_hi, lse_lo, gr);
    if (yl >= 0) {
        real du0 = 1;
        const real u0 = n.kind == HEAD_NEG_IDENTITY ? gy * cy : head_neg_u(&n, gy * cy, &du0);
        const real dz0 = gr * REXP((a * u0 - lse_hi) - lse_lo);
        const double z = (double)(real)(r->a * r->uy), dz = g * exp(z - r->lse) - g;
        zdot += dz * r->uy - (double)(dz0 * u0);
        row[yl] = (real)(r->a * dz * r->duy * (cs ? cs[yl] : 1));
    }
    return zdot;
}

/* The best sub-centre of class j in a row of nb·kr values G·cs: the first of the largest. */
static int best_sub(const real *row, const real *cs, int j, int kr, real *best)
{
    int bk = 0;
    real bv = (real)(row[(size_t)j * kr] * cs[(size_t)j * kr]);
    for (int k = 1; k < kr; k++) {
        const real v = (real)(row[(size_t)j * kr + k] * cs[(size_t)j * kr + k]);
        if (v > bv) {
            bv = v;
            bk = k;
        }
    }
    *best = bv;
    return bk;
}

void loss_margin_row_reduce(real *row, int nb, int kr, const real *cs)
{
    for (int j = 0; j < nb; j++) { /* row[j] is written after row[j·kr ..] is read: j ≤ j·kr */
        real bv;
        best_sub(row, cs, j, kr, &bv);
        row[j] = bv;
    }
}

double loss_margin_row_grad_sub(const loss *l, const margin_row *r, real *row, int nb, int kr, const real *cs, int yl,
                                double g)
{
    const double a = r->a;
    double zdot = 0;
    for (int j = 0; j < nb; j++) {
        real c;
        const int bk = best_sub(row, cs, j, kr, &c);
        double du = r->duy, u = r->uy;
        if (j != yl)
            u = loss_margin_neg(l, r, (double)c, &du);
        const double z = (double)(real)(a * u);
        const double dz = g * exp(z - r->lse) - (j == yl ? g : 0);
        zdot += dz * u;
        for (int k = 0; k < kr; k++)
            row[(size_t)j * kr + k] = 0;
        row[(size_t)j * kr + bk] = (real)(a * dz * du * cs[(size_t)j * kr + bk]);
    }
    return zdot;
}

/* ---- the plain path ---- */

/* Class cosines cs (B,C) from the full cosines cf (B,C·K): the max over each class's K
 * sub-centres (the first on ties), its index in argk. */
static void subcenter_max(const loss *l, real *cs, const real *cf, int B)
{
    const int C = l->num_classes, K = loss_margin_rows_per_class(&l->cfg);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < C; j++) {
            const real *v = cf + (size_t)i * C * K + (size_t)j * K;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (v[k] > v[best])
                    best = k;
            cs[(size_t)i * C + j] = v[best];
            l->margin->argk[(size_t)i * C + j] = best;
        }
}

/* Cosines of the batch: F̂, ‖f‖, Ŵ, ‖w‖, full (B,R) and class (B,C) cosines. Returns the class
 * cosines (cf itself when K = 1). */
static real *plain_cosines(const loss *l, real *cf, real *csbuf, real *fhat, real *fnorm, real *what, real *wnorm,
                           const real *feat, int B)
{
    const int d = l->dim, C = l->num_classes, R = C * loss_margin_rows_per_class(&l->cfg);
    loss_l2_normalize_rows(fhat, fnorm, feat, B, d);
    loss_l2_normalize_rows(what, wnorm, l->W, R, d);
    gemm(0, 1, B, R, d, 1, fhat, d, what, d, 0, cf, R);
    if (R == C)
        return cf;
    subcenter_max(l, csbuf, cf, B);
    return csbuf;
}

double loss_margin_fb(loss *l, real *dfeat, real *per_sample, const real *feat, const int *labels, int B)
{
    const int d = l->dim, C = l->num_classes, R = C * loss_margin_rows_per_class(&l->cfg);
    loss_margin *mg = l->margin;
    real *cf = l->scratch, *csb = cf + (size_t)B * R, *z = csb + (size_t)B * C, *fhat = z + (size_t)B * C;
    real *fnorm = fhat + (size_t)B * d, *what = fnorm + B, *wnorm = what + (size_t)R * d, *dfhat = wnorm + R;
    real *dwhat = dfhat + (size_t)B * d;
    real *cs = plain_cosines(l, cf, csb, fhat, fnorm, what, wnorm, feat, B);
    const double g = 1.0 / B;
    for (int i = 0; i < B; i++) {
        const real *row = cs + (size_t)i * C;
        mg->cy[i] = row[labels[i]];
        if (l->cfg.type == LOSS_ADACOS && l->cfg.dynamic) {
            double sum = 0;
            for (int j = 0; j < C; j++)
                if (j != labels[i])
                    sum += exp(mg->s * (double)row[j]);
            mg->negsum[i] = sum;
        }
    }
    loss_margin_rows(l, mg->cy, fnorm, mg->negsum, B);
    double total = 0;
    for (int i = 0; i < B; i++) {
        margin_row *r = &mg->rows[i];
        real *row = cs + (size_t)i * C, *zr = z + (size_t)i * C;
        const int y = labels[i];
        for (int j = 0; j < C; j++) {
            double du;
            zr[j] = (real)(r->a * loss_margin_neg(l, r, (double)row[j], &du));
        }
        zr[y] = (real)(r->a * r->uy);
        const double zy = zr[y];
        const double ce = loss_ce_row(zr, C, y, g, NULL);
        r->lse = ce + zy;
        total += ce;
        if (per_sample)
            per_sample[i] = (real)ce;
        for (int j = 0; j < C; j++) {
            double du = r->duy;
            if (j != y)
                loss_margin_neg(l, r, (double)row[j], &du);
            row[j] = (real)(r->a * zr[j] * du);
        }
    }
    total += loss_margin_extra(l, per_sample, B);
    if (cs != cf) { /* ∂L/∂cos to the attaining sub-centres */
        const int K = R / C;
        memset(cf, 0, (size_t)B * R * sizeof *cf);
        for (size_t k = 0; k < (size_t)B * C; k++)
            cf[k / C * R + (k % C) * K + mg->argk[k]] = cs[k];
    }
    gemm(1, 0, R, d, B, 1, cf, R, fhat, d, 0, dwhat, d);
    loss_l2_normalize_backward(l->dW, dwhat, what, wnorm, R, d);
    if (dfeat) {
        gemm(0, 0, B, d, R, 1, cf, R, what, d, 0, dfhat, d);
        loss_l2_normalize_backward(dfeat, dfhat, fhat, fnorm, B, d);
        loss_margin_radial(l, dfeat, fhat, B, d, g);
    }
    return total / B;
}

void loss_margin_predict(const loss *l, int *pred, const real *feat, int B)
{
    const int d = l->dim, C = l->num_classes, R = C * loss_margin_rows_per_class(&l->cfg);
    real *cf = l->scratch, *csb = cf + (size_t)B * R, *z = csb + (size_t)B * C, *fhat = z + (size_t)B * C;
    real *fnorm = fhat + (size_t)B * d, *what = fnorm + B, *wnorm = what + (size_t)R * d;
    const real *cs = plain_cosines(l, cf, csb, fhat, fnorm, what, wnorm, feat, B);
    loss_argmax_rows(pred, cs, B, C);
}
