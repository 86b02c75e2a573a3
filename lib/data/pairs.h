/* pairs.h — verification pairs (LFW protocol, docs/evaluation.md §4): two sample indices of one dataset, whether
 * they show the same identity, and the fold (0..folds−1) the pair belongs to. Pairs come from an
 * LFW pairs.txt (lfw.c) or are drawn LFW-style from a test split (verify.c). */
#ifndef NB_PAIRS_H
#define NB_PAIRS_H

typedef struct {
    int a, b;  /* sample indices */
    int same;  /* 1: same identity (positive), 0: different */
    int fold;  /* 0 .. folds−1 */
} verify_pair;

typedef struct {
    verify_pair *p;
    int n, folds;
} pair_list;

#endif
