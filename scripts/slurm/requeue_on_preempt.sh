#!/bin/bash
# Runs a job step (srun ...) from an sbatch script, passes Slurm's warning signal on to it, and
# requeues the job when the step exits 75 (every rank saved a checkpoint for preemption), so the
# same script, with --resume_from_step=auto, continues from that checkpoint when it runs again.
# Use it with exec, so that this script is the batch shell that `--signal=B:USR1@N` signals:
#   exec scripts/slurm/requeue_on_preempt.sh srun --kill-on-bad-exit=1 build/bin/nanotrain ...
set -u
"$@" &
step=$!
trap 'kill -USR1 "$step"' USR1  # srun forwards SIGUSR1 and SIGTERM to every task
trap 'kill -TERM "$step"' TERM
while true; do
  wait "$step"
  status=$?
  # A trapped signal interrupts `wait` with a status above 128 while the step still runs.
  if [ "$status" -le 128 ] || ! kill -0 "$step" 2> /dev/null; then break; fi
done
if [ "$status" = 75 ]; then
  echo "preempted: checkpoint saved; requeueing job $SLURM_JOB_ID"
  scontrol requeue "$SLURM_JOB_ID"
fi
exit "$status"
