/* options.h — what the subcommands share: option values and the stop signals.
 *
 * Option parsing helpers print their error naming the option, so a subcommand only returns 2.
 * The stop handlers are the one SIGINT/SIGTERM policy of the program: a training in this
 * process stops before its next step and leaves its run incomplete (train_request_stop), and
 * `run` reads the signal (stop_signal_received) to forward it to its run processes. */
#ifndef NB_OPTIONS_H
#define NB_OPTIONS_H

#include "core/error.h"

/* Parses a positive integer option value (at most 2^20); prints an error naming the option and
 * returns −1. */
int parse_positive_int(const char *opt, const char *text, int *out);
/* Parses an integer ≥ 0 likewise. */
int parse_nonneg_int(const char *opt, const char *text, int *out);
/* Longest results folder (or reference folder, or folder to plot) the commands take: below it
 * come <experiment>/<run id>/<file> (127 + 127 + 48 bytes at most), and every path built from
 * these fits in the buffers of the house (atomic_open: 1,023 bytes) without being cut short. */
#define RESULTS_ROOT_MAX 700
/* 0 when the folder given to option opt is at most RESULTS_ROOT_MAX bytes; else prints an error
 * naming the option and the limit and returns −1. */
int check_results_root(const char *opt, const char *path);
/* Threads to use when neither the command line nor the config says: the online processors. */
int default_threads(void);

/* Appends to err's message how to redo a run whose folder holds a different configuration
 * (train_run's res.changed): --force. */
void hint_force(nb_error *err);
/* Installs the SIGINT/SIGTERM handlers: the first signal asks a training to stop at its next
 * step and arms a watchdog (SIGALRM) that ends the process after the grace period (1 s unless
 * set_stop_grace says otherwise) wherever it is then — reading, evaluating, writing a summary —
 * with status 128 + signal. Files are replaced atomically, so what it leaves is valid, and the
 * watchdog removes the temporaries being written (io/fsutil.h). main installs them for every
 * command. */
void install_stop_handlers(void);
/* The grace period of the watchdog, in seconds (`run` waits for its run processes). */
void set_stop_grace(int seconds);
/* The last stop signal received, or 0. */
int stop_signal_received(void);
/* How many stop signals were received (a second one means: kill the run processes). */
int stop_signal_count(void);

#endif
