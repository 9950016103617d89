#!/usr/bin/env bash
# nanotrain against its Python PyTorch peer (bench/python_peer.py, Debian's python3-torch) on the
# same machine, one after the other: tokens/s of forward + backward + AdamW/Muon step, and the
# ratio nanotrain / Python for each case.
# Usage: bench/compare_python.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-5}
cpp=$(build/bin/train_step_bench --steps "$steps" | awk -F'|' '/^\| [0-9]/ {gsub(/ /, ""); print $2, $3, $5, $6}')
py=$(/usr/bin/python3 bench/python_peer.py --steps "$steps")
echo "| depth | seq | dtype | nanotrain tok/s | PyTorch (Python) tok/s | ratio |"
echo "|---|---|---|---|---|---|"
join <(echo "$cpp" | awk '{print $1"-"$2"-"$3, $4}' | sort) \
     <(echo "$py" | awk '{print $1"-"$2"-"$3, $4}' | sort) |
  awk '{split($1, k, "-"); printf "| %s | %s | %s | %.0f | %.0f | %.2fx |\n", k[1], k[2], k[3], $2, $3, $2 / $3}'
