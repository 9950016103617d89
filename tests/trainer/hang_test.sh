#!/usr/bin/env bash
# A hung worker: rank 1 is stopped with SIGSTOP mid-training. With --collective_timeout 8 the
# other rank's collective fails within about 8 s (rank 0 within 9.6 s) naming rank 1, and ntrun
# stops the group (the stopped worker gets SIGKILL after --shutdown_timeout). Without restarts
# the job fails within the timeout plus the shutdown grace (plus slack for a loaded machine, far
# below the 600 s default); with --max_restarts=1 and --resume_from_step=auto it restarts from
# the newest per-step snapshot in memory (on by default under restarts), or from the disk when
# the last save is that step, no earlier than the step rank 1 had passed, and finishes.
# Usage: hang_test.sh NTRUN NANOTRAIN PREPARED_DIR
set -u
ntrun=$1
nanotrain=$2
prepared=$3  # a base dir written by `nanotrain prepare`
source "$(dirname "$0")/../support/harness.sh"
base_dirs fail restart
args=("${tiny[@]}" --device_batch_size 2 --num_iterations 60 --save_every 10 --eval_every -1
  --collective_timeout 8 --resume_from_step=auto)
timeout=8
slack=8  # rank 0 serves the store a fifth of the timeout longer; the rest is scheduling
grace=2
trap 'kill -KILL ${job:-} ${workers:-} 2> /dev/null; rm -rf "$work"' EXIT

# stop_rank_one NTRUN_PID LOG: waits for step 15 in LOG, then SIGSTOPs the worker (a child of
# NTRUN_PID) whose RANK is 1. Sets workers and stopped_ms.
stop_rank_one() {
  for _ in $(seq 600); do grep -q 'step 00015/' "$2" && break; sleep 0.05; done
  grep -q 'step 00015/' "$2" || fail "training never reached step 15"
  workers=$(pgrep -P "$1")
  for pid in $workers; do
    if tr '\0' '\n' < "/proc/$pid/environ" 2> /dev/null | grep -qx 'RANK=1'; then
      kill -STOP "$pid" && stopped_ms=$(($(date +%s%N) / 1000000)) && return
    fi
  done
  fail "no worker with RANK=1 found"
}

# 1. No restarts: the job fails, naming rank 1, within the timeout plus the grace.
NANOTRAIN_BASE_DIR=$work/fail "$ntrun" --standalone --nproc_per_node=2 --max_restarts=0 \
  --shutdown_timeout=$grace "$nanotrain" train "${args[@]}" > "$work/fail.log" 2>&1 &
job=$!
stop_rank_one $job "$work/fail.log"
wait $job
rc=$?
elapsed_ms=$(($(date +%s%N) / 1000000 - stopped_ms))
[ $rc != 0 ] || fail "the job succeeded with rank 1 stopped"
grep -q 'rank 0: .* failed: .*; rank 1 did not reach it within the timeout' "$work/fail.log" \
  || fail "the failure does not name rank 1"
[ $elapsed_ms -lt $(((timeout + grace + slack) * 1000)) ] \
  || fail "the job took ${elapsed_ms} ms to fail, more than ${timeout} s + ${grace} s + ${slack} s"
for pid in $workers; do kill -0 "$pid" 2> /dev/null && fail "worker $pid outlived the job"; done
echo "stopped rank 1: the job failed after ${elapsed_ms} ms naming it"

# 2. One restart allowed: the job resumes from the newest state, memory or disk, and finishes.
NANOTRAIN_BASE_DIR=$work/restart "$ntrun" --standalone --nproc_per_node=2 --max_restarts=1 \
  --shutdown_timeout=$grace "$nanotrain" train "${args[@]}" > "$work/restart.log" 2>&1 &
job=$!
stop_rank_one $job "$work/restart.log"
wait $job || fail "the restarted job failed"
saved=$(sed -n '/resumed from/q; s/.*Saved metadata to: .*meta_0*\([0-9][0-9]*\)\.json/\1/p' \
  "$work/restart.log" | tail -1)
[ -n "$saved" ] || fail "no save before the stop"
resumed=$(sed -n 's/.*resumed from .* at step \([0-9][0-9]*\)$/\1/p' "$work/restart.log")
[ -n "$resumed" ] || fail "the restart did not resume"
# From memory, or from the disk when its step is as new as every rank's newest snapshot.
grep -q "resumed from memory at step $resumed\$" "$work/restart.log" ||
  grep -q "resume: the disk's step $resumed is not older than the snapshots'" "$work/restart.log" ||
  fail "the restart resumed at step $resumed from the disk though the snapshots were newer"
# Rank 0 logged step 15 before rank 1 stopped, so both ranks' snapshots hold step 14 or newer.
[ "$resumed" -ge "$saved" ] && [ "$resumed" -ge 14 ] \
  || fail "the restart resumed at step $resumed: older than the last save ($saved) or step 14"
grep -q 'step 00060/00060' "$work/restart.log" || fail "the restarted job did not finish"
echo "stopped rank 1 with a restart allowed: resumed at step $resumed (last save $saved) and" \
  "finished"
