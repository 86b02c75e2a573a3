/* runfolder.c — run folder paths and completion; see runfolder.h. */
#include "io/runfolder.h"

#include <stdio.h>
#include <sys/stat.h>

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
