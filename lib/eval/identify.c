/* identify.c — identification metrics (docs/evaluation.md §4). Open-set: the test identities (disjoint from
 * training) are split into a gallery of one template per identity and probes, every probe is ranked
 * against all templates by cosine, and the Cumulative Match Characteristic CMC(r) — the fraction of
 * probes whose identity is among the r most similar templates — is reported, with rank-1 = CMC(1)
 * (the identification protocol of FERET, Phillips, Moon, Rizvi & Rauss 2000, "The FERET evaluation
 * methodology for face-recognition algorithms", which MegaFace and IJB extend with distractors —
 * here the optional single-sample identities). Closed-set: the nearest class weight by cosine, the
 * classifier that NormFace's agents and every normalised-softmax loss imply. Cosines of many pairs
 * are one gemm of the row-normalised matrices, done in blocks of rows so that scratch stays about
 * 4M scores whatever the gallery size. See identify.h for ranks and ties. */
#include "eval/identify.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/gemm.h"

/* y (n, d) = rows of x (n, d) divided by their norm (computed in double); zero rows stay zero. */
static void normalize_rows(real *y, const real *x, int n, int d)
{
    for (int i = 0; i < n; i++) {
        const real *xi = x + (size_t)i * d;
        double ss = 0;
        for (int k = 0; k < d; k++)
            ss += (double)xi[k] * xi[k];
        const double inv = ss > 0 ? 1 / sqrt(ss) : 0;
        for (int k = 0; k < d; k++)
            y[(size_t)i * d + k] = (real)(xi[k] * inv);
    }
}

/* Rows per block so that a block of scores (rows × cols) holds about 4M values. */
static int block_rows(int cols)
{
    int r = (1 << 22) / (cols > 0 ? cols : 1);
    return r < 1 ? 1 : r > 1024 ? 1024 : r;
}

int identify_split(gallery_split *s, const int *labels, int n, rng_t *rng, int distractors, nb_error *err)
{
    memset(s, 0, sizeof *s);
    int C = 0;
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0)
            return nb_error_set(err, NULL, 0, 0, "identify: sample %d has negative label %d", i, labels[i]);
        if (labels[i] + 1 > C)
            C = labels[i] + 1;
    }
    int *count = nb_calloc((size_t)C + 1, sizeof *count);
    for (int i = 0; i < n; i++)
        count[labels[i]]++;
    int with_probes = 0, singles = 0;
    for (int c = 0; c < C; c++) {
        with_probes += count[c] >= 2;
        singles += count[c] == 1;
    }
    if (with_probes == 0) {
        free(count);
        return nb_error_set(err, NULL, 0, 0, "identify: no identity has 2 samples, so there is no probe (%d samples)",
                            n);
    }
    /* the gallery sample of class c is its pick[c]-th sample in index order */
    int *pick = nb_calloc((size_t)C + 1, sizeof *pick);
    for (int c = 0; c < C; c++)
        pick[c] = rng && count[c] >= 2 ? (int)rng_below(rng, (uint64_t)count[c]) : 0;
    const int G = with_probes + (distractors ? singles : 0);
    s->gallery = nb_malloc((size_t)G * sizeof *s->gallery);
    s->gallery_label = nb_malloc((size_t)G * sizeof *s->gallery_label);
    s->probe = nb_malloc((size_t)(n - with_probes - singles > 0 ? n - with_probes - singles : 1) * sizeof *s->probe);
    int *gallery_of = nb_malloc(((size_t)C + 1) * sizeof *gallery_of);
    int *seen = nb_calloc((size_t)C + 1, sizeof *seen);
    for (int c = 0, g = 0; c < C; c++)
        gallery_of[c] = count[c] >= 2 || (distractors && count[c] == 1) ? g++ : -1;
    for (int i = 0; i < n; i++) {
        const int c = labels[i];
        if (gallery_of[c] < 0)
            continue;
        if (seen[c]++ == pick[c]) {
            s->gallery[gallery_of[c]] = i;
            s->gallery_label[gallery_of[c]] = c;
        } else
            s->probe[s->n_probe++] = i;
    }
    s->n_gallery = G;
    s->n_distractors = distractors ? singles : 0;
    free(count);
    free(pick);
    free(gallery_of);
    free(seen);
    return 0;
}

void gallery_split_free(gallery_split *s)
{
    free(s->gallery);
    free(s->gallery_label);
    free(s->probe);
    memset(s, 0, sizeof *s);
}

int identify_evaluate(identify_result *res, const real *feat, const int *labels, int n, int d,
                      const gallery_split *split, int R, nb_error *err)
{
    memset(res, 0, sizeof *res);
    if (R < 1)
        return nb_error_set(err, NULL, 0, 0, "identify: the number of CMC ranks must be ≥ 1, got %d", R);
    const int G = split->n_gallery, P = split->n_probe;
    for (int g = 0; g < G; g++)
        if (split->gallery[g] < 0 || split->gallery[g] >= n)
            return nb_error_set(err, NULL, 0, 0, "identify: gallery sample %d outside the %d samples",
                                split->gallery[g], n);
    for (int p = 0; p < P; p++)
        if (split->probe[p] < 0 || split->probe[p] >= n)
            return nb_error_set(err, NULL, 0, 0, "identify: probe sample %d outside the %d samples", split->probe[p],
                                n);
    res->R = R;
    res->n_probe = P;
    res->n_gallery = G;
    res->cmc = nb_calloc((size_t)R, sizeof *res->cmc);

    real *gal = nb_malloc((size_t)(G > 0 ? G : 1) * d * sizeof *gal);
    for (int g = 0; g < G; g++)
        normalize_rows(gal + (size_t)g * d, feat + (size_t)split->gallery[g] * d, 1, d);
    const int B = block_rows(G);
    real *prb = nb_malloc((size_t)B * d * sizeof *prb);
    real *sim = nb_malloc((size_t)B * (G > 0 ? G : 1) * sizeof *sim);
    long *at_rank = nb_calloc((size_t)R + 1, sizeof *at_rank); /* at_rank[r−1]: probes of rank r ≤ R */
    for (int p0 = 0; p0 < P; p0 += B) {
        const int b = P - p0 < B ? P - p0 : B;
        for (int i = 0; i < b; i++)
            normalize_rows(prb + (size_t)i * d, feat + (size_t)split->probe[p0 + i] * d, 1, d);
        /* sim (b, G) = P̂ Ĝᵀ */
        gemm(0, 1, b, G, d, 1, prb, d, gal, d, 0, sim, G);
        for (int i = 0; i < b; i++) {
            const int y = labels[split->probe[p0 + i]];
            const real *si = sim + (size_t)i * G;
            int own = -1;
            for (int g = 0; g < G && own < 0; g++)
                if (split->gallery_label[g] == y)
                    own = g;
            int rank = 1;
            if (own < 0) /* identity missing from the gallery: never matched */
                rank = G + 1;
            else
                for (int g = 0; g < G; g++)
                    rank += g != own && si[g] >= si[own];
            if (rank <= R)
                at_rank[rank - 1]++;
        }
    }
    long cum = 0;
    for (int r = 0; r < R; r++) {
        cum += at_rank[r];
        res->cmc[r] = P > 0 ? (double)cum / P : NAN;
    }
    res->rank1 = res->cmc[0];
    free(gal);
    free(prb);
    free(sim);
    free(at_rank);
    return 0;
}

void identify_result_free(identify_result *res)
{
    free(res->cmc);
    memset(res, 0, sizeof *res);
}

double classify_nearest_weight(int *pred, const real *feat, const int *labels, int n, int d, const real *W, int C)
{
    real *w = nb_malloc((size_t)(C > 0 ? C : 1) * d * sizeof *w);
    normalize_rows(w, W, C, d);
    const int B = block_rows(C);
    real *f = nb_malloc((size_t)B * d * sizeof *f);
    real *sim = nb_malloc((size_t)B * (C > 0 ? C : 1) * sizeof *sim);
    long correct = 0;
    for (int i0 = 0; i0 < n; i0 += B) {
        const int b = n - i0 < B ? n - i0 : B;
        normalize_rows(f, feat + (size_t)i0 * d, b, d);
        /* sim (b, C) = F̂ Ŵᵀ */
        gemm(0, 1, b, C, d, 1, f, d, w, d, 0, sim, C);
        for (int i = 0; i < b; i++) {
            const real *si = sim + (size_t)i * C;
            int best = 0;
            for (int j = 1; j < C; j++)
                if (si[j] > si[best])
                    best = j;
            if (pred)
                pred[i0 + i] = best;
            if (labels)
                correct += best == labels[i0 + i];
        }
    }
    free(w);
    free(f);
    free(sim);
    return labels && n > 0 ? (double)correct / n : NAN;
}
