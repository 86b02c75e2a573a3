/* lfw_image.c — one face image of an LFW-style folder as the network's input (see lfw.h).
 *
 * An image is decoded by what it holds, not by its name: PNGs (their signature) through
 * png_image.c, everything else as JPEG. JPEGs are decoded with libjpeg (IJG / libjpeg-turbo) through a custom error manager: libjpeg's
 * fatal errors and its corrupt-data warnings ("Premature end of JPEG file" for a truncated file)
 * longjmp back to the decoder, which cleans up and returns the message as an nb_error, so bad
 * files never end the process. The decoded image is cropped to a centred box and resized with an
 * area filter or bilinear interpolation (degrade.c). CMYK and YCCK JPEGs are decoded as CMYK and
 * converted to RGB or gray here (libjpeg cannot). */
#include "data/lfw.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "data/degrade.h"
#include "data/png_image.h"
#include "io/fsutil.h"

#define LFW_MAX_PIXELS (1L << 28) /* largest decoded image accepted, w·h·channels */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_trap;

static void trap_error_exit(j_common_ptr ci)
{
    jpeg_trap *t = (jpeg_trap *)ci->err;
    t->pub.format_message(ci, t->msg);
    longjmp(t->jump, 1);
}

/* Level −1 is a corrupt-data warning (truncation, garbage between markers): an error here, since
 * libjpeg would otherwise fill the missing part with gray. Trace messages (level ≥ 0) are
 * dropped. */
static void trap_emit_message(j_common_ptr ci, int level)
{
    if (level < 0)
        trap_error_exit(ci);
}

/* n CMYK pixels of buf (4 bytes each) → RGB or gray (channels bytes each), in place. Adobe's
 * JPEGs (an Adobe marker) store the inks inverted (255 = no ink), as Photoshop writes them and
 * libjpeg passes them on: R = C·K/255 there, R = (255 − C)(255 − K)/255 otherwise. Gray is the
 * ITU-R BT.601 luma that libjpeg's own RGB → gray conversion uses. */
static void cmyk_convert(uint8_t *buf, size_t n, int channels, int inverted)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = buf + 4 * i;
        int k = inverted ? p[3] : 255 - p[3], rgb[3];
        for (int j = 0; j < 3; j++)
            rgb[j] = ((inverted ? p[j] : 255 - p[j]) * k + 127) / 255;
        if (channels == 3)
            for (int j = 0; j < 3; j++)
                buf[3 * i + j] = (uint8_t)rgb[j];
        else
            buf[i] = (uint8_t)((299 * rgb[0] + 587 * rgb[1] + 114 * rgb[2] + 500) / 1000);
    }
}

/* Decodes the JPEG in mem (len bytes) into *pix (h, w, channels) bytes; name is the file named in
 * errors. Returns 0, or −1 with err. */
static int jpeg_decode_from(uint8_t **pix, int *w, int *h, const unsigned char *mem, size_t len, const char *name,
                            int channels, nb_error *err)
{
    *pix = NULL;
    struct jpeg_decompress_struct ci;
    jpeg_trap trap;
    uint8_t *volatile buf = NULL;
    ci.err = jpeg_std_error(&trap.pub);
    trap.pub.error_exit = trap_error_exit;
    trap.pub.emit_message = trap_emit_message;
    if (setjmp(trap.jump)) {
        jpeg_destroy_decompress(&ci);
        free(buf);
        return nb_error_set(err, name, 0, 0, "not a valid JPEG image: %s", trap.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, mem, (unsigned long)len);
    jpeg_read_header(&ci, TRUE);
    /* CMYK (and YCCK) JPEGs are valid files libjpeg cannot turn into RGB: decoded as CMYK and
     * converted here (cmyk_convert) */
    int cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
    ci.out_color_space = cmyk ? JCS_CMYK : channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_start_decompress(&ci);
    long npix = (long)ci.output_width * ci.output_height * ci.output_components;
    if (ci.output_components != (cmyk ? 4 : channels) || npix > LFW_MAX_PIXELS) {
        int comps = ci.output_components;
        unsigned iw = ci.output_width, ih = ci.output_height;
        jpeg_destroy_decompress(&ci);
        if (comps != channels)
            return nb_error_set(err, name, 0, 0, "JPEG decodes to %d components, expected %d", comps, channels);
        return nb_error_set(err, name, 0, 0, "JPEG is %u×%u pixels, larger than the limit of %ld values",
                            iw, ih, LFW_MAX_PIXELS);
    }
    size_t stride = (size_t)ci.output_width * (cmyk ? 4 : channels);
    buf = nb_malloc(stride * ci.output_height);
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW row = buf + ci.output_scanline * stride;
        jpeg_read_scanlines(&ci, &row, 1);
    }
    if (cmyk)
        cmyk_convert(buf, (size_t)ci.output_width * ci.output_height, channels, ci.saw_Adobe_marker);
    jpeg_finish_decompress(&ci);
    *w = (int)ci.output_width;
    *h = (int)ci.output_height;
    jpeg_destroy_decompress(&ci);
    *pix = buf;
    return 0;
}

/* Decodes the image in data (len bytes) into *pix (h, w, channels) bytes, by its signature.
 * Returns 0, or −1 with err naming name. */
static int decode_mem(uint8_t **pix, int *w, int *h, const unsigned char *data, size_t len, const char *name,
                      int channels, nb_error *err)
{
    if (png_image_is_png(data, len))
        return png_image_decode(pix, w, h, data, len, name, channels, LFW_MAX_PIXELS, err);
    return jpeg_decode_from(pix, w, h, data, len, name, channels, err);
}

/* The same for the file at path, read whole (at most LFW_IMAGE_MAX bytes). */
static int decode_file(uint8_t **pix, int *w, int *h, const char *path, int channels, nb_error *err)
{
    *pix = NULL;
    size_t len;
    unsigned char *data = fsutil_read_all(path, "image", LFW_IMAGE_MAX, &len, err);
    if (!data)
        return -1;
    int rc = decode_mem(pix, w, h, data, len, path, channels, err);
    free(data);
    return rc;
}

/* Crops the decoded pixels (h, w, c) to o's box and resizes them into out; name for errors. */
static int crop_resize(float *out, uint8_t *pix, int w, int h, const char *name, const lfw_options *o, nb_error *err)
{
    int c = o->channels;
    int cw = o->crop_w ? o->crop_w : w, ch = o->crop_h ? o->crop_h : h;
    if (cw > w || ch > h) {
        free(pix);
        return nb_error_set(err, name, 0, 0, "image is %d×%d, smaller than the crop box %d×%d", w, h, cw, ch);
    }
    /* Crop box at ((w − cw)/2, (h − ch)/2), interleaved bytes → planar value/255. */
    int x0 = (w - cw) / 2, y0 = (h - ch) / 2;
    float *crop = nb_malloc((size_t)c * cw * ch * sizeof *crop);
    for (int k = 0; k < c; k++)
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++)
                crop[((size_t)k * ch + y) * cw + x] = pix[((size_t)(y0 + y) * w + x0 + x) * c + k] / 255.0f;
    free(pix);
    if (o->resize == LFW_RESIZE_BILINEAR)
        image_resize_bilinear(out, crop, c, ch, cw, o->height, o->width);
    else
        image_resize_area(out, crop, c, ch, cw, o->height, o->width);
    free(crop);
    return 0;
}

int lfw_decode_image(float *out, const unsigned char *data, size_t len, const char *name, const lfw_options *o,
                     nb_error *err)
{
    if (lfw_check(o, err))
        return -1;
    uint8_t *pix;
    int w, h;
    if (decode_mem(&pix, &w, &h, data, len, name, o->channels, err))
        return -1;
    return crop_resize(out, pix, w, h, name, o, err);
}

int lfw_read_image(float *out, const char *path, const lfw_options *o, nb_error *err)
{
    if (lfw_check(o, err))
        return -1;
    uint8_t *pix;
    int w, h;
    if (decode_file(&pix, &w, &h, path, o->channels, err))
        return -1;
    return crop_resize(out, pix, w, h, path, o, err);
}
