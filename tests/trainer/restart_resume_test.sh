#!/usr/bin/env bash
# The same command for the first start and every restart: under ntrun --max_restarts=4, rank 0
# is killed with SIGKILL right after each of its checkpoints (steps 2, 4, 6, 8); with
# --resume_from_step unset, the first start begins at step 0 and every restart resumes the last
# complete step by itself. The final model and optimizer files must equal those of an
# uninterrupted run byte for byte.
# Usage: restart_resume_test.sh NTRUN NANOTRAIN PREPARED_DIR
set -u
ntrun=$1
nanotrain=$2
prepared=$3  # a base dir written by `nanotrain prepare`
source "$(dirname "$0")/../support/harness.sh"
base_dirs killed clean
args=("${tiny[@]}" --device_batch_size 4 --num_iterations 8 --save_every 2 --eval_tokens 256
      --model_tag restart)

NANOTRAIN_BASE_DIR=$work/killed NANOTRAIN_TEST_CRASH_AT=after_checkpoint \
  "$ntrun" --standalone --nproc_per_node=2 --max_restarts=4 --shutdown_timeout=5 \
  "$nanotrain" train "${args[@]}" > "$work/killed.log" 2>&1 || fail "the restarted job failed"
[ "$(grep -c 'restarting workers' "$work/killed.log")" = 4 ] || fail "expected 4 restarts"
[ "$(grep -c 'resume_from_step unset on a restarted job' "$work/killed.log")" = 4 ] ||
  fail "expected each of the 4 restarts to say it resumes by itself"
# Rank 1 outlives rank 0 by no more than ntrun's SIGTERM to the failed group: it ends there
# (NANOTRAIN_GROUP_FAILED_FILE), neither training on to its next collective nor waiting out the
# 5 s in which a failed collective names the missing ranks, so it reports no failure itself.
grep -q 'rank 1: .* failed' "$work/killed.log" &&
  fail "rank 1 reported a failed collective instead of ending at the launcher's SIGTERM"
for step in 2 4 6 8; do
  grep -q "resumed from .* at step $step" "$work/killed.log" || fail "no resume at step $step"
done
NANOTRAIN_BASE_DIR=$work/clean "$ntrun" --standalone --nproc_per_node=2 \
  "$nanotrain" train "${args[@]}" > "$work/clean.log" 2>&1 || fail "the uninterrupted run failed"
for f in model_000008.pt optim_000008.pt; do
  cmp "$work/killed/base_checkpoints/restart/$f" "$work/clean/base_checkpoints/restart/$f" \
    || fail "$f differs from the uninterrupted run"
done
echo "4 kills, 4 restarts, final state identical: ok"
