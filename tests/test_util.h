/* test_util.h — small helpers that several test programs share.
 *
 * now() is monotonic seconds; slurp(path) a whole file as a NUL-terminated malloc'd string (NULL
 * when it cannot be opened); sh(cmd) runs cmd through nb_system (nb_bin.h) and gives its exit
 * status, -1 when it did not exit normally. A test's scratch folder: make_tmpdir (mkdtemp, so
 * that concurrent runs of the suite do not meet), path_in (dir/name in one of 8 rotating buffers)
 * and remove_tree (rm -rf without a shell); in_tmp(dir, s) lets commands and paths name such a
 * folder "{tmp}", so that they still read as what a person would type. loss_fixture_init /
 * loss_fixture_free: the loss and parameter set around which the loss tests build their
 * fixtures. */
#ifndef NB_TEST_UTIL_H
#define NB_TEST_UTIL_H

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "loss/loss.h"
#include "nb_bin.h"

static inline double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The whole file as bytes (NUL-terminated beyond *n when n is given), or NULL when it cannot be opened. */
static inline char *slurp_n(const char *path, size_t *len)
{
    if (len)
        *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t n = 0, cap = 1 << 16;
    char *s = malloc(cap);
    assert_non_null(s);
    for (size_t got; (got = fread(s + n, 1, cap - 1 - n, f)) > 0;) {
        n += got;
        if (n + 1 == cap) {
            cap *= 2;
            char *t = realloc(s, cap);
            assert_non_null(t);
            s = t;
        }
    }
    assert_false(ferror(f));
    fclose(f);
    s[n] = '\0';
    if (len)
        *len = n;
    return s;
}

static inline char *slurp(const char *path) { return slurp_n(path, NULL); }

static inline int sh(const char *cmd)
{
    int rc = nb_system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Makes a fresh folder from pattern (ending in XXXXXX) into dir; 0, or -1 after perror. */
static inline int make_tmpdir(char *dir, size_t size, const char *pattern)
{
    snprintf(dir, size, "%s", pattern);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return -1;
    }
    return 0;
}

/* dir/name, in one of 8 rotating buffers. */
static inline const char *path_in(const char *dir, const char *name)
{
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* s with every "{tmp}" replaced by dir, in one of 16 rotating buffers; fails the test when dir is
 * not set or the result does not fit. A "{tmp}" left unreplaced would be a relative path, never
 * one at the root of the file system. */
static inline const char *in_tmp(const char *dir, const char *s)
{
    static char buf[16][4096];
    static int k;
    static const char word[] = "{tmp}";
    const size_t wl = sizeof word - 1, dl = strlen(dir);
    assert_true(dl > 0);
    k = (k + 1) % 16;
    char *o = buf[k];
    size_t n = 0;
    for (const char *p = s;;) {
        const char *q = strstr(p, word);
        size_t len = q ? (size_t)(q - p) : strlen(p);
        assert_true(n + len + (q ? dl : 0) < sizeof buf[k]);
        memcpy(o + n, p, len);
        n += len;
        if (!q)
            break;
        memcpy(o + n, dir, dl);
        n += dl;
        p = q + wl;
    }
    o[n] = '\0';
    return o;
}

static inline int remove_tree_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes dir and everything below it (links themselves, not what they point to); 0 or -1. */
static inline int remove_tree(const char *dir)
{
    return nftw(dir, remove_tree_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A loss for batches of N samples of d dims and C classes, its parameters allocated in ps and
 * initialised from a generator seeded with seed; r (when not NULL) is that generator, left where
 * the initialisation stopped for the caller's own draws. */
static inline void loss_fixture_init(loss *l, paramset *ps, const loss_config *cfg, int N, int d, int C, uint64_t seed,
                                     rng_t *r)
{
    rng_t own;
    if (!r)
        r = &own;
    loss_init(l, cfg, d, C, N, ps);
    paramset_alloc(ps);
    rng_seed(r, seed);
    loss_bind(l, ps, r);
}

static inline void loss_fixture_free(loss *l, paramset *ps)
{
    loss_free(l);
    paramset_free(ps);
}

#endif
