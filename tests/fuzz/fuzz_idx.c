/* fuzz_idx.c — libFuzzer target: an IDX file (plain or gzip) through idx_read. A successful read
 * must hold exactly the product of its dimensions in bytes. */
#include "fuzz_common.h"
#include "data/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("idx", ".idx", data, size);
    idx_array a;
    nb_error err = {0};
    if (idx_read(&a, path, (size_t)1 << 24, &err) != 0) {
        fuzz_check_error(&err, path);
        return 0;
    }
    size_t count = 1;
    for (int i = 0; i < a.ndim; i++)
        count *= a.dims[i];
    if (count != a.count || a.ndim < 1 || a.ndim > IDX_MAX_DIMS)
        abort();
    unsigned sum = 0;
    for (size_t i = 0; i < a.count; i++) /* every byte is there (ASan checks) */
        sum += a.data[i];
    if (sum > 255u * a.count)
        abort();
    idx_free(&a);
    return 0;
}
