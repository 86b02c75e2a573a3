/* cmd_train.c — `normbench train FILE.yaml`: train one configuration and write its run folder.
 * A folder that holds a finished run of a different configuration is refused without --force,
 * as `run` refuses it; another process training the same run is refused, naming it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "options.h"
#include "config/config.h"
#include "train/train.h"

static void train_usage(FILE *f)
{
    fprintf(f, "usage: normbench train FILE.yaml [--threads N] [--results DIR] [--set KEY=VALUE]... [--force] [--quiet]\n"
               "  --threads N      OpenBLAS and OpenMP threads (default: the config's 'threads', else all cores)\n"
               "  --results DIR    results root (default: results)\n"
               "  --set KEY=VALUE  override one configuration key, e.g. --set train.epochs=2\n"
               "  --force          retrain a finished run whose folder holds a different configuration\n"
               "  --quiet          no progress output\n");
}

int cmd_train(int argc, char **argv)
{
    const char *file = NULL, *results = "results";
    const char *sets[64];
    int n_sets = 0, threads = 0, quiet = 0, force = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            train_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--threads")) {
            if (parse_positive_int("--threads", i + 1 < argc ? argv[++i] : NULL, &threads))
                return 2;
        } else if (!strcmp(argv[i], "--results")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "normbench: --results needs a folder\n");
                return 2;
            }
            results = argv[++i];
        } else if (!strcmp(argv[i], "--set")) {
            if (i + 1 >= argc || n_sets == 64 || !strchr(argv[i + 1], '=')) {
                fprintf(stderr, "normbench: --set needs KEY=VALUE\n");
                return 2;
            }
            sets[n_sets++] = argv[++i];
        } else if (!strcmp(argv[i], "--quiet")) {
            quiet = 1;
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if (argv[i][0] == '-' || file) {
            fprintf(stderr, "normbench: train: unexpected argument '%s'\n", argv[i]);
            train_usage(stderr);
            return 2;
        } else {
            file = argv[i];
        }
    }
    if (!file) {
        train_usage(stderr);
        return 2;
    }
    if (check_results_root("--results", results))
        return 2;
    nb_config cfg;
    nb_error err = {0};
    config_entries over = {0};
    for (int i = 0; i < n_sets; i++) {
        char key[256];
        const char *eq = strchr(sets[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - sets[i]), sets[i]);
        config_entries_add(&over, key, eq + 1, 0, 0);
    }
    int rc = config_load_run(&cfg, file, &over, &err);
    config_entries_free(&over);
    if (rc) {
        nb_error_print(&err, stderr);
        return 1;
    }
    train_options opt = {.results_root = results,
                         .threads = threads ? threads : cfg.threads ? cfg.threads : default_threads(),
                         .progress_tty = isatty(STDERR_FILENO),
                         .quiet = quiet,
                         .force = force};
    train_result res;
    if (train_run(&cfg, &opt, &res, &err)) {
        if (res.changed)
            hint_force(&err);
        nb_error_print(&err, stderr);
        return res.interrupted ? 128 + res.interrupted : 1;
    }
    if (res.diverged) {
        fprintf(stderr, "normbench: %s: training diverged (loss NaN/Inf) at step %ld\n", res.run_dir,
                res.diverged_step);
        return 1;
    }
    printf("final test accuracy: %.4f  verification accuracy: %.4f  (train loss %.4f, %d epochs, %.0f s, %.0f "
           "training images/s)\n",
           res.test_acc, res.verify_acc, res.train_loss, res.epochs, res.seconds, res.images_per_second);
    printf("results: %s/\n", res.run_dir);
    return 0;
}
