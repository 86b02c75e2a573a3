/* fuzz_image.c — libFuzzer target: an image file through lfw_read_image (a PNG by its signature
 * through libpng, anything else through libjpeg, both with trapping error handlers; centre crop,
 * area or bilinear resize), gray without a crop and RGB
 * with a small crop. A decoded image must give finite values in [0, 1]. */
#include <math.h>

#include "fuzz_common.h"
#include "data/lfw.h"

static void check(const float *out, int n)
{
    for (int i = 0; i < n; i++)
        if (!(out[i] >= -1e-6f && out[i] <= 1 + 1e-6f)) {
            fprintf(stderr, "fuzz_image: value %g at %d outside [0, 1]\n", out[i], i);
            abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("image", ".jpg", data, size);
    float out[3 * 16 * 16];
    nb_error err = {0};
    lfw_options o;
    lfw_defaults(&o);
    o.crop_w = o.crop_h = 0;
    o.width = o.height = 16;
    if (lfw_read_image(out, path, &o, &err) == 0)
        check(out, 16 * 16);
    else
        fuzz_check_error(&err, path);
    o.crop_w = o.crop_h = 4;
    o.width = 8;
    o.height = 6;
    o.channels = 3;
    o.resize = LFW_RESIZE_BILINEAR;
    if (lfw_read_image(out, path, &o, &err) == 0)
        check(out, 3 * 8 * 6);
    else
        fuzz_check_error(&err, path);
    return 0;
}
