/* geometry.c — the hypersphere diagnostics of docs/evaluation.md §4 that the claims of §5 are read from: the
 * feature norm before normalisation per quality level (L2-softmax, Ranjan et al. 2017, Fig. 1, and
 * NormFace, Wang et al. 2017, Fig. 2: the norm of softmax features tracks how easy/clean a sample
 * is), the distribution of θ_y, the angle between a feature and its class weight (the quantity the
 * margin losses SphereFace/CosFace/ArcFace act on; ArcFace, Deng et al. 2019, plots its
 * distribution over training), and the minimum angle between class weights (how far the weights are from
 * SphereFace's/NormFace's evenly spread ideal). Norms use Welford's running mean and variance in
 * double; angles use θ = 2·atan2(‖â − b̂‖, ‖â + b̂‖), stable at 0° and 180° (W. Kahan 2006, "How futile
 * are mindless assessments of roundoff in floating-point computation?"). See geometry.h. */
#include "eval/geometry.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/gemm.h"

/* Welford accumulator: count, mean and Σ(x − mean)². */
typedef struct {
    long n;
    double mean, m2;
} running;

static void running_add(running *r, double x)
{
    r->n++;
    double delta = x - r->mean;
    r->mean += delta / r->n;
    r->m2 += delta * (x - r->mean);
}

static double running_mean(const running *r) { return r->n > 0 ? r->mean : NAN; }
static double running_sd(const running *r) { return r->n > 1 ? sqrt(r->m2 / (r->n - 1)) : NAN; }

static double row_norm(const real *x, int d)
{
    double ss = 0;
    for (int k = 0; k < d; k++)
        ss += (double)x[k] * x[k];
    return sqrt(ss);
}

/* Angle in degrees between a and b (d): 2·atan2(‖â − b̂‖, ‖â + b̂‖); 90° if either is zero. */
static double angle_deg(const real *a, const real *b, int d)
{
    const double na = row_norm(a, d), nb = row_norm(b, d);
    if (na == 0 || nb == 0)
        return 90.0;
    double dm = 0, dp = 0;
    for (int k = 0; k < d; k++) {
        const double x = a[k] / na, y = b[k] / nb;
        dm += (x - y) * (x - y);
        dp += (x + y) * (x + y);
    }
    return 2 * atan2(sqrt(dm), sqrt(dp)) * (180.0 / M_PI);
}

int geometry_norm_stats(norm_stats *s, const real *feat, const uint8_t *quality, int n, int d, int levels,
                        nb_error *err)
{
    memset(s, 0, sizeof *s);
    if (levels < 1)
        return nb_error_set(err, NULL, 0, 0, "geometry: the number of quality levels must be ≥ 1, got %d", levels);
    if (quality)
        for (int i = 0; i < n; i++)
            if (quality[i] >= levels)
                return nb_error_set(err, NULL, 0, 0, "geometry: sample %d has quality %d, outside [0, %d)", i,
                                    quality[i], levels);
    running all = {0, 0, 0};
    running *lv = nb_calloc((size_t)levels, sizeof *lv);
    for (int i = 0; i < n; i++) {
        const double r = row_norm(feat + (size_t)i * d, d);
        running_add(&all, r);
        running_add(&lv[quality ? quality[i] : 0], r);
    }
    s->levels = levels;
    s->n = n;
    s->mean = running_mean(&all);
    s->sd = running_sd(&all);
    s->count = nb_malloc((size_t)levels * sizeof *s->count);
    s->level_mean = nb_malloc((size_t)levels * sizeof *s->level_mean);
    s->level_sd = nb_malloc((size_t)levels * sizeof *s->level_sd);
    for (int q = 0; q < levels; q++) {
        s->count[q] = (int)lv[q].n;
        s->level_mean[q] = running_mean(&lv[q]);
        s->level_sd[q] = running_sd(&lv[q]);
    }
    free(lv);
    return 0;
}

void norm_stats_free(norm_stats *s)
{
    free(s->count);
    free(s->level_mean);
    free(s->level_sd);
    memset(s, 0, sizeof *s);
}

int geometry_theta_y(double *theta, const real *feat, const int *labels, int n, int d, const real *W, int C,
                     nb_error *err)
{
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= C)
            return nb_error_set(err, NULL, 0, 0, "geometry: sample %d has label %d, outside the %d classes", i,
                                labels[i], C);
    for (int i = 0; i < n; i++)
        theta[i] = angle_deg(feat + (size_t)i * d, W + (size_t)labels[i] * d, d);
    return 0;
}

int geometry_theta_hist(long *hist, double *mean_theta, const real *feat, const int *labels, int n, int d,
                        const real *W, int C, int bins, nb_error *err)
{
    if (bins < 1)
        return nb_error_set(err, NULL, 0, 0, "geometry: the θ_y histogram needs ≥ 1 bin, got %d", bins);
    double *theta = nb_malloc((size_t)(n > 0 ? n : 1) * sizeof *theta);
    if (geometry_theta_y(theta, feat, labels, n, d, W, C, err)) {
        free(theta);
        return -1;
    }
    memset(hist, 0, (size_t)bins * sizeof *hist);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        int b = (int)floor(theta[i] * bins / 180.0);
        hist[b < 0 ? 0 : b >= bins ? bins - 1 : b]++;
        sum += theta[i];
    }
    if (mean_theta)
        *mean_theta = n > 0 ? sum / n : NAN;
    free(theta);
    return 0;
}

double geometry_min_weight_angle(int *pi, int *pj, const real *W, int C, int d)
{
    if (pi)
        *pi = -1;
    if (pj)
        *pj = -1;
    if (C < 2)
        return NAN;
    /* Ŵ: rows normalised in double, zero rows kept zero (cosine 0 with every row) */
    real *w = nb_malloc((size_t)C * d * sizeof *w);
    for (int j = 0; j < C; j++) {
        const double nr = row_norm(W + (size_t)j * d, d), inv = nr > 0 ? 1 / nr : 0;
        for (int k = 0; k < d; k++)
            w[(size_t)j * d + k] = (real)(W[(size_t)j * d + k] * inv);
    }
    /* A pair is re-measured exactly when its gemm cosine is within tol of the running maximum:
     * tol covers the rounding of a cosine in `real`, so the truly closest pair is never skipped. */
#ifdef NB_DOUBLE
    const double tol = 1e-10;
#else
    const double tol = 1e-4;
#endif
    int rows = (1 << 22) / C;
    rows = rows < 1 ? 1 : rows > 1024 ? 1024 : rows;
    real *sim = nb_malloc((size_t)rows * C * sizeof *sim);
    double best_cos = -INFINITY, best_angle = INFINITY;
    int bi = -1, bj = -1;
    for (int i0 = 0; i0 < C; i0 += rows) {
        const int b = C - i0 < rows ? C - i0 : rows;
        /* sim (b, C) = Ŵ[i0 : i0+b] Ŵᵀ */
        gemm(0, 1, b, C, d, 1, w + (size_t)i0 * d, d, w, d, 0, sim, C);
        for (int i = 0; i < b; i++)
            for (int j = i0 + i + 1; j < C; j++) {
                const double c = sim[(size_t)i * C + j];
                if (c < best_cos - tol)
                    continue;
                if (c > best_cos)
                    best_cos = c;
                const double a = angle_deg(W + (size_t)(i0 + i) * d, W + (size_t)j * d, d);
                if (a < best_angle) {
                    best_angle = a;
                    bi = i0 + i;
                    bj = j;
                }
            }
    }
    free(w);
    free(sim);
    if (pi)
        *pi = bi;
    if (pj)
        *pj = bj;
    return best_angle;
}
