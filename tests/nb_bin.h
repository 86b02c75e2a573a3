/* nb_bin.h — which normbench binary the tests run.
 *
 * $NB_BIN when set (the sanitizer pass of `make test` sets it to build/asan/bin/normbench), else
 * bin/normbench. nb_system(cmd) is system(cmd) with every "bin/normbench" in cmd replaced by that
 * binary, so test commands keep reading as the command a person would type. */
#ifndef NB_TEST_BIN_H
#define NB_TEST_BIN_H

#include <stdlib.h>
#include <string.h>

static inline const char *nb_bin(void)
{
    const char *b = getenv("NB_BIN");
    return b && b[0] ? b : "bin/normbench";
}

static inline int nb_system(const char *cmd)
{
    static const char word[] = "bin/normbench";
    const char *bin = nb_bin();
    size_t n = 1, wl = sizeof word - 1;
    for (const char *p = cmd; (p = strstr(p, word)); p += wl)
        n += strlen(bin);
    char *buf = malloc(strlen(cmd) + n);
    if (!buf)
        return -1;
    char *o = buf;
    for (const char *p = cmd;;) {
        const char *q = strstr(p, word);
        if (!q) {
            strcpy(o, p);
            break;
        }
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        strcpy(o, bin);
        o += strlen(bin);
        p = q + wl;
    }
    int rc = system(buf);
    free(buf);
    return rc;
}

#endif
