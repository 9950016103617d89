#!/usr/bin/env bash
# The main job: installs what is missing, builds, and trains a small GPT on CPU on the King
# James Bible (Debian's bible-kjv), printing one line per step as the loss falls.
# Extra arguments go to `nanotrain train`, e.g. scripts/demo.sh --num_iterations=100
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
mkdir -p build/data
if [ ! -s build/data/kjv.txt ]; then
  bible -f Gen1:1-Rev22:21 > build/data/kjv.txt
fi
build/bin/nanotrain train --config configs/cpu_tiny.json --input build/data/kjv.txt "$@"
