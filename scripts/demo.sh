#!/usr/bin/env bash
# The main job: installs what is missing, builds, trains a small GPT on CPU on the King James
# Bible (Debian's bible-kjv), printing one line per step as the loss falls, saves checkpoints
# under $NANOTRAIN_BASE_DIR (default ~/.cache/nanotrain), verifies them and samples from the model.
# Extra arguments go to `nanotrain train`, e.g. scripts/demo.sh --num_iterations=100
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
mkdir -p build/data
if [ ! -s build/data/kjv.txt ]; then
  bible -f Gen1:1-Rev22:21 > build/data/kjv.txt
fi
build/bin/nanotrain train --config configs/cpu_tiny.json --input build/data/kjv.txt \
  --model_tag=demo "$@"
checkpoint_dir="${NANOTRAIN_BASE_DIR:-$HOME/.cache/nanotrain}/base_checkpoints/demo"
echo
echo "== checkpoints"
build/bin/nanotrain ckpt list
build/bin/nanotrain ckpt verify "$checkpoint_dir"
echo
echo "== a sample from the last checkpoint"
build/bin/nanotrain sample --checkpoint_dir "$checkpoint_dir" --prompt "And God said" \
  --max_tokens 120 --temperature 0.7
