/* commands.h — the subcommands of bin/normbench and the option helpers they share. */
#ifndef NB_COMMANDS_H
#define NB_COMMANDS_H

int cmd_train(int argc, char **argv);
int cmd_bounds(int argc, char **argv);
int cmd_bench(int argc, char **argv);
/* `normbench bench head` (runners/cmd_bench_head.c), dispatched by cmd_bench. */
int cmd_bench_head(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_jobs(int argc, char **argv);
int cmd_collect(int argc, char **argv);
int cmd_regress(int argc, char **argv);
int cmd_claims(int argc, char **argv);
int cmd_plot(int argc, char **argv);

/* Parses a positive integer option value; prints an error naming the option and returns −1. */
int parse_positive_int(const char *opt, const char *text, int *out);
/* Parses an integer ≥ 0 likewise. */
int parse_nonneg_int(const char *opt, const char *text, int *out);
/* Threads to use when neither the command line nor the config says: the online processors. */
int default_threads(void);
/* SIGINT/SIGTERM handlers (cmd_run.c): a training in this process stops before its next step
 * and leaves its run incomplete; `run` forwards the signal to its run processes. */
void install_stop_handlers(void);

#endif
