/* memstat.h — the process's memory, for run records and `normbench bench head`. */
#ifndef NB_MEMSTAT_H
#define NB_MEMSTAT_H

#include <stddef.h>

/* Peak resident set size of this process in bytes: VmHWM of /proc/self/status (Linux), else
 * getrusage's ru_maxrss; 0 if neither is available. */
size_t memstat_peak_rss(void);
/* Current resident set size (VmRSS), or 0. */
size_t memstat_rss(void);
/* The memory this process can still take, in bytes: the least of MemAvailable (/proc/meminfo),
 * the address-space limit (RLIMIT_AS, `ulimit -v`) less the address space already mapped, and
 * the cgroup v2 limit (memory.max less memory.current); *what names the one that bounds it.
 * 0 (and *what NULL) when none of them can be read. */
size_t memstat_available(const char **what);

#endif
