/* fsutil.c — atomic file replacement and mkdir -p; see fsutil.h. */
#include "io/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char temporaries[FSUTIL_TEMPORARIES][1100];
static volatile sig_atomic_t temporary_used[FSUTIL_TEMPORARIES];

void fsutil_temporary_add(const char *path)
{
    if (strlen(path) >= sizeof temporaries[0])
        return; /* never: atomic_open refuses longer names */
    for (int i = 0; i < FSUTIL_TEMPORARIES; i++)
        if (!temporary_used[i]) {
            memcpy(temporaries[i], path, strlen(path) + 1);
            temporary_used[i] = 1; /* after the name is whole: the handler reads it only then */
            return;
        }
    nb_fatal("more than %d temporary files open at once", FSUTIL_TEMPORARIES);
}

void fsutil_temporary_drop(const char *path)
{
    for (int i = 0; i < FSUTIL_TEMPORARIES; i++)
        if (temporary_used[i] && !strcmp(temporaries[i], path)) {
            temporary_used[i] = 0;
            return;
        }
}

void fsutil_remove_temporaries(void)
{
    for (int i = 0; i < FSUTIL_TEMPORARIES; i++)
        if (temporary_used[i])
            unlink(temporaries[i]);
}

int atomic_open(atomic_file *a, const char *path, nb_error *err)
{
    a->f = NULL;
    int n = snprintf(a->path, sizeof a->path, "%s", path);
    int t = snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || t < 0 || (size_t)n >= sizeof a->path || (size_t)t >= sizeof a->tmp) /* never a cut-short name */
        return nb_error_set(err, path, 0, 0, "path too long (%zu bytes; at most %zu with its temporary suffix)",
                            strlen(path), sizeof a->path - 1);
    int fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    a->f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!a->f) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return nb_error_set(err, a->tmp, 0, 0, "cannot create: %s", strerror(e));
    }
    fsutil_temporary_add(a->tmp);
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
        fsutil_temporary_drop(a->tmp);
        unlink(a->tmp);
        return nb_error_set(err, a->path, 0, 0, "write failed: %s", strerror(e));
    }
    int renamed = rename(a->tmp, a->path) == 0;
    e = errno;
    fsutil_temporary_drop(a->tmp);
    if (!renamed) {
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
    fsutil_temporary_drop(a->tmp);
    unlink(a->tmp);
}

int fsutil_open_fd(const char *path, const char *what, long long max_bytes, int flags, nb_error *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | (flags & FSUTIL_NOFOLLOW ? O_NOFOLLOW : 0));
    if (fd < 0) {
        if (errno == ELOOP && (flags & FSUTIL_NOFOLLOW))
            return nb_error_set(err, path, 0, 0, "%s is a symbolic link: refusing to read results through it (results "
                                "are never written through one)", what);
        return nb_error_set(err, path, 0, 0, "cannot open %s: %s", what, strerror(errno));
    }
    struct stat st;
    const char *bad = NULL;
    if (fstat(fd, &st) != 0)
        bad = strerror(errno);
    else if (S_ISFIFO(st.st_mode))
        bad = "is a FIFO (named pipe)";
    else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
        bad = "is a device";
    else if (S_ISDIR(st.st_mode))
        bad = "is a folder";
    else if (!S_ISREG(st.st_mode))
        bad = "is not a regular file";
    if (bad) {
        close(fd);
        return nb_error_set(err, path, 0, 0, "cannot read %s: it %s; expected a regular file", what, bad);
    }
    if (max_bytes > 0 && (long long)st.st_size > max_bytes) {
        close(fd);
        return nb_error_set(err, path, 0, 0, "%s is %lld bytes, more than the limit of %lld bytes for it", what,
                            (long long)st.st_size, max_bytes);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

FILE *fsutil_open_read(const char *path, const char *what, long long max_bytes, int flags, nb_error *err)
{
    int fd = fsutil_open_fd(path, what, max_bytes, flags, err);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        nb_error_set(err, path, 0, 0, "cannot open %s: %s", what, strerror(errno));
        close(fd);
    }
    return f;
}

unsigned char *fsutil_read_all(const char *path, const char *what, long long max_bytes, size_t *len, nb_error *err)
{
    *len = 0;
    FILE *f = fsutil_open_read(path, what, max_bytes, 0, err);
    if (!f)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st)) {
        nb_error_set(err, path, 0, 0, "cannot read %s: %s", what, strerror(errno));
        fclose(f);
        return NULL;
    }
    unsigned char *data = nb_malloc((size_t)st.st_size + 1);
    const size_t got = fread(data, 1, (size_t)st.st_size, f);
    const int bad = ferror(f) || got != (size_t)st.st_size;
    fclose(f);
    if (bad) {
        nb_error_set(err, path, 0, 0, "cannot read %s: %zu of %lld bytes read", what, got, (long long)st.st_size);
        free(data);
        return NULL;
    }
    data[got] = '\0';
    *len = got;
    return data;
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

/* results_path_check and results_read_check: verb says what is refused through a link. */
static int path_check(const char *root, const char *rel, const char *verb, nb_error *err)
{
    char path[1024];
    if (rel[0] == '/')
        return nb_error_set(err, rel, 0, 0, "refusing an absolute path inside the results folder %s", root);
    if (snprintf(path, sizeof path, "%s", root) >= (int)sizeof path)
        return nb_error_set(err, root, 0, 0, "path too long");
    for (const char *p = rel;; p++) { /* every part a plain name */
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return nb_error_set(err, rel, 0, 0, "refusing a path with an empty, '.' or '..' part inside the results "
                                "folder %s", root);
        p += n;
        if (!*p)
            break;
    }
    for (const char *p = rel; *p;) {
        size_t n = strcspn(p, "/");
        size_t len = strlen(path);
        if (len + 1 + n >= sizeof path)
            return nb_error_set(err, root, 0, 0, "path too long");
        path[len] = '/';
        memcpy(path + len + 1, p, n);
        path[len + 1 + n] = '\0';
        struct stat st;
        if (lstat(path, &st) != 0) {
            if (errno == ENOENT)
                return 0; /* created later, as a real folder */
            return nb_error_set(err, path, 0, 0, "cannot inspect: %s", strerror(errno));
        }
        if (S_ISLNK(st.st_mode))
            return nb_error_set(err, path, 0, 0, "is a symbolic link: refusing to %s results through it "
                                "(results stay inside %s; remove the link or choose another results folder)", verb,
                                root);
        p += n;
        if (*p == '/')
            p++;
    }
    return 0;
}

int results_path_check(const char *root, const char *rel, nb_error *err)
{
    return path_check(root, rel, "write", err);
}

int results_read_check(const char *root, const char *rel, nb_error *err)
{
    return path_check(root, rel, "read", err);
}
