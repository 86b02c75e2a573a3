/* identify.c — identification metrics (docs/evaluation.md §4). Open-set: the test identities (disjoint from
 * training) are split into a gallery of one template per identity and probes, every probe is ranked
 * against all templates by cosine, and the Cumulative Match Characteristic CMC(r) — the fraction of
 * probes whose identity is among the r most similar templates — is reported, with rank-1 = CMC(1)
 * (the identification protocol of FERET, Phillips, Moon, Rizvi & Rauss 2000, "The FERET evaluation
 * methodology for face-recognition algorithms", which MegaFace and IJB extend with distractors —
 * here the optional single-sample identities). Closed-set: the nearest class weight by cosine, the
 * classifier that NormFace's agents and every normalised-softmax loss imply. Cosines of many pairs
 * are one gemm of the row-normalised matrices, done in blocks of rows so that scratch stays about
 * 4M scores whatever the gallery size; the probe × gallery product (10^5 × 10^5 at d 512 is 10^13
 * flops) goes through gemm_block (oneDNN's AVX-512 sgemm in the float build) in tiles of gallery
 * columns, each probe keeping only its R best other cosines. See identify.h for ranks and ties. */
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

/* Scores of a probe block against a gallery tile: (ID_BLOCK_ROWS × ID_TILE_COLS) floats, 16 MB per
 * thread in the float build, whatever the gallery size. Blocks of 1024 probes keep dnnl_sgemm's M large
 * enough that repacking each gallery tile is small next to the multiply. */
#define ID_BLOCK_ROWS 1024
#define ID_TILE_COLS 4096

/* A probe's R highest cosines over the OTHER templates seen so far: a min-heap of n ≤ R values. */
typedef struct {
    real *v;
    int n, R;
} top_r;

static void top_push(top_r *t, real x)
{
    real *h = t->v;
    if (t->n < t->R) { /* sift up */
        int i = t->n++;
        while (i > 0 && h[(i - 1) / 2] > x) {
            h[i] = h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        h[i] = x;
        return;
    }
    if (!(x > h[0]))
        return;
    int i = 0; /* replace the minimum, sift down */
    for (;;) {
        int c = 2 * i + 1;
        if (c >= t->n)
            break;
        if (c + 1 < t->n && h[c + 1] < h[c])
            c++;
        if (!(h[c] < x))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

/* The gallery index of each probe's own identity (the first template with its label; −1: none). */
static int *own_templates(const gallery_split *split, const int *labels)
{
    int maxl = -1;
    for (int g = 0; g < split->n_gallery; g++)
        if (split->gallery_label[g] > maxl)
            maxl = split->gallery_label[g];
    int *first = nb_malloc(((size_t)maxl + 2) * sizeof *first);
    for (int c = 0; c <= maxl; c++)
        first[c] = -1;
    for (int g = split->n_gallery - 1; g >= 0; g--)
        if (split->gallery_label[g] >= 0)
            first[split->gallery_label[g]] = g;
    int *own = nb_malloc((size_t)(split->n_probe > 0 ? split->n_probe : 1) * sizeof *own);
    for (int p = 0; p < split->n_probe; p++) {
        const int y = labels[split->probe[p]];
        own[p] = y >= 0 && y <= maxl ? first[y] : -1;
    }
    free(first);
    return own;
}

/* One probe block (b probes from p0) against every gallery tile: each probe's own cosine and its
 * R best other cosines, then its rank. rank = 1 + #{other templates with cosine ≥ own}: when that
 * count is below R every such cosine is among the R best kept, and otherwise the R best are all
 * ≥ own, so the rank (> R) is not counted either way — the same ranks as scoring the whole row. */
static void rank_block(long *at_rank, const real *prb, int b, int p0, const int *own, const real *gal, int G, int d,
                       int R, real *sim, real *heaps)
{
    real *own_s = nb_malloc((size_t)b * sizeof *own_s);
    int *fill = nb_calloc((size_t)b, sizeof *fill);
    for (int g0 = 0; g0 < G; g0 += ID_TILE_COLS) {
        const int gc = G - g0 < ID_TILE_COLS ? G - g0 : ID_TILE_COLS;
        /* sim (b, gc) = P̂ Ĝᵀ over templates g0 .. g0 + gc */
        gemm_block(0, 1, b, gc, d, 1, prb, d, gal + (size_t)g0 * d, d, 0, sim, gc);
        for (int i = 0; i < b; i++) {
            top_r t = {heaps + (size_t)i * R, fill[i], R};
            const real *si = sim + (size_t)i * gc;
            const int o = own[p0 + i] - g0;
            for (int g = 0; g < gc; g++) {
                if (g == o)
                    own_s[i] = si[g];
                else if (si[g] == si[g]) /* a NaN cosine is ≥ nothing */
                    top_push(&t, si[g]);
            }
            fill[i] = t.n;
        }
    }
    for (int i = 0; i < b; i++) {
        int rank = G + 1; /* identity missing from the gallery: never matched */
        if (own[p0 + i] >= 0) {
            rank = 1;
            for (int k = 0; k < fill[i]; k++)
                rank += heaps[(size_t)i * R + k] >= own_s[i];
        }
        if (rank <= R)
            at_rank[rank - 1]++;
    }
    free(own_s);
    free(fill);
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
    int *own = own_templates(split, labels);
    long *at_rank = nb_calloc((size_t)R + 1, sizeof *at_rank); /* at_rank[r−1]: probes of rank r ≤ R */
    const int B = ID_BLOCK_ROWS, blocks = (P + B - 1) / B;
    /* Each thread takes whole probe blocks and multiplies them single-threaded (gemm_block inside
     * a parallel region), as the classification head does: no barrier per tile, and every score
     * is the same at any thread count. The counts are integers, so their sum is too. */
#pragma omp parallel
    {
        real *prb = nb_malloc((size_t)B * d * sizeof *prb);
        real *sim = nb_malloc((size_t)B * ID_TILE_COLS * sizeof *sim);
        real *heaps = nb_malloc((size_t)B * R * sizeof *heaps);
        long *mine = nb_calloc((size_t)R + 1, sizeof *mine);
#pragma omp for schedule(dynamic, 1)
        for (int k = 0; k < blocks; k++) {
            const int p0 = k * B, b = P - p0 < B ? P - p0 : B;
            for (int i = 0; i < b; i++)
                normalize_rows(prb + (size_t)i * d, feat + (size_t)split->probe[p0 + i] * d, 1, d);
            rank_block(mine, prb, b, p0, own, gal, G, d, R, sim, heaps);
        }
#pragma omp critical
        for (int r = 0; r < R; r++)
            at_rank[r] += mine[r];
        free(prb);
        free(sim);
        free(heaps);
        free(mine);
    }
    long cum = 0;
    for (int r = 0; r < R; r++) {
        cum += at_rank[r];
        res->cmc[r] = P > 0 ? (double)cum / P : NAN;
    }
    res->rank1 = res->cmc[0];
    free(gal);
    free(own);
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
