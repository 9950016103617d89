#!/usr/bin/env bash
# Resuming reads the step's meta once: a run saves step 4, and `nanotrain train
# --resume_from_step auto` to step 4 (resume and nothing else) runs under strace, which must see
# meta_000004.json opened exactly once (finding the step, checking it against the run, loading).
# Usage: meta_read_once_test.sh NANOTRAIN PREPARED_DIR
set -u
nanotrain=$1
prepared=$2
source "$(dirname "$0")/../support/harness.sh"
base_dirs run
args=("${tiny[@]}" --device_batch_size 4 --num_iterations 4 --save_every 4 --model_tag once)
NANOTRAIN_BASE_DIR=$work/run "$nanotrain" train "${args[@]}" > "$work/first.log" 2>&1 ||
  fail "the first run failed"
NANOTRAIN_BASE_DIR=$work/run strace -f -qq -e trace=open,openat -o "$work/strace.out" \
  "$nanotrain" train "${args[@]}" --resume_from_step auto > "$work/resume.log" 2>&1 ||
  fail "the resumed run failed"
grep -q "resumed from .* at step 4" "$work/resume.log" || fail "no resume at step 4"
opens=$(grep -c 'meta_000004\.json"' "$work/strace.out")
[ "$opens" = 1 ] || { grep 'meta_000004' "$work/strace.out"; fail "meta_000004.json opened $opens times"; }
echo "ok: meta_000004.json opened once on resume"
