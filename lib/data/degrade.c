/* degrade.c — the degradations of docs/data.md §3 for the L2-softmax "hard sample" experiments (Ranjan
 * et al. 2017): blur σ, noise σ, downscale and occlusion on a seeded fraction of any dataset,
 * with the level recorded as the sample's quality; and the shared image operations (separable
 * Gaussian blur, area and bilinear resizing). See degrade.h.
 *
 * Which samples are degraded, and at which level, is drawn once from the seed by selection
 * sampling (Knuth's Algorithm S: exactly round(fraction·n) of n, in one pass). The pixels of
 * degraded sample i come from an rng seeded by hash(seed, i), so a streamed dataset can degrade
 * any sample alone, in any order, from any thread, and gets the pixels an in-memory copy gets. */
#include "data/degrade.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { TAG_SELECT = 1, TAG_PIXELS = 2 };

void degrade_defaults(degrade_options *o)
{
    memset(o, 0, sizeof *o);
    o->fraction = 0.5;
    o->levels = 1;
    o->downscale = 1.0;
}

static int check_range(const char *name, double v, double lo, double hi, nb_error *err)
{
    if (!(v >= lo && v <= hi))
        return nb_error_set(err, NULL, 0, 0, "degradation option '%s' = %g is out of range [%g, %g]",
                            name, v, lo, hi);
    return 0;
}

int degrade_check(const degrade_options *o, nb_error *err)
{
    if (check_range("fraction", o->fraction, 0, 1, err) || check_range("blur", o->blur, 0, 100, err) ||
        check_range("noise", o->noise, 0, 100, err) || check_range("downscale", o->downscale, 1, 1000, err) ||
        check_range("occlusion", o->occlusion, 0, 1, err) ||
        check_range("occlusion_value", o->occlusion_value, -1e6, 1e6, err))
        return -1;
    if (o->levels < 1 || o->levels > 255)
        return nb_error_set(err, NULL, 0, 0, "degradation option 'levels' = %d is out of range [1, 255]",
                            o->levels);
    return 0;
}

static int any_op(const degrade_options *o)
{
    return o->blur > 0 || o->noise > 0 || o->downscale > 1 || o->occlusion > 0;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* k[t + r] = exp(−t²/(2σ²)) / Σ, t = −r..r */
void image_blur_gaussian(float *x, float *tmp, int c, int h, int w, double sigma)
{
    if (!(sigma > 0))
        return;
    int r = (int)ceil(3.0 * sigma);
    float *k = nb_malloc((size_t)(2 * r + 1) * sizeof *k);
    double sum = 0.0;
    for (int t = -r; t <= r; t++)
        sum += exp(-(double)t * t / (2.0 * sigma * sigma));
    for (int t = -r; t <= r; t++)
        k[t + r] = (float)(exp(-(double)t * t / (2.0 * sigma * sigma)) / sum);
    for (int ch = 0; ch < c; ch++) {
        float *p = x + (size_t)ch * h * w, *q = tmp + (size_t)ch * h * w;
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                float acc = 0.0f;
                for (int t = -r; t <= r; t++)
                    acc += k[t + r] * p[(size_t)y * w + clampi(xx + t, 0, w - 1)];
                q[(size_t)y * w + xx] = acc;
            }
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                float acc = 0.0f;
                for (int t = -r; t <= r; t++)
                    acc += k[t + r] * q[(size_t)clampi(y + t, 0, h - 1) * w + xx];
                p[(size_t)y * w + xx] = acc;
            }
    }
    free(k);
}

/* One line of n samples (stride is) to m samples (stride os):
 * out[o] = (1/s) Σ_i |[i, i+1) ∩ [o·s, (o+1)·s)| · in[i], s = n/m. */
static void area_line(float *out, long os, const float *in, long is, int n, int m)
{
    double s = (double)n / m;
    for (int o = 0; o < m; o++) {
        double a = o * s, b = (o + 1) * s;
        int i0 = (int)floor(a), i1 = (int)ceil(b);
        if (i1 > n)
            i1 = n;
        double acc = 0.0;
        for (int i = i0; i < i1; i++) {
            double lo = i > a ? i : a, hi = i + 1 < b ? i + 1 : b;
            acc += (hi - lo) * in[i * is];
        }
        out[o * os] = (float)(acc / s);
    }
}

/* out[o] = (1−f)·in[i0] + f·in[i0+1], src = (o + ½)·n/m − ½ clamped to [0, n−1], i0 = ⌊src⌋. */
static void bilinear_line(float *out, long os, const float *in, long is, int n, int m)
{
    for (int o = 0; o < m; o++) {
        double src = (o + 0.5) * n / m - 0.5;
        if (src < 0)
            src = 0;
        if (src > n - 1)
            src = n - 1;
        int i0 = (int)floor(src), i1 = i0 + 1 < n ? i0 + 1 : n - 1;
        double f = src - i0;
        out[o * os] = (float)((1.0 - f) * in[i0 * is] + f * in[i1 * is]);
    }
}

typedef void (*line_fn)(float *, long, const float *, long, int, int);

/* Rows first into (c, h, ow), then columns into (c, oh, ow). */
static void resize_separable(line_fn f, float *out, const float *in, int c, int h, int w, int oh, int ow)
{
    float *tmp = nb_malloc((size_t)c * h * ow * sizeof *tmp);
    for (int ch = 0; ch < c; ch++) {
        const float *p = in + (size_t)ch * h * w;
        float *t = tmp + (size_t)ch * h * ow, *q = out + (size_t)ch * oh * ow;
        for (int y = 0; y < h; y++)
            f(t + (size_t)y * ow, 1, p + (size_t)y * w, 1, w, ow);
        for (int x = 0; x < ow; x++)
            f(q + x, ow, t + x, ow, h, oh);
    }
    free(tmp);
}

void image_resize_area(float *out, const float *in, int c, int h, int w, int oh, int ow)
{
    resize_separable(area_line, out, in, c, h, w, oh, ow);
}

void image_resize_bilinear(float *out, const float *in, int c, int h, int w, int oh, int ow)
{
    resize_separable(bilinear_line, out, in, c, h, w, oh, ow);
}

void degrade_image(float *x, float *scratch, int c, int h, int w, const degrade_options *o, int level,
                   rng_t *r)
{
    double t = (double)level / o->levels;
    size_t per = (size_t)c * h * w;
    /* Drawn first and always, so the position does not depend on which ops are on. */
    double u_y = rng_uniform(r), u_x = rng_uniform(r);

    image_blur_gaussian(x, scratch, c, h, w, o->blur * t);

    double f = 1.0 + (o->downscale - 1.0) * t;
    if (f > 1.0) {
        int dh = (int)lround(h / f), dw = (int)lround(w / f);
        dh = dh < 1 ? 1 : dh;
        dw = dw < 1 ? 1 : dw;
        if (dh < h || dw < w) {
            image_resize_area(scratch, x, c, h, w, dh, dw);
            image_resize_bilinear(x, scratch, c, dh, dw, h, w);
        }
    }

    double sd = o->noise * t;
    if (sd > 0)
        for (size_t p = 0; p < per; p++)
            x[p] += (float)(sd * rng_normal(r));

    int side = (int)lround(o->occlusion * t * (h < w ? h : w));
    if (side > 0) {
        int y0 = (int)(u_y * (h - side + 1)), x0 = (int)(u_x * (w - side + 1));
        for (int ch = 0; ch < c; ch++)
            for (int y = y0; y < y0 + side; y++)
                for (int xx = x0; xx < x0 + side; xx++)
                    x[((size_t)ch * h + y) * w + xx] = (float)o->occlusion_value;
    }
}

/* level[i] = 0 (clean) or 1..L for exactly round(fraction·n) samples. Algorithm S: sample i is
 * taken with probability (still needed)/(still left). */
static void select_levels(uint8_t *level, int n, const degrade_options *o, uint64_t seed)
{
    rng_t r;
    rng_seed(&r, rng_key(seed, TAG_SELECT, 0));
    long need = lround(o->fraction * n);
    for (int i = 0; i < n; i++) {
        level[i] = 0;
        if (rng_uniform(&r) * (n - i) < need) {
            level[i] = (uint8_t)(1 + rng_below(&r, (uint64_t)o->levels));
            need--;
        }
    }
}

static void degrade_sample(float *x, float *scratch, int c, int h, int w, const degrade_options *o,
                           uint64_t seed, int i, int level)
{
    rng_t r;
    rng_seed(&r, rng_key(seed, TAG_PIXELS, (uint64_t)i));
    degrade_image(x, scratch, c, h, w, o, level, &r);
}

/* The wrapped render callback's state. */
typedef struct {
    void (*render)(const dataset *d, int i, float *out);
    void *source;
    void (*source_free)(void *source);
    degrade_options o;
    uint64_t seed;
    uint8_t *level; /* (n) */
} degrade_source;

static void degrade_render(const dataset *d, int i, float *out)
{
    const degrade_source *s = d->source;
    dataset inner = *d;
    inner.render = s->render;
    inner.source = s->source;
    inner.source_free = s->source_free;
    s->render(&inner, i, out);
    if (s->level[i]) {
        float *scratch = nb_malloc((size_t)d->c * d->h * d->w * sizeof *scratch);
        degrade_sample(out, scratch, d->c, d->h, d->w, &s->o, s->seed, i, s->level[i]);
        free(scratch);
    }
}

static void degrade_source_free(void *p)
{
    degrade_source *s = p;
    if (!s)
        return;
    if (s->source_free)
        s->source_free(s->source);
    free(s->level);
    free(s);
}

int dataset_degrade(dataset *d, const degrade_options *o, uint64_t seed, nb_error *err)
{
    if (degrade_check(o, err))
        return -1;
    if (!d->images && !d->render)
        return nb_error_set(err, NULL, 0, 0, "cannot degrade a dataset with neither images nor a render callback");
    if (!any_op(o) || d->n == 0)
        return 0;
    uint8_t *level = nb_malloc((size_t)d->n);
    select_levels(level, d->n, o, seed);
    if (!d->quality)
        d->quality = nb_calloc((size_t)d->n, 1);
    for (int i = 0; i < d->n; i++) {
        int q = d->quality[i] + level[i];
        d->quality[i] = (uint8_t)(q > 255 ? 255 : q);
    }
    if (d->images) {
        size_t per = (size_t)d->c * d->h * d->w;
        float *scratch = nb_malloc(per * sizeof *scratch);
        for (int i = 0; i < d->n; i++)
            if (level[i])
                degrade_sample(d->images + (size_t)i * per, scratch, d->c, d->h, d->w, o, seed, i, level[i]);
        free(scratch);
        free(level);
        return 0;
    }
    degrade_source *s = nb_malloc(sizeof *s);
    s->render = d->render;
    s->source = d->source;
    s->source_free = d->source_free;
    s->o = *o;
    s->seed = seed;
    s->level = level;
    d->render = degrade_render;
    d->source = s;
    d->source_free = degrade_source_free;
    return 0;
}
