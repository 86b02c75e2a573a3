/* idx.c — reader for the IDX format of MNIST / Fashion-MNIST (LeCun et al., "THE MNIST DATABASE
 * of handwritten digits", file format section), plain or gzip; see idx.h.
 *
 * The file is read through zlib's gzread, which passes plain files through unchanged. The header
 * is validated before anything is allocated, the product of the dimensions is checked against
 * max_items without overflow, and the data buffer grows geometrically as bytes actually arrive,
 * so a header that lies about its size never causes a large allocation. After the data the
 * stream is read to its end: extra bytes are an error, and so is any zlib error (a corrupt or
 * truncated gzip member is only detected when its CRC trailer is reached). */
#include "data/idx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "io/fsutil.h"

#define IDX_CHUNK (1u << 20) /* bytes per gzread call and the first buffer size */

/* Reads up to n bytes; returns the number read (short only at end of stream or on error). */
static size_t read_some(gzFile gz, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t want = n - got < IDX_CHUNK ? n - got : IDX_CHUNK;
        int r = gzread(gz, buf + got, (unsigned)want);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

/* If the stream is in an error state, fills err and returns -1; otherwise returns 0. */
static int check_stream(gzFile gz, const char *path, nb_error *err)
{
    int errnum = Z_OK;
    const char *msg = gzerror(gz, &errnum);
    if (errnum == Z_OK || errnum == Z_STREAM_END)
        return 0;
    /* zlib prefixes its message with "path: "; err->file already names the file. */
    size_t plen = strlen(path);
    if (strncmp(msg, path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0)
        msg += plen + 2;
    if (errnum == Z_ERRNO)
        return nb_error_set(err, path, 0, 0, "read error: %s", msg);
    if (errnum == Z_BUF_ERROR)
        return nb_error_set(err, path, 0, 0, "corrupt gzip stream: truncated (%s)", msg);
    return nb_error_set(err, path, 0, 0, "corrupt gzip stream: %s", msg);
}

static const char *type_name(int t)
{
    switch (t) {
    case 0x09: return "int8";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return NULL;
    }
}

/* Header and data; gz is open. On failure a->data may hold a partial buffer (freed by caller). */
static int read_body(idx_array *a, gzFile gz, const char *path, size_t max_items, nb_error *err)
{
    uint8_t head[4];
    size_t got = read_some(gz, head, 4);
    if (check_stream(gz, path, err))
        return -1;
    if (got < 4)
        return nb_error_set(err, path, 0, 0,
                            "truncated header: file has %zu bytes, expected at least 4 "
                            "(00 00 08 <ndim>)", got);
    if (head[0] != 0 || head[1] != 0)
        return nb_error_set(err, path, 0, 0,
                            "not an IDX file (bad magic %02x %02x %02x %02x, expected 00 00 08 <ndim>)",
                            head[0], head[1], head[2], head[3]);
    if (head[2] != 0x08) {
        const char *tn = type_name(head[2]);
        if (tn)
            return nb_error_set(err, path, 0, 0,
                                "type 0x%02X (%s) not supported, expected 0x08 (unsigned byte)",
                                head[2], tn);
        return nb_error_set(err, path, 0, 0,
                            "not an IDX file (bad magic %02x %02x %02x %02x: unknown type byte "
                            "0x%02X, expected 0x08)", head[0], head[1], head[2], head[3], head[2]);
    }
    int ndim = head[3];
    if (ndim < 1 || ndim > IDX_MAX_DIMS)
        return nb_error_set(err, path, 0, 0, "header gives %d dimensions, expected 1 to %d", ndim,
                            IDX_MAX_DIMS);

    uint8_t dbytes[4 * IDX_MAX_DIMS];
    got = read_some(gz, dbytes, 4 * (size_t)ndim);
    if (check_stream(gz, path, err))
        return -1;
    if (got < 4 * (size_t)ndim)
        return nb_error_set(err, path, 0, 0,
                            "truncated header: %d dimensions need %d bytes of sizes, file has %zu",
                            ndim, 4 * ndim, got);

    /* count = Π dims, checked against max_items before each multiplication. */
    size_t count = 1;
    int too_many = 0;
    a->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        const uint8_t *b = dbytes + 4 * i;
        uint32_t d = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        a->dims[i] = d;
        if (d == 0)
            return nb_error_set(err, path, 0, 0, "dimension %d of %d is 0, expected at least 1",
                                i + 1, ndim);
        if (!too_many && count > max_items / d)
            too_many = 1;
        else if (!too_many)
            count *= d;
    }
    if (too_many) {
        char shape[64] = "";
        size_t off = 0;
        for (int i = 0; i < ndim; i++)
            off += (size_t)snprintf(shape + off, sizeof shape - off, i ? "x%u" : "%u",
                                    (unsigned)a->dims[i]);
        return nb_error_set(err, path, 0, 0,
                            "too many items: header shape %s exceeds the limit of %zu items",
                            shape, max_items);
    }
    a->count = count;

    /* Data, into a buffer that grows only as bytes actually arrive. */
    size_t cap = count < IDX_CHUNK ? count : IDX_CHUNK;
    a->data = nb_malloc(cap);
    size_t have = 0;
    for (;;) {
        size_t n = read_some(gz, a->data + have, cap - have);
        have += n;
        if (have < cap || have == count)
            break;
        cap = cap > count / 2 ? count : 2 * cap;
        a->data = nb_realloc(a->data, cap);
    }
    if (check_stream(gz, path, err))
        return -1;
    if (have < count)
        return nb_error_set(err, path, 0, 0, "truncated: header says %zu bytes of data, file has %zu",
                            count, have);

    /* Anything after the data is an error; reading to the end also verifies the gzip CRC. */
    uint8_t scratch[4096];
    size_t extra = 0, n;
    while ((n = read_some(gz, scratch, sizeof scratch)) > 0)
        extra += n;
    if (check_stream(gz, path, err))
        return -1;
    if (extra > 0)
        return nb_error_set(err, path, 0, 0,
                            "%zu trailing byte%s after the data: header says %zu bytes of data, "
                            "file has %zu", extra, extra == 1 ? "" : "s", count, count + extra);
    return 0;
}

int idx_read(idx_array *a, const char *path, size_t max_items, nb_error *err)
{
    memset(a, 0, sizeof *a);
    int fd = fsutil_open_fd(path, "IDX file", 0, 0, err); /* a FIFO or a device never ends */
    if (fd < 0)
        return -1;
    errno = 0;
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return nb_error_set(err, path, 0, 0, "cannot open: %s", errno ? strerror(errno) : "out of memory in zlib");
    }
    gzbuffer(gz, 1u << 17);
    int rc = read_body(a, gz, path, max_items, err);
    gzclose(gz);
    if (rc != 0)
        idx_free(a);
    return rc;
}

void idx_free(idx_array *a)
{
    free(a->data);
    memset(a, 0, sizeof *a);
}
