/* fsutil.h — files that are never half-written, and folders made on demand.
 *
 * Every result file is written to "<path>.tmp.<pid>", flushed, fsync'ed and renamed over <path>,
 * so a reader (or a crash) sees either the old file or the new one, never a partial one. The
 * temporary is opened without following a symbolic link, and rename replaces a link at <path>
 * rather than writing through it. */
#ifndef NB_FSUTIL_H
#define NB_FSUTIL_H

#include <stdio.h>

#include "core/error.h"

typedef struct {
    FILE *f;
    char path[1024], tmp[1100];
} atomic_file;

/* Opens the temporary file for path. Returns 0, or −1 with err (also when path, or its
 * temporary name, does not fit: a path is never cut short). */
int atomic_open(atomic_file *a, const char *path, nb_error *err);
/* Flushes, syncs and renames into place; on any write error removes the temporary and
 * returns −1 with err (the old file, if any, is untouched). */
int atomic_commit(atomic_file *a, nb_error *err);
/* Closes and removes the temporary without touching path. */
void atomic_abort(atomic_file *a);
/* ---- temporaries left by a stop ----
 * The temporary of every open atomic_file, and any other file registered here (a figure that
 * gnuplot is drawing), is listed while it exists, so that a process ended by a signal removes
 * them on its way out (fsutil_remove_temporaries, async-signal-safe): a stop leaves the old
 * files and the new ones, never a "<path>.tmp.<pid>". Up to FSUTIL_TEMPORARIES at once, from one
 * thread (the files of the house are written by the main thread). */
#define FSUTIL_TEMPORARIES 16
/* Lists path (a temporary this process is writing). */
void fsutil_temporary_add(const char *path);
/* Takes path off the list (renamed into place, or removed). */
void fsutil_temporary_drop(const char *path);
/* Removes every listed temporary. Async-signal-safe: for a signal handler ending the process. */
void fsutil_remove_temporaries(void);
/* ---- reading ----
 * Every reader of the house opens its file through here: only a regular file is read (a FIFO
 * blocks every reader until a writer comes, a device such as /dev/zero never ends), at most
 * max_bytes of it (0: no limit; the limit is named in the error), and — for the files of a
 * results folder (FSUTIL_NOFOLLOW) — never through a symbolic link, as results are never
 * written through one (results_path_check). Opening never blocks. */
#define FSUTIL_NOFOLLOW 1
/* Returns the open descriptor, or −1 with err naming path, what (e.g. "pairs file") and the
 * reason. */
int fsutil_open_fd(const char *path, const char *what, long long max_bytes, int flags, nb_error *err);
/* fsutil_open_fd as a stdio stream ("rb"); NULL with err. */
FILE *fsutil_open_read(const char *path, const char *what, long long max_bytes, int flags, nb_error *err);
/* The whole file, opened as fsutil_open_fd does, in one malloc'd buffer with a NUL after its *len
 * bytes; NULL with err (also when fewer bytes than its size could be read). */
unsigned char *fsutil_read_all(const char *path, const char *what, long long max_bytes, size_t *len, nb_error *err);

/* mkdir -p. Returns 0 or −1 with err. */
int mkdir_p(const char *path, nb_error *err);
/* Checks that writing to root/rel stays inside root: rel must be relative, made of names other
 * than "." and "..", and no existing component of it may be a symbolic link (results/<name>
 * linked to another folder would send the writes — and the removal of a stale final.csv —
 * there). root itself may be a link (a results folder kept on another disk). Components that
 * do not exist yet are fine. Returns 0, or −1 with err naming the offending path. */
int results_path_check(const char *root, const char *rel, nb_error *err);
/* The same check before reading root/rel (a run folder, an experiment's summary): a link below
 * the results folder was not made by normbench, and reading through it would summarise, plot or
 * judge files from elsewhere as this experiment's. The error says "refusing to read". */
int results_read_check(const char *root, const char *rel, nb_error *err);

#endif
