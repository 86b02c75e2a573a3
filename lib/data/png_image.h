/* png_image.h — PNG decoding for face images (libpng 1.6): the images of an LFW-style folder and
 * of an InsightFace .bin may be PNG as well as JPEG (lfw_image.c decides by the file's signature).
 * The pixels are what OpenCV's cv2.imdecode (InsightFace's loader, through mxnet) gives: alpha
 * dropped (not composited), 16-bit samples cut to their high byte, palettes and low bit depths
 * expanded, interlacing undone; no gamma or colour-profile conversion. */
#ifndef NB_DATA_PNG_IMAGE_H
#define NB_DATA_PNG_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* The 8 bytes every PNG starts with. */
int png_image_is_png(const unsigned char *data, size_t len);

/* Decodes the PNG held in data (len bytes) into *pix, (h, w, channels) interleaved bytes
 * (channels 1: gray, a colour image through the BT.601 luma libjpeg uses; 3: RGB, a gray image
 * repeated). An image of more than max_values w·h·channels values, a damaged or truncated file
 * (libpng's CRC and format errors) return −1 with err naming name; nothing is allocated then. */
int png_image_decode(uint8_t **pix, int *w, int *h, const unsigned char *data, size_t len, const char *name,
                     int channels, long max_values, nb_error *err);

#endif
