/* table.c — the one table of loss types: name, traits and the `loss:` keys each type reads
 * (docs/losses.md §1). Everything else that lists loss types by name — the config reader's
 * loss.type values, its "does not apply to loss type" check, run folder names, plots — asks
 * this table. */
#include "loss/table.h"

#include <string.h>

enum {
    T_CLASSIFIER = 1,     /* closed-set predictions from class weights or agents */
    T_PK = 2,             /* needs P×K batches */
    T_CLASSIFICATION = 4, /* class-weight head (softmax, or the binary losses' one pass): also reads
                           * sample_rate and head_dtype */
    T_NORMALIZED = 8,     /* the loss sees the features only through f̂ = f/‖f‖ */
};

typedef struct {
    const char *name;
    unsigned traits;
    const char *const *keys; /* NULL-terminated; besides the keys every type reads */
} loss_type_info;

/* Keys every type reads, and the ones of the classification family's head. */
static const char *const all_keys[] = {"type", "center_weight", "center_rate", NULL};
static const char *const head_keys[] = {"sample_rate", "head_dtype", NULL};

/* cosface does not take detach_margin: its margin is an additive constant, so the detached and
 * exact gradients coincide and the key would be a silent no-op. */
static const char *const softmax_keys[] = {"bias", NULL};
static const char *const l2softmax_keys[] = {"bias", "alpha", "alpha_p", "learn_alpha", "scale_lr_mult",
                                             "scale_min", NULL};
static const char *const normface_keys[] = {"s", "learn_s", "scale_lr_mult", "scale_min", NULL};
static const char *const sphereface_keys[] = {"m",          "lambda_base",   "lambda_gamma", "lambda_power",
                                              "lambda_min", "detach_margin", NULL};
static const char *const cosface_keys[] = {"s", "m", NULL};
static const char *const arcface_keys[] = {"s", "m", "easy_margin", "detach_margin", NULL};
static const char *const combined_keys[] = {"s", "m1", "m2", "m3", "easy_margin", "detach_margin", NULL};
static const char *const c_contrastive_keys[] = {"m_pos", "m_neg", NULL};
static const char *const c_triplet_keys[] = {"m", "pull_positive", NULL};
static const char *const contrastive_keys[] = {"m", NULL};
static const char *const triplet_keys[] = {"m", "mining", NULL};
/* the binary losses (binary.c) and the pair/proxy losses (proxy.c) */
static const char *const sphereface2_keys[] = {"lambda", "r", "m", "t", "lw", "variant", "detach_margin", NULL};
static const char *const uniface_keys[] = {"m", "s", "lambda", "r", NULL};
static const char *const circle_keys[] = {"m", "gamma", NULL};
static const char *const proxy_anchor_keys[] = {"delta", "alpha", "proxy_lr_mult", NULL};
/* docs/losses.md §1b margin losses (margin.c) */
static const char *const mv_softmax_keys[] = {"s", "m", "t", "variant", NULL};
static const char *const curricularface_keys[] = {"s", "m", NULL};
static const char *const subcenter_arcface_keys[] = {"s", "m", "K", NULL};
static const char *const elasticface_keys[] = {"s", "m", "sigma", "plus", "variant", NULL};
static const char *const adacos_keys[] = {"dynamic", NULL};
static const char *const magface_keys[] = {"s", "l_a", "u_a", "l_m", "u_m", "lambda_g", "easy_margin", NULL};
static const char *const adaface_keys[] = {"s", "m", "h", "t_alpha", NULL};

/* sphereface is not T_NORMALIZED: its scale is ‖f_i‖ itself. */
#define CLS (T_CLASSIFIER | T_CLASSIFICATION)
static const loss_type_info types[LOSS_TYPE_COUNT] = {
    [LOSS_SOFTMAX] = {"softmax", CLS, softmax_keys},
    [LOSS_L2SOFTMAX] = {"l2softmax", CLS | T_NORMALIZED, l2softmax_keys},
    [LOSS_NORMFACE] = {"normface", CLS | T_NORMALIZED, normface_keys},
    [LOSS_SPHEREFACE] = {"sphereface", CLS, sphereface_keys},
    [LOSS_COSFACE] = {"cosface", CLS | T_NORMALIZED, cosface_keys},
    [LOSS_ARCFACE] = {"arcface", CLS | T_NORMALIZED, arcface_keys},
    [LOSS_COMBINED] = {"combined", CLS | T_NORMALIZED, combined_keys},
    [LOSS_C_CONTRASTIVE] = {"c_contrastive", T_CLASSIFIER | T_NORMALIZED, c_contrastive_keys},
    [LOSS_C_TRIPLET] = {"c_triplet", T_CLASSIFIER | T_NORMALIZED, c_triplet_keys},
    [LOSS_CONTRASTIVE] = {"contrastive", T_PK | T_NORMALIZED, contrastive_keys},
    [LOSS_TRIPLET] = {"triplet", T_PK | T_NORMALIZED, triplet_keys},
    [LOSS_SPHEREFACE2] = {"sphereface2", CLS | T_NORMALIZED, sphereface2_keys},
    [LOSS_UNIFACE] = {"uniface", CLS | T_NORMALIZED, uniface_keys},
    [LOSS_CIRCLE] = {"circle", T_PK | T_NORMALIZED, circle_keys},
    [LOSS_PROXY_ANCHOR] = {"proxy_anchor", T_CLASSIFIER | T_NORMALIZED, proxy_anchor_keys},
    /* docs/losses.md §1b margin losses; magface and adaface read ‖f‖ (not T_NORMALIZED). */
    [LOSS_MV_SOFTMAX] = {"mv_softmax", CLS | T_NORMALIZED, mv_softmax_keys},
    [LOSS_CURRICULARFACE] = {"curricularface", CLS | T_NORMALIZED, curricularface_keys},
    [LOSS_SUBCENTER_ARCFACE] = {"subcenter_arcface", CLS | T_NORMALIZED, subcenter_arcface_keys},
    [LOSS_ELASTICFACE] = {"elasticface", CLS | T_NORMALIZED, elasticface_keys},
    [LOSS_ADACOS] = {"adacos", CLS | T_NORMALIZED, adacos_keys},
    [LOSS_MAGFACE] = {"magface", CLS, magface_keys},
    [LOSS_ADAFACE] = {"adaface", CLS, adaface_keys},
};
#undef CLS

static int valid(loss_type t) { return (int)t >= 0 && t < LOSS_TYPE_COUNT; }

const char *loss_type_name(loss_type t) { return valid(t) ? types[t].name : "?"; }

int loss_type_from_name(const char *name)
{
    for (int t = 0; t < LOSS_TYPE_COUNT; t++)
        if (strcmp(name, types[t].name) == 0)
            return t;
    return -1;
}

static int has_trait(loss_type t, unsigned trait) { return valid(t) && (types[t].traits & trait) != 0; }

int loss_has_classifier(loss_type t) { return has_trait(t, T_CLASSIFIER); }

int loss_needs_pk(loss_type t) { return has_trait(t, T_PK); }

int loss_is_classification(loss_type t) { return has_trait(t, T_CLASSIFICATION); }

int loss_normalizes_features(loss_type t) { return has_trait(t, T_NORMALIZED); }

static int in_list(const char *const *list, const char *key)
{
    for (; *list; list++)
        if (strcmp(*list, key) == 0)
            return 1;
    return 0;
}

int loss_uses_key(loss_type t, const char *key)
{
    if (!valid(t))
        return 0;
    return in_list(all_keys, key) || (loss_is_classification(t) && in_list(head_keys, key)) ||
           in_list(types[t].keys, key);
}
