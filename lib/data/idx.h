/* idx.h — reader for the IDX format of MNIST / Fashion-MNIST (LeCun et al.), plain or gzip.
 *
 * An IDX file is: two zero bytes, a type byte (0x08 unsigned byte is the only one normbench
 * needs; 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64 are recognised and rejected with a clear
 * message), a byte giving the number of dimensions, then each dimension as a big-endian uint32,
 * then the data. Files are read through zlib's gzread, which reads gzip and plain files alike.
 * Every inconsistency (wrong magic, sizes that do not match the data, truncation, trailing
 * bytes, more than max_items items) is an error naming the file, never a crash. */
#ifndef NB_IDX_H
#define NB_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define IDX_MAX_DIMS 4

typedef struct {
    int ndim;
    uint32_t dims[IDX_MAX_DIMS];
    size_t count;  /* product of dims */
    uint8_t *data; /* count bytes */
} idx_array;

/* Reads an unsigned-byte IDX file of 1..IDX_MAX_DIMS dimensions holding at most max_items
 * values. Returns 0, or −1 with err filled (err->file = path). */
int idx_read(idx_array *a, const char *path, size_t max_items, nb_error *err);
void idx_free(idx_array *a);

#endif
