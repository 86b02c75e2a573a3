/* npy.c — NumPy .npy files read and written (the format of numpy/lib/format.py, versions 1–3);
 * see npy.h for the rules the reader enforces. */
#include "io/npy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/fsutil.h"

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

size_t npy_item_size(npy_type type)
{
    static const size_t size[] = {1, 1, 2, 4, 8, 1, 2, 4, 8, 4, 8};
    return size[type];
}

const char *npy_type_name(npy_type type)
{
    static const char *name[] = {"bool",   "int8",   "int16",  "int32",   "int64",  "uint8",
                                 "uint16", "uint32", "uint64", "float32", "float64"};
    return name[type];
}

static int host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Reverses the bytes of each of count items of size bytes. */
static void swap_bytes(void *data, size_t count, size_t size)
{
    unsigned char *p = data;
    for (size_t i = 0; i < count; i++, p += size)
        for (size_t a = 0, b = size - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* ---- the header: a Python dict literal ---- */

typedef struct {
    const char *s;
    size_t n, at;
    const char *name; /* file */
    size_t base;      /* byte offset of the header in the file */
    nb_error *err;
} hdr_lexer;

static int hdr_fail(hdr_lexer *h, const char *what)
{
    char shown[121];
    size_t k = 0;
    for (; k < h->n && k + 1 < sizeof shown; k++)
        shown[k] = h->s[k] >= 32 && h->s[k] < 127 ? h->s[k] : '?';
    shown[k] = '\0';
    return nb_error_set(h->err, h->name, 0, 0, "npy header, byte %zu: %s (header: %s)", h->base + h->at, what, shown);
}

static void hdr_space(hdr_lexer *h)
{
    while (h->at < h->n && (h->s[h->at] == ' ' || h->s[h->at] == '\t'))
        h->at++;
}

/* Consumes c (after optional spaces); 0 if it was there. */
static int hdr_char(hdr_lexer *h, char c)
{
    hdr_space(h);
    if (h->at < h->n && h->s[h->at] == c) {
        h->at++;
        return 0;
    }
    return -1;
}

/* A quoted string ('…' or "…", no escapes) into buf. */
static int hdr_string(hdr_lexer *h, char *buf, size_t size)
{
    hdr_space(h);
    if (h->at >= h->n || (h->s[h->at] != '\'' && h->s[h->at] != '"'))
        return hdr_fail(h, "expected a quoted string");
    char q = h->s[h->at++];
    size_t k = 0;
    while (h->at < h->n && h->s[h->at] != q) {
        if (h->s[h->at] == '\\' || k + 1 >= size)
            return hdr_fail(h, "unexpected string (escapes and long strings are not part of a numeric .npy header)");
        buf[k++] = h->s[h->at++];
    }
    if (h->at >= h->n)
        return hdr_fail(h, "unterminated string");
    h->at++;
    buf[k] = '\0';
    return 0;
}

/* descr: byte order (<, >, | or =) and a type code with its size. */
static int hdr_descr(hdr_lexer *h, npy_type *type, int *swap)
{
    char d[16];
    hdr_space(h);
    if (h->at < h->n && h->s[h->at] == '[')
        return hdr_fail(h, "structured dtypes are not supported (a plain number or bool array is expected)");
    if (hdr_string(h, d, sizeof d))
        return -1;
    static const struct {
        const char *code;
        npy_type type;
    } codes[] = {{"b1", NPY_BOOL},   {"?", NPY_BOOL},    {"i1", NPY_INT8},   {"i2", NPY_INT16},
                 {"i4", NPY_INT32},  {"i8", NPY_INT64},  {"u1", NPY_UINT8},  {"u2", NPY_UINT16},
                 {"u4", NPY_UINT32}, {"u8", NPY_UINT64}, {"f4", NPY_FLOAT32}, {"f8", NPY_FLOAT64}};
    char order = d[0];
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return hdr_fail(h, "descr must start with a byte order <, >, | or =");
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (!strcmp(d + 1, codes[i].code)) {
            *type = codes[i].type;
            int little = order == '<' || (order == '=' && host_little_endian());
            *swap = npy_item_size(*type) > 1 && order != '|' && little != host_little_endian();
            if (order == '|' && npy_item_size(*type) > 1)
                return hdr_fail(h, "byte order | is only valid for one-byte types");
            return 0;
        }
    if (d[1] == 'O')
        return hdr_fail(h, "object arrays are pickles and are refused; save a numeric array");
    return hdr_fail(h, "unsupported dtype (expected bool, int8–64, uint8–64, float32 or float64)");
}

static int hdr_bool(hdr_lexer *h, int *v)
{
    hdr_space(h);
    if (h->n - h->at >= 4 && !memcmp(h->s + h->at, "True", 4)) {
        h->at += 4;
        *v = 1;
        return 0;
    }
    if (h->n - h->at >= 5 && !memcmp(h->s + h->at, "False", 5)) {
        h->at += 5;
        *v = 0;
        return 0;
    }
    return hdr_fail(h, "expected True or False");
}

/* shape: "(" [int ("," int)* [","]] ")" */
static int hdr_shape(hdr_lexer *h, npy_array *a)
{
    if (hdr_char(h, '('))
        return hdr_fail(h, "expected a shape tuple");
    a->ndim = 0;
    for (;;) {
        if (hdr_char(h, ')') == 0)
            break;
        hdr_space(h);
        if (h->at >= h->n || h->s[h->at] < '0' || h->s[h->at] > '9')
            return hdr_fail(h, "expected a non-negative integer dimension");
        if (a->ndim == NPY_MAX_DIMS)
            return hdr_fail(h, "too many dimensions");
        int64_t v = 0;
        while (h->at < h->n && h->s[h->at] >= '0' && h->s[h->at] <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return hdr_fail(h, "dimension too large");
            v = v * 10 + (h->s[h->at++] - '0');
        }
        hdr_space(h);
        if (h->at < h->n && h->s[h->at] == 'L') /* Python 2's long suffix */
            h->at++;
        a->shape[a->ndim++] = v;
        if (hdr_char(h, ',') == 0)
            continue;
        if (hdr_char(h, ')') == 0) {
            if (a->ndim == 1)
                return hdr_fail(h, "a one-dimensional shape needs a trailing comma, (n,)");
            break;
        }
        return hdr_fail(h, "expected , or ) in the shape");
    }
    return 0;
}

/* The dict: the three keys once each, an optional trailing comma, then only padding. */
static int hdr_parse(hdr_lexer *h, npy_array *a, int *swap)
{
    int have[3] = {0, 0, 0}, fortran = 0;
    if (hdr_char(h, '{'))
        return hdr_fail(h, "the header must be a dict {…}");
    while (hdr_char(h, '}')) {
        char key[32];
        if (hdr_string(h, key, sizeof key))
            return -1;
        if (hdr_char(h, ':'))
            return hdr_fail(h, "expected : after a key");
        int k = !strcmp(key, "descr") ? 0 : !strcmp(key, "fortran_order") ? 1 : !strcmp(key, "shape") ? 2 : -1;
        if (k < 0)
            return hdr_fail(h, "unknown key (expected descr, fortran_order and shape)");
        if (have[k]++)
            return hdr_fail(h, "repeated key");
        if ((k == 0 && hdr_descr(h, &a->type, swap)) || (k == 1 && hdr_bool(h, &fortran)) ||
            (k == 2 && hdr_shape(h, a)))
            return -1;
        if (hdr_char(h, ',') == 0)
            continue;
        if (hdr_char(h, '}') == 0)
            break;
        return hdr_fail(h, "expected , or } after a value");
    }
    if (!have[0] || !have[1] || !have[2])
        return hdr_fail(h, !have[0] ? "missing key descr" : !have[1] ? "missing key fortran_order" : "missing key shape");
    while (h->at < h->n && (h->s[h->at] == ' ' || h->s[h->at] == '\t' || h->s[h->at] == '\0'))
        h->at++;
    if (h->at + 1 != h->n || h->s[h->at] != '\n')
        return hdr_fail(h, "the header must end with spaces and one newline after the dict");
    int big_dims = 0;
    for (int i = 0; i < a->ndim; i++)
        big_dims += a->shape[i] > 1;
    if (fortran && big_dims > 1)
        return hdr_fail(h, "Fortran-order arrays are not supported; save with np.ascontiguousarray (C order)");
    return 0;
}

/* The preamble: magic, version, header length. *hdr_at, *hdr_len locate the header. */
static int parse_preamble(const unsigned char *b, size_t len, const char *name, size_t *hdr_at, size_t *hdr_len,
                          nb_error *err)
{
    if (len < 10 || memcmp(b, npy_magic, 6) != 0)
        return nb_error_set(err, name, 0, 0, "not a .npy file (no \\x93NUMPY magic at the start)");
    int major = b[6];
    if (major < 1 || major > 3)
        return nb_error_set(err, name, 0, 0, "unsupported .npy format version %d.%d (1.0–3.0 are read)", major, b[7]);
    if (major == 1) {
        *hdr_len = (size_t)b[8] | (size_t)b[9] << 8;
        *hdr_at = 10;
    } else {
        if (len < 12)
            return nb_error_set(err, name, 0, 0, "truncated .npy preamble (%zu bytes)", len);
        *hdr_len = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        *hdr_at = 12;
    }
    if (*hdr_len > NPY_MAX_HEADER)
        return nb_error_set(err, name, 0, 0, "npy header of %zu bytes (more than %d: not a numeric array file)",
                            *hdr_len, NPY_MAX_HEADER);
    if (*hdr_len == 0)
        return nb_error_set(err, name, 0, 0, "empty npy header");
    return 0;
}

/* Validates the header in hdr (the preamble told where) and the data length against the shape. */
static int parse_header(npy_array *a, int *swap, const unsigned char *hdr, size_t hdr_at, size_t hdr_len,
                        size_t data_len, const char *name, nb_error *err)
{
    hdr_lexer h = {(const char *)hdr, hdr_len, 0, name, hdr_at, err};
    if (hdr_parse(&h, a, swap))
        return -1;
    size_t count = 1, item = npy_item_size(a->type);
    for (int i = 0; i < a->ndim; i++) {
        if ((uint64_t)a->shape[i] > SIZE_MAX || (a->shape[i] && count > SIZE_MAX / item / (size_t)a->shape[i]))
            return nb_error_set(err, name, 0, 0, "npy shape too large for memory");
        count *= (size_t)a->shape[i];
    }
    a->count = count;
    if (data_len != count * item)
        return nb_error_set(err, name, 0, 0,
                            "npy data is %zu bytes but shape and dtype %s need %zu (truncated or trailing bytes)",
                            data_len, npy_type_name(a->type), count * item);
    return 0;
}

/* Booleans must be 0 or 1, as numpy writes them. */
static int check_bools(const npy_array *a, const char *name, nb_error *err)
{
    if (a->type != NPY_BOOL)
        return 0;
    const unsigned char *p = a->data;
    for (size_t i = 0; i < a->count; i++)
        if (p[i] > 1)
            return nb_error_set(err, name, 0, 0, "npy bool element %zu is %d, not 0 or 1", i, p[i]);
    return 0;
}

int npy_parse(npy_array *a, const unsigned char *buf, size_t len, const char *name, nb_error *err)
{
    memset(a, 0, sizeof *a);
    size_t at, hl;
    int swap = 0;
    if (parse_preamble(buf, len, name, &at, &hl, err))
        return -1;
    if (hl > len - at)
        return nb_error_set(err, name, 0, 0, "truncated npy header (%zu bytes promised, %zu present)", hl, len - at);
    if (parse_header(a, &swap, buf + at, at, hl, len - at - hl, name, err))
        return -1;
    size_t bytes = a->count * npy_item_size(a->type);
    a->data = nb_malloc(bytes ? bytes : 1);
    memcpy(a->data, buf + at + hl, bytes);
    if (swap)
        swap_bytes(a->data, a->count, npy_item_size(a->type));
    if (check_bools(a, name, err)) {
        npy_free(a);
        return -1;
    }
    return 0;
}

int npy_read(npy_array *a, const char *path, nb_error *err)
{
    memset(a, 0, sizeof *a);
    FILE *f = fsutil_open_read(path, ".npy file", (1LL << 40), 0, err); /* regular files only: never blocks */
    if (!f)
        return -1;
    struct stat st;
    unsigned char pre[12];
    char *hdr = NULL;
    size_t at, hl, got = fread(pre, 1, sizeof pre, f);
    int swap = 0, rc = -1;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        nb_error_set(err, path, 0, 0, "not a regular file");
        goto out;
    }
    if (parse_preamble(pre, got, path, &at, &hl, err))
        goto out;
    if ((uint64_t)st.st_size < at + hl) {
        nb_error_set(err, path, 0, 0, "truncated npy header (%zu bytes promised, file is %lld bytes)", hl,
                     (long long)st.st_size);
        goto out;
    }
    hdr = nb_malloc(hl);
    if (fseek(f, (long)at, SEEK_SET) || fread(hdr, 1, hl, f) != hl) {
        nb_error_set(err, path, 0, 0, "cannot read the npy header");
        goto out;
    }
    if (parse_header(a, &swap, (unsigned char *)hdr, at, hl, (size_t)st.st_size - at - hl, path, err))
        goto out;
    size_t bytes = a->count * npy_item_size(a->type);
    a->data = nb_malloc(bytes ? bytes : 1);
    if (fread(a->data, 1, bytes, f) != bytes) {
        nb_error_set(err, path, 0, 0, "cannot read %zu bytes of npy data: %s", bytes,
                     ferror(f) ? strerror(errno) : "file shorter than it was");
        goto out;
    }
    if (swap)
        swap_bytes(a->data, a->count, npy_item_size(a->type));
    rc = check_bools(a, path, err);
out:
    fclose(f);
    free(hdr);
    if (rc)
        npy_free(a);
    return rc;
}

double npy_value(const npy_array *a, size_t i)
{
    const void *p = a->data;
    switch (a->type) {
    case NPY_BOOL:
    case NPY_UINT8: return ((const uint8_t *)p)[i];
    case NPY_INT8: return ((const int8_t *)p)[i];
    case NPY_INT16: return ((const int16_t *)p)[i];
    case NPY_INT32: return ((const int32_t *)p)[i];
    case NPY_INT64: return (double)((const int64_t *)p)[i];
    case NPY_UINT16: return ((const uint16_t *)p)[i];
    case NPY_UINT32: return ((const uint32_t *)p)[i];
    case NPY_UINT64: return (double)((const uint64_t *)p)[i];
    case NPY_FLOAT32: return ((const float *)p)[i];
    case NPY_FLOAT64: return ((const double *)p)[i];
    }
    return 0;
}

void npy_free(npy_array *a)
{
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- writing ---- */

static const char *descr_of(npy_type type)
{
    static const char *d[] = {"|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f4", "<f8"};
    return d[type];
}

int npy_write(const char *path, npy_type type, int ndim, const int64_t *shape, const void *data, nb_error *err)
{
    if (ndim < 0 || ndim > NPY_MAX_DIMS)
        return nb_error_set(err, path, 0, 0, "npy: %d dimensions (0 to %d can be written)", ndim, NPY_MAX_DIMS);
    char dict[600], dims[400] = "";
    size_t count = 1, n = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return nb_error_set(err, path, 0, 0, "npy: negative dimension");
        count *= (size_t)shape[i];
        n += (size_t)snprintf(dims + n, sizeof dims - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    }
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s%s), }",
                       descr_of(type), dims, ndim == 1 ? "," : "");
    /* pad with spaces so that magic + version + length + header + '\n' is a multiple of 64 */
    size_t total = 10 + (size_t)len + 1, pad = (64 - total % 64) % 64, hl = (size_t)len + pad + 1;
    atomic_file af;
    if (atomic_open(&af, path, err))
        return -1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff),
                             (unsigned char)(hl >> 8)};
    fwrite(pre, 1, sizeof pre, af.f);
    fwrite(dict, 1, (size_t)len, af.f);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', af.f);
    fputc('\n', af.f);
    const size_t item = npy_item_size(type);
    if (host_little_endian() || item == 1) {
        fwrite(data, item, count, af.f);
    } else {
        unsigned char tmp[8];
        for (size_t i = 0; i < count; i++) {
            memcpy(tmp, (const unsigned char *)data + i * item, item);
            swap_bytes(tmp, 1, item);
            fwrite(tmp, 1, item, af.f);
        }
    }
    return atomic_commit(&af, err);
}
