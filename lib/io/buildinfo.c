/* buildinfo.c — build facts for run records; see buildinfo.h. */
#include "io/buildinfo.h"

#include "buildinfo.inc" /* generated: #define NB_GIT_COMMIT "…", NB_CFLAGS "…" */

const char *buildinfo_commit(void) { return NB_GIT_COMMIT; }
const char *buildinfo_compiler(void) { return "gcc " __VERSION__; }
const char *buildinfo_cflags(void) { return NB_CFLAGS; }
