/* csvlog.c — CSV writing via libcsv; see csvlog.h. */
#include "io/csvlog.h"

#include <csv.h>
#include <math.h>
#include <string.h>

void csvlog_cell(FILE *f, const char *text, int first)
{
    if (!first)
        fputc(',', f);
    if (strpbrk(text, ",\"\r\n") || (text[0] == ' ' || (text[0] && text[strlen(text) - 1] == ' ')))
        csv_fwrite(f, text, strlen(text));
    else
        fputs(text, f);
}

void csvlog_row(FILE *f, const char *const *cells, int n)
{
    for (int i = 0; i < n; i++)
        csvlog_cell(f, cells[i], i == 0);
    fputc('\n', f);
}

const char *csvlog_num(char *buf, size_t size, double v)
{
    if (isnan(v))
        buf[0] = '\0';
    else
        snprintf(buf, size, "%.9g", v);
    return buf;
}
