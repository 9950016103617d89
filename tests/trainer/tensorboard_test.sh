#!/usr/bin/env bash
# TensorBoard event files across a crash and two resumes, read back by TensorBoard itself
# (check_tensorboard.py): a run is killed while saving step 8, after logging steps 5..8; the
# rerun resumes from step 4 and logs 5..8 again; a third run resumes from 8 and goes on to 12.
# Every scalar must show steps 1..12 (evaluations 0, 2, ..., 12) once each, with the values of
# metrics.jsonl. Also: --tensorboard_dir="" writes none, and a folder of one's own is used.
# Usage: tensorboard_test.sh NANOTRAIN PREPARED_BASE_DIR PYTHON_WITH_TENSORBOARD
set -euo pipefail
nanotrain=$1
prepared=$(cd "$2" && pwd)
python=$3
source "$(dirname "$0")/../support/harness.sh"
base_dirs run off own
flags=("${tiny[@]}" --device_batch_size 2 --eval_every 2 --eval_tokens 128 --save_every 4)

export NANOTRAIN_BASE_DIR=$work/run
NANOTRAIN_TEST_CRASH_AT=before_meta@2 "$nanotrain" train "${flags[@]}" --num_iterations 8 \
  > "$work/crash.log" 2>&1 && fail "the run was not killed while saving step 8"
dir=$work/run/base_checkpoints/d1
grep -q '"step":8' "$dir/metrics.jsonl" || fail "the killed run did not log step 8"
"$nanotrain" train "${flags[@]}" --num_iterations 8 --resume_from_step auto \
  > "$work/resume.log" 2>&1 || fail "the resume from step 4 failed"
grep -q "at step 4" "$work/resume.log" || fail "the rerun did not resume from step 4"
"$nanotrain" train "${flags[@]}" --num_iterations 12 --resume_from_step auto \
  > "$work/extend.log" 2>&1 || fail "the resume from step 8 failed"
[[ $(ls "$dir/tb" | wc -l) == 3 ]] || fail "expected 3 event files, found: $(ls "$dir/tb")"
"$python" "$(dirname "$0")/../reference/check_tensorboard.py" "$dir/tb" "$dir/metrics.jsonl" 12 2 \
  || fail "TensorBoard does not read the run back once per step"

NANOTRAIN_BASE_DIR=$work/off "$nanotrain" train "${flags[@]}" --num_iterations 2 \
  --tensorboard_dir= > "$work/off.log" 2>&1 || fail "the run without TensorBoard failed"
[[ ! -e $work/off/base_checkpoints/d1/tb ]] || fail "--tensorboard_dir= wrote event files"
NANOTRAIN_BASE_DIR=$work/own "$nanotrain" train "${flags[@]}" --num_iterations 2 \
  --tensorboard_dir "$work/own_tb" > "$work/own.log" 2>&1 || fail "the run into own_tb failed"
ls "$work/own_tb"/events.out.tfevents.* > /dev/null || fail "no event file in --tensorboard_dir"
echo "tensorboard: ok"
