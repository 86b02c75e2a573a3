/* memstat.c — peak and current resident memory from /proc/self/status, and the memory still
 * available to the process; see memstat.h. */
#include "core/memstat.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

/* The "<key>:   N kB" line of file (/proc/self/status, /proc/meminfo), in bytes, or 0. */
static size_t proc_kb(const char *file, const char *key)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return 0;
    char line[256];
    size_t bytes = 0;
    const size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':') {
            unsigned long long kb = 0;
            if (sscanf(line + n + 1, "%llu", &kb) == 1)
                bytes = (size_t)kb * 1024;
            break;
        }
    fclose(f);
    return bytes;
}

static size_t status_kb(const char *key) { return proc_kb("/proc/self/status", key); }

/* The one number in file (a cgroup file), or 0 when it cannot be read or says "max". */
static unsigned long long file_number(const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return 0;
    unsigned long long v = 0;
    if (fscanf(f, "%llu", &v) != 1)
        v = 0;
    fclose(f);
    return v;
}

size_t memstat_peak_rss(void)
{
    size_t b = status_kb("VmHWM");
    if (b)
        return b;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        return (size_t)ru.ru_maxrss * 1024; /* kilobytes on Linux */
    return 0;
}

size_t memstat_rss(void) { return status_kb("VmRSS"); }

size_t memstat_available(const char **what)
{
    size_t best = proc_kb("/proc/meminfo", "MemAvailable");
    *what = best ? "MemAvailable of /proc/meminfo" : NULL;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        size_t mapped = status_kb("VmSize");
        size_t left = rl.rlim_cur > mapped ? (size_t)(rl.rlim_cur - mapped) : 0;
        if (!*what || left < best) {
            best = left;
            *what = "the address-space limit (ulimit -v) less what is mapped";
        }
    }
    unsigned long long max = file_number("/sys/fs/cgroup/memory.max"),
                       cur = file_number("/sys/fs/cgroup/memory.current");
    if (max) {
        size_t left = max > cur ? (size_t)(max - cur) : 0;
        if (!*what || left < best) {
            best = left;
            *what = "the cgroup's memory.max less memory.current";
        }
    }
    return best;
}
