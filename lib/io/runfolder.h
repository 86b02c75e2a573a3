/* runfolder.h — a run's folder, results/<experiment>/<run id>/, and the one rule of when a run is
 * done: its final.csv, the file training writes last, exists (docs/architecture.md). Every part
 * that builds a run's path or asks whether a run is complete goes through here. */
#ifndef NB_RUNFOLDER_H
#define NB_RUNFOLDER_H

#include <signal.h>
#include <stddef.h>

#include "core/error.h"
#include "io/csvread.h"

typedef enum { RUN_ABSENT, RUN_INCOMPLETE, RUN_COMPLETE } run_state;

/* The name of the completion marker inside a run folder. */
#define RUNFOLDER_FINAL "final.csv"

/* The files a run writes besides config.yaml and run.yaml (rewritten as it starts) and final.csv
 * (removed as it starts): per-epoch and per-step logs, then the final evaluation's tables and
 * arrays. NULL-terminated. */
extern const char *const runfolder_outputs[];
/* Removes every runfolder_outputs file of run folder dir, so that a run started again holds only
 * its own files (an earlier attempt's metrics.csv or roc.csv would otherwise be read — plotted,
 * summarised — as this attempt's until it writes its own). The caller holds the run's lock. */
void runfolder_clear_outputs(const char *dir);

/* buf ← <results_root>/<experiment>/<run_id>. Returns 0, or −1 with err when it does not fit
 * in size bytes (a path is never cut short). */
int runfolder_path(char *buf, size_t size, const char *results_root, const char *experiment, const char *run_id,
                   nb_error *err);
/* buf ← <run_dir>/<name>, the path of one file of a run. Returns 0, or −1 with err when it does
 * not fit. */
int runfolder_file(char *buf, size_t size, const char *run_dir, const char *name, nb_error *err);
/* ABSENT when dir does not exist, COMPLETE when dir/final.csv exists, INCOMPLETE otherwise. */
run_state runfolder_state(const char *dir);
/* Is the final.csv of run folder dir one that training writes: a header and exactly one row,
 * "status" complete or diverged, every other cell empty or a number? A final.csv cut short,
 * emptied, edited or with a column too many is corrupt: the run is then to be redone, and
 * nothing of it may be summarised. Returns 0 (with the table in *t when t is not NULL, to be
 * freed with csvread_free), or −1 with err naming the file, the line and what is wrong. */
int runfolder_final_check(const char *dir, csvread_table *t, nb_error *err);

/* ---- the owner of a run folder ----
 * One process at a time trains a run: it holds an exclusive POSIX record lock (fcntl F_SETLK,
 * whole file) on <results_root>/<experiment>/.<run_id>.lock for the run's whole life, from
 * before it removes a stale final.csv to after it writes the new one. The file holds
 * "pid N host H" of the owner, for the message a second process prints. The lock, not the
 * file, is what counts: the kernel releases it when the owner exits or is killed, so the lock of
 * a dead process is recovered by the next one to ask, and the file is never removed (removing
 * it would let two processes lock two different files). On NFS the same lock goes to the server
 * (NLM for NFSv3, in-protocol for NFSv4), which releases it when the owner's client unlocks or
 * its lease expires; a mount with `nolock` or `local_lock=all` keeps locks per machine, and two
 * machines sharing such a folder are not protected (docs/architecture.md, "Run folders"). */
typedef struct {
    int fd; /* −1: not held */
    char path[1200];
} runfolder_lock;

/* Longest name of a file inside a run folder, temporary suffix ".tmp.<pid>" included; a run
 * folder path is refused when this would not fit behind it (runfolder_check_length). */
#define RUNFOLDER_NAME_MAX 48
/* Longest path of any file normbench writes (fsutil's atomic_file). */
#define RUNFOLDER_PATH_MAX 1024

/* Checks that every file of run folder dir fits in RUNFOLDER_PATH_MAX. Returns 0, or −1 with
 * err saying how long the path is and what the limit is. */
int runfolder_check_length(const char *dir, nb_error *err);
/* Takes the lock of run run_id of experiment (creating the experiment folder and the lock file
 * if needed). Returns 0 when held; 1 when another process holds it, with err saying "is being
 * trained by pid N on H" — with wait, it instead tries again every 0.1 s until the lock is free
 * or *stop becomes non-zero (then returns 1 too); −1 with err on any other failure. */
int runfolder_lock_take(runfolder_lock *l, const char *results_root, const char *experiment, const char *run_id,
                        int wait, const volatile sig_atomic_t *stop, nb_error *err);
/* Releases a lock taken by runfolder_lock_take (nothing when it is not held). */
void runfolder_lock_release(runfolder_lock *l);

#endif
