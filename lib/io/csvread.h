/* csvread.h — reading the CSV files normbench wrote (summaries, metrics) back, through libcsv.
 *
 * A table is a header and rows of text cells. Reading is strict: a row whose cell count differs
 * from the header's, a quoting error or an unreadable file is an error naming the file and the
 * line. Numeric access reports a non-numeric cell with its file, line and column name. */
#ifndef NB_CSVREAD_H
#define NB_CSVREAD_H

#include "core/error.h"

typedef struct {
    char file[512];
    int ncols, nrows;
    char **header; /* ncols */
    char ***rows;  /* nrows × ncols */
    int *line;     /* source line of each row (1-based; the header is line 1) */
} csvread_table;

/* Largest CSV file read (features.csv of a large test set is ~100 MB). */
#define CSVREAD_MAX_BYTES (1LL << 30)

/* Reads path: a regular file, not a symbolic link (these are the files of a results folder; see
 * io/fsutil.h), of at most CSVREAD_MAX_BYTES. An empty file is an error ("no header"). Returns 0
 * or −1 with err. */
int csvread_load(csvread_table *t, const char *path, nb_error *err);
/* Index of column name, or −1. */
int csvread_col(const csvread_table *t, const char *name);
/* Cell (row, col) as a number: 0 with *v set; an empty cell gives NAN and 0; anything else
 * non-numeric is −1 with err naming file:line and the column. */
int csvread_number(const csvread_table *t, int row, int col, double *v, nb_error *err);
void csvread_free(csvread_table *t);

#endif
