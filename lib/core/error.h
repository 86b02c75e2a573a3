/* error.h — the two kinds of failure (STYLE rule 4).
 *
 * Resource failures (out of memory, a failed write of scratch) are bugs of the environment: the
 * NB_* allocation macros report file:line and exit non-zero. Failures caused by user input
 * (configs, data files, CSVs) are returned as an int status (0 ok, -1 error) and described in an
 * nb_error with the offending file and, where known, line and column; the runner prints it once. */
#ifndef NB_ERROR_H
#define NB_ERROR_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    char msg[1024];
    char file[512];
    int line; /* 1-based; 0 when not applicable */
    int col;  /* 1-based; 0 when not applicable */
} nb_error;

/* Fills e (if non-NULL) with "file:line:col: message". file may be NULL. Returns -1 so that
 * callers can write `return nb_error_set(...)`. */
int nb_error_set(nb_error *e, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Prints the error as one line: "normbench: file:line:col: message". */
void nb_error_print(const nb_error *e, FILE *f);

/* Allocation that never returns NULL: on failure prints file:line and exits with status 2. */
void *nb_malloc_at(size_t n, const char *file, int line);
void *nb_calloc_at(size_t n, size_t size, const char *file, int line);
void *nb_realloc_at(void *p, size_t n, const char *file, int line);
char *nb_strdup_at(const char *s, const char *file, int line);
#define nb_malloc(n) nb_malloc_at((n), __FILE__, __LINE__)
#define nb_calloc(n, s) nb_calloc_at((n), (s), __FILE__, __LINE__)
#define nb_realloc(p, n) nb_realloc_at((p), (n), __FILE__, __LINE__)
#define nb_strdup(s) nb_strdup_at((s), __FILE__, __LINE__)
/* For resource failures other than allocation: prints file:line and the message, exits 2. */
void nb_fatal_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
#define nb_fatal(...) nb_fatal_at(__FILE__, __LINE__, __VA_ARGS__)

#endif
