#!/usr/bin/env bash
# Against a real Slurm on this machine: installs slurmctld, slurmd and munge from Debian when
# missing, writes a one-node slurm.conf for this host and its CPUs, starts the daemons, and then
#   1. `srun -n 2` of the trainer runs to completion, ranks taken from Slurm's environment;
#   2. an sbatch job (scripts/slurm/requeue_on_preempt.sh, as the templates use it) sent the
#      preemption signal saves, is requeued, and resumes from the saved step to the end.
# Stops the daemons it started. Exits 77 (skipped) with the reason when they cannot run here.
# Usage: slurm_test.sh NANOTRAIN PREPARED_DIR SOURCE_DIR
set -u
nanotrain=$(realpath "$1")
prepared=$(realpath "$2")
src=$(realpath "$3")
skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "slurmd must run as root to start tasks, and this test is not root"
if ! command -v slurmctld > /dev/null || ! command -v slurmd > /dev/null ||
   ! command -v munged > /dev/null || ! command -v srun > /dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurmctld slurmd slurm-client munge \
    > /dev/null 2>&1 || skip "slurmctld, slurmd and munge are missing and apt-get cannot install them"
fi

work=$(mktemp -d /tmp/nanotrain_slurm.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null; done
  sleep 0.5
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log "$work"/*.out; do [ -f "$f" ] && { echo "== $f"; tail -n 25 "$f"; }; done
  exit 1
}

# munge authenticates every Slurm message; reuse a running munged, else start one.
if ! munge -n > /dev/null 2>&1; then
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2> /dev/null
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  fi
  mkdir -p /run/munge && chown munge:munge /run/munge
  munged --force 2> "$work/munged.log" || skip "munged does not start: $(cat "$work/munged.log")"
  pids+=("$(cat /run/munge/munged.pid 2> /dev/null)")
  munge -n > /dev/null 2>&1 || skip "munged started but does not answer"
fi

host=$(hostname -s)
read -r ctld_port slurmd_port < <(/usr/bin/python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("", 0))
print(*[x.getsockname()[1] for x in s])')
mkdir -p "$work/state" "$work/spool"
cat > "$work/slurm.conf" << CONF
ClusterName=nanotrain
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$work/slurm.conf
# daemon_pid NAME: the pid a daemonized NAME writes to $work/NAME.pid, waited for up to 20 s so
# the clean-up can stop it.
daemon_pid() {
  for _ in $(seq 400); do [ -s "$work/$1.pid" ] && break; sleep 0.05; done
  [ -s "$work/$1.pid" ] || skip "$1 wrote no pid file: $(tail -n 3 "$work/$1.log")"
  pids+=("$(cat "$work/$1.pid")")
}
slurmctld -i 2>> "$work/slurmctld.log" || skip "slurmctld does not start: $(tail -n 3 "$work/slurmctld.log")"
daemon_pid slurmctld
slurmd 2>> "$work/slurmd.log" || skip "slurmd does not start: $(tail -n 3 "$work/slurmd.log")"
daemon_pid slurmd
for _ in $(seq 100); do
  sinfo -h -o %T 2> /dev/null | grep -q idle && break
  sleep 0.2
done
sinfo -h -o %T | grep -q idle || skip "the node did not become idle: $(tail -n 3 "$work/slurmd.log")"
echo "slurm up on $host (slurmctld :$ctld_port, slurmd :$slurmd_port)"

mkdir -p "$work/base" && ln -s "$prepared/tokenizer" "$work/base/tokenizer"
export NANOTRAIN_BASE_DIR=$work/base OMP_NUM_THREADS=1
train=("$nanotrain" train --data_dir "$prepared/base_data" --depth 1 --max_seq_len 32
       --device_batch_size 4 --eval_tokens 512)

# 1. srun -n 2: ranks from Slurm, run to completion with checkpoints.
timeout 120 srun -n 2 --kill-on-bad-exit=1 "${train[@]}" --num_iterations 6 --save_every 3 \
  --model_tag srun > "$work/srun.log" 2>&1 || fail "srun -n 2 exited $?"
grep -q "world: 2 ranks (2 per node) from slurm's environment" "$work/srun.log" ||
  fail "the ranks did not come from Slurm"
for step in 3 6; do
  "$nanotrain" ckpt verify "$work/base/base_checkpoints/srun" --step "$step" > /dev/null ||
    fail "srun: checkpoint $step does not verify"
done
world=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['world_size'])" \
  "$work/base/base_checkpoints/srun/meta_000006.json")
[ "$world" = 2 ] || fail "srun: meta_000006.json records world_size $world, expected 2"
echo "srun -n 2: ok"

# 2. sbatch, preemption signal, requeue, resume; sharded saves, as the multi-node template.
cat > "$work/job.sbatch" << JOB
#!/bin/bash
#SBATCH -n 2
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=$work/job.out
exec $src/scripts/slurm/requeue_on_preempt.sh srun --kill-on-bad-exit=1 ${train[*]} \
  --num_iterations 600 --save_every 100 --model_tag sbatch --resume_from_step=auto \
  --checkpoint_layout=sharded
JOB
job=$(sbatch --parsable "$work/job.sbatch") || fail "sbatch failed"
for _ in $(seq 600); do grep -q "step 00010/" "$work/job.out" 2> /dev/null && break; sleep 0.1; done
grep -q "step 00010/" "$work/job.out" || fail "the job did not start training"
scancel --batch --signal=USR1 "$job"  # what --signal=B:USR1@N sends before the time limit
for _ in $(seq 600); do grep -q "requeueing job $job" "$work/job.out" && break; sleep 0.1; done
grep -q "requeueing job $job" "$work/job.out" || fail "the preempted job was not requeued"
# Slurm holds a requeued batch job back for a while (BeginTime); start it now.
for _ in $(seq 100); do scontrol show job "$job" | grep -q "JobState=PENDING" && break; sleep 0.1; done
scontrol show job "$job" | grep -o "JobState=[A-Z]* Reason=[A-Za-z]*"
# slurmd revoked the first run's credential; one issued within the same second counts as revoked
# too ("Job credential revoked"), so the new start must come at least a second later.
sleep 2
scontrol update JobId="$job" StartTime=now || fail "cannot move the requeued job's start time"
for _ in $(seq 1200); do
  grep -q "step 00600/00600" "$work/job.out" 2> /dev/null &&
    scontrol show job "$job" 2> /dev/null | grep -q "JobState=COMPLETED" && break
  sleep 0.1
done
saved=$(grep -o 'preempted: saved step [0-9]*' "$work/job.out" | head -1 | grep -o '[0-9]*$')
[ -n "$saved" ] || fail "no preemption save"
grep -q "resumed from .* at step $saved\$" "$work/job.out" || fail "did not resume from $saved"
grep -q "step 00600/00600" "$work/job.out" || fail "the requeued job did not finish"
"$nanotrain" ckpt verify "$work/base/base_checkpoints/sbatch" --step 600 > /dev/null ||
  fail "sbatch: the final checkpoint does not verify"
shards=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['optim_shards'])" \
  "$work/base/base_checkpoints/sbatch/meta_000600.json")
[ "$shards" = 2 ] || fail "sbatch: meta_000600.json records optim_shards $shards, expected 2"
echo "sbatch: preempted at step $saved, requeued, resumed, finished: ok"
