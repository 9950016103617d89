#!/usr/bin/env bash
# The checkpoint directory's lock from the command line: `ckpt prune` refuses while a run holds
# the directory (its *.tmp files would look like leftovers) and prunes once it is free; a file
# system without flock gets its own message, not "in use by another run"; a `lock` planted as a
# symlink is refused without touching its target, and a lock file's contents other than a
# holder's "pid N on HOST" never reach the output.
# Usage: dir_lock_test.sh NANOTRAIN FLOCK_ENOSYS_LIBRARY TEST_DATA_DIR
set -euo pipefail
nanotrain=$1
enosys=$2
data=$(cd "$3" && pwd)
source "$(dirname "$0")/cli_harness.sh"
dir=$NANOTRAIN_BASE_DIR/base_checkpoints/locked
"$nanotrain" train --data_dir "$data/prepared/base_data" --depth 1 --max_seq_len 32 \
  --device_batch_size 2 --num_iterations 4 --save_every 1 --eval_every -1 --model_tag locked \
  > "$work/train.log" 2>&1 || fail "training failed: $(tail -3 "$work/train.log")"
touch "$dir/model_000005.pt.tmp"  # what a live run's save in progress looks like

# A run holds the lock: one process taking the same kernel lock (flock) the trainer takes, in
# the background; its pid in $holder.
hold_lock() {
  python3 -c "import fcntl, sys, time
f = open(sys.argv[1], 'a')
fcntl.flock(f, fcntl.LOCK_EX)
print('locked', flush=True)
time.sleep(60)" "$1" > "$work/holder.txt" &
  holder=$!
  for _ in $(seq 50); do grep -q locked "$work/holder.txt" && break; sleep 0.1; done
}
hold_lock "$dir/lock"
if "$nanotrain" ckpt prune "$dir" --keep_last 1 > "$work/out.txt" 2> "$work/err.txt"; then
  fail "prune ran while the directory was locked"
fi
grep -q "is in use by another run" "$work/err.txt" || fail "prune printed: $(cat "$work/err.txt")"
[[ -e $dir/model_000005.pt.tmp && -e $dir/meta_000001.json ]] || fail "prune deleted files while locked"
kill "$holder"
wait "$holder" 2> /dev/null || true

"$nanotrain" ckpt prune "$dir" --keep_last 1 > "$work/out.txt" ||
  fail "prune of a free directory failed"
grep -q "removed leftover model_000005.pt.tmp" "$work/out.txt" || fail "prune printed: $(cat "$work/out.txt")"
grep -q "removed step 3" "$work/out.txt" || fail "prune printed: $(cat "$work/out.txt")"
if "$nanotrain" ckpt prune "$work/absent" --keep_last 1 2> "$work/err.txt"; then
  fail "prune of a missing directory succeeded"
fi
grep -q "checkpoint directory '$work/absent' does not exist" "$work/err.txt" || fail "printed: $(cat "$work/err.txt")"
[[ ! -e $work/absent ]] || fail "prune created the missing directory"

# No flock at all.
if LD_PRELOAD=$enosys "$nanotrain" ckpt prune "$dir" --keep_last 1 2> "$work/err.txt"; then
  fail "prune succeeded without flock"
fi
grep -q "cannot lock '$dir/lock': Function not implemented: the file system does not support flock" \
  "$work/err.txt" || fail "without flock: $(cat "$work/err.txt")"

# A directory from elsewhere: its lock is a symlink to a file of the user's.
printf 'precious\n' > "$work/precious"
rm "$dir/lock"
ln -s "$work/precious" "$dir/lock"
if "$nanotrain" ckpt prune "$dir" --keep_last 1 > "$work/out.txt" 2> "$work/err.txt"; then
  fail "prune went through a symlinked lock"
fi
grep -q "lock file '$dir/lock' is a symbolic link; refusing to follow it" "$work/err.txt" ||
  fail "symlinked lock: $(cat "$work/err.txt")"
[ "$(cat "$work/precious")" = precious ] || fail "the lock's target was changed"
! grep -q precious "$work/out.txt" "$work/err.txt" || fail "the lock's target was printed"

# A lock file holding something else, held by another process: not echoed.
rm "$dir/lock"
printf 'secret token\n' > "$dir/lock"
hold_lock "$dir/lock"
if "$nanotrain" ckpt prune "$dir" --keep_last 1 > "$work/out.txt" 2> "$work/err.txt"; then
  fail "prune ran while the directory was locked"
fi
kill "$holder"
wait "$holder" 2> /dev/null || true
grep -q "is in use by another run (holder unknown)" "$work/err.txt" || fail "printed: $(cat "$work/err.txt")"
! grep -q secret "$work/err.txt" || fail "the lock file's contents were printed"
echo "ok: prune waits for the lock's holder, a file system without flock is named, a symlinked" \
  "lock is refused and a lock's contents are not echoed"
