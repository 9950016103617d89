#!/usr/bin/env bash
# Bit-exact resume: a run of 8 steps, and a run killed with SIGKILL right after its checkpoint
# at step 4 and then resumed with --resume_from_step=auto, must end with byte-identical model and
# optimizer files and print the same loss lines from step 5 on.
# With RESUME_NPROC different from NPROC, the run saved with NPROC ranks resumes with
# RESUME_NPROC ranks instead: its mean loss over steps 5-8 must stay within 0.3 of the
# uninterrupted run's (other ranks see other batches, so the values cannot be identical), and its
# step-8 optimizer state must count all 8 updates (tests/reference/check_optimizer_steps.py).
# Both runs also check the OpenMP wait policy: unset, nanotrain re-executes itself with PASSIVE
# when it runs more than one thread (a one-step run with 2 threads) and not with one (the runs
# compared); a value the user set (the resumed run's) is kept, and the numbers do not depend on it.
# LAYOUT=sharded saves with --checkpoint_layout=sharded (every rank's optimizer file compared);
# its killed run dies after writing its shards of step 8 and before the commit (the crash point
# after_shard), so step 4 stays the last complete one.
# Usage: [LAYOUT=gathered|sharded] resume_test.sh NTRUN NANOTRAIN PREPARED_DIR NPROC [RESUME_NPROC]
set -u
ntrun=$1
nanotrain=$2
prepared=$3  # a base dir written by `nanotrain prepare`
nproc=$4
resume_nproc=${5:-$4}
source "$(dirname "$0")/../support/harness.sh"
base_dirs a b p
layout=${LAYOUT:-gathered}
args=("${tiny[@]}" --device_batch_size 4 --num_iterations 8 --save_every 4 --model_tag resume
      --checkpoint_layout "$layout")
run() {  # run BASE_DIR NPROC EXTRA...
  local base=$1 n=$2
  shift 2
  NANOTRAIN_BASE_DIR=$base "$ntrun" --standalone --nproc_per_node="$n" \
    "$nanotrain" train "${args[@]}" "$@" 2>&1
}
losses() { grep -o 'step 0000[5-8]/00008 ([0-9.]*%) | loss: [0-9.]*' "$1"; }

(unset OMP_WAIT_POLICY GOMP_SPINCOUNT; OMP_NUM_THREADS=2 run "$work/p" 1 --num_iterations 1 \
  --model_tag passive) > "$work/p.log" || fail "the run with 2 threads"
grep -q "OpenMP wait policy: PASSIVE; GOMP_SPINCOUNT: 30000;" "$work/p.log" ||
  fail "OMP_WAIT_POLICY unset did not give PASSIVE with a spin count of 30000"
(unset OMP_WAIT_POLICY GOMP_SPINCOUNT; run "$work/a" "$nproc") > "$work/a.log" || fail "uninterrupted run"
grep -q "intra-op threads: 1, OpenMP wait policy: default;" "$work/a.log" ||
  fail "one thread per worker re-executed nanotrain for an OpenMP policy it cannot use"
dir=$work/b/base_checkpoints/resume
if [ "$layout" = sharded ]; then
  # Killed at its second save: every shard of step 8 written, its meta not.
  NANOTRAIN_TEST_CRASH_AT=after_shard@2 run "$work/b" "$nproc" > "$work/b1.log"
  [ -f "$dir/optim_000008_rank$((nproc - 1)).pt" ] || fail "the shards of step 8 were not written"
else
  NANOTRAIN_TEST_CRASH_AT=after_checkpoint run "$work/b" "$nproc" > "$work/b1.log"
fi
[ -f "$dir/meta_000004.json" ] || fail "no checkpoint at step 4"
[ -f "$dir/meta_000008.json" ] && fail "the first run was not killed"
OMP_WAIT_POLICY=active run "$work/b" "$resume_nproc" --resume_from_step=auto > "$work/b2.log" ||
  fail "resume"
grep -q "OpenMP wait policy: active;" "$work/b2.log" || fail "the user's OMP_WAIT_POLICY was not kept"
grep -q "resumed from .* at step 4" "$work/b2.log" || fail "did not resume from step 4"
if [ "$resume_nproc" != "$nproc" ]; then
  mean() { losses "$1" | awk '{s += $NF} END {printf "%.6f", s / NR}'; }
  a=$(mean "$work/a.log")
  b=$(mean "$work/b2.log")
  echo "mean loss over steps 5-8: $nproc ranks throughout $a, resumed on $resume_nproc ranks $b"
  awk -v a="$a" -v b="$b" 'BEGIN {d = a - b; if (d < 0) d = -d; exit !(d < 0.3)}' \
    || fail "loss after resuming on $resume_nproc ranks is not within 0.3 of the uninterrupted run"
  # Exact, where the loss is not: the optimizer state resharded to $resume_nproc ranks still
  # counts the 4 updates before the resume (a run that dropped it would count 4 in all, not 8).
  /usr/bin/python3 "$(dirname "$0")/../reference/check_optimizer_steps.py" "$dir" 8 ||
    fail "the optimizer state was not carried across the resume on $resume_nproc ranks"
  echo "resume from $nproc to $resume_nproc ranks, $layout layout: ok"
  exit 0
fi
optim_files=(optim_000008.pt)
[ "$layout" = sharded ] && optim_files=($(cd "$work/a/base_checkpoints/resume" && ls optim_000008_rank*.pt))
[ "${#optim_files[@]}" -gt 0 ] || fail "no optimizer files of step 8"
for f in model_000008.pt "${optim_files[@]}"; do
  cmp "$work/a/base_checkpoints/resume/$f" "$work/b/base_checkpoints/resume/$f" \
    || fail "$f differs from the uninterrupted run"
done
diff <(losses "$work/a.log") <(losses "$work/b2.log") || fail "loss lines differ after resume"
echo "bit-exact resume at $nproc rank(s), $layout layout: ok"
losses "$work/b2.log"
