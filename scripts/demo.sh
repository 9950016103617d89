#!/usr/bin/env bash
# The main job: installs what is missing, builds, prepares the data (a BPE tokenizer and token
# shards from the King James Bible of Debian's bible-kjv, unless already prepared) and trains a
# small GPT with 2 worker processes under ntrun, as a cluster job would run:
# checkpoints every 20 steps under $NANOTRAIN_BASE_DIR (default ~/.cache/nanotrain), a
# preemption signal halfway (the job saves and stops), the same command resuming to the end,
# then verification, a plot of the metrics and a sample from the model. An earlier demo's
# checkpoints (base_checkpoints/demo) are removed first, and the script says so.
# Extra arguments go to `nanotrain train`, e.g. scripts/demo.sh --dtype=bfloat16
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
base_dir="${NANOTRAIN_BASE_DIR:-$HOME/.cache/nanotrain}"
# Data without its manifest (interrupted, or from before manifests) is prepared again.
if [ ! -f "$base_dir/tokenizer/tokenizer.model" ] || [ ! -f "$base_dir/base_data/manifest.json" ]; then
  echo "== preparing the data"
  build/bin/nanotrain prepare
fi
checkpoint_dir="$base_dir/base_checkpoints/demo"
# The demo starts from step 0 each time: an earlier demo's checkpoints would be resumed instead.
if [ -e "$checkpoint_dir" ]; then
  echo "== removing the previous demo run: $checkpoint_dir ($(du -sh "$checkpoint_dir" | cut -f1))"
  rm -rf "$checkpoint_dir"
fi
job=(build/bin/ntrun --standalone --nproc_per_node=2
     build/bin/nanotrain train --config configs/cpu_tiny.json
     --model_tag=demo "$@")

echo "== training (2 processes); a preemption signal arrives after step 30"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"${job[@]}" > >(tee "$log") 2>&1 &
ntrun_pid=$!
deadline=$((SECONDS + 600))
until grep -q 'step 00030/' "$log"; do
  if ! kill -0 "$ntrun_pid" 2>/dev/null; then
    status=0; wait "$ntrun_pid" || status=$?
    echo "demo: training stopped (exit $status) before step 30; its log is above" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    kill -TERM "$ntrun_pid"; wait "$ntrun_pid" || true
    echo "demo: no step 30 after 10 minutes; stopped the job" >&2
    exit 1
  fi
  sleep 0.2
done
kill -USR1 "$ntrun_pid"  # as a scheduler warns a job before preempting it
status=0; wait "$ntrun_pid" || status=$?
if [ "$status" -ne 75 ]; then
  echo "demo: expected the preempted job to save and exit 75, it exited $status" >&2
  exit 1
fi

echo
echo "== the same command, resuming from the last complete step"
"${job[@]}" --resume_from_step=auto

echo
echo "== checkpoints"
build/bin/nanotrain ckpt list
build/bin/nanotrain ckpt verify "$checkpoint_dir"
build/bin/nanotrain plot "$checkpoint_dir"
echo
echo "== a sample from the last checkpoint"
build/bin/nanotrain sample --checkpoint_dir "$checkpoint_dir" --prompt "And God said" \
  --max_tokens 120 --temperature 0.7
