/* table.h — the one table of loss types (table.c): per type its config name, its traits and the
 * keys of the `loss:` section it reads. The config reader derives from it the names of loss.type
 * and which loss keys apply to a type; adding a loss means a row of this table (plus its family
 * file, and a schema key in lib/config/ for an option no loss had before). */
#ifndef NB_LOSS_TABLE_H
#define NB_LOSS_TABLE_H

#include "loss/types.h"

/* The config name of t ("softmax", "arcface", …), or "?" outside [0, LOSS_TYPE_COUNT). */
const char *loss_type_name(loss_type t);
/* Returns the type for a config name, or −1. */
int loss_type_from_name(const char *name);
/* Has a classifier (argmax of logits or nearest agent gives closed-set predictions)? */
int loss_has_classifier(loss_type t);
/* Needs P×K batches (contrastive, triplet)? */
int loss_needs_pk(loss_type t);
/* The classification family of docs/losses.md §1 (and sphereface2, uniface of §1b): a
 * class-weight head, which may be blocked, sampled (Partial FC) or stored in bf16 (head.h)? */
int loss_is_classification(loss_type t);
/* Does the loss see the features only through f̂ = f/‖f‖ (so their norm is free)? Every type but
 * softmax and sphereface. */
int loss_normalizes_features(loss_type t);
/* Does the loss use key `key` of the loss config section (e.g. "m" for arcface)? Lets the config
 * reader reject options that do not apply to the chosen type. 0 for a type out of range. */
int loss_uses_key(loss_type t, const char *key);

#endif
