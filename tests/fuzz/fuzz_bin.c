/* fuzz_bin.c — libFuzzer target: an InsightFace .bin through the restricted pickle reader
 * (ifbin_parse from memory, ifbin_read from disk: both must agree), then every image it holds
 * through lfw_decode_image (libjpeg from memory). An accepted file must have 2 images per pair,
 * each inside the file, and issame values 0/1. */
#include "fuzz_common.h"
#include "data/insightface_bin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("bin", ".bin", data, size);
    ifbin a, b;
    nb_error err = {0}, err2 = {0};
    int ra = ifbin_parse(&a, data, size, path, &err), rb = ifbin_read(&b, path, &err2);
    if (ra != rb)
        abort();
    if (ra) {
        fuzz_check_error(&err, path);
        fuzz_check_error(&err2, path);
        return 0;
    }
    if (a.n_images != 2 * a.n_pairs || a.n_images != b.n_images)
        abort();
    for (int i = 0; i < a.n_pairs; i++)
        if (a.issame[i] > 1)
            abort();
    lfw_options o;
    lfw_defaults(&o);
    o.crop_w = o.crop_h = 0;
    o.width = o.height = 8;
    float out[8 * 8];
    for (int i = 0; i < a.n_images; i++) {
        if (a.img_off[i] > a.len || a.img_len[i] > a.len - a.img_off[i])
            abort();
        if (lfw_decode_image(out, a.buf + a.img_off[i], a.img_len[i], path, &o, &err))
            fuzz_check_error(&err, path);
    }
    ifbin_free(&a);
    ifbin_free(&b);
    return 0;
}
