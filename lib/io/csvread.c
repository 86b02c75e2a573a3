/* csvread.c — strict CSV reading with libcsv; see csvread.h. */
#include "io/csvread.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/fsutil.h"

typedef struct {
    csvread_table *t;
    char **cur;
    int ncur, cap;
    int line;     /* physical line where the current record started */
    int newlines; /* newlines consumed so far */
    int bad_line, bad_count;
} reader;

static void on_field(void *s, size_t len, void *data)
{
    reader *r = data;
    if (r->ncur == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->cur = nb_realloc(r->cur, (size_t)r->cap * sizeof *r->cur);
    }
    char *c = nb_malloc(len + 1);
    if (len)
        memcpy(c, s, len);
    c[len] = '\0';
    r->cur[r->ncur++] = c;
}

static void on_record(int ch, void *data)
{
    (void)ch;
    reader *r = data;
    csvread_table *t = r->t;
    if (!t->header) {
        t->header = r->cur;
        t->ncols = r->ncur;
    } else {
        if (r->ncur != t->ncols && !r->bad_line) {
            r->bad_line = r->line;
            r->bad_count = r->ncur;
        }
        t->rows = nb_realloc(t->rows, (size_t)(t->nrows + 1) * sizeof *t->rows);
        t->line = nb_realloc(t->line, (size_t)(t->nrows + 1) * sizeof *t->line);
        for (int i = t->ncols; i < r->ncur; i++) /* extra cells (an error, reported below) */
            free(r->cur[i]);
        if (r->ncur < t->ncols) { /* pad so that every row has ncols cells */
            r->cur = nb_realloc(r->cur, (size_t)t->ncols * sizeof *r->cur);
            for (int i = r->ncur; i < t->ncols; i++)
                r->cur[i] = nb_strdup("");
        }
        t->rows[t->nrows] = r->cur;
        t->line[t->nrows] = r->line;
        t->nrows++;
    }
    r->cur = NULL;
    r->ncur = r->cap = 0;
}

int csvread_load(csvread_table *t, const char *path, nb_error *err)
{
    memset(t, 0, sizeof *t);
    snprintf(t->file, sizeof t->file, "%s", path);
    FILE *f = fsutil_open_read(path, "CSV file", CSVREAD_MAX_BYTES, FSUTIL_NOFOLLOW, err);
    if (!f)
        return -1;
    struct csv_parser p;
    csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL);
    reader r = {.t = t, .line = 1};
    char buf[8192];
    size_t n;
    int rc = 0;
    /* Feed line by line so that errors and records carry their line numbers. */
    while (rc == 0 && fgets(buf, sizeof buf, f)) {
        n = strlen(buf);
        int ends_line = n > 0 && buf[n - 1] == '\n';
        int before = t->nrows + (t->header != NULL);
        if (csv_parse(&p, buf, n, on_field, on_record, &r) != n)
            rc = nb_error_set(err, path, r.newlines + 1, 0, "malformed CSV: %s", csv_strerror(csv_error(&p)));
        if (ends_line)
            r.newlines++;
        if (t->nrows + (t->header != NULL) != before || (ends_line && r.ncur == 0))
            r.line = r.newlines + 1;
    }
    if (rc == 0 && ferror(f))
        rc = nb_error_set(err, path, 0, 0, "read error: %s", strerror(errno));
    if (rc == 0 && csv_fini(&p, on_field, on_record, &r) != 0)
        rc = nb_error_set(err, path, r.newlines + 1, 0, "malformed CSV: %s", csv_strerror(csv_error(&p)));
    csv_free(&p);
    fclose(f);
    for (int i = 0; i < r.ncur; i++)
        free(r.cur[i]);
    free(r.cur);
    if (rc == 0 && !t->header)
        rc = nb_error_set(err, path, 1, 0, "empty file: expected a header line");
    if (rc == 0 && r.bad_line)
        rc = nb_error_set(err, path, r.bad_line, 0, "row has %d cells, the header has %d", r.bad_count, t->ncols);
    if (rc)
        csvread_free(t);
    return rc;
}

int csvread_col(const csvread_table *t, const char *name)
{
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->header[i], name) == 0)
            return i;
    return -1;
}

int csvread_number(const csvread_table *t, int row, int col, double *v, nb_error *err)
{
    const char *s = t->rows[row][col];
    if (!s[0]) {
        *v = NAN;
        return 0;
    }
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end || errno == ERANGE)
        return nb_error_set(err, t->file, t->line[row], 0, "column '%s': expected a number, got '%s'", t->header[col], s);
    *v = x;
    return 0;
}

void csvread_free(csvread_table *t)
{
    if (t->header)
        for (int i = 0; i < t->ncols; i++)
            free(t->header[i]);
    free(t->header);
    for (int r = 0; r < t->nrows; r++) {
        for (int i = 0; i < t->ncols; i++)
            free(t->rows[r][i]);
        free(t->rows[r]);
    }
    free(t->rows);
    free(t->line);
    memset(t, 0, sizeof *t);
}
