/* synthetic.c — synthetic identities generated from a seed (docs/data.md §3): smooth random prototypes
 * and their shifted, rotated, relit, blurred and noisy samples with a recorded quality level;
 * see synthetic.h.
 *
 * Each prototype is analytic — P(p) = base + Σ_b A_b exp(−|p − m_b|²/(2σ_b²))
 * + Σ_w B_w cos(k_w·(p − c) + φ_w), c the image centre — so a sample is rendered by transforming
 * the parameters instead of resampling pixels: rotating the image by R about c and shifting it by
 * t moves a blob to R(m − c) + c + t and turns a wave into cos((Rk)·(p − c − t) + φ); a Gaussian
 * blur of σ_q turns a blob into A σ²/(σ² + σ_q²) exp(−|p − m|²/(2(σ² + σ_q²))) and scales a wave
 * by exp(−σ_q²|k|²/2). Blobs and waves are separable in x and y, so a sample costs a few dozen
 * exp/cos calls (along a line by recurrences) and one multiply-add per pixel per term; nothing
 * is cached. The per-pixel noise is the Irwin–Hall sum of four 16-bit uniforms from one rng
 * draw, rescaled to unit variance (approximately Gaussian, tails cut at ±3.46σ, and much cheaper
 * than Box–Muller's log, sqrt and cos per value).
 * Every random draw comes from an rng seeded by a hash of (seed, purpose, identity, sample). */
#include "data/synthetic.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SYN_BLOBS 6
#define SYN_WAVES 2
#define SYN_MAX_SIZE 256

enum { TAG_PROTO = 1, TAG_SAMPLE = 2, TAG_QUALITY = 3 };

void synthetic_defaults(synthetic_options *o)
{
    memset(o, 0, sizeof *o);
    o->identities = 100;
    o->test_identities = 100;
    o->images_per_identity = 20;
    o->test_images_per_identity = 10;
    o->size = 32;
    o->quality_levels = 4;
    o->noise = 0.02;
    o->shift = 2.0;
    o->rotation = 10.0;
    o->illumination = 0.2;
    o->quality_blur = 0.8;
    o->quality_noise = 0.05;
    o->seed = 1;
}

static int check_int(const char *name, int v, int lo, int hi, nb_error *err)
{
    if (v < lo || v > hi)
        return nb_error_set(err, NULL, 0, 0, "synthetic option '%s' = %d is out of range [%d, %d]", name, v,
                            lo, hi);
    return 0;
}

static int check_real(const char *name, double v, double lo, double hi, int hi_open, nb_error *err)
{
    if (!(v >= lo && (hi_open ? v < hi : v <= hi)))
        return nb_error_set(err, NULL, 0, 0, "synthetic option '%s' = %g is out of range [%g, %g%s", name, v,
                            lo, hi, hi_open ? ")" : "]");
    return 0;
}

int synthetic_check(const synthetic_options *o, nb_error *err)
{
    if (check_int("identities", o->identities, 10, 100000, err) ||
        check_int("test_identities", o->test_identities, 2, 100000, err) ||
        check_int("images_per_identity", o->images_per_identity, 1, 100000, err) ||
        check_int("test_images_per_identity", o->test_images_per_identity, 1, 100000, err) ||
        check_int("size", o->size, 8, SYN_MAX_SIZE, err) ||
        check_int("quality_levels", o->quality_levels, 1, 255, err) ||
        check_real("noise", o->noise, 0, 10, 0, err) ||
        check_real("shift", o->shift, 0, o->size / 2.0, 0, err) ||
        check_real("rotation", o->rotation, 0, 180, 0, err) ||
        check_real("illumination", o->illumination, 0, 1, 1, err) ||
        check_real("quality_blur", o->quality_blur, 0, o->size, 0, err) ||
        check_real("quality_noise", o->quality_noise, 0, 10, 0, err))
        return -1;
    if ((long long)o->identities * o->images_per_identity > 0x7fffffffLL)
        return nb_error_set(err, NULL, 0, 0,
                            "synthetic options 'identities' × 'images_per_identity' = %d × %d exceeds "
                            "2^31 − 1 samples", o->identities, o->images_per_identity);
    if ((long long)o->test_identities * o->test_images_per_identity > 0x7fffffffLL)
        return nb_error_set(err, NULL, 0, 0,
                            "synthetic options 'test_identities' × 'test_images_per_identity' = %d × %d "
                            "exceeds 2^31 − 1 samples", o->test_identities, o->test_images_per_identity);
    return 0;
}

int synthetic_identity(const synthetic_options *o, int test, int label)
{
    return test ? o->identities + label : label;
}

int synthetic_quality(const synthetic_options *o, int identity, int sample)
{
    rng_t r;
    rng_seed(&r, rng_key2(o->seed, TAG_QUALITY, (uint64_t)identity, (uint64_t)sample));
    return (int)rng_below(&r, (uint64_t)o->quality_levels);
}

/* Prototype parameters, in pixels (centres in image coordinates, pixel p's centre at p + ½). */
typedef struct {
    double base;
    double mx[SYN_BLOBS], my[SYN_BLOBS], sigma[SYN_BLOBS], amp[SYN_BLOBS];
    double kx[SYN_WAVES], ky[SYN_WAVES], phase[SYN_WAVES], wamp[SYN_WAVES];
} prototype;

/* base ∈ [0.35, 0.65]; blobs: centre ∈ [0.2, 0.8]·size, σ ∈ [0.05, 0.15]·size, |A| ∈ [0.15, 0.35]
 * with a random sign; waves: 1 to 3 cycles per image in a uniform direction, B ∈ [0.04, 0.1]. */
static void prototype_draw(prototype *p, const synthetic_options *o, int identity)
{
    rng_t r;
    rng_seed(&r, rng_key2(o->seed, TAG_PROTO, (uint64_t)identity, 0));
    double s = o->size;
    p->base = 0.35 + 0.3 * rng_uniform(&r);
    for (int b = 0; b < SYN_BLOBS; b++) {
        p->mx[b] = s * (0.2 + 0.6 * rng_uniform(&r));
        p->my[b] = s * (0.2 + 0.6 * rng_uniform(&r));
        p->sigma[b] = s * (0.05 + 0.10 * rng_uniform(&r));
        double a = 0.15 + 0.2 * rng_uniform(&r);
        p->amp[b] = rng_uniform(&r) < 0.5 ? -a : a;
    }
    for (int w = 0; w < SYN_WAVES; w++) {
        double cycles = 1.0 + 2.0 * rng_uniform(&r), dir = 2.0 * M_PI * rng_uniform(&r);
        double k = 2.0 * M_PI * cycles / s;
        p->kx[w] = k * cos(dir);
        p->ky[w] = k * sin(dir);
        p->phase[w] = 2.0 * M_PI * rng_uniform(&r);
        p->wamp[w] = 0.04 + 0.06 * rng_uniform(&r);
    }
}

/* g[i] = a·exp(−(i + ½ − m)²/(2 s2)), i = 0..n−1, by the recurrence g[i+1] = g[i]·r[i],
 * r[i] = exp(−(2(i + ½ − m) + 1)/(2 s2)), r[i+1] = r[i]·exp(−1/s2): three exp calls per line.
 * Within the option ranges every factor stays far from double's overflow and underflow. */
static void gauss_line(float *g, int n, double m, double s2, double a)
{
    double u = 0.5 - m;
    double v = a * exp(-u * u / (2.0 * s2)), r = exp(-(2.0 * u + 1.0) / (2.0 * s2)), rr = exp(-1.0 / s2);
    for (int i = 0; i < n; i++) {
        g[i] = (float)v;
        v *= r;
        r *= rr;
    }
}

/* cs[i] = a·cos(k·i + φ), sn[i] = a·sin(k·i + φ) by rotating (cos, sin) by k each step. */
static void wave_line(float *cs, float *sn, int n, double k, double phi, double a)
{
    double c = a * cos(phi), s = a * sin(phi), ck = cos(k), sk = sin(k);
    for (int i = 0; i < n; i++) {
        cs[i] = (float)c;
        sn[i] = (float)s;
        double t = c * ck - s * sk;
        s = s * ck + c * sk;
        c = t;
    }
}

/* out = P transformed by rotation th (radians) about the centre and shift (tx, ty), blurred by
 * sq: the formulas of the file comment, each term accumulated as an outer product ey[y]·ex[x]. */
static void prototype_render(float *out, const prototype *p, int size, double th, double tx, double ty,
                             double sq)
{
    double c = size / 2.0, ct = cos(th), st = sin(th);
    float ex[SYN_MAX_SIZE], ey[SYN_MAX_SIZE], sx[SYN_MAX_SIZE], sy[SYN_MAX_SIZE];
    for (int i = 0; i < size * size; i++)
        out[i] = (float)p->base;
    for (int b = 0; b < SYN_BLOBS; b++) {
        double dx = p->mx[b] - c, dy = p->my[b] - c;
        double mx = ct * dx - st * dy + c + tx, my = st * dx + ct * dy + c + ty;
        double s2 = p->sigma[b] * p->sigma[b] + sq * sq;
        double a = p->amp[b] * p->sigma[b] * p->sigma[b] / s2;
        gauss_line(ex, size, mx, s2, 1.0);
        gauss_line(ey, size, my, s2, a);
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
                out[y * size + x] += ey[y] * ex[x];
    }
    /* cos(α(x) + β(y)) = cos α cos β − sin α sin β,
     * α = k'x (x + ½ − c − tx) + φ, β = k'y (y + ½ − c − ty) */
    for (int w = 0; w < SYN_WAVES; w++) {
        double kx = ct * p->kx[w] - st * p->ky[w], ky = st * p->kx[w] + ct * p->ky[w];
        double a = p->wamp[w] * exp(-0.5 * sq * sq * (kx * kx + ky * ky));
        wave_line(ex, sx, size, kx, kx * (0.5 - c - tx) + p->phase[w], 1.0);
        wave_line(ey, sy, size, ky, ky * (0.5 - c - ty), a);
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
                out[y * size + x] += ey[y] * ex[x] - sy[y] * sx[x];
    }
}

void synthetic_prototype(float *out, const synthetic_options *o, int identity)
{
    prototype p;
    prototype_draw(&p, o, identity);
    prototype_render(out, &p, o->size, 0.0, 0.0, 0.0, 0.0);
}

void synthetic_render(float *out, const synthetic_options *o, int identity, int sample)
{
    prototype p;
    prototype_draw(&p, o, identity);
    rng_t r;
    rng_seed(&r, rng_key2(o->seed, TAG_SAMPLE, (uint64_t)identity, (uint64_t)sample));
    double th = o->rotation * (2.0 * rng_uniform(&r) - 1.0) * M_PI / 180.0;
    double tx = o->shift * (2.0 * rng_uniform(&r) - 1.0), ty = o->shift * (2.0 * rng_uniform(&r) - 1.0);
    double gain = 1.0 + o->illumination * (2.0 * rng_uniform(&r) - 1.0);
    double offset = 0.5 * o->illumination * (2.0 * rng_uniform(&r) - 1.0);
    int q = synthetic_quality(o, identity, sample);
    prototype_render(out, &p, o->size, th, tx, ty, q * o->quality_blur);

    /* Irwin–Hall: four uniforms u_k = (16-bit field + ½)/65536 have mean 2 and variance 4/12, so
     * (Σ u_k − 2)·√3 has mean 0 and variance 1. */
    float sd = (float)((o->noise + q * o->quality_noise) * sqrt(3.0));
    int n = o->size * o->size;
    for (int i = 0; i < n; i++) {
        uint64_t v = rng_next(&r);
        uint32_t s = (uint32_t)(v & 0xffff) + (uint32_t)(v >> 16 & 0xffff) + (uint32_t)(v >> 32 & 0xffff) +
                     (uint32_t)(v >> 48);
        float z = (float)(s + 2) * (1.0f / 65536.0f) - 2.0f;
        out[i] = (float)gain * out[i] + (float)offset + sd * z;
    }
}

typedef struct {
    synthetic_options o;
    int first_identity; /* global identity of label 0 */
    int per_identity;   /* samples per identity */
} synthetic_source;

static void synthetic_render_sample(const dataset *d, int i, float *out)
{
    const synthetic_source *s = d->source;
    synthetic_render(out, &s->o, s->first_identity + i / s->per_identity, i % s->per_identity);
}

static void make_split(dataset *d, const synthetic_options *o, int first, int ids, int per)
{
    memset(d, 0, sizeof *d);
    d->n = ids * per;
    d->c = 1;
    d->h = d->w = o->size;
    d->num_classes = ids;
    d->labels = nb_malloc((size_t)d->n * sizeof *d->labels);
    d->quality = nb_malloc((size_t)d->n);
    for (int i = 0; i < d->n; i++) {
        d->labels[i] = i / per;
        d->quality[i] = (uint8_t)synthetic_quality(o, first + i / per, i % per);
    }
    synthetic_source *s = nb_malloc(sizeof *s);
    s->o = *o;
    s->first_identity = first;
    s->per_identity = per;
    d->source = s;
    d->source_free = free;
    d->render = synthetic_render_sample;
}

int synthetic_make(dataset *train, dataset *test, const synthetic_options *o, nb_error *err)
{
    if (train)
        memset(train, 0, sizeof *train);
    if (test)
        memset(test, 0, sizeof *test);
    if (synthetic_check(o, err))
        return -1;
    if (train)
        make_split(train, o, 0, o->identities, o->images_per_identity);
    if (test)
        make_split(test, o, o->identities, o->test_identities, o->test_images_per_identity);
    return 0;
}
