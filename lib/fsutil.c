/* fsutil.c — atomic file replacement and mkdir -p; see fsutil.h. */
#include "fsutil.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int atomic_open(atomic_file *a, const char *path, nb_error *err)
{
    snprintf(a->path, sizeof a->path, "%s", path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid());
    a->f = fopen(a->tmp, "wb");
    if (!a->f)
        return nb_error_set(err, a->tmp, 0, 0, "cannot create: %s", strerror(errno));
    return 0;
}

int atomic_commit(atomic_file *a, nb_error *err)
{
    int bad = ferror(a->f) || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0;
    int e = errno;
    if (fclose(a->f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    a->f = NULL;
    if (bad) {
        unlink(a->tmp);
        return nb_error_set(err, a->path, 0, 0, "write failed: %s", strerror(e));
    }
    if (rename(a->tmp, a->path) != 0) {
        e = errno;
        unlink(a->tmp);
        return nb_error_set(err, a->path, 0, 0, "cannot rename into place: %s", strerror(e));
    }
    return 0;
}

void atomic_abort(atomic_file *a)
{
    if (a->f)
        fclose(a->f);
    a->f = NULL;
    unlink(a->tmp);
}

int mkdir_p(const char *path, nb_error *err)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return nb_error_set(err, path, 0, 0, "path too long");
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return nb_error_set(err, buf, 0, 0, "cannot create folder: %s", strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return nb_error_set(err, buf, 0, 0, "cannot create folder: %s", strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return nb_error_set(err, buf, 0, 0, "exists but is not a folder");
    return 0;
}
