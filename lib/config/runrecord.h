/* runrecord.h — a run's record, run.yaml in its folder: what the run was made with (seed, git
 * commit, compiler and flags, scalar type, OpenBLAS configuration, the backbone's backend and the
 * GEMM library, oneDNN's ISA and version where it ran, threads, config file), how
 * long it took and how much memory it used, and its status (running, interrupted, diverged,
 * complete). Written by hand as one flat YAML mapping, replaced atomically; read back with
 * libyaml, the only YAML reader of the house (lib/config/). */
#ifndef NB_RUNRECORD_H
#define NB_RUNRECORD_H

#include <stddef.h>

#include "config/config.h"
#include "core/error.h"

/* The record's name inside a run folder. */
#define RUN_RECORD_FILE "run.yaml"

/* Writes dir/run.yaml for a run of cfg: head_bytes is the classification head's memory
 * (loss_head_memory), backend the NET_BACKEND_* the backbone ran on (the model's net.backend:
 * what model.backend resolved to), threads and wall (seconds since the run started) as measured
 * by the caller, the peak resident set read here. Returns 0, or −1 with err when the path does
 * not fit or the file cannot be written (the previous run.yaml then stays). */
int run_record_write(const char *dir, const nb_config *cfg, size_t head_bytes, int backend, int threads,
                     double wall, const char *status, nb_error *err);
/* Reads wall_seconds and threads back from dir/run.yaml. Returns 0, or −1 when the file is
 * missing, is not YAML, or lacks either key. */
int run_record_read(const char *dir, double *wall_seconds, int *threads);
/* buf ← the platform of the run in dir: "key=value; …" over the keys of run.yaml that decide its
 * floating-point results bit for bit (compiler, cflags, real, openblas — its version and core
 * type —, backend, gemm, head_gemm, dnnl_isa, dnnl_version, threads; docs/regress.md). Two runs
 * of one config and seed with the same platform give identical numbers. Returns 0, or −1 (buf
 * empty) when run.yaml is missing, is not YAML, lacks a key, or the text does not fit. */
int run_record_platform(const char *dir, char *buf, size_t size);

#endif
