/* embeddings.c — given embeddings, labels and pair lists read from .npy, CSV and text files
 * (docs/evaluation.md "Evaluating given embeddings"); see embeddings.h for the formats. */
#include "data/embeddings.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/insightface_bin.h"
#include "io/csvread.h"
#include "io/npy.h"
#include "io/fsutil.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

/* ---- text files: BOM, LF / CRLF / CR, blank lines skipped ---- */

typedef struct {
    char *buf;
    size_t len, at;
    int line; /* of the line last returned */
    const char *path;
} text_lines;

static int text_open(text_lines *t, const char *path, nb_error *err)
{
    memset(t, 0, sizeof *t);
    t->path = path;
    /* regular files only: never blocks */
    t->buf = (char *)fsutil_read_all(path, "embeddings file", (1LL << 40), &t->len, err);
    if (!t->buf)
        return -1;
    if (memchr(t->buf, '\0', t->len)) {
        free(t->buf);
        t->buf = NULL;
        return nb_error_set(err, path, 0, 0, "a NUL byte in a text file (is it a binary file?)");
    }
    if (t->len >= 3 && !memcmp(t->buf, "\xEF\xBB\xBF", 3))
        t->at = 3;
    return 0;
}

/* The next non-blank line (NUL-terminated in place, trailing blanks removed), or NULL at the end. */
static char *text_next(text_lines *t)
{
    while (t->at < t->len) {
        char *s = t->buf + t->at;
        size_t k = 0;
        while (t->at + k < t->len && s[k] != '\n' && s[k] != '\r')
            k++;
        size_t next = t->at + k;
        if (next < t->len && s[k] == '\r' && next + 1 < t->len && s[k + 1] == '\n')
            next++;
        t->at = next + 1;
        t->line++;
        s[k] = '\0';
        while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t'))
            s[--k] = '\0';
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s)
            return s;
    }
    return NULL;
}

static void text_close(text_lines *t) { free(t->buf); }

/* Splits s in place at blanks into at most max tokens; returns the count (max + 1 if more). */
static int tokens(char *s, char **tok, int max)
{
    int n = 0;
    for (char *p = s; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (n == max)
            return max + 1;
        tok[n++] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (*p)
            *p++ = '\0';
    }
    return n;
}

static int parse_long(const char *s, long lo, long hi, long *v)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

/* ---- features ---- */

static int features_npy(real **feat, int *n, int *d, const char *path, nb_error *err)
{
    npy_array a;
    if (npy_read(&a, path, err))
        return -1;
    int rc = 0;
    if (a.ndim != 2 || a.type == NPY_BOOL)
        rc = nb_error_set(err, path, 0, 0, "features must be a 2-D numeric array (N, d); this one is %d-D %s", a.ndim,
                          npy_type_name(a.type));
    else if (a.shape[0] < 1 || a.shape[1] < 1 || a.shape[0] > INT_MAX || a.shape[1] > INT_MAX)
        rc = nb_error_set(err, path, 0, 0, "features of shape (%lld, %lld): both dimensions must be in 1..%d",
                          (long long)a.shape[0], (long long)a.shape[1], INT_MAX);
    if (rc == 0) {
        *n = (int)a.shape[0];
        *d = (int)a.shape[1];
        /* the file's own buffer when it already holds reals (no second copy of 10^6 × 512) */
        int same = (a.type == NPY_FLOAT32 && sizeof(real) == 4) || (a.type == NPY_FLOAT64 && sizeof(real) == 8);
        *feat = same ? a.data : nb_malloc(a.count * sizeof(real));
        if (same)
            a.data = NULL;
        for (size_t i = 0; i < a.count && rc == 0; i++) {
            double v = same ? (double)(*feat)[i] : npy_value(&a, i);
            if (!isfinite(v))
                rc = nb_error_set(err, path, 0, 0, "feature row %zu, column %zu is %g (finite values needed)",
                                  i / (size_t)*d, i % (size_t)*d, v);
            (*feat)[i] = (real)v;
        }
        if (rc) {
            free(*feat);
            *feat = NULL;
        }
    }
    npy_free(&a);
    return rc;
}

/* 1 if every header cell is a number (the file has no header line). */
static int header_numeric(const csvread_table *t)
{
    for (int c = 0; c < t->ncols; c++) {
        char *end;
        strtod(t->header[c], &end);
        if (end == t->header[c] || *end)
            return 0;
    }
    return 1;
}

static int features_csv(real **feat, int *n, int *d, const char *path, nb_error *err)
{
    csvread_table t;
    if (csvread_load(&t, path, err))
        return -1;
    int first = 0, cols = t.ncols, numeric = header_numeric(&t);
    if (!numeric && csvread_col(&t, "f0") >= 0) { /* normbench's features.csv: label, quality, f0… */
        first = csvread_col(&t, "f0");
        cols = t.ncols - first;
    }
    int rows = t.nrows + numeric, rc = 0;
    if (rows < 1)
        rc = nb_error_set(err, path, 0, 0, "no feature rows");
    *feat = rc ? NULL : nb_malloc((size_t)rows * cols * sizeof(real));
    for (int r = 0; r < rows && rc == 0; r++)
        for (int c = 0; c < cols && rc == 0; c++) {
            double v;
            if (numeric && r == 0) {
                v = strtod(t.header[first + c], NULL);
            } else if (csvread_number(&t, r - numeric, first + c, &v, err)) {
                rc = -1;
                break;
            }
            if (!isfinite(v))
                rc = nb_error_set(err, path, numeric && r == 0 ? 1 : t.line[r - numeric], first + c + 1,
                                  "feature %g: finite numbers needed", v);
            (*feat)[(size_t)r * cols + c] = (real)v;
        }
    if (rc) {
        free(*feat);
        *feat = NULL;
    } else {
        *n = rows;
        *d = cols;
    }
    csvread_free(&t);
    return rc;
}

int embeddings_read(real **feat, int *n, int *d, const char *path, nb_error *err)
{
    *feat = NULL;
    if (ends_with(path, ".npy"))
        return features_npy(feat, n, d, path, err);
    if (ends_with(path, ".csv"))
        return features_csv(feat, n, d, path, err);
    return nb_error_set(err, path, 0, 0, "features: expected a .npy or .csv file");
}

/* ---- labels and issame: a 1-D .npy or a text column ---- */

/* values (n) from a 1-D .npy of integers / bools, or a text file of one value per line, each
 * mapped by word (which may reject it: −1). */
static int column_read(long **out, int *n, const char *path, int (*word)(const char *, long *), const char *what,
                       nb_error *err)
{
    *out = NULL;
    *n = 0;
    if (ends_with(path, ".npy")) {
        npy_array a;
        if (npy_read(&a, path, err))
            return -1;
        int rc = 0;
        if (a.ndim != 1 || a.type == NPY_FLOAT32 || a.type == NPY_FLOAT64 || a.count > INT_MAX)
            rc = nb_error_set(err, path, 0, 0, "%s: expected a 1-D bool or integer array, got %d-D %s", what, a.ndim,
                              npy_type_name(a.type));
        if (rc == 0) {
            *out = nb_malloc((a.count ? a.count : 1) * sizeof **out);
            for (size_t i = 0; i < a.count; i++)
                (*out)[i] = (long)npy_value(&a, i);
            *n = (int)a.count;
        }
        npy_free(&a);
        return rc;
    }
    text_lines t;
    if (text_open(&t, path, err))
        return -1;
    size_t cap = 1024;
    *out = nb_malloc(cap * sizeof **out);
    for (char *s; (s = text_next(&t));) {
        if ((size_t)*n == cap)
            *out = nb_realloc(*out, (cap *= 2) * sizeof **out);
        if (*n == INT_MAX || word(s, &(*out)[*n])) {
            nb_error_set(err, t.path, t.line, 0, "%s: unexpected \"%.60s\"", what, s);
            free(*out);
            *out = NULL;
            text_close(&t);
            return -1;
        }
        (*n)++;
    }
    text_close(&t);
    return 0;
}

static int word_label(const char *s, long *v) { return parse_long(s, 0, INT_MAX, v); }

static int word_same(const char *s, long *v)
{
    if (!strcmp(s, "1") || !strcasecmp(s, "true")) {
        *v = 1;
        return 0;
    }
    if (!strcmp(s, "0") || !strcasecmp(s, "false")) {
        *v = 0;
        return 0;
    }
    return -1;
}

int labels_read(int **labels, int *n, const char *path, nb_error *err)
{
    *labels = NULL;
    if (ends_with(path, ".csv")) {
        csvread_table t;
        if (csvread_load(&t, path, err))
            return -1;
        int c = csvread_col(&t, "label"), rc = 0;
        if (c < 0)
            rc = nb_error_set(err, path, 1, 0, "labels: no \"label\" column");
        *labels = rc ? NULL : nb_malloc((size_t)(t.nrows ? t.nrows : 1) * sizeof **labels);
        for (int r = 0; r < t.nrows && rc == 0; r++) {
            long v;
            if (parse_long(t.rows[r][c], 0, INT_MAX, &v))
                rc = nb_error_set(err, path, t.line[r], c + 1, "label \"%.40s\": a non-negative integer expected",
                                  t.rows[r][c]);
            else
                (*labels)[r] = (int)v;
        }
        *n = t.nrows;
        csvread_free(&t);
        if (rc) {
            free(*labels);
            *labels = NULL;
        }
        return rc;
    }
    long *v;
    if (column_read(&v, n, path, word_label, "labels (non-negative integers)", err))
        return -1;
    *labels = nb_malloc((size_t)(*n ? *n : 1) * sizeof **labels);
    int rc = 0;
    for (int i = 0; i < *n && rc == 0; i++) {
        if (v[i] < 0 || v[i] > INT_MAX)
            rc = nb_error_set(err, path, 0, 0, "label %d is %ld: non-negative integers expected", i, v[i]);
        (*labels)[i] = (int)v[i];
    }
    free(v);
    if (rc) {
        free(*labels);
        *labels = NULL;
    }
    return rc;
}

int issame_read(pair_list *pl, const char *path, int n_rows, int folds, nb_error *err)
{
    memset(pl, 0, sizeof *pl);
    long *v;
    int n;
    if (ends_with(path, ".bin")) { /* an InsightFace .bin: its issame list (the images are not used) */
        ifbin b;
        if (ifbin_read(&b, path, err))
            return -1;
        n = b.n_pairs;
        v = nb_malloc((size_t)n * sizeof *v);
        for (int i = 0; i < n; i++)
            v[i] = b.issame[i];
        ifbin_free(&b);
    } else if (column_read(&v, &n, path, word_same, "issame (0/1, True/False)", err)) {
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        if (v[i] != 0 && v[i] != 1)
            rc = nb_error_set(err, path, 0, 0, "issame element %d is %ld: 0 or 1 expected", i, v[i]);
    if (rc == 0 && (n < 1 || (long)n * 2 != n_rows))
        rc = nb_error_set(err, path, 0, 0,
                          "%d pairs need %ld feature rows (pair i is rows 2i and 2i+1, as in InsightFace's .bin "
                          "files), but the features have %d",
                          n, 2L * n, n_rows);
    if (rc == 0 && (folds < 1 || folds > n))
        rc = nb_error_set(err, path, 0, 0, "%d folds for %d pairs", folds, n);
    if (rc == 0) {
        pl->p = nb_malloc((size_t)n * sizeof *pl->p);
        pl->n = n;
        pl->folds = folds;
        int base = n / folds, extra = n % folds;
        for (int k = 0, i = 0; k < folds; k++)
            for (int j = 0; j < base + (k < extra); j++, i++)
                pl->p[i] = (verify_pair){2 * i, 2 * i + 1, (int)v[i], k};
    }
    free(v);
    return rc;
}

/* ---- LFW pairs.txt over named rows ---- */

typedef struct {
    char *name;
    long index;
    int row;
} named_row;

static int named_cmp(const void *x, const void *y)
{
    const named_row *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->index > b->index) - (a->index < b->index);
}

/* "Name/Name_0001.jpg", "Name_0001.jpg", "Name_0001" or "Name 1" → name, index. */
static int parse_image_name(char *s, char **name, long *index)
{
    char *tok[3];
    int k = tokens(s, tok, 2);
    if (k == 2) {
        *name = tok[0];
        return parse_long(tok[1], 1, LONG_MAX, index);
    }
    if (k != 1)
        return -1;
    char *base = strrchr(tok[0], '/');
    base = base ? base + 1 : tok[0];
    char *dot = strrchr(base, '.'), *us = strrchr(base, '_');
    if (dot && us && dot > us)
        *dot = '\0';
    if (!us || us == base)
        return -1;
    *us = '\0';
    *name = base;
    return parse_long(us + 1, 1, LONG_MAX, index);
}

static int names_read(named_row **rows, const char *path, int n_rows, nb_error *err)
{
    text_lines t;
    if (text_open(&t, path, err))
        return -1;
    *rows = nb_calloc((size_t)(n_rows > 0 ? n_rows : 1), sizeof **rows);
    int n = 0, rc = 0;
    int *lines = nb_malloc((size_t)(n_rows > 0 ? n_rows : 1) * sizeof *lines);
    for (char *s; rc == 0 && (s = text_next(&t));) {
        char *name;
        long index;
        if (n == n_rows)
            rc = nb_error_set(err, path, t.line, 0, "more names than the %d feature rows", n_rows);
        else if (parse_image_name(s, &name, &index))
            rc = nb_error_set(err, path, t.line, 0,
                              "expected an image name like Name/Name_0001.jpg, Name_0001 or \"Name 1\"");
        else {
            (*rows)[n] = (named_row){nb_strdup(name), index, n};
            lines[n++] = t.line;
        }
    }
    if (rc == 0 && n != n_rows)
        rc = nb_error_set(err, path, 0, 0, "%d names for %d feature rows (one name per row expected)", n, n_rows);
    if (rc == 0) {
        qsort(*rows, (size_t)n, sizeof **rows, named_cmp);
        for (int i = 1; i < n && rc == 0; i++)
            if (!named_cmp(&(*rows)[i - 1], &(*rows)[i]))
                rc = nb_error_set(err, path, lines[(*rows)[i].row], 0, "%s %ld names a second row (first on line %d)",
                                  (*rows)[i].name, (*rows)[i].index, lines[(*rows)[i - 1].row]);
    }
    free(lines);
    text_close(&t);
    if (rc) {
        for (int i = 0; i < n; i++)
            free((*rows)[i].name);
        free(*rows);
        *rows = NULL;
    }
    return rc;
}

static int find_row(const named_row *rows, int n, const char *name, const char *index_text, int *row)
{
    long index;
    if (parse_long(index_text, 1, LONG_MAX, &index))
        return -1;
    named_row key = {(char *)name, index, 0};
    const named_row *r = bsearch(&key, rows, (size_t)n, sizeof *rows, named_cmp);
    if (!r)
        return -1;
    *row = r->row;
    return 0;
}

/* The pair lines of pairs.txt after its header: per fold, n matched then n mismatched lines. */
static int pair_lines(pair_list *pl, text_lines *t, int folds, long n, const named_row *rows, int n_rows,
                      nb_error *err)
{
    for (int i = 0; i < pl->n; i++) {
        char *s = text_next(t), *tok[5];
        if (!s)
            return nb_error_set(err, t->path, t->line, 0, "%d pair lines, but the header promises %d", i, pl->n);
        int same = (i % (2 * n)) < n, k = tokens(s, tok, 4), a, b;
        if (k != (same ? 3 : 4))
            return nb_error_set(err, t->path, t->line, 0, "expected %s (fold %d of %d)",
                                same ? "a matched pair \"name i j\"" : "a mismatched pair \"name1 i name2 j\"",
                                (int)(i / (2 * n)) + 1, folds);
        if (find_row(rows, n_rows, tok[0], tok[1], &a))
            return nb_error_set(err, t->path, t->line, 0, "%s %s: no feature row has this image", tok[0], tok[1]);
        if (find_row(rows, n_rows, same ? tok[0] : tok[2], same ? tok[2] : tok[3], &b))
            return nb_error_set(err, t->path, t->line, 0, "%s %s: no feature row has this image", same ? tok[0] : tok[2],
                                same ? tok[2] : tok[3]);
        pl->p[i] = (verify_pair){a, b, same, (int)(i / (2 * n))};
    }
    if (text_next(t))
        return nb_error_set(err, t->path, t->line, 0, "more pair lines than the header's %d", pl->n);
    return 0;
}

int lfw_pairs_rows_read(pair_list *pl, const char *pairs_path, const char *names_path, int n_rows, nb_error *err)
{
    memset(pl, 0, sizeof *pl);
    named_row *rows;
    if (names_read(&rows, names_path, n_rows, err))
        return -1;
    text_lines t;
    int rc = text_open(&t, pairs_path, err);
    if (rc == 0) {
        char *s = text_next(&t), *tok[3];
        int k = s ? tokens(s, tok, 2) : 0;
        long folds = 1, n = 0;
        /* "folds n" (View 2), or View 1's single count n */
        if ((k != 1 && k != 2) || (k == 2 && parse_long(tok[0], 1, 1000, &folds)) ||
            parse_long(tok[k - 1], 1, 1000000, &n) || folds * 2 * n > INT_MAX)
            rc = nb_error_set(err, pairs_path, t.line, 0,
                              "expected a header \"folds n\" (View 2, e.g. \"10 300\") or \"n\" (View 1, e.g. \"1100\")");
        if (rc == 0) {
            pl->n = (int)(folds * 2 * n);
            pl->folds = (int)folds;
            pl->p = nb_malloc((size_t)pl->n * sizeof *pl->p);
            rc = pair_lines(pl, &t, (int)folds, n, rows, n_rows, err);
        }
        text_close(&t);
    }
    for (int i = 0; i < n_rows; i++)
        free(rows[i].name);
    free(rows);
    if (rc) {
        free(pl->p);
        memset(pl, 0, sizeof *pl);
    }
    return rc;
}

int scores_read(double **q, int *n, const char *path, nb_error *err)
{
    *q = NULL;
    *n = 0;
    if (ends_with(path, ".npy")) {
        npy_array a;
        if (npy_read(&a, path, err))
            return -1;
        int rc = 0;
        if (a.ndim != 1 || a.type == NPY_BOOL || a.count > INT_MAX)
            rc = nb_error_set(err, path, 0, 0, "quality scores: expected a 1-D numeric array, got %d-D %s", a.ndim,
                              npy_type_name(a.type));
        *q = rc ? NULL : nb_malloc((a.count ? a.count : 1) * sizeof **q);
        for (size_t i = 0; i < a.count && rc == 0; i++)
            if (!isfinite((*q)[i] = npy_value(&a, i)))
                rc = nb_error_set(err, path, 0, 0, "quality score %zu is not finite", i);
        *n = rc ? 0 : (int)a.count;
        npy_free(&a);
        if (rc) {
            free(*q);
            *q = NULL;
        }
        return rc;
    }
    text_lines t;
    if (text_open(&t, path, err))
        return -1;
    size_t cap = 1024;
    *q = nb_malloc(cap * sizeof **q);
    for (char *s; (s = text_next(&t));) {
        if ((size_t)*n == cap)
            *q = nb_realloc(*q, (cap *= 2) * sizeof **q);
        char *end;
        double v = strtod(s, &end);
        if (end == s || *end || !isfinite(v) || *n == INT_MAX) {
            nb_error_set(err, path, t.line, 0, "quality score: expected a finite number, got \"%.60s\"", s);
            free(*q);
            *q = NULL;
            text_close(&t);
            return -1;
        }
        (*q)[(*n)++] = v;
    }
    text_close(&t);
    return 0;
}
