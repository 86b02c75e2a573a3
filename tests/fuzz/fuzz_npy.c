/* fuzz_npy.c — libFuzzer target: a .npy file through npy_parse (from memory) and npy_read (from
 * the same bytes on disk); both must agree, and an accepted array must hold exactly the elements
 * its shape promises. */
#include "fuzz_common.h"
#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("npy", ".npy", data, size);
    npy_array a, b;
    nb_error err = {0}, err2 = {0};
    int ra = npy_parse(&a, data, size, path, &err);
    int rb = npy_read(&b, path, &err2);
    if (ra != rb)
        abort();
    if (ra) {
        fuzz_check_error(&err, path);
        fuzz_check_error(&err2, path);
        return 0;
    }
    size_t count = 1;
    for (int i = 0; i < a.ndim; i++)
        count *= (size_t)a.shape[i];
    if (count != a.count || a.count != b.count || a.type != b.type || a.ndim != b.ndim ||
        memcmp(a.data, b.data, a.count * npy_item_size(a.type)) != 0)
        abort();
    double s = 0;
    for (size_t i = 0; i < a.count; i++)
        s += npy_value(&a, i) == 0;
    (void)s;
    npy_free(&a);
    npy_free(&b);
    return 0;
}
