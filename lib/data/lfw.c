/* lfw.c — loader for face data in the layout of Labeled Faces in the Wild (Huang et al. 2007):
 * identity folders of <name>_NNNN.jpg (or .png) images and LFW's pairs.txt verification protocol (10 folds
 * of 300 matched and 300 mismatched pairs in the original); see lfw.h.
 *
 * Images are read by lfw_read_image (lfw_image.c). pairs.txt is parsed completely, checking every
 * identity folder and image file before any image is decoded, so errors name the line. */
#include "data/lfw.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/fsutil.h"

#define LFW_MAX_PAIRS 10000000L

void lfw_defaults(lfw_options *o)
{
    o->crop_w = o->crop_h = 150;
    o->width = o->height = 32;
    o->channels = 1;
    o->resize = LFW_RESIZE_AREA;
}

int lfw_check(const lfw_options *o, nb_error *err)
{
    if ((o->crop_w == 0) != (o->crop_h == 0) || o->crop_w < 0 || o->crop_w > 65535 || o->crop_h < 0 ||
        o->crop_h > 65535)
        return nb_error_set(err, NULL, 0, 0,
                            "lfw option 'crop' = %d×%d: both sides must be in [1, 65535], or both 0 "
                            "(no crop)", o->crop_w, o->crop_h);
    if (o->width < 1 || o->width > 1024 || o->height < 1 || o->height > 1024)
        return nb_error_set(err, NULL, 0, 0, "lfw option 'size' = %d×%d is out of range [1, 1024]", o->width,
                            o->height);
    if (o->channels != 1 && o->channels != 3)
        return nb_error_set(err, NULL, 0, 0, "lfw option 'channels' = %d: expected 1 (gray) or 3 (RGB)",
                            o->channels);
    if (o->resize != LFW_RESIZE_AREA && o->resize != LFW_RESIZE_BILINEAR)
        return nb_error_set(err, NULL, 0, 0, "lfw option 'resize' = %d: expected area or bilinear",
                            (int)o->resize);
    return 0;
}

/* ---- text files ---------------------------------------------------------------------------- */

#define MAX_TOKENS 8

/* Splits line at blanks/tabs (and a trailing CR/LF) in place; returns the number of fields,
 * recording the first MAX_TOKENS with their 1-based columns. */
static int tokenize(char *line, char **tok, int *col)
{
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (!*p)
            return n;
        char *start = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            p++;
        if (n < MAX_TOKENS) {
            tok[n] = start;
            col[n] = (int)(start - line) + 1;
        }
        n++;
        if (*p)
            *p++ = '\0';
    }
}

/* A positive decimal integer ≤ max with nothing else; returns it, or 0. */
static long parse_pos(const char *s, long max)
{
    if (!isdigit((unsigned char)s[0]))
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    return *end || v < 1 || v > max ? 0 : v;
}

static int valid_name(const char *s)
{
    return s[0] && strcmp(s, ".") && strcmp(s, "..") && !strchr(s, '/');
}

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = nb_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static int is_file(const char *path);

/* The image file of (name, index): <name>_NNNN.jpg, else <name>_NNNN.png if only that exists (the
 * .jpg path when neither does, for the error). *both: the two exist (an ambiguous folder). */
static char *image_path_both(const char *root, const char *name, long index, int *both)
{
    char *jpg = str_printf("%s/%s/%s_%04ld.jpg", root, name, name, index);
    char *png = str_printf("%s/%s/%s_%04ld.png", root, name, name, index);
    const int has_jpg = is_file(jpg), has_png = is_file(png);
    if (both)
        *both = has_jpg && has_png;
    if (!has_jpg && has_png) {
        free(jpg);
        return png;
    }
    free(png);
    return jpg;
}

static char *image_path(const char *root, const char *name, long index)
{
    return image_path_both(root, name, index, NULL);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Err names root/name when that is not a folder. */
static int check_identity(const char *root, const char *name, const char *file, int line, int col, nb_error *err)
{
    if (!valid_name(name))
        return nb_error_set(err, file, line, col, "invalid identity name '%s' (contains '/' or is . or ..)", name);
    char *dir = str_printf("%s/%s", root, name);
    int ok = is_dir(dir);
    if (!ok)
        nb_error_set(err, file, line, col, "unknown identity '%s': no folder %s", name, dir);
    free(dir);
    return ok ? 0 : -1;
}

/* ---- pairs.txt ----------------------------------------------------------------------------- */

typedef struct {
    char *name;
    long index;
    int line; /* pairs.txt line of this reference */
    int pos;  /* position in the reference list */
} lfw_ref;

typedef struct {
    lfw_ref *refs; /* 2 per pair: refs[2k], refs[2k+1] */
    long nrefs;
    int folds, per;
    long npairs;
} pairs_file;

static void pairs_file_free(pairs_file *pf)
{
    for (long i = 0; i < pf->nrefs; i++)
        free(pf->refs[i].name);
    free(pf->refs);
    memset(pf, 0, sizeof *pf);
}

static int add_ref(pairs_file *pf, const char *root, const char *path, int line, const char *name, int ncol,
                   const char *index, int icol, nb_error *err)
{
    if (check_identity(root, name, path, line, ncol, err))
        return -1;
    long idx = parse_pos(index, 99999999L);
    if (!idx)
        return nb_error_set(err, path, line, icol, "image index '%s' of '%s' is not a positive integer", index,
                            name);
    int both;
    char *img = image_path_both(root, name, idx, &both);
    int ok = is_file(img) && !both;
    if (both)
        nb_error_set(err, path, line, icol, "identity '%s' has two images %ld: %s and its .png; keep one", name, idx,
                     img);
    else if (!ok)
        nb_error_set(err, path, line, icol, "identity '%s' has no image %ld: %s does not exist", name, idx, img);
    free(img);
    if (!ok)
        return -1;
    lfw_ref *r = &pf->refs[pf->nrefs];
    r->name = nb_strdup(name);
    r->index = idx;
    r->line = line;
    r->pos = (int)pf->nrefs;
    pf->nrefs++;
    return 0;
}

/* Parses and checks path completely (every folder and image file must exist). */
static int pairs_parse(pairs_file *pf, const char *root, const char *path, nb_error *err)
{
    memset(pf, 0, sizeof *pf);
    FILE *f = fsutil_open_read(path, "pairs file", LFW_TEXT_MAX, 0, err);
    if (!f)
        return -1;
    char *line = NULL, *tok[MAX_TOKENS];
    int col[MAX_TOKENS];
    size_t cap = 0;
    int lineno = 0, header = 0, rc = -1;
    long total = 0, cap_refs = 0;
    while (getline(&line, &cap, f) != -1) {
        lineno++;
        int nt = tokenize(line, tok, col);
        if (nt == 0)
            continue;
        if (!header) {
            long folds = nt == 2 ? parse_pos(tok[0], 100000) : 0, per = nt == 2 ? parse_pos(tok[1], 10000000) : 0;
            if (!folds || !per) {
                nb_error_set(err, path, lineno, 1,
                             "header must be two positive integers 'folds n' (e.g. \"10 300\"), got %d field%s",
                             nt, nt == 1 ? "" : "s");
                if (nt == 2)
                    snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg), ": '%s %s'",
                             tok[0], tok[1]);
                goto done;
            }
            if (folds * 2 * per > LFW_MAX_PAIRS) {
                nb_error_set(err, path, lineno, 1, "header declares %ld folds × 2×%ld pairs, more than %ld", folds,
                             per, LFW_MAX_PAIRS);
                goto done;
            }
            header = 1;
            pf->folds = (int)folds;
            pf->per = (int)per;
            total = folds * 2 * per;
            continue;
        }
        if (pf->npairs >= total) {
            nb_error_set(err, path, lineno, 1,
                         "extra line: the header declares %d folds × (%d matched + %d mismatched) = %ld pairs, "
                         "all already read", pf->folds, pf->per, pf->per, total);
            goto done;
        }
        long within = pf->npairs % (2L * pf->per);
        int fold = (int)(pf->npairs / (2L * pf->per)), same = within < pf->per, want = same ? 3 : 4;
        if (nt != want) {
            nb_error_set(err, path, lineno, 1,
                         "%d fields, expected %d: line %ld of fold %d is a %s pair '%s'", nt, want, within + 1,
                         fold + 1, same ? "matched" : "mismatched", same ? "name i j" : "name1 i name2 j");
            goto done;
        }
        if (pf->nrefs + 2 > cap_refs) {
            cap_refs = cap_refs ? 2 * cap_refs : 256;
            pf->refs = nb_realloc(pf->refs, (size_t)cap_refs * sizeof *pf->refs);
        }
        if (same ? add_ref(pf, root, path, lineno, tok[0], col[0], tok[1], col[1], err) ||
                       add_ref(pf, root, path, lineno, tok[0], col[0], tok[2], col[2], err)
                 : add_ref(pf, root, path, lineno, tok[0], col[0], tok[1], col[1], err) ||
                       add_ref(pf, root, path, lineno, tok[2], col[2], tok[3], col[3], err))
            goto done;
        pf->npairs++;
    }
    if (!header) {
        nb_error_set(err, path, 0, 0, "empty pairs file: expected a header 'folds n' (e.g. \"10 300\")");
        goto done;
    }
    if (pf->npairs < total) {
        nb_error_set(err, path, lineno, 0,
                     "file ends after %ld pairs, but the header declares %d folds × (%d matched + %d mismatched) "
                     "= %ld pairs (%ld lines after the header)", pf->npairs, pf->folds, pf->per, pf->per, total,
                     total);
        goto done;
    }
    rc = 0;
done:
    free(line);
    fclose(f);
    if (rc)
        pairs_file_free(pf);
    return rc;
}

static int ref_cmp(const void *a, const void *b)
{
    const lfw_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* Appends " (<what>)" to err's message. */
static void error_append(nb_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void error_append(nb_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    size_t n = strlen(err->msg);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof err->msg - n, fmt, ap);
    va_end(ap);
}

static void lfw_dataset_alloc(dataset *d, int n, const lfw_options *o)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->c = o->channels;
    d->h = o->height;
    d->w = o->width;
    d->images = nb_malloc((size_t)n * d->c * d->h * d->w * sizeof *d->images);
    d->labels = nb_malloc((size_t)n * sizeof *d->labels);
}

int lfw_load_pairs(dataset *test, pair_list *pairs, const char *root, const char *pairs_path,
                   const lfw_options *o, nb_error *err)
{
    memset(test, 0, sizeof *test);
    memset(pairs, 0, sizeof *pairs);
    if (lfw_check(o, err))
        return -1;
    pairs_file pf;
    if (pairs_parse(&pf, root, pairs_path, err))
        return -1;

    /* Unique (name, index) in sorted order → sample ids; refs keep their first line. */
    lfw_ref *sorted = nb_malloc((size_t)pf.nrefs * sizeof *sorted);
    memcpy(sorted, pf.refs, (size_t)pf.nrefs * sizeof *sorted);
    qsort(sorted, (size_t)pf.nrefs, sizeof *sorted, ref_cmp);
    int *sample_of = nb_malloc((size_t)pf.nrefs * sizeof *sample_of);
    int *first = nb_malloc((size_t)pf.nrefs * sizeof *first); /* sample → index into sorted */
    int n = 0;
    for (long r = 0; r < pf.nrefs; r++) {
        if (r == 0 || strcmp(sorted[r].name, sorted[r - 1].name) || sorted[r].index != sorted[r - 1].index)
            first[n++] = (int)r;
        sample_of[sorted[r].pos] = n - 1;
    }

    lfw_dataset_alloc(test, n, o);
    size_t per = (size_t)test->c * test->h * test->w;
    int label = -1, rc = 0;
    for (int s = 0; s < n; s++) {
        const lfw_ref *r = &sorted[first[s]];
        if (s == 0 || strcmp(r->name, sorted[first[s - 1]].name))
            label++;
        test->labels[s] = label;
        char *img = image_path(root, r->name, r->index);
        rc = lfw_read_image(test->images + s * per, img, o, err);
        free(img);
        if (rc) {
            error_append(err, " (image referenced by %s:%d)", pairs_path, r->line);
            break;
        }
    }
    test->num_classes = label + 1;
    if (rc == 0) {
        pairs->n = (int)pf.npairs;
        pairs->folds = pf.folds;
        pairs->p = nb_malloc((size_t)pf.npairs * sizeof *pairs->p);
        for (long k = 0; k < pf.npairs; k++) {
            verify_pair *p = &pairs->p[k];
            p->a = sample_of[2 * k];
            p->b = sample_of[2 * k + 1];
            p->fold = (int)(k / (2L * pf.per));
            p->same = k % (2L * pf.per) < pf.per;
        }
    } else {
        dataset_free(test);
    }
    free(sorted);
    free(sample_of);
    free(first);
    pairs_file_free(&pf);
    return rc;
}

void lfw_pairs_free(pair_list *pairs)
{
    free(pairs->p);
    memset(pairs, 0, sizeof *pairs);
}

/* ---- training sets ------------------------------------------------------------------------- */

typedef struct {
    char *name;
    int line; /* line in the identities list, 0 when scanned from root */
} lfw_id;

typedef struct {
    char *file;
    long index;
} lfw_img;

static int id_cmp(const void *a, const void *b)
{
    const lfw_id *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int img_cmp(const void *a, const void *b)
{
    const lfw_img *x = a, *y = b;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return strcmp(x->file, y->file);
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Identities listed in path, one per line. */
static int read_id_list(lfw_id **ids, int *n, const char *root, const char *path, nb_error *err)
{
    FILE *f = fsutil_open_read(path, "identity list", LFW_TEXT_MAX, 0, err);
    if (!f)
        return -1;
    char *line = NULL, *tok[MAX_TOKENS];
    int col[MAX_TOKENS], lineno = 0, cap = 0, rc = 0;
    size_t lcap = 0;
    while (getline(&line, &lcap, f) != -1) {
        lineno++;
        int nt = tokenize(line, tok, col);
        if (nt == 0 || tok[0][0] == '#')
            continue;
        if (nt != 1) {
            rc = nb_error_set(err, path, lineno, col[1], "%d fields, expected one identity name per line", nt);
            break;
        }
        if ((rc = check_identity(root, tok[0], path, lineno, col[0], err)))
            break;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            *ids = nb_realloc(*ids, (size_t)cap * sizeof **ids);
        }
        (*ids)[*n].name = nb_strdup(tok[0]);
        (*ids)[(*n)++].line = lineno;
    }
    free(line);
    fclose(f);
    return rc;
}

/* Every folder of root not named in exclude (sorted names, nex of them). */
static int scan_root(lfw_id **ids, int *n, const char *root, char **exclude, long nex, nb_error *err)
{
    DIR *dir = opendir(root);
    if (!dir)
        return nb_error_set(err, root, 0, 0, "cannot open data folder: %s", strerror(errno));
    struct dirent *e;
    int cap = 0;
    while ((e = readdir(dir))) {
        const char *name = e->d_name;
        if (name[0] == '.')
            continue;
        if (nex && bsearch(&name, exclude, (size_t)nex, sizeof *exclude, str_cmp))
            continue;
        char *sub = str_printf("%s/%s", root, name);
        int d = is_dir(sub);
        free(sub);
        if (!d)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            *ids = nb_realloc(*ids, (size_t)cap * sizeof **ids);
        }
        (*ids)[*n].name = nb_strdup(name);
        (*ids)[(*n)++].line = 0;
    }
    closedir(dir);
    return 0;
}

/* The <name>_<digits>.jpg and .png files of root/name, sorted by index; two files of one index
 * (a .jpg and a .png) are an error naming both. */
static int list_images(lfw_img **imgs, int *n, const char *root, const char *name, nb_error *err)
{
    *imgs = NULL;
    *n = 0;
    char *dirpath = str_printf("%s/%s", root, name);
    DIR *dir = opendir(dirpath);
    if (!dir) {
        nb_error_set(err, dirpath, 0, 0, "cannot open identity folder: %s", strerror(errno));
        free(dirpath);
        return -1;
    }
    size_t nl = strlen(name);
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        const char *s = e->d_name;
        size_t len = strlen(s);
        if (len < nl + 6 || strncmp(s, name, nl) || s[nl] != '_' ||
            (strcmp(s + len - 4, ".jpg") && strcmp(s + len - 4, ".png")))
            continue;
        char digits[32];
        size_t nd = len - nl - 5;
        if (nd >= sizeof digits)
            continue;
        memcpy(digits, s + nl + 1, nd);
        digits[nd] = '\0';
        long idx = parse_pos(digits, 99999999L);
        if (!idx)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *imgs = nb_realloc(*imgs, (size_t)cap * sizeof **imgs);
        }
        (*imgs)[*n].file = str_printf("%s/%s", dirpath, s);
        (*imgs)[(*n)++].index = idx;
    }
    closedir(dir);
    free(dirpath);
    if (*n)
        qsort(*imgs, (size_t)*n, sizeof **imgs, img_cmp);
    for (int k = 1; k < *n; k++)
        if ((*imgs)[k].index == (*imgs)[k - 1].index) {
            nb_error_set(err, (*imgs)[k].file, 0, 0, "two images of index %ld in one identity folder: %s and %s; keep one",
                         (*imgs)[k].index, (*imgs)[k - 1].file, (*imgs)[k].file);
            for (int j = 0; j < *n; j++)
                free((*imgs)[j].file);
            free(*imgs);
            *imgs = NULL;
            *n = 0;
            return -1;
        }
    return 0;
}

int lfw_load_train(dataset *train, const char *root, const char *identities_path,
                   const char *exclude_pairs_path, const lfw_options *o, nb_error *err)
{
    memset(train, 0, sizeof *train);
    if (lfw_check(o, err))
        return -1;
    lfw_id *ids = NULL;
    int nid = 0, rc = -1;
    lfw_img **imgs = NULL;
    int *nimg = NULL;
    if (identities_path) {
        if (read_id_list(&ids, &nid, root, identities_path, err))
            goto done;
    } else {
        char **ex = NULL;
        long nex = 0;
        if (exclude_pairs_path) {
            pairs_file pf;
            if (pairs_parse(&pf, root, exclude_pairs_path, err))
                goto done;
            ex = nb_malloc((size_t)pf.nrefs * sizeof *ex);
            for (long r = 0; r < pf.nrefs; r++)
                ex[r] = pf.refs[r].name;
            qsort(ex, (size_t)pf.nrefs, sizeof *ex, str_cmp);
            nex = pf.nrefs;
            int s = scan_root(&ids, &nid, root, ex, nex, err);
            free(ex);
            pairs_file_free(&pf);
            if (s)
                goto done;
        } else if (scan_root(&ids, &nid, root, NULL, 0, err)) {
            goto done;
        }
    }
    if (nid == 0) {
        nb_error_set(err, identities_path ? identities_path : root, 0, 0, "no training identities%s",
                     identities_path ? " listed" : exclude_pairs_path ? " left after excluding those in the pairs file"
                                                                      : " (no identity folders)");
        goto done;
    }
    qsort(ids, (size_t)nid, sizeof *ids, id_cmp);
    for (int k = 1; k < nid; k++)
        if (!strcmp(ids[k].name, ids[k - 1].name)) {
            nb_error_set(err, identities_path, ids[k].line, 1, "identity '%s' listed twice (first at line %d)",
                         ids[k].name, ids[k - 1].line);
            goto done;
        }

    imgs = nb_calloc((size_t)nid, sizeof *imgs);
    nimg = nb_calloc((size_t)nid, sizeof *nimg);
    long total = 0;
    for (int k = 0; k < nid; k++) {
        if (list_images(&imgs[k], &nimg[k], root, ids[k].name, err))
            goto done;
        if (nimg[k] == 0) {
            if (ids[k].line)
                nb_error_set(err, identities_path, ids[k].line, 1, "identity '%s' has no images %s/%s/%s_NNNN.jpg",
                             ids[k].name, root, ids[k].name, ids[k].name);
            else
                nb_error_set(err, root, 0, 0, "identity folder '%s' has no images %s_NNNN.jpg", ids[k].name,
                             ids[k].name);
            goto done;
        }
        total += nimg[k];
    }
    if (total > INT_MAX) {
        nb_error_set(err, root, 0, 0, "%ld training images, more than %d", total, INT_MAX);
        goto done;
    }
    lfw_dataset_alloc(train, (int)total, o);
    train->num_classes = nid;
    size_t per = (size_t)train->c * train->h * train->w;
    int s = 0;
    for (int k = 0; k < nid; k++)
        for (int j = 0; j < nimg[k]; j++, s++) {
            train->labels[s] = k;
            if (lfw_read_image(train->images + s * per, imgs[k][j].file, o, err)) {
                dataset_free(train);
                goto done;
            }
        }
    rc = 0;
done:
    for (int k = 0; k < nid; k++) {
        free(ids[k].name);
        if (imgs) {
            for (int j = 0; j < nimg[k]; j++)
                free(imgs[k][j].file);
            free(imgs[k]);
        }
    }
    free(ids);
    free(imgs);
    free(nimg);
    return rc;
}
