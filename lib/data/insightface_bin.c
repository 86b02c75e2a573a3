/* insightface_bin.c — InsightFace .bin validation sets through a restricted pickle reader (the
 * opcodes of CPython's Lib/pickletools.py, protocols 2–4, that lists of bytes and booleans use);
 * see insightface_bin.h for what is accepted and refused. */
#include "data/insightface_bin.h"
#include "io/fsutil.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef enum { N_BYTES, N_BOOL, N_INT, N_LIST, N_TUPLE } node_type;

typedef struct {
    node_type type;
    size_t off, len; /* N_BYTES */
    long v;          /* N_BOOL, N_INT */
    int *items, n, cap; /* N_LIST, N_TUPLE: node indices */
} node;

#define MARK (-1)

typedef struct {
    const unsigned char *b;
    size_t len, at;
    const char *name;
    nb_error *err;
    node *nodes;
    int n_nodes, cap_nodes;
    int *stack, sp, cap_stack;
    int *memo, n_memo, cap_memo;
} unpickler;

static int fail(unpickler *u, size_t at, const char *fmt, const char *what)
{
    char msg[400];
    snprintf(msg, sizeof msg, fmt, what);
    return nb_error_set(u->err, u->name, 0, 0, "pickle, byte %zu: %s", at, msg);
}

static void grow(void **p, int *cap, int need, size_t size)
{
    if (need <= *cap)
        return;
    int c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    *p = nb_realloc(*p, (size_t)c * size);
    *cap = c;
}

static int new_node(unpickler *u, node_type t)
{
    grow((void **)&u->nodes, &u->cap_nodes, u->n_nodes + 1, sizeof *u->nodes);
    memset(&u->nodes[u->n_nodes], 0, sizeof *u->nodes);
    u->nodes[u->n_nodes].type = t;
    return u->n_nodes++;
}

static void push(unpickler *u, int v)
{
    grow((void **)&u->stack, &u->cap_stack, u->sp + 1, sizeof *u->stack);
    u->stack[u->sp++] = v;
}

/* n little-endian bytes at the cursor, which must remain. */
static int arg(unpickler *u, size_t n, uint64_t *v)
{
    if (u->len - u->at < n)
        return fail(u, u->at, "%s", "truncated pickle (an argument runs past the end)");
    *v = 0;
    for (size_t k = 0; k < n; k++)
        *v |= (uint64_t)u->b[u->at + k] << (8 * k);
    u->at += n;
    return 0;
}

/* A bytes/string node of len bytes at the cursor. */
static int bytes_node(unpickler *u, uint64_t len)
{
    if (len > u->len - u->at)
        return nb_error_set(u->err, u->name, 0, 0, "pickle, byte %zu: a string of %llu bytes, but only %zu remain",
                            u->at, (unsigned long long)len, u->len - u->at);
    int k = new_node(u, N_BYTES);
    u->nodes[k].off = u->at;
    u->nodes[k].len = (size_t)len;
    u->at += (size_t)len;
    push(u, k);
    return 0;
}

static void seq_add(unpickler *u, int seq, int item)
{
    node *s = &u->nodes[seq];
    grow((void **)&s->items, &s->cap, s->n + 1, sizeof *s->items);
    s->items[s->n++] = item;
}

/* The index of the topmost MARK, or −1 with err. */
static int find_mark(unpickler *u, size_t at)
{
    for (int i = u->sp - 1; i >= 0; i--)
        if (u->stack[i] == MARK)
            return i;
    fail(u, at, "%s", "no MARK on the stack");
    return -1;
}

/* APPEND / APPENDS: items onto the list below them. */
static int do_append(unpickler *u, size_t at, int many)
{
    int from = u->sp - 1;
    if (many && (from = find_mark(u, at)) < 0)
        return -1;
    int list_at = many ? from - 1 : u->sp - 2;
    if (list_at < 0 || u->stack[list_at] == MARK || u->nodes[u->stack[list_at]].type != N_LIST)
        return fail(u, at, "%s", "APPEND onto something that is not a list");
    for (int i = many ? from + 1 : u->sp - 1; i < u->sp; i++) {
        if (u->stack[i] == MARK)
            return fail(u, at, "%s", "a MARK among the appended items");
        seq_add(u, u->stack[list_at], u->stack[i]);
    }
    u->sp = list_at + 1;
    return 0;
}

/* TUPLE (k < 0: down to the MARK) and TUPLE1–3. */
static int do_tuple(unpickler *u, size_t at, int k)
{
    int from;
    if (k < 0) {
        if ((from = find_mark(u, at)) < 0)
            return -1;
    } else {
        if (u->sp < k)
            return fail(u, at, "%s", "stack underflow building a tuple");
        from = u->sp - k - 1;
    }
    int t = new_node(u, N_TUPLE);
    for (int i = from + 1; i < u->sp; i++) {
        if (u->stack[i] == MARK)
            return fail(u, at, "%s", "a MARK inside a tuple");
        seq_add(u, t, u->stack[i]);
    }
    u->sp = from + (k < 0 ? 0 : 1);
    push(u, t);
    return 0;
}

/* PUT: memo slot idx ← top of stack; slots are numbered in order, as CPython's pickler does. */
static int do_put(unpickler *u, size_t at, uint64_t idx)
{
    if (u->sp < 1 || u->stack[u->sp - 1] == MARK)
        return fail(u, at, "%s", "memo PUT of nothing");
    if (idx > (uint64_t)u->n_memo)
        return fail(u, at, "%s", "memo index out of order");
    if (idx == (uint64_t)u->n_memo) {
        grow((void **)&u->memo, &u->cap_memo, u->n_memo + 1, sizeof *u->memo);
        u->n_memo++;
    }
    u->memo[idx] = u->stack[u->sp - 1];
    return 0;
}

static int do_get(unpickler *u, size_t at, uint64_t idx)
{
    if (idx >= (uint64_t)u->n_memo)
        return fail(u, at, "%s", "memo GET of an empty slot");
    push(u, u->memo[idx]);
    return 0;
}

/* Names of the refused opcodes that matter most (the ones that would run code). */
static const char *refused_name(int op)
{
    switch (op) {
    case 'c': return "GLOBAL: imports a name";
    case 0x93: return "STACK_GLOBAL: imports a name";
    case 'R': return "REDUCE: calls a callable";
    case 'b': return "BUILD: calls __setstate__";
    case 'i': return "INST: creates an instance";
    case 'o': return "OBJ: creates an instance";
    case 0x81: return "NEWOBJ: creates an instance";
    case 0x92: return "NEWOBJ_EX: creates an instance";
    case 'P': case 'Q': return "PERSID: a persistent id";
    case 0x82: case 0x83: case 0x84: return "EXT: an extension-registry import";
    default: return "not used by .bin files";
    }
}

/* One opcode at u->at. Returns 1 at STOP, 0 to go on, −1 with err. */
static int step(unpickler *u)
{
    size_t at = u->at;
    int op = u->b[u->at++];
    uint64_t v;
    switch (op) {
    case 0x80: /* PROTO */
        if (arg(u, 1, &v))
            return -1;
        return v >= 2 && v <= 4 ? 0 : fail(u, at, "%s", "pickle protocol outside 2–4");
    case 0x95: /* FRAME: its length only groups opcodes */
        if (arg(u, 8, &v))
            return -1;
        return v <= u->len - u->at ? 0 : fail(u, at, "%s", "a frame longer than the file");
    case '.': return 1;
    case '(': push(u, MARK); return 0;
    case ']': push(u, new_node(u, N_LIST)); return 0;
    case ')': return do_tuple(u, at, 0);
    case 'a': return do_append(u, at, 0);
    case 'e': return do_append(u, at, 1);
    case 't': return do_tuple(u, at, -1);
    case 0x85: return do_tuple(u, at, 1);
    case 0x86: return do_tuple(u, at, 2);
    case 0x87: return do_tuple(u, at, 3);
    case 0x88: case 0x89: {
        int k = new_node(u, N_BOOL);
        u->nodes[k].v = op == 0x88;
        push(u, k);
        return 0;
    }
    case 'K': case 'M': case 'J': {
        if (arg(u, op == 'K' ? 1 : op == 'M' ? 2 : 4, &v))
            return -1;
        int k = new_node(u, N_INT);
        u->nodes[k].v = op == 'J' ? (long)(int32_t)(uint32_t)v : (long)v;
        push(u, k);
        return 0;
    }
    case 'C': case 'U': case 0x8c: return arg(u, 1, &v) || bytes_node(u, v) ? -1 : 0;
    case 'B': case 'X': return arg(u, 4, &v) || bytes_node(u, v) ? -1 : 0;
    case 'T':
        if (arg(u, 4, &v))
            return -1;
        if (v & 0x80000000u)
            return fail(u, at, "%s", "negative string length");
        return bytes_node(u, v);
    case 0x8e: case 0x8d: return arg(u, 8, &v) || bytes_node(u, v) ? -1 : 0;
    case 'q': return arg(u, 1, &v) || do_put(u, at, v) ? -1 : 0;
    case 'r': return arg(u, 4, &v) || do_put(u, at, v) ? -1 : 0;
    case 0x94: return do_put(u, at, (uint64_t)u->n_memo);
    case 'h': return arg(u, 1, &v) || do_get(u, at, v) ? -1 : 0;
    case 'j': return arg(u, 4, &v) || do_get(u, at, v) ? -1 : 0;
    default: {
        char what[120];
        snprintf(what, sizeof what, "opcode 0x%02x (%s) is refused: an InsightFace .bin holds only lists of bytes and "
                 "booleans",
                 op, refused_name(op));
        return fail(u, at, "%s", what);
    }
    }
}

static void unpickler_free(unpickler *u)
{
    for (int i = 0; i < u->n_nodes; i++)
        free(u->nodes[i].items);
    free(u->nodes);
    free(u->stack);
    free(u->memo);
}

/* The top level: (list of bytes, list of booleans / 0-1 integers), 2 images per pair. */
static int extract(ifbin *b, unpickler *u)
{
    if (u->sp != 1 || u->stack[0] == MARK)
        return nb_error_set(u->err, u->name, 0, 0, "pickle: STOP with %d objects on the stack, expected 1", u->sp);
    const node *top = &u->nodes[u->stack[0]];
    if ((top->type != N_TUPLE && top->type != N_LIST) || top->n != 2)
        return nb_error_set(u->err, u->name, 0, 0, "not an InsightFace .bin: the pickle is not a pair (bins, issame)");
    const node *bins = &u->nodes[top->items[0]], *same = &u->nodes[top->items[1]];
    if (bins->type != N_LIST || same->type != N_LIST)
        return nb_error_set(u->err, u->name, 0, 0, "not an InsightFace .bin: bins and issame must be lists");
    if (same->n < 1 || (long)bins->n != 2L * same->n)
        return nb_error_set(u->err, u->name, 0, 0, "%d images for %d pairs: a .bin has 2 images per pair", bins->n,
                            same->n);
    b->n_images = bins->n;
    b->n_pairs = same->n;
    b->img_off = nb_malloc((size_t)bins->n * sizeof *b->img_off);
    b->img_len = nb_malloc((size_t)bins->n * sizeof *b->img_len);
    b->issame = nb_malloc((size_t)same->n);
    for (int i = 0; i < bins->n; i++) {
        const node *x = &u->nodes[bins->items[i]];
        if (x->type != N_BYTES)
            return nb_error_set(u->err, u->name, 0, 0, "image %d of the .bin is not a bytes object", i);
        b->img_off[i] = x->off;
        b->img_len[i] = x->len;
    }
    for (int i = 0; i < same->n; i++) {
        const node *x = &u->nodes[same->items[i]];
        if ((x->type != N_BOOL && x->type != N_INT) || x->v < 0 || x->v > 1)
            return nb_error_set(u->err, u->name, 0, 0, "issame element %d of the .bin is not a boolean", i);
        b->issame[i] = (unsigned char)x->v;
    }
    return 0;
}

int ifbin_parse(ifbin *b, const unsigned char *data, size_t len, const char *name, nb_error *err)
{
    memset(b, 0, sizeof *b);
    if (len < 2 || data[0] != 0x80)
        return nb_error_set(err, name, 0, 0, "not a pickle of protocol 2 or later (an InsightFace .bin starts with 0x80)");
    b->buf = nb_malloc(len);
    memcpy(b->buf, data, len);
    b->len = len;
    unpickler u = {.b = b->buf, .len = len, .name = name, .err = err};
    int rc;
    while ((rc = u.at < u.len ? step(&u) : nb_error_set(err, name, 0, 0, "pickle: no STOP before the end")) == 0)
        ;
    if (rc == 1 && u.at != u.len)
        rc = nb_error_set(err, name, 0, 0, "pickle: %zu bytes after STOP", u.len - u.at);
    else if (rc == 1)
        rc = extract(b, &u);
    unpickler_free(&u);
    if (rc)
        ifbin_free(b);
    return rc ? -1 : 0;
}

int ifbin_read(ifbin *b, const char *path, nb_error *err)
{
    memset(b, 0, sizeof *b);
    size_t got; /* regular files only: never blocks */
    unsigned char *data = fsutil_read_all(path, "InsightFace .bin file", (1LL << 34), &got, err);
    if (!data)
        return -1;
    int rc = ifbin_parse(b, data, got, path, err);
    free(data);
    return rc;
}

void ifbin_free(ifbin *b)
{
    free(b->buf);
    free(b->img_off);
    free(b->img_len);
    free(b->issame);
    memset(b, 0, sizeof *b);
}

int ifbin_load(dataset *test, pair_list *pairs, const char *path, int folds, const lfw_options *o, nb_error *err)
{
    memset(test, 0, sizeof *test);
    memset(pairs, 0, sizeof *pairs);
    if (lfw_check(o, err))
        return -1;
    ifbin b;
    if (ifbin_read(&b, path, err))
        return -1;
    if (folds < 1 || folds > b.n_pairs) {
        ifbin_free(&b);
        return nb_error_set(err, path, 0, 0, "%d folds for %d pairs", folds, b.n_pairs);
    }
    test->n = b.n_images;
    test->c = o->channels;
    test->h = o->height;
    test->w = o->width;
    test->open_set = 1;
    test->num_classes = b.n_images;
    size_t per = (size_t)test->c * test->h * test->w;
    test->images = nb_malloc((size_t)b.n_images * per * sizeof *test->images);
    test->labels = nb_malloc((size_t)b.n_images * sizeof *test->labels);
    int rc = 0;
    for (int i = 0; i < b.n_images && rc == 0; i++) {
        char name[600];
        snprintf(name, sizeof name, "%s (image %d)", path, i);
        test->labels[i] = i;
        rc = lfw_decode_image(test->images + i * per, b.buf + b.img_off[i], b.img_len[i], name, o, err);
    }
    if (rc == 0) {
        pairs->n = b.n_pairs;
        pairs->folds = folds;
        pairs->p = nb_malloc((size_t)b.n_pairs * sizeof *pairs->p);
        int base = b.n_pairs / folds, extra = b.n_pairs % folds;
        for (int k = 0, i = 0; k < folds; k++)
            for (int j = 0; j < base + (k < extra); j++, i++)
                pairs->p[i] = (verify_pair){2 * i, 2 * i + 1, b.issame[i], k};
    } else {
        dataset_free(test);
    }
    ifbin_free(&b);
    return rc;
}
