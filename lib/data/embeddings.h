/* embeddings.h — embeddings computed elsewhere, and what to compare them by, read from the files a
 * PyTorch / InsightFace / OpenSphere user has (docs/evaluation.md "Evaluating given embeddings"):
 *
 *   features  .npy (float32, float64 or integer, shape (N, d), C order) or CSV: all columns numeric
 *             (a first line of column names is skipped), or normbench's own features.csv
 *             (label, quality, f0, f1, …: the f columns are taken);
 *   issame    InsightFace's "same" list: pair i compares rows 2i and 2i+1 (the layout of its .bin
 *             files), as .npy (bool or integer 0/1, shape (P,)) or text (one 0/1/True/False per
 *             line), or an InsightFace .bin itself (its issame list); the N rows must be exactly 2P;
 *   LFW pairs an LFW pairs.txt (header "folds n", or View 1's single number n: one fold) with a
 *             names file giving each feature row's image ("Name/Name_0001.jpg", "Name_0001",
 *             "Name 1", …, one per line);
 *   labels    one identity per row: .npy (integer) or text (one integer per line), or the label
 *             column of a features CSV;
 *   quality   one score per row (for error-versus-reject curves): .npy or text.
 * Text files may start with a UTF-8 byte-order mark and end lines with LF, CRLF or CR alone;
 * blank lines are skipped. Every error names the file and, for text, the line. */
#ifndef NB_EMBEDDINGS_H
#define NB_EMBEDDINGS_H

#include "core/error.h"
#include "core/real.h"
#include "data/pairs.h"

/* Reads features (n, d) into *feat (malloc'd). Returns 0, or −1 with err. */
int embeddings_read(real **feat, int *n, int *d, const char *path, nb_error *err);
/* Reads n labels ≥ 0 into *labels (malloc'd). A CSV with a "label" column gives that column.
 * Returns 0, or −1 with err. */
int labels_read(int **labels, int *n, const char *path, nb_error *err);
/* Reads n finite quality scores (one per row: .npy 1-D numeric, or text, one number per line). */
int scores_read(double **q, int *n, const char *path, nb_error *err);
/* The InsightFace pair list over n_rows feature rows: pair i = (2i, 2i+1), split into `folds`
 * consecutive folds as sklearn's KFold does (the first P mod folds folds one pair longer). */
int issame_read(pair_list *pl, const char *path, int n_rows, int folds, nb_error *err);
/* An LFW pairs.txt over the feature rows named by names_path (n_rows lines). pair.fold is the
 * fold of the file; a name or image index that no row has, or a row named twice, is an error. */
int lfw_pairs_rows_read(pair_list *pl, const char *pairs_path, const char *names_path, int n_rows, nb_error *err);

#endif
