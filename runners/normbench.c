/* normbench.c — the normbench command: one program, one subcommand per task.
 *
 *   normbench run EXPERIMENT.yaml [-j N] [--dry-run] [--only PATTERN] [--index I] [--force] ...
 *   normbench jobs EXPERIMENT.yaml --format parallel|slurm
 *   normbench collect EXPERIMENT.yaml
 *   normbench train FILE.yaml [--threads N] [--results DIR] [--set KEY=VALUE]... [--quiet]
 *   normbench eval --features F.npy (--issame I.npy | --pairs P --names M | --labels L) [...]
 *   normbench bounds [--classes LIST] [--p LIST] [--s LIST]
 *   normbench bench [--threads N]... [--rounds R] [--backbones LIST] [--backends LIST] [--out DIR]
 *
 * Each subcommand lives in its own cmd_*.c file; errors are printed once, as
 * "normbench: file:line:col: message", and give a non-zero exit status. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "options.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: normbench <command> [options]\n"
            "\n"
            "commands:\n"
            "  run FILE.yaml     run every run of an experiment's sweep (resumable; -j N in parallel)\n"
            "  jobs FILE.yaml    print the pending runs as GNU parallel commands or a Slurm array script\n"
            "  collect FILE.yaml rebuild summary.csv and summary_agg.csv from the run folders\n"
            "  claims            the reproduction table of docs/claims.md, from results (--readme FILE)\n"
            "  regress           rerun the quick experiment and compare with results/reference/ (--update)\n"
            "  train FILE.yaml   train one configuration; results in results/<name>/<run_id>/\n"
            "  eval --features F evaluate given embeddings (.npy/CSV) by every protocol side by side\n"
            "  bounds            print the L2-softmax α lower bound and NormFace loss bound tables\n"
            "  bench             training/eval throughput per backbone and backend against the best GEMM\n"
            "  plot RESULTS_DIR  figures (gnuplot, PNG and SVG) and report.md/report.html of an experiment\n"
            "  help              this text\n"
            "\n"
            "Run 'normbench <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    /* every command: a stop signal ends it within the grace period, its temporaries removed */
    install_stop_handlers();
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "jobs"))
        return cmd_jobs(argc - 1, argv + 1);
    if (!strcmp(cmd, "collect"))
        return cmd_collect(argc - 1, argv + 1);
    if (!strcmp(cmd, "claims"))
        return cmd_claims(argc - 1, argv + 1);
    if (!strcmp(cmd, "regress"))
        return cmd_regress(argc - 1, argv + 1);
    if (!strcmp(cmd, "train"))
        return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval"))
        return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "bounds"))
        return cmd_bounds(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench"))
        return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "plot"))
        return cmd_plot(argc - 1, argv + 1);
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "normbench: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
