/* runfolder.h — a run's folder, results/<experiment>/<run id>/, and the one rule of when a run is
 * done: its final.csv, the file training writes last, exists (docs/architecture.md). Every part
 * that builds a run's path or asks whether a run is complete goes through here. */
#ifndef NB_RUNFOLDER_H
#define NB_RUNFOLDER_H

#include <stddef.h>

#include "core/error.h"

typedef enum { RUN_ABSENT, RUN_INCOMPLETE, RUN_COMPLETE } run_state;

/* The name of the completion marker inside a run folder. */
#define RUNFOLDER_FINAL "final.csv"

/* buf ← <results_root>/<experiment>/<run_id>. Returns 0, or −1 with err when it does not fit
 * in size bytes (a path is never cut short). */
int runfolder_path(char *buf, size_t size, const char *results_root, const char *experiment, const char *run_id,
                   nb_error *err);
/* buf ← <run_dir>/<name>, the path of one file of a run. Returns 0, or −1 with err when it does
 * not fit. */
int runfolder_file(char *buf, size_t size, const char *run_dir, const char *name, nb_error *err);
/* ABSENT when dir does not exist, COMPLETE when dir/final.csv exists, INCOMPLETE otherwise. */
run_state runfolder_state(const char *dir);

#endif
