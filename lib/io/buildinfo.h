/* buildinfo.h — what a run records about the build that produced it (git commit, compiler,
 * flags, scalar type, OpenBLAS configuration). The Makefile writes build/buildinfo.inc with the
 * commit and flags whenever they change. */
#ifndef NB_BUILDINFO_H
#define NB_BUILDINFO_H

const char *buildinfo_commit(void);
const char *buildinfo_compiler(void);
const char *buildinfo_cflags(void);

#endif
