/* options.c — option values and the stop signals shared by the subcommands; see options.h. */
#include "options.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/fsutil.h"
#include "train/train.h"

int parse_positive_int(const char *opt, const char *text, int *out)
{
    char *end;
    errno = 0;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text || end == text || *end || errno || v < 1 || v > 1 << 20) {
        fprintf(stderr, "normbench: %s: expected a positive integer, got '%s'\n", opt, text ? text : "");
        return -1;
    }
    *out = (int)v;
    return 0;
}

int parse_nonneg_int(const char *opt, const char *text, int *out)
{
    if (text && !strcmp(text, "0")) {
        *out = 0;
        return 0;
    }
    return parse_positive_int(opt, text, out);
}

int check_results_root(const char *opt, const char *path)
{
    size_t n = strlen(path);
    if (n <= RESULTS_ROOT_MAX)
        return 0;
    fprintf(stderr, "normbench: %s: path too long (%zu bytes; at most %d, so that every file below it fits): %.60s...\n",
            opt, n, RESULTS_ROOT_MAX, path);
    return -1;
}

void hint_force(nb_error *err)
{
    size_t n = strlen(err->msg);
    snprintf(err->msg + n, sizeof err->msg - n, "; use --force to redo it with this one");
}

int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* The handler records the signal, asks a training in this process to stop, and arms the
 * watchdog: the process acts on the request at its next check (a training step, the loop of
 * `run`), and where it is somewhere else for longer than the grace period, it ends there. */
static volatile sig_atomic_t got_signal, n_signals, grace_seconds = 1;

static void on_stop_signal(int sig)
{
    got_signal = sig;
    n_signals++;
    train_request_stop(sig);
    if (n_signals == 1)
        alarm((unsigned)grace_seconds);
}

static void on_watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "normbench: stopped by a signal (it was not acted on within the grace period); a run "
                              "in progress is left incomplete\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    fsutil_remove_temporaries(); /* the files being written stay as they were */
    _exit(128 + (got_signal ? got_signal : SIGTERM));
}

void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_watchdog;
    sigaction(SIGALRM, &sa, NULL);
}

void set_stop_grace(int seconds) { grace_seconds = seconds; }

int stop_signal_received(void) { return got_signal; }

int stop_signal_count(void) { return n_signals; }
