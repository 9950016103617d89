#!/usr/bin/env bash
# A nanotrain built on LibTorch 1.x under the torchrun of a PyTorch 2.x: the agent's store speaks
# a protocol 1.x's client does not. Every rank must stop within seconds (not the collective
# timeout) with one line that says what to do, and no c10 stack dump.
# Usage: torchrun2_store_test.sh NANOTRAIN PREPARED_DIR TORCH2_PYTHON
set -u
nanotrain=$1
prepared=$2
python=$3
source "$(dirname "$0")/../support/harness.sh"
base_dirs run

start=$SECONDS
NANOTRAIN_BASE_DIR=$work/run timeout 120 "$python" -m torch.distributed.run --standalone \
  --nproc_per_node=2 --no_python "$nanotrain" train "${tiny[@]}" --num_iterations 2 \
  --collective_timeout 120 > "$work/torchrun.log" 2>&1
status=$?
[ "$status" = 124 ] && fail "torchrun and its workers were still running after 120 s"
[ "$status" = 0 ] && fail "the job ran under an incompatible torchrun"
elapsed=$((SECONDS - start))
[ "$elapsed" -lt 60 ] || fail "the workers took $elapsed s to give up (the collective timeout is 120 s)"
for rank in 0 1; do
  grep -q "^rank $rank: the launcher's store at .* launch with ntrun" "$work/torchrun.log" ||
    fail "rank $rank did not say to launch with ntrun"
done
grep -q "frame #" "$work/torchrun.log" && fail "a stack dump reached the log"
echo "ok: both ranks refused the 2.x store in $elapsed s, in one line each"
