/* lfw.h — face data in the layout of Labeled Faces in the Wild (Huang et al. 2007, "Labeled Faces
 * in the Wild: A Database for Studying Face Recognition in Unconstrained Environments"; docs/data.md §3,
 * `data.type: lfw`): <root>/<name>/<name>_NNNN.jpg or .png (NNNN the 1-based image index, at least four
 * digits) and LFW's pairs.txt.
 *
 * pairs.txt: a header line "folds n" (LFW's is "10 300"), then for each fold n matched lines
 * "name i j" followed by n mismatched lines "name1 i name2 j" (fields separated by blanks or
 * tabs; blank lines are ignored). Images are decoded with libjpeg, centre-cropped to a box,
 * resized and stored (c, h, w) as value/255 floats, gray (libjpeg's luminance) or RGB.
 *
 * Every failure caused by the files — a bad header, a line with the wrong number of fields, an
 * unknown identity, an index with no image, a non-JPEG or truncated JPEG, too few or too many
 * pair lines — returns −1 with an nb_error naming the file (and the line of a list file); an image
 * error also names the pairs.txt line that referenced it. Nothing exits. */
#ifndef NB_LFW_H
#define NB_LFW_H

#include "core/error.h"
#include "data/dataset.h"
#include "data/pairs.h"

/* Limits on what the loader reads (io/fsutil.h: regular files only, and at most this much): a
 * pairs file or identity list (LFW's pairs.txt is ~100 kB), and one image file. */
#define LFW_TEXT_MAX (64LL << 20)
#define LFW_IMAGE_MAX (64LL << 20)

typedef enum { LFW_RESIZE_AREA = 0, LFW_RESIZE_BILINEAR } lfw_resize;

typedef struct {
    int crop_w, crop_h; /* centred crop box in source pixels, both 1..65535 or both 0 (the whole
                           image); default 150×150 (the face region of LFW's 250×250). A crop box
                           larger than the image is an error. */
    int width, height;  /* output size, 1..1024; default 32×32 */
    int channels;       /* 1 (gray) or 3 (RGB); default 1 */
    lfw_resize resize;  /* default LFW_RESIZE_AREA (mean over the covered area) */
} lfw_options;

void lfw_defaults(lfw_options *o);
/* Checks every option's range. Returns 0, or −1 with err naming the option. */
int lfw_check(const lfw_options *o, nb_error *err);

/* Decodes the image at path — a PNG (by its signature, png_image.h) or else a JPEG — crops and
 * resizes it into out (channels, height, width). Corrupt, truncated or undecodable files
 * (libjpeg's and libpng's errors, and libjpeg's corrupt-data warnings) return −1 with err naming
 * path and carrying the library's message. */
int lfw_read_image(float *out, const char *path, const lfw_options *o, nb_error *err);

/* The same for an encoded image held in memory (data, len bytes; an InsightFace .bin's image);
 * name is what errors name. */
int lfw_decode_image(float *out, const unsigned char *data, size_t len, const char *name, const lfw_options *o,
                     nb_error *err);

/* Reads pairs_path and loads the images it references, each once, into test (in memory; samples
 * sorted by identity name then index; labels 0..K−1 over the identities named in the pairs, in
 * strcmp order) and pairs (folds·2n pairs in file order; pair.fold = its fold, pair.same = 1 for
 * the matched lines). Returns 0, or −1 with err; test and pairs are then zeroed. */
int lfw_load_pairs(dataset *test, pair_list *pairs, const char *root, const char *pairs_path,
                   const lfw_options *o, nb_error *err);

/* Loads a training set in memory: every <name>_NNNN.jpg / .png of each identity, in index order, labels
 * 0..K−1 in strcmp order of the names. The identities are
 *   - those listed in identities_path (one name per line; blank lines and lines starting with #
 *     are skipped; a duplicate, an unknown identity or a folder with no images is an error naming
 *     the line), when identities_path is not NULL;
 *   - otherwise every folder in root (names starting with '.' skipped) that is not named in
 *     exclude_pairs_path (an LFW pairs.txt, checked as lfw_load_pairs does), or every folder when
 *     that is NULL too — LFW's "train on the identities the test pairs do not use".
 * Returns 0, or −1 with err; train is then zeroed. */
int lfw_load_train(dataset *train, const char *root, const char *identities_path,
                   const char *exclude_pairs_path, const lfw_options *o, nb_error *err);

/* Frees pairs->p; safe on a zeroed pair_list. */
void lfw_pairs_free(pair_list *pairs);

#endif
