/* cmd_jobs.c — `normbench jobs` and `normbench collect`: running an experiment on the engines
 * users already have. `jobs --format parallel` prints one command line per pending run for GNU
 * parallel (locally, or across machines with --sshloginfile); `jobs --format slurm` prints a
 * Slurm array script whose task i runs run i (and makes results/<experiment>/, where Slurm
 * opens the tasks' output files before they start). Paths are quoted; one that cannot be (a
 * control character; for an #SBATCH line a blank, quote, backslash or '%') is refused. Either
 * way each run writes its own folder, and `normbench collect` rebuilds summary.csv /
 * summary_agg.csv from the folders. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "options.h"
#include "config/sweep.h"
#include "core/error.h"
#include "io/fsutil.h"
#include "report/summary.h"

/* Prints s single-quoted for a POSIX shell. */
static void shell_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

/* A path written into a command line or a job script: a control character (a newline above
 * all) cannot be quoted for GNU parallel, which reads one command per line, nor in a script's
 * comment and #SBATCH lines. Returns 0, or −1 after an error naming what. */
static int script_safe(const char *what, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) {
            fprintf(stderr, "normbench: jobs: %s contains a control character (byte 0x%02x at offset %ld): it "
                            "cannot be quoted in a job line or script; rename it\n",
                    what, *p, (long)(p - (const unsigned char *)s));
            return -1;
        }
    return 0;
}

/* sbatch reads "#SBATCH --output=PATH" without a shell: PATH must hold no blank, quote or
 * backslash, and '%' is its own pattern character. */
static int sbatch_safe(const char *what, const char *s)
{
    size_t bad = strcspn(s, " \t\"'\\%");
    if (s[bad]) {
        fprintf(stderr, "normbench: jobs: %s contains '%c', which an #SBATCH line cannot carry; choose a results "
                        "folder without blanks, quotes, backslashes or '%%'\n", what, s[bad]);
        return -1;
    }
    return 0;
}

static int common_args(int argc, char **argv, const char **file, const char **results, const char **format,
                       int *threads, int want_format)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--results") && v) {
            *results = v;
            i++;
        } else if (want_format && !strcmp(a, "--format") && v) {
            *format = v;
            i++;
        } else if (want_format && !strcmp(a, "--threads")) {
            if (parse_positive_int("--threads", v, threads))
                return -1;
            i++;
        } else if (a[0] != '-' && !*file) {
            *file = a;
        } else {
            return -1;
        }
    }
    return *file && !check_results_root("--results", *results) ? 0 : -1;
}

int cmd_jobs(int argc, char **argv)
{
    const char *file = NULL, *results = "results", *format = NULL;
    int threads = 1;
    if (common_args(argc, argv, &file, &results, &format, &threads, 1) || !format ||
        (strcmp(format, "parallel") && strcmp(format, "slurm"))) {
        fprintf(stderr, "usage: normbench jobs EXPERIMENT.yaml --format parallel|slurm [--threads N] [--results DIR]\n"
                        "  parallel: one command per pending run, e.g.\n"
                        "      normbench jobs exp.yaml --format parallel | parallel -j 4\n"
                        "  slurm: an array job script, e.g.\n"
                        "      normbench jobs exp.yaml --format slurm > exp.sbatch && sbatch exp.sbatch\n"
                        "  then: normbench collect exp.yaml\n");
        return 2;
    }
    experiment x;
    nb_error err = {0};
    if (experiment_load(&x, file, &err)) {
        nb_error_print(&err, stderr);
        return 1;
    }
    char exe[PATH_MAX], cwd[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    if (!getcwd(cwd, sizeof cwd))
        snprintf(cwd, sizeof cwd, ".");
    char out_dir[1100], out_abs[PATH_MAX + 1100];
    snprintf(out_dir, sizeof out_dir, "%s/%s", results, x.name); /* results: at most 700 bytes */
    /* sbatch opens --output relative to where it is called from: the absolute path */
    snprintf(out_abs, sizeof out_abs, "%s%s%s", results[0] == '/' ? "" : cwd, results[0] == '/' ? "" : "/", out_dir);
    int slurm = !strcmp(format, "slurm");
    if (script_safe("the experiment file's path", file) || script_safe("the --results folder", results) ||
        script_safe("the program's path", exe) || script_safe("the current folder", cwd) ||
        (slurm && sbatch_safe("the output folder of the Slurm tasks", out_abs))) {
        experiment_free(&x);
        return 1;
    }
    /* Slurm opens each task's output file before the task runs: its folder must exist */
    if (slurm && (results_path_check(results, x.name, &err) || mkdir_p(out_dir, &err))) {
        nb_error_print(&err, stderr);
        experiment_free(&x);
        return 1;
    }
    int pending = 0;
    for (int r = 0; r < x.n_runs; r++) {
        char dir[1100];
        if (run_dir_read_check(results, &x, r, &err)) { /* its job would be refused: no script */
            nb_error_print(&err, stderr);
            experiment_free(&x);
            return 1;
        }
        run_dir(dir, sizeof dir, results, &x, r);
        pending += runfolder_state(dir) != RUN_COMPLETE;
    }
    if (!strcmp(format, "parallel")) {
        for (int r = 0; r < x.n_runs; r++) {
            char dir[1100];
            run_dir(dir, sizeof dir, results, &x, r);
            if (runfolder_state(dir) == RUN_COMPLETE)
                continue;
            shell_quote(stdout, exe);
            printf(" run ");
            shell_quote(stdout, file);
            printf(" --index %d --threads %d --quiet --results ", r, threads);
            shell_quote(stdout, results);
            printf("\n");
        }
    } else {
        printf("#!/bin/bash\n");
        printf("# Slurm array job for %s: %d pending run(s) of %d. Submit with sbatch; afterwards run\n", x.name,
               pending, x.n_runs);
        printf("#   normbench collect ");
        shell_quote(stdout, file);
        printf(" --results ");
        shell_quote(stdout, results);
        printf("\n# to rebuild summary.csv. The output folder below exists already (made by normbench jobs).\n");
        printf("#SBATCH --job-name=%s\n", x.name);
        printf("#SBATCH --cpus-per-task=%d\n", threads);
        printf("#SBATCH --output=%s/slurm-%%A_%%a.out\n", out_abs);
        printf("#SBATCH --array=");
        int first = 1;
        for (int r = 0; r < x.n_runs; r++) {
            char dir[1100];
            run_dir(dir, sizeof dir, results, &x, r);
            if (runfolder_state(dir) == RUN_COMPLETE)
                continue;
            printf("%s%d", first ? "" : ",", r);
            first = 0;
        }
        printf("\nset -euo pipefail\ncd ");
        shell_quote(stdout, cwd);
        printf("\nexec ");
        shell_quote(stdout, exe);
        printf(" run ");
        shell_quote(stdout, file);
        printf(" --index \"$SLURM_ARRAY_TASK_ID\" --threads %d --quiet --results ", threads);
        shell_quote(stdout, results);
        printf("\n");
        if (pending == 0)
            fprintf(stderr, "normbench: every run of %s is complete; the script has an empty array\n", x.name);
    }
    experiment_free(&x);
    return 0;
}

int cmd_collect(int argc, char **argv)
{
    const char *file = NULL, *results = "results", *format = NULL;
    int threads = 0;
    if (common_args(argc, argv, &file, &results, &format, &threads, 0)) {
        fprintf(stderr, "usage: normbench collect EXPERIMENT.yaml [--results DIR]\n");
        return 2;
    }
    experiment x;
    nb_error err = {0};
    if (experiment_load(&x, file, &err)) {
        nb_error_print(&err, stderr);
        return 1;
    }
    int complete = 0;
    for (int r = 0; r < x.n_runs; r++) {
        char dir[1100];
        run_dir(dir, sizeof dir, results, &x, r);
        complete += runfolder_state(dir) == RUN_COMPLETE;
    }
    int rc = summary_write(&x, results, &err);
    int corrupt = rc ? 0 : summary_warn_corrupt(&x, results, stderr);
    if (rc)
        nb_error_print(&err, stderr);
    else
        printf("%s: %d of %d runs complete%s; %s/%s/summary.csv and summary_agg.csv written\n", x.name,
               complete - corrupt, x.n_runs, corrupt ? " (and the corrupt ones above)" : "", results, x.name);
    experiment_free(&x);
    return rc ? 1 : 0;
}
