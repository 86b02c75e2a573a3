/* csvlog.h — CSV for machines (STYLE rule 10), written through libcsv.
 *
 * A table has a fixed header and rows of cells; cells are text, quoted by libcsv only when they
 * need it (commas, quotes, newlines). Numbers are formatted with %.9g (exact for float) or %.17g;
 * a missing value is an empty cell. */
#ifndef NB_CSVLOG_H
#define NB_CSVLOG_H

#include <stdio.h>

/* Writes one cell (with a leading comma unless first). */
void csvlog_cell(FILE *f, const char *text, int first);
/* Writes a row of n cells and a newline. */
void csvlog_row(FILE *f, const char *const *cells, int n);
/* Formats a number into buf (empty for NaN, so absent metrics are empty cells). */
const char *csvlog_num(char *buf, size_t size, double v);

#endif
