/* summary.h — an experiment's tables: summary.csv (one row per run: run_id, every swept key,
 * then the run's final metrics from its final.csv) and summary_agg.csv (mean, sd and n over
 * seeds of every numeric metric, for each combination of the other swept keys). Written from
 * the run folders alone, so `normbench collect` after runs done anywhere gives the same tables. */
#ifndef NB_SUMMARY_H
#define NB_SUMMARY_H

#include <stdio.h>

#include "config/sweep.h"
#include "core/error.h"
#include "io/runfolder.h"

/* buf ← results/<name>/<run id> of run r (io/runfolder.h's runfolder_path). Returns 0, or −1
 * with buf empty when the path does not fit in size bytes. */
int run_dir(char *buf, size_t size, const char *results_root, const experiment *x, int r);
/* Refuses to read run r's folder when it, or the experiment's folder, is a symbolic link
 * (io/fsutil.h's results_read_check). Returns 0, or −1 with err naming the link. */
int run_dir_read_check(const char *results_root, const experiment *x, int r, nb_error *err);
/* Writes summary.csv and summary_agg.csv into results/<name>/; refused (−1) when a run folder
 * is a symbolic link (run_dir_read_check). A run whose final.csv is corrupt
 * (io/runfolder.h's runfolder_final_check) is listed with status "corrupt" and no metrics, and
 * left out of the aggregates; the other runs are summarised. Returns 0 or −1 with err. */
int summary_write(const experiment *x, const char *results_root, nb_error *err);
/* Prints to f, for each run of x whose final.csv exists but is corrupt, one warning naming the
 * file and what is wrong; returns how many. */
int summary_warn_corrupt(const experiment *x, const char *results_root, FILE *f);

#endif
