#!/usr/bin/env bash
# Restarts from per-step snapshots in memory, with no disk checkpoint to fall back on
# (--save_every -1): under ntrun --max_restarts, both ranks are killed while copying their 5th
# snapshot (step 5), and the restart resumes from step 4, which every rank still holds; the final
# files equal an uninterrupted run's byte for byte, and the snapshots are gone at the end. Then:
# a newer step on disk wins over the snapshots; a dead job's snapshots are removed, not loaded, by
# the next launch; a tmpfs too small for two buffers turns snapshots off and training goes on.
# Usage: snapshot_resume_test.sh NTRUN NANOTRAIN PREPARED_DIR
set -u
ntrun=$1
nanotrain=$2
prepared=$3  # a base dir written by `nanotrain prepare`
source "$(dirname "$0")/../support/harness.sh"
base_dirs clean killed disk leftover small
args=("${tiny[@]}" --device_batch_size 4 --num_iterations 8 --eval_tokens 256 --model_tag snap
      --deterministic true)
run() {  # run NAME LOG [ntrun flags...] -- [train flags...]
  local name=$1 log=$2
  shift 2
  local launcher=()
  while [ "$1" != -- ]; do launcher+=("$1"); shift; done
  shift
  NANOTRAIN_BASE_DIR=$work/$name "$ntrun" --standalone --nproc_per_node=2 --shutdown_timeout=5 \
    "${launcher[@]}" "$nanotrain" train "${args[@]}" "$@" > "$work/$log.log" 2>&1
}
same_final_files() {  # same_final_files NAME: step 8's model and optimizer equal the clean run's
  for f in model_000008.pt optim_000008.pt; do
    cmp "$work/$1/base_checkpoints/snap/$f" "$work/clean/base_checkpoints/snap/$f" ||
      fail "$1: $f differs from the uninterrupted run"
  done
}
run clean clean -- --save_every -1 || fail "the uninterrupted run failed"

# 1. Killed mid-copy at step 5 (header not yet written): step 4 is every rank's, in memory.
NANOTRAIN_TEST_CRASH_AT=snapshot_before_header@5 run killed killed --max_restarts=2 -- \
  --save_every -1 || fail "the restarted job failed"
grep -q 'snapshots: every 1 step(s) into /dev/shm/' "$work/killed.log" ||
  fail "snapshots were not on by default under --max_restarts"
grep -q 'resume: from memory, step 4: .*newest complete step on disk: none' "$work/killed.log" ||
  fail "the restart did not resume from memory at step 4"
grep -q 'resumed from memory at step 4' "$work/killed.log" || fail "no load from memory"
same_final_files killed
[ -z "$(ls "$work"/killed/base_checkpoints/snap/*_00000[1-7].pt 2> /dev/null)" ] ||
  fail "a step before 8 reached the disk with --save_every -1"

# 2. Rank 0 dies right after each save (steps 3, 6, 8), before its snapshot of that step: the
# disk is newer than what every rank holds in memory.
NANOTRAIN_TEST_CRASH_AT=after_checkpoint run disk disk --max_restarts=3 -- --save_every 3 ||
  fail "the job with a newer disk step failed"
grep -q "the disk's step 3 is not older than the snapshots' [12]: from the disk" "$work/disk.log" ||
  fail "the disk's newer step did not win"
grep -q 'resumed from .* at step 3' "$work/disk.log" || fail "no resume from the disk"
same_final_files disk

# 3. A job that ran out of restarts leaves its snapshots; the next launch removes them unread,
# and its own at its end.
mkdir -p "$work/shm_root"
NANOTRAIN_TEST_CRASH_AT=snapshot_before_header@5 run leftover leftover_dead --max_restarts=0 -- \
  --snapshot_every 1 --snapshot_dir "$work/shm_root" --save_every -1 &&
  fail "the job without restarts did not fail"
[ "$(ls "$work"/shm_root/nanotrain-*/ | wc -l)" = 4 ] || fail "the dead job did not leave 2x2 buffers"
run leftover leftover --max_restarts=0 -- --snapshot_every 1 --snapshot_dir "$work/shm_root" \
  --save_every -1 --resume_from_step auto || fail "the next launch failed"
grep -q 'from memory' "$work/leftover.log" && fail "a dead job's snapshot was loaded"
same_final_files leftover
[ -z "$(ls "$work/shm_root")" ] || fail "snapshots left behind: $(ls -R "$work/shm_root")"

# 4. A tmpfs smaller than two buffers: snapshots off, said clearly, and the run goes on.
if unshare -m true 2> /dev/null; then
  mkdir -p "$work/shm"
  NANOTRAIN_BASE_DIR=$work/small unshare -m sh -c \
    'mount -t tmpfs -o size=256k,mode=1777 tmpfs "$0" && exec "$@"' "$work/shm" \
    "$ntrun" --standalone --nproc_per_node=2 --max_restarts=1 "$nanotrain" train "${args[@]}" \
    --save_every -1 --snapshot_dir "$work/shm" > "$work/small.log" 2>&1 ||
    fail "the run with a small tmpfs failed"
  grep -q 'snapshots off: two snapshot buffers need .* MB for rank ., .* has .* MB free' \
    "$work/small.log" || fail "a full tmpfs was not reported"
  same_final_files small
else
  echo "skipped the small-tmpfs case: unshare -m is not permitted here"
fi
echo "resumed from memory, disk preferred when newer, leftovers removed, small tmpfs: ok"
