/* cmd_bounds.c — `normbench bounds`: the theory tables of docs/theory.md §2.
 *
 * α_low = log(p (C − 2)/(1 − p)) (Ranjan et al. 2017, §3.4) for classes × target probability,
 * and the NormFace loss lower bound log(1 + (n − 1) exp(−s n/(n − 1))) (Wang et al. 2017,
 * Prop. 2) for classes × scale s. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "loss/loss.h"

#define MAX_LIST 32

/* Parses "a,b,c" into values; integer lists when want_int. */
static int parse_list(const char *opt, const char *text, double *v, int *n, int want_int, double lo, double hi)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", text ? text : "");
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        errno = 0;
        double x = strtod(tok, &end);
        if (end == tok || *end || errno || !(x > lo && x < hi) || (want_int && x != floor(x)) || *n == MAX_LIST) {
            fprintf(stderr, "normbench: %s: '%s' is not a valid value (expected %s in (%g, %g), comma-separated)\n", opt,
                    tok, want_int ? "integers" : "numbers", lo, hi);
            return -1;
        }
        v[(*n)++] = x;
    }
    if (*n == 0) {
        fprintf(stderr, "normbench: %s: expected a comma-separated list\n", opt);
        return -1;
    }
    return 0;
}

int cmd_bounds(int argc, char **argv)
{
    double classes[MAX_LIST] = {10, 100, 1000, 10575}, ps[MAX_LIST] = {0.5, 0.9, 0.99},
           ss[MAX_LIST] = {1, 2, 4, 8, 16, 32, 64};
    int nc = 4, np = 3, ns = 7;
    for (int i = 1; i < argc; i++) {
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--classes")) {
            if (parse_list("--classes", val, classes, &nc, 1, 2, 1e9))
                return 2;
            i++;
        } else if (!strcmp(argv[i], "--p")) {
            if (parse_list("--p", val, ps, &np, 0, 0, 1))
                return 2;
            i++;
        } else if (!strcmp(argv[i], "--s")) {
            if (parse_list("--s", val, ss, &ns, 0, 0, 1e6))
                return 2;
            i++;
        } else {
            int help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
            fprintf(help ? stdout : stderr,
                    "usage: normbench bounds [--classes 10,100,...] [--p 0.9,...] [--s 1,4,16,...]\n");
            return help ? 0 : 2;
        }
    }
    printf("L2-softmax lower bound on alpha: alpha_low = log(p (C - 2) / (1 - p))  (Ranjan et al. 2017, 3.4)\n");
    printf("%10s", "classes");
    for (int j = 0; j < np; j++)
        printf("  p=%-8g", ps[j]);
    printf("\n");
    for (int i = 0; i < nc; i++) {
        printf("%10.0f", classes[i]);
        for (int j = 0; j < np; j++)
            printf("  %-10.4f", l2softmax_alpha_low((int)classes[i], ps[j]));
        printf("\n");
    }
    printf("\nNormFace loss lower bound: log(1 + (n - 1) exp(-s n / (n - 1)))  (Wang et al. 2017, Prop. 2)\n");
    printf("%10s", "classes");
    for (int j = 0; j < ns; j++)
        printf("  s=%-9g", ss[j]);
    printf("\n");
    for (int i = 0; i < nc; i++) {
        printf("%10.0f", classes[i]);
        for (int j = 0; j < ns; j++)
            printf("  %-11.4g", normface_loss_bound((int)classes[i], ss[j]));
        printf("\n");
    }
    return 0;
}
