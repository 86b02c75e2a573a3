/* insightface_bin.h — InsightFace's validation-set files (lfw.bin, cfp_fp.bin, agedb_30.bin, …;
 * docs/data.md): a Python pickle of the pair (bins, issame_list), bins a list of encoded images
 * (bytes, or Python 2 str) and issame_list a list of booleans, pair i comparing images 2i and
 * 2i+1 (InsightFace's recognition/arcface_torch/eval/verification.py, load_bin).
 *
 * The reader is NOT a pickle interpreter: it accepts only the opcodes such files use — PROTO
 * (protocols 2 to 4), FRAME, MARK, STOP, empty lists and tuples, APPEND(S), TUPLE/TUPLE1–3, the
 * bytes and string opcodes, NEWTRUE/NEWFALSE, BININT/BININT1/BININT2 (0 or 1 in the issame list),
 * and the memo (BINPUT, LONG_BINPUT, MEMOIZE, BINGET, LONG_BINGET) — and refuses every other one
 * (GLOBAL, REDUCE, BUILD, … which would import or call code) with an error naming the opcode and
 * its byte offset. Nothing is executed; every length is checked against the bytes that remain
 * before it is used and the memo only grows one slot at a time, so memory stays within a small
 * multiple of the file's size whatever a header claims. Images are not copied: they point into
 * the file's buffer. JPEG and PNG images decode through lfw_decode_image (lfw.h). */
#ifndef NB_INSIGHTFACE_BIN_H
#define NB_INSIGHTFACE_BIN_H

#include <stddef.h>

#include "core/error.h"
#include "data/dataset.h"
#include "data/lfw.h"
#include "data/pairs.h"

typedef struct {
    unsigned char *buf; /* the whole file */
    size_t len;
    int n_images;
    size_t *img_off, *img_len; /* (n_images) image i is buf[img_off[i] .. + img_len[i]) */
    int n_pairs;
    unsigned char *issame; /* (n_pairs) 0 or 1 */
} ifbin;

/* Parses a .bin held in data (len bytes, copied); name is the file named in errors. b is zeroed
 * first. Fails (−1, err) on a refused opcode, a truncated or malformed pickle, or a top level
 * that is not (list of images, list of booleans) with 2 images per pair. */
int ifbin_parse(ifbin *b, const unsigned char *data, size_t len, const char *name, nb_error *err);
/* Reads and parses the file at path. */
int ifbin_read(ifbin *b, const char *path, nb_error *err);
void ifbin_free(ifbin *b);

/* Decodes every image of the .bin at path into test (in memory, cropped and resized by o, as
 * lfw_load_pairs does; one label per image, all distinct: a .bin names no identities) and the pair
 * list (pair i = samples 2i, 2i+1, `folds` consecutive folds as verification.py's KFold makes
 * them). Fails (−1, err naming the file and the image) on a parse error or an image that does
 * not decode. */
int ifbin_load(dataset *test, pair_list *pairs, const char *path, int folds, const lfw_options *o, nb_error *err);

#endif
