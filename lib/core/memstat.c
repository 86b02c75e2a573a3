/* memstat.c — peak and current resident memory from /proc/self/status; see memstat.h. */
#include "core/memstat.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

/* The "<key>:   N kB" line of /proc/self/status, in bytes, or 0. */
static size_t status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
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
