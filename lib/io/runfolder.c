/* runfolder.c — run folder paths, completion and the owner lock; see runfolder.h. */
#include "io/runfolder.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/fsutil.h"

static int joined(char *buf, size_t size, int n, nb_error *err)
{
    if (n < 0 || (size_t)n >= size)
        return nb_error_set(err, buf, 0, 0, "path too long (%d bytes; at most %zu): choose a shorter results folder",
                            n, size - 1);
    return 0;
}

int runfolder_path(char *buf, size_t size, const char *results_root, const char *experiment, const char *run_id,
                   nb_error *err)
{
    return joined(buf, size, snprintf(buf, size, "%s/%s/%s", results_root, experiment, run_id), err);
}

int runfolder_file(char *buf, size_t size, const char *run_dir, const char *name, nb_error *err)
{
    return joined(buf, size, snprintf(buf, size, "%s/%s", run_dir, name), err);
}

const char *const runfolder_outputs[] = {
    "metrics.csv", "steps.csv", "eval.csv", "roc.csv", "erc.csv", "cmc.csv", "norms.csv", "theta_hist.csv",
    "weights.csv", "features.csv", "features.npy", "features_flip.npy", "weights.npy", "labels.npy", NULL};

void runfolder_clear_outputs(const char *dir)
{
    char path[4096];
    for (int i = 0; runfolder_outputs[i]; i++)
        if (snprintf(path, sizeof path, "%s/%s", dir, runfolder_outputs[i]) < (int)sizeof path)
            unlink(path);
}

run_state runfolder_state(const char *dir)
{
    char path[4096];
    struct stat st;
    if (stat(dir, &st) != 0)
        return RUN_ABSENT;
    if (snprintf(path, sizeof path, "%s/" RUNFOLDER_FINAL, dir) >= (int)sizeof path)
        return RUN_INCOMPLETE;
    return stat(path, &st) == 0 ? RUN_COMPLETE : RUN_INCOMPLETE;
}

int runfolder_final_check(const char *dir, csvread_table *out, nb_error *err)
{
    char path[1200];
    csvread_table t;
    if (runfolder_file(path, sizeof path, dir, RUNFOLDER_FINAL, err) || csvread_load(&t, path, err))
        return -1;
    int rc = 0, st = csvread_col(&t, "status");
    if (t.nrows != 1)
        rc = nb_error_set(err, path, 0, 0, "corrupt: expected one row of final metrics, found %d", t.nrows);
    else if (st < 0)
        rc = nb_error_set(err, path, 1, 0, "corrupt: no 'status' column");
    else if (strcmp(t.rows[0][st], "complete") && strcmp(t.rows[0][st], "diverged"))
        rc = nb_error_set(err, path, t.line[0], 0, "corrupt: status '%.64s'; expected complete or diverged",
                          t.rows[0][st]);
    for (int c = 0; rc == 0 && c < t.ncols; c++) {
        double v;
        for (int q = 0; q < c && rc == 0; q++)
            if (!strcmp(t.header[q], t.header[c]))
                rc = nb_error_set(err, path, 1, 0, "corrupt: column '%.64s' twice", t.header[c]);
        if (rc == 0 && c != st && csvread_number(&t, 0, c, &v, err))
            rc = -1;
    }
    if (rc == 0 && out)
        *out = t;
    else
        csvread_free(&t);
    return rc;
}

int runfolder_check_length(const char *dir, nb_error *err)
{
    size_t n = strlen(dir) + 1 + RUNFOLDER_NAME_MAX;
    if (n >= RUNFOLDER_PATH_MAX)
        return nb_error_set(err, dir, 0, 0,
                            "path too long: the run folder's files would need up to %zu bytes (at most %d): choose a "
                            "shorter results folder, experiment name or run id",
                            n, RUNFOLDER_PATH_MAX - 1);
    return 0;
}

/* The holder of l's lock as "pid N on host H", from the lock file (or fcntl's l_pid). */
static void lock_owner(const runfolder_lock *l, char *buf, size_t size)
{
    char text[256] = "";
    ssize_t n = pread(l->fd, text, sizeof text - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    long pid = 0;
    char host[200] = "";
    if (sscanf(text, "pid %ld host %199s", &pid, host) == 2) {
        snprintf(buf, size, "pid %ld on %s", pid, host);
        return;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(l->fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0)
        snprintf(buf, size, "pid %ld", (long)fl.l_pid);
    else
        snprintf(buf, size, "another process");
}

/* Records this process as the owner (best effort: the lock is what counts). */
static void lock_record(const runfolder_lock *l)
{
    char host[200] = "?", text[256];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = '\0';
    int n = snprintf(text, sizeof text, "pid %ld host %s\n", (long)getpid(), host);
    if (ftruncate(l->fd, 0) == 0 && pwrite(l->fd, text, (size_t)n, 0) == n)
        fsync(l->fd);
}

int runfolder_lock_take(runfolder_lock *l, const char *results_root, const char *experiment, const char *run_id,
                        int wait, const volatile sig_atomic_t *stop, nb_error *err)
{
    l->fd = -1;
    char dir[1200];
    if (joined(dir, sizeof dir, snprintf(dir, sizeof dir, "%s/%s", results_root, experiment), err) ||
        joined(l->path, sizeof l->path, snprintf(l->path, sizeof l->path, "%s/.%s.lock", dir, run_id), err))
        return -1;
    if (mkdir_p(dir, err))
        return -1;
    int fd = open(l->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0)
        return nb_error_set(err, l->path, 0, 0, "cannot open the run's lock file: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return nb_error_set(err, l->path, 0, 0, "the run's lock file is not a regular file");
    }
    l->fd = fd;
    for (;;) {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET}; /* l_len 0: the whole file */
        if (fcntl(fd, F_SETLK, &fl) == 0) {
            lock_record(l);
            return 0;
        }
        int e = errno;
        if (e != EACCES && e != EAGAIN) {
            close(fd);
            l->fd = -1;
            return nb_error_set(err, l->path, 0, 0, "cannot lock the run (%s); on NFS, the lock service (rpc.statd / "
                                "lockd) must run", strerror(e));
        }
        if (!wait || (stop && *stop)) {
            char owner[256];
            lock_owner(l, owner, sizeof owner);
            close(fd);
            l->fd = -1;
            nb_error_set(err, l->path, 0, 0, "run %s/%s is being trained by %s%s", experiment, run_id, owner,
                         wait ? "; stopped waiting for it" : "");
            return 1;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void runfolder_lock_release(runfolder_lock *l)
{
    if (l->fd >= 0)
        close(l->fd); /* closing releases the lock */
    l->fd = -1;
}
