/* fuzz_common.h — shared by the libFuzzer targets of tests/fuzz/: every parser of normbench reads
 * a file by path, so each input is written to a private temporary file first. The targets are
 * also compiled into tests/test_fuzz_replay.c, which replays the seed corpora and the crash
 * fixtures (tests/fixtures/fuzz/<target>/) in the unit suite, sanitizer pass included.
 *
 * fuzz_write(data, size) writes the input to this process's temporary file (under $TMPDIR or
 * /tmp, named after the target and the pid, removed at exit) and returns its path. A target
 * may only return 0; a parser that crashes, trips a sanitizer, leaks or exits (nb_fatal, an
 * allocation failure) is what libFuzzer reports. */
#ifndef NB_FUZZ_COMMON_H
#define NB_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

static char fuzz_path[640], fuzz_dir[256];

static void fuzz_cleanup(void)
{
    if (fuzz_dir[0]) {
        char cmd[320];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir);
    }
}

/* A private folder for the target (created once), e.g. for a fake LFW tree. */
static const char *fuzz_workdir(const char *target)
{
    if (!fuzz_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/nb_fuzz_%s_%ld", t && t[0] ? t : "/tmp", target, (long)getpid());
        char cmd[640];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", fuzz_dir, fuzz_dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "fuzz: cannot create %s\n", fuzz_dir);
            abort();
        }
        atexit(fuzz_cleanup);
    }
    return fuzz_dir;
}

/* The error of a failed parse must say what and where: a message and the file it is about. */
static void fuzz_check_error(const nb_error *err, const char *path)
{
    if (!err->msg[0] || !err->file[0]) {
        fprintf(stderr, "fuzz: an error without a message or a file (file '%s', message '%s'; input %s)\n",
                err->file, err->msg, path);
        abort();
    }
}

/* Writes the input to the target's temporary file with the given file name ending. */
static const char *fuzz_write(const char *target, const char *ext, const uint8_t *data, size_t size)
{
    snprintf(fuzz_path, sizeof fuzz_path, "%s/input%s", fuzz_workdir(target), ext);
    FILE *f = fopen(fuzz_path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", fuzz_path);
        abort();
    }
    return fuzz_path;
}

#endif
