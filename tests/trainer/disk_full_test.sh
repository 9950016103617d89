#!/usr/bin/env bash
# A full disk during a save: the checkpoints go to a 5 MB tmpfs (in a private mount namespace)
# that holds two steps of the tiny model. The third save fails with ENOSPC: by default every
# rank stops at once with an error naming the file, the earlier steps stay complete and verify,
# and no partial step or temporary file is left. With --on_save_error=continue the job logs
# the failures and finishes; with --async_save the failure stops the job at the next save.
# Skipped (77) where mount namespaces are not allowed.
# Usage: disk_full_test.sh NTRUN NANOTRAIN PREPARED_DIR
set -u
if [ -z "${NANOTRAIN_IN_MOUNT_NAMESPACE:-}" ]; then
  unshare --mount --propagation private true 2> /dev/null \
    || { echo "cannot create a mount namespace: skipped"; exit 77; }
  NANOTRAIN_IN_MOUNT_NAMESPACE=1 exec unshare --mount --propagation private "$0" "$@"
fi
ntrun=$1
nanotrain=$2
prepared=$3  # a base dir written by `nanotrain prepare`
source "$(dirname "$0")/../support/harness.sh"
trap 'umount "$work"/*/base_checkpoints 2> /dev/null; rm -rf "$work"' EXIT
base_dirs stop continue async
args=("${tiny[@]}" --device_batch_size 2 --num_iterations 60 --save_every 10 --eval_every -1
  --collective_timeout 60)

# run_on_small_disk NAME FLAGS...: trains with NAME's checkpoints on a fresh 5 MB tmpfs.
run_on_small_disk() {
  local name=$1
  shift
  mkdir -p "$work/$name/base_checkpoints"
  mount -t tmpfs -o size=5M tmpfs "$work/$name/base_checkpoints" \
    || { echo "cannot mount a tmpfs: skipped"; exit 77; }
  NANOTRAIN_BASE_DIR=$work/$name "$ntrun" --standalone --nproc_per_node=2 "$nanotrain" train \
    "${args[@]}" "$@" > "$work/$name.log" 2>&1
}

start=$(date +%s)
run_on_small_disk stop && fail "the job succeeded although the disk filled up"
elapsed=$(($(date +%s) - start))
dir=$work/stop/base_checkpoints/d1
grep -q "rank 0: checkpoint of step 30 failed: cannot write '$dir/.*': No space left on device; training stopped (on_save_error=stop)" \
  "$work/stop.log" || fail "no clear error for the failed save of step 30"
grep -q "rank 1: training stopped: the checkpoint save failed on another rank" "$work/stop.log" \
  || fail "rank 1 was not told why it stops"
grep -q 'step 00031/' "$work/stop.log" && fail "training went on after the failed save"
[ $elapsed -lt 50 ] || fail "stopping took ${elapsed} s: the ranks waited for the 60 s timeout"
for step in 10 20; do
  "$nanotrain" ckpt verify "$dir" --step $step > /dev/null || fail "step $step does not verify"
done
ls "$dir" | grep -q '000030\|\.tmp' && fail "a partial step or temporary file is left: $(ls "$dir")"
echo "disk full at step 30: stopped after ${elapsed} s, steps 10 and 20 intact"

run_on_small_disk continue --on_save_error=continue || fail "the job with on_save_error=continue failed"
grep -q "warning: checkpoint of step 30 failed: .*No space left on device; training goes on" \
  "$work/continue.log" || fail "the failed save was not reported"
grep -q 'step 00060/00060' "$work/continue.log" || fail "training did not finish"
"$nanotrain" ckpt verify "$work/continue/base_checkpoints/d1" --step 20 > /dev/null \
  || fail "step 20 does not verify"
echo "disk full with on_save_error=continue: finished, step 20 intact"

# An asynchronous save's failure surfaces at the next save (step 40), named by its own step.
run_on_small_disk async --async_save && fail "the asynchronous job succeeded although the disk filled up"
grep -q "rank 0: checkpoint of step 30 failed: cannot write .*No space left on device; training stopped" \
  "$work/async.log" || fail "no clear error for the failed asynchronous save of step 30"
grep -q 'step 00041/' "$work/async.log" && fail "training went on after the failure was known"
"$nanotrain" ckpt verify "$work/async/base_checkpoints/d1" --step 20 > /dev/null \
  || fail "step 20 does not verify"
echo "disk full with async_save: stopped at the next save, step 20 intact"
