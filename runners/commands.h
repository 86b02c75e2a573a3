/* commands.h — the subcommands of bin/normbench. */
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
int cmd_eval(int argc, char **argv);

#include "options.h" /* the option helpers and stop signals they share */

#endif
