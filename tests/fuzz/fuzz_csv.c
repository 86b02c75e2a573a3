/* fuzz_csv.c — libFuzzer target: a CSV file through csvread_load (libcsv, strict) and every cell
 * through csvread_number, as `normbench plot` and the summaries read them back. */
#include "io/csvread.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("csv", ".csv", data, size);
    csvread_table t;
    nb_error err = {0};
    if (csvread_load(&t, path, &err) != 0) {
        fuzz_check_error(&err, path);
        return 0;
    }
    if (t.ncols < 1 || !t.header)
        abort();
    for (int c = 0; c < t.ncols; c++)
        if (csvread_col(&t, t.header[c]) > c)
            abort();
    for (int r = 0; r < t.nrows; r++) {
        if (t.line[r] < 1 || (r > 0 && t.line[r] < t.line[r - 1])) /* lines count '\n' only */
            abort();
        for (int c = 0; c < t.ncols; c++) {
            double v;
            if (csvread_number(&t, r, c, &v, &err) != 0)
                fuzz_check_error(&err, path);
        }
    }
    csvread_free(&t);
    return 0;
}
