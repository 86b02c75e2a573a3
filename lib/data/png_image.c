/* png_image.c — PNG face images through libpng (see png_image.h).
 *
 * libpng reports errors by longjmp to png_jmpbuf: the decoder cleans up there and returns the
 * message as an nb_error, so a bad file never ends the process. Warnings (an unknown chunk, an
 * sRGB profile libpng dislikes) leave the pixels intact and are dropped. The input comes from
 * memory through a read callback that errors at the end of the data (a truncated file), and the
 * image's size is checked against max_values before any pixel buffer is allocated; libpng's own
 * chunk allocations are capped as well (PNG_CHUNK_MAX), so a header claiming a huge image or a
 * huge text chunk costs nothing. */
#include "data/png_image.h"

#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#define PNG_CHUNK_MAX (8L << 20) /* largest ancillary chunk libpng may allocate, bytes */

typedef struct {
    const unsigned char *data;
    size_t len, pos;
    char msg[256];
} png_source;

static void source_read(png_structp png, png_bytep out, size_t n)
{
    png_source *s = png_get_io_ptr(png);
    if (n > s->len - s->pos)
        png_error(png, "the file ends inside the image (truncated)");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

static void trap_error(png_structp png, png_const_charp msg)
{
    png_source *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void drop_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

int png_image_is_png(const unsigned char *data, size_t len)
{
    return len >= 8 && !png_sig_cmp(data, 0, 8);
}

int png_image_decode(uint8_t **pix, int *w, int *h, const unsigned char *data, size_t len, const char *name,
                     int channels, long max_values, nb_error *err)
{
    *pix = NULL;
    if (!png_image_is_png(data, len))
        return nb_error_set(err, name, 0, 0, "not a PNG image (no PNG signature)");
    png_source src = {data, len, 0, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, trap_error, drop_warning);
    if (!png)
        return nb_error_set(err, name, 0, 0, "libpng could not start decoding");
    png_infop info = png_create_info_struct(png);
    uint8_t *volatile buf = NULL;
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        free(buf);
        free(rows);
        return nb_error_set(err, name, 0, 0, "not a valid PNG image: %s", src.msg[0] ? src.msg : "libpng error");
    }
    png_set_read_fn(png, &src, source_read);
    png_set_chunk_malloc_max(png, PNG_CHUNK_MAX);
    png_set_user_limits(png, 1u << 20, 1u << 20);
    png_read_info(png, info);
    png_uint_32 iw = png_get_image_width(png, info), ih = png_get_image_height(png, info);
    int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if ((double)iw * ih * channels > (double)max_values) {
        png_destroy_read_struct(&png, &info, NULL);
        return nb_error_set(err, name, 0, 0, "PNG is %u×%u pixels, larger than the limit of %ld values", iw, ih,
                            max_values);
    }
    /* To 8-bit gray or RGB, no alpha: as OpenCV's PNG decoder for IMREAD_COLOR / IMREAD_GRAYSCALE
     * sets up libpng, except that colour → gray is done below with libjpeg's luma. */
    if (depth == 16)
        png_set_strip_16(png);
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if ((type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    png_set_strip_alpha(png); /* also the alpha a palette's tRNS chunk expands to */
    const int gray_in = !(type & PNG_COLOR_MASK_COLOR);
    if (gray_in && channels == 3)
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const int got = png_get_channels(png, info);
    if (got != (gray_in && channels == 1 ? 1 : 3) || png_get_bit_depth(png, info) != 8)
        png_error(png, "unexpected pixel layout after conversion");
    const size_t stride = png_get_rowbytes(png, info);
    if (stride != (size_t)iw * got)
        png_error(png, "unexpected row size after conversion");
    buf = nb_malloc(stride * ih);
    rows = nb_malloc((size_t)ih * sizeof *rows);
    for (png_uint_32 y = 0; y < ih; y++)
        rows[y] = buf + (size_t)y * stride;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    if (got == 3 && channels == 1) { /* Y = 0.299 R + 0.587 G + 0.114 B in libjpeg's 16-bit fixed point */
        const size_t n = (size_t)iw * ih;
        for (size_t i = 0; i < n; i++) {
            const uint8_t *p = buf + 3 * i;
            buf[i] = (uint8_t)((19595u * p[0] + 38470u * p[1] + 7471u * p[2] + 32768u) >> 16);
        }
    }
    *w = (int)iw;
    *h = (int)ih;
    *pix = buf;
    return 0;
}
