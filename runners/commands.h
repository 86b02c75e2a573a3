/* commands.h — the subcommands of bin/normbench and the option helpers they share. */
#ifndef NB_COMMANDS_H
#define NB_COMMANDS_H

int cmd_train(int argc, char **argv);
int cmd_bounds(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Parses a positive integer option value; prints an error naming the option and returns −1. */
int parse_positive_int(const char *opt, const char *text, int *out);
/* Threads to use when neither the command line nor the config says: the online processors. */
int default_threads(void);

#endif
