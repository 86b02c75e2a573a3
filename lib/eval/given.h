/* given.h — the evaluation of embeddings computed elsewhere (`normbench eval`; docs/evaluation.md
 * "Evaluating given embeddings"): no model, no training — features, optionally the features of
 * the flipped images, a pair list and/or labels — judged by every protocol of §4 and §4b side by
 * side (exact, Youden, optimistic, ROC / AUC / EER / TAR@FAR, InsightFace's verification.py,
 * OpenSphere's get_results), error-versus-reject curves (§4c: by the given quality or the feature
 * norm, and at random; erc.csv) and, from labels, open-set identification (rank-1 and CMC from a
 * gallery/probe split). Writes into a folder: eval.csv, roc.csv, erc.csv, cmc.csv, headline.txt (the table
 * the command prints) and final.csv (the headline numbers; written last, the completion marker
 * of io/runfolder.h), each atomically. */
#ifndef NB_GIVEN_H
#define NB_GIVEN_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "core/real.h"
#include "data/pairs.h"

typedef struct {
    const real *feat;      /* (n, d) features as given (before any normalisation) */
    const real *feat_flip; /* (n, d) features of the flipped images, or NULL */
    int n, d;
    const pair_list *pairs; /* the pairs to verify, or NULL: drawn from labels */
    const int *labels;      /* (n) identities, or NULL: no identification and no drawn pairs */
    const double *quality;  /* (n) quality scores for the error-versus-reject curves, or NULL: the
                               feature norm before normalisation */
} given_input;

typedef struct {
    int draw_pairs;    /* pairs drawn LFW-style from labels when no pair list is given (0: none) */
    int folds;         /* folds of the drawn pairs (the pair list's own otherwise) */
    int cmc_ranks;     /* ranks of the CMC curve */
    double far_target; /* InsightFace's VAL@FAR target (its default 1e-3) */
    uint64_t seed;     /* pair drawing and the gallery split */
} given_options;

/* The headline numbers (NAN where not measured), in final.csv order. */
#define GIVEN_SUMMARY_COLS 24
typedef struct {
    double v[GIVEN_SUMMARY_COLS];
} given_summary;
extern const char *const given_summary_names[GIVEN_SUMMARY_COLS];

/* Evaluates in and writes the files above into dir (which must exist). Returns 0, or −1 with err
 * (too few labels for the pairs, a pair outside the rows, a file that cannot be written); then
 * final.csv is not written. */
int given_evaluate(given_summary *s, const given_input *in, const given_options *opt, const char *dir,
                   nb_error *err);
/* The headline table of s, as headline.txt holds it. */
void given_print_table(FILE *f, const given_summary *s);

#endif
