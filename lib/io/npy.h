/* npy.h — NumPy's .npy array files (format versions 1.0, 2.0 and 3.0, as numpy.save writes them:
 * docs/evaluation.md "Evaluating given embeddings"), read and written without Python.
 *
 * A file is the magic "\x93NUMPY", a version, a header length, a header that is a Python dict
 * literal {'descr': …, 'fortran_order': …, 'shape': (…)} padded with spaces and a newline, then
 * the elements. Reading is strict: the header must be exactly that dict (the three keys, once
 * each, in any order), the type a plain number or boolean (no structured, object or string
 * types: an object array is a pickle and is refused), the shape non-negative integers whose
 * product fits in memory, and the data exactly as long as the shape says — anything else is an
 * error naming the file and the byte offset. Nothing is allocated before the header has been
 * checked against the file's length, so a header that claims 10^12 elements costs nothing.
 * Fortran order is accepted where it equals C order (at most one dimension above 1). */
#ifndef NB_NPY_H
#define NB_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef enum {
    NPY_BOOL,
    NPY_INT8,
    NPY_INT16,
    NPY_INT32,
    NPY_INT64,
    NPY_UINT8,
    NPY_UINT16,
    NPY_UINT32,
    NPY_UINT64,
    NPY_FLOAT32,
    NPY_FLOAT64
} npy_type;

#define NPY_MAX_DIMS 8
/* Headers longer than this are refused (numpy's own np.load refuses headers over 10,000 bytes). */
#define NPY_MAX_HEADER 65536

typedef struct {
    npy_type type;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    size_t count; /* product of the shape (1 when ndim is 0) */
    void *data;   /* count elements of type, in this machine's byte order, C order */
} npy_array;

/* Bytes per element of type. */
size_t npy_item_size(npy_type type);
/* numpy's name of the type ("float32", "bool", …). */
const char *npy_type_name(npy_type type);

/* Parses a whole .npy file held in buf (len bytes); name is the file named in errors. a is
 * zeroed first and owns its data (npy_free). Returns 0, or −1 with err. */
int npy_parse(npy_array *a, const unsigned char *buf, size_t len, const char *name, nb_error *err);
/* Reads the file at path (as npy_parse). */
int npy_read(npy_array *a, const char *path, nb_error *err);
/* Element i as a double (booleans 0/1; 64-bit integers beyond 2^53 rounded). i < a->count. */
double npy_value(const npy_array *a, size_t i);
/* Frees the data; safe on a zeroed array. */
void npy_free(npy_array *a);

/* Writes count = Π shape elements of type from data (this machine's byte order) to path as a
 * version 1.0 file in C order, little-endian, header padded to 64 bytes as numpy does; atomic
 * (io/fsutil.h). ndim in [0, NPY_MAX_DIMS]. Returns 0, or −1 with err. */
int npy_write(const char *path, npy_type type, int ndim, const int64_t *shape, const void *data, nb_error *err);

#endif
