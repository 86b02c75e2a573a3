#!/usr/bin/env bash
# test_slurm.sh — `normbench jobs --format slurm` tried the way users run it (make test-slurm):
# a real single-node Slurm (Debian's slurmctld, slurmd and munge) started on this machine from a
# configuration in a scratch folder, the sweep's array submitted with sbatch, one task killed
# mid-run, the pending runs resubmitted with sbatch --wait, and `collect` compared with a local
# `run` of the same sweep. Every daemon it starts is stopped on exit. Skipped (exit 0, with a
# message) only where the packages are missing and cannot be installed.
set -uo pipefail
cd "$(dirname "$0")/../.."
NB=${NB_BIN:-bin/normbench}
say() { echo "test_slurm: $*"; }

need="slurmctld slurmd sbatch squeue scancel sinfo munged"
missing() { for c in $need; do command -v "$c" > /dev/null || return 0; done; return 1; }
if missing; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    say "installing slurmctld slurmd slurm-client munge"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge \
      > /dev/null 2>&1 || { apt-get update -qq > /dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge \
      > /dev/null 2>&1; }
  fi
  if missing; then say "SKIPPED: Slurm and munge are not installed and cannot be installed here"; exit 0; fi
fi

S=$(mktemp -d /tmp/nb_slurm.XXXXXX)
pids=()
cleanup() {
  [ -f "$S/slurm.conf" ] && SLURM_CONF="$S/slurm.conf" scancel --quiet --user="$(id -un)" > /dev/null 2>&1
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null; done
  sleep 1
  for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2> /dev/null; done
  [ -n "${KEEP:-}" ] || rm -rf "$S"
}
trap cleanup EXIT
fail() { say "FAILED: $*"; for f in "$S"/*.log; do echo "== $f"; tail -n 15 "$f"; done; exit 1; }

# munge, with its key, socket and files in the scratch folder
dd if=/dev/urandom of="$S/munge.key" bs=1024 count=1 2> /dev/null && chmod 600 "$S/munge.key"
mkdir -m 700 "$S/munge"
munged --foreground --force --key-file="$S/munge.key" --socket="$S/munge/munge.sock" \
  --pid-file="$S/munge/munged.pid" --log-file="$S/munged.log" --seed-file="$S/munge/seed" > /dev/null 2>&1 &
pids+=($!)
for i in $(seq 50); do [ -S "$S/munge/munge.sock" ] && break; sleep 0.1; done
[ -S "$S/munge/munge.sock" ] || fail "munged did not start"

host=$(hostname -s)
port=$((17000 + RANDOM % 20000))
mkdir -p "$S/state" "$S/spool"
cat > "$S/slurm.conf" <<CONF
ClusterName=nbtest
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$S/munge/munge.sock
CredType=cred/munge
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=nb Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$S/slurm.conf"
slurmctld -D -i > "$S/slurmctld.out.log" 2>&1 &
pids+=($!)
slurmd -D > "$S/slurmd.out.log" 2>&1 &
pids+=($!)
for i in $(seq 100); do sinfo -h -o %T 2> /dev/null | grep -q idle && break; sleep 0.2; done
sinfo -h -o %T 2> /dev/null | grep -q idle || fail "the node did not come up (sinfo: $(sinfo 2>&1 | tail -1))"
say "Slurm is up: node $host, port $port"

# the sweep, slower than the unit tests' (a few seconds a run) so that a task can be caught running
sed -e 's/train_subset: 128/train_subset: 6144/' -e 's/epochs: 1/epochs: 3/' tests/fixtures/ledger/sweep.yaml > "$S/sweep.yaml"
"$NB" run "$S/sweep.yaml" -j 1 --quiet --results "$S/ref" || fail "the local run failed"

"$NB" jobs "$S/sweep.yaml" --format slurm --results "$S/res" > "$S/job1.sbatch" || fail "normbench jobs failed"
job=$(sbatch --parsable "$S/job1.sbatch") || fail "sbatch refused the script"
say "array job $job submitted"
killed=""
for i in $(seq 600); do
  t=$(squeue -h -j "$job" -t RUNNING -o %i 2> /dev/null | head -1)
  if [ -n "$t" ] && [ -z "$killed" ]; then sleep 0.5; scancel --signal=KILL --full "$t" && killed=$t; fi
  [ -z "$(squeue -h -j "$job" 2> /dev/null)" ] && break
  sleep 0.1
done
[ -n "$killed" ] || fail "no task was caught running"
say "task $killed killed mid-run"
pending=$("$NB" jobs "$S/sweep.yaml" --format slurm --results "$S/res" 2> /dev/null | sed -n 's/^#SBATCH --array=//p')
say "pending after the first array: ${pending:-none}"
[ -n "$pending" ] || fail "the killed task's run is not pending"
"$NB" jobs "$S/sweep.yaml" --format slurm --results "$S/res" > "$S/job2.sbatch" || fail "normbench jobs failed"
sbatch --wait "$S/job2.sbatch" > /dev/null || fail "the resubmitted array failed"
ls "$S"/res/ledger_sweep/slurm-*.out > /dev/null 2>&1 || fail "no task output file"
"$NB" collect "$S/sweep.yaml" --results "$S/res" || fail "collect failed"
cmp "$S/ref/ledger_sweep/summary.csv" "$S/res/ledger_sweep/summary.csv" || fail "collect differs from the local run"
say "passed: the resubmitted array ($pending) completed the sweep; collect equals a local run"
