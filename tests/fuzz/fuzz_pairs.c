/* fuzz_pairs.c — libFuzzer target: an LFW pairs.txt through lfw_load_pairs (against a small LFW
 * tree made once: identities Ann, Bob and Cy_Z with images 1–2, 1 and 1–3), then the same text as
 * a training identity list and as the pairs file excluded from training (lfw_load_train). Then
 * the pairs and the identity list once more against a second tree of traps that the loader must
 * refuse at once rather than block on or read forever: Dee, whose one image is a FIFO, and Eve,
 * whose one image is a symbolic link to /dev/zero. The harness itself writes each input to a
 * regular file: the FIFO and the device are reached only through the names the input uses. */
#include "fuzz_common.h"

#include <errno.h>
#include <jpeglib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/lfw.h"

static char root[600], traps[600];

static void write_jpeg(const char *path, int seed)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = 8;
    ci.image_height = 8;
    ci.input_components = 1;
    ci.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&ci);
    jpeg_start_compress(&ci, TRUE);
    unsigned char row[8];
    while (ci.next_scanline < 8) {
        for (int x = 0; x < 8; x++)
            row[x] = (unsigned char)(seed * 40 + x * 20 + ci.next_scanline * 3);
        JSAMPROW r = row;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    fclose(f);
}

static void make_tree(void)
{
    static const char *names[] = {"Ann", "Bob", "Cy_Z"};
    static const int counts[] = {2, 1, 3};
    snprintf(root, sizeof root, "%s/lfw", fuzz_workdir("pairs"));
    mkdir(root, 0777);
    for (int i = 0; i < 3; i++) {
        char p[800];
        snprintf(p, sizeof p, "%s/%s", root, names[i]);
        mkdir(p, 0777);
        for (int j = 1; j <= counts[i]; j++) {
            snprintf(p, sizeof p, "%s/%s/%s_%04d.jpg", root, names[i], names[i], j);
            write_jpeg(p, i + j);
        }
    }
    char p[800];
    snprintf(traps, sizeof traps, "%s/traps", fuzz_workdir("pairs"));
    mkdir(traps, 0777);
    snprintf(p, sizeof p, "%s/Dee", traps);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/Dee/Dee_0001.jpg", traps);
    if (mkfifo(p, 0666) != 0 && errno != EEXIST)
        abort();
    snprintf(p, sizeof p, "%s/Eve", traps);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/Eve/Eve_0001.jpg", traps);
    if (symlink("/dev/zero", p) != 0 && errno != EEXIST)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!root[0])
        make_tree();
    const char *path = fuzz_write("pairs", ".txt", data, size);
    lfw_options o;
    lfw_defaults(&o);
    o.crop_w = o.crop_h = 0;
    o.width = o.height = 4;
    nb_error err = {0};
    dataset test, train;
    pair_list pairs;
    if (lfw_load_pairs(&test, &pairs, root, path, &o, &err) == 0) {
        for (int k = 0; k < pairs.n; k++)
            if (pairs.p[k].a < 0 || pairs.p[k].a >= test.n || pairs.p[k].b < 0 || pairs.p[k].b >= test.n)
                abort();
        dataset_free(&test);
        lfw_pairs_free(&pairs);
    } else {
        fuzz_check_error(&err, path);
    }
    if (lfw_load_train(&train, root, path, NULL, &o, &err) == 0)
        dataset_free(&train);
    else
        fuzz_check_error(&err, path);
    if (lfw_load_train(&train, root, NULL, path, &o, &err) == 0)
        dataset_free(&train);
    else
        fuzz_check_error(&err, path);
    /* the traps: any image the input reaches there is refused (no load with an image succeeds) */
    err = (nb_error){0};
    if (lfw_load_pairs(&test, &pairs, traps, path, &o, &err) == 0) {
        if (test.n > 0)
            abort();
        dataset_free(&test);
        lfw_pairs_free(&pairs);
    } else {
        fuzz_check_error(&err, path);
    }
    err = (nb_error){0};
    if (lfw_load_train(&train, traps, path, NULL, &o, &err) == 0) {
        if (train.n > 0)
            abort();
        dataset_free(&train);
    } else {
        fuzz_check_error(&err, path);
    }
    return 0;
}
