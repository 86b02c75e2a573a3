/* claims_norm_quality.h — docs/claims.md §5 claim 7, the verdict of "feature norm carries image
 * quality" from the claim-7 experiments' summary.csv files (runners/claims_norm_quality.c). */
#ifndef NB_CLAIMS_NORM_QUALITY_H
#define NB_CLAIMS_NORM_QUALITY_H

#include <stddef.h>

/* The claim-7 experiment files, as `normbench claims` names them in its table. */
#define CLAIM_NORM_QUALITY_FILE "experiments/claim7_norm_quality.yaml"

/* Loads <results>/<experiment>/summary.csv of experiments/claim7_norm_quality.yaml and
 * experiments/claim7_norm_quality_fmnist.yaml, writes the numbers cell into nums (size bytes) and
 * returns the verdict: "agrees", "partly", "inconclusive", "disagrees", or "—" (nums then says
 * "not run yet (k of N runs complete)"). The rule is written next to the function. */
const char *claim_norm_quality(const char *results, char *nums, size_t size);

#endif
