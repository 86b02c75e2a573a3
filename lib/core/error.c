/* error.c — error reporting and allocation that dies loudly; see error.h. */
#include "core/error.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int nb_error_set(nb_error *e, const char *file, int line, int col, const char *fmt, ...)
{
    if (!e)
        return -1;
    snprintf(e->file, sizeof e->file, "%s", file ? file : "");
    e->line = line;
    e->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

void nb_error_print(const nb_error *e, FILE *f)
{
    fprintf(f, "normbench: ");
    if (e->file[0]) {
        fprintf(f, "%s:", e->file);
        if (e->line > 0)
            fprintf(f, "%d:", e->line);
        if (e->line > 0 && e->col > 0)
            fprintf(f, "%d:", e->col);
        fprintf(f, " ");
    }
    fprintf(f, "%s\n", e->msg);
}

static void die_alloc(size_t n, const char *file, int line)
{
    fprintf(stderr, "normbench: %s:%d: out of memory allocating %zu bytes\n", file, line, n);
    exit(2);
}

void *nb_malloc_at(size_t n, const char *file, int line)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die_alloc(n, file, line);
    return p;
}

void *nb_calloc_at(size_t n, size_t size, const char *file, int line)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die_alloc(n * size, file, line);
    return p;
}

void *nb_realloc_at(void *p, size_t n, const char *file, int line)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        die_alloc(n, file, line);
    return q;
}

char *nb_strdup_at(const char *s, const char *file, int line)
{
    size_t n = strlen(s) + 1;
    char *d = nb_malloc_at(n, file, line);
    memcpy(d, s, n);
    return d;
}

void nb_fatal_at(const char *file, int line, const char *fmt, ...)
{
    fprintf(stderr, "normbench: %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(2);
}
