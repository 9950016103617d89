#!/usr/bin/env bash
# Preemption: SIGUSR1 sent to ntrun (as Slurm's --signal=B:USR1 does) reaches both ranks; they
# finish the step, agree, rank 0 saves, and ntrun exits 75. The next start with
# --resume_from_step=auto continues from the saved step to the end. A signal while the workers
# are still loading (after the rendezvous, before the first step) stops the job as cleanly.
# A SIGTERM while the file NANOTRAIN_GROUP_FAILED_FILE names exists (ntrun stopping a group whose
# worker died) ends a worker at once, exit 143, without a save; without that file it preempts.
# Usage: preemption_test.sh NTRUN NANOTRAIN PREPARED_DIR
set -u
ntrun=$1
nanotrain=$2
prepared=$3  # a base dir written by `nanotrain prepare`
source "$(dirname "$0")/../support/harness.sh"
base_dirs base
args=("${tiny[@]}" --device_batch_size 2 --num_iterations 400 --save_every 1000 --model_tag preempt)
export NANOTRAIN_BASE_DIR=$work/base

# preempt LOG PATTERN [FLAGS...]: starts the job with FLAGS, sends ntrun SIGUSR1 as soon as LOG
# shows PATTERN (polling for up to 60 s), and checks that ntrun exits 75.
preempt() {
  local log=$work/$1 pattern=$2
  shift 2
  "$ntrun" --standalone --nproc_per_node=2 "$nanotrain" train "${args[@]}" "$@" > "$log" 2>&1 &
  local pid=$!
  for _ in $(seq 6000); do grep -q "$pattern" "$log" && break; sleep 0.01; done
  grep -q "$pattern" "$log" || fail "the job never logged '$pattern'"
  kill -USR1 $pid
  wait $pid
  local rc=$?
  [ $rc = 75 ] || fail "ntrun exited $rc after SIGUSR1 at '$pattern', expected 75"
}

# "precision:" comes after the rendezvous, so every rank has its handlers; the step-0
# evaluation is still ahead.
preempt early.log 'precision: ' --model_tag early
grep -q 'preempted while loading' "$work/early.log" || fail "the signal was not seen while loading"
grep -q 'step 00001/' "$work/early.log" && fail "a step was trained after the signal"

preempt first.log 'step 00010/'
step=$(grep -o 'preempted: saved step [0-9]*' "$work/first.log" | grep -o '[0-9]*$')
[ -n "$step" ] || fail "no preemption save reported"
[ "$step" -lt 400 ] || fail "the run finished before the signal"
"$nanotrain" ckpt verify "$work/base/base_checkpoints/preempt" --step "$step" > /dev/null \
  || fail "the preemption checkpoint does not verify"

"$ntrun" --standalone --nproc_per_node=2 "$nanotrain" train "${args[@]}" --resume_from_step=auto \
  > "$work/second.log" 2>&1 || fail "the resumed run failed"
grep -q "resumed from .* at step $step" "$work/second.log" || fail "did not resume at step $step"
grep -q 'step 00400/00400' "$work/second.log" || fail "the resumed run did not finish"
echo "preempted while loading and at step $step, resumed and finished: ok"

# sigterm_worker NAME: one worker with NANOTRAIN_GROUP_FAILED_FILE=$work/group_failed, sent SIGTERM
# once it logs step 10; sets rc.
sigterm_worker() {
  NANOTRAIN_GROUP_FAILED_FILE=$work/group_failed "$nanotrain" train "${args[@]}" --model_tag "$1" \
    > "$work/$1.log" 2>&1 &
  local pid=$!
  for _ in $(seq 6000); do grep -q 'step 00010/' "$work/$1.log" && break; sleep 0.01; done
  grep -q 'step 00010/' "$work/$1.log" || fail "$1: the worker never reached step 10"
  kill -TERM $pid
  wait $pid
  rc=$?
}
sigterm_worker preempted_alone
[ $rc = 75 ] || fail "SIGTERM without the group-failed file: exit $rc, expected 75 (preempted)"
grep -q 'preempted: saved step' "$work/preempted_alone.log" || fail "no preemption save"
touch "$work/group_failed"
sigterm_worker group_failed
[ $rc = 143 ] || fail "SIGTERM with the group-failed file: exit $rc, expected 143 at once"
grep -q 'preempted: saved step' "$work/group_failed.log" && fail "a failed group's worker saved"
echo "SIGTERM: a preemption alone, an immediate exit once the group failed: ok"
