#!/usr/bin/env bash
# nanotrain against its Python PyTorch peer (bench/python_peer.py, Debian's python3-torch) on the
# same machine, one after the other: tokens/s of forward + backward + AdamW/Muon step for the
# whole world of NPROC processes, nanotrain's MFU (against the per-rank matmul peak it measures),
# and the ratio nanotrain / Python for each case. The peer's MFU is its tokens/s over the same
# FLOPs per token and the same peak, i.e. nanotrain's MFU divided by the ratio.
# bf16 cases run where the CPU has bf16 matmul units (avx512_bf16, amx_bf16); Muon's
# Newton-Schulz runs in bf16 there and in fp32 elsewhere, in both programs.
# Usage: bench/compare_python.sh [STEPS] [NPROC] [--muon_dtype auto|bfloat16|float32]
# (--muon_dtype float32 measures, on a bf16 CPU, the Newton-Schulz path an AVX2-only CPU takes.)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-5}
nproc=${2:-1}
shift $(($# < 2 ? $# : 2))
# Both run under ntrun (Debian's torchrun fails to start on Python 3.11; ntrun sets the same
# variables, and torch.distributed's env:// initialization reads them).
launch=()
if [ "$nproc" -gt 1 ]; then launch=(build/bin/ntrun --standalone --nproc_per_node="$nproc"); fi
cpp_cmd=("${launch[@]}" build/bin/train_step_bench)
py_cmd=("${launch[@]}" /usr/bin/python3)
cpp=$("${cpp_cmd[@]}" --steps "$steps" "$@" 2>/dev/null |
  awk -F'|' '/^\| [0-9]/ {gsub(/ /, ""); print $2, $3, $5, $6, $8}')
py=$("${py_cmd[@]}" bench/python_peer.py --steps "$steps" "$@" 2>/dev/null)
echo "| ranks | depth | seq | dtype | nanotrain tok/s | nanotrain MFU | PyTorch (Python) tok/s | Python MFU | ratio |"
echo "|---|---|---|---|---|---|---|---|---|"
join <(echo "$cpp" | awk '{print $1"-"$2"-"$3, $4, $5}' | sort) \
     <(echo "$py" | awk '{print $1"-"$2"-"$3, $4}' | sort) |
  awk -v n="$nproc" '{split($1, k, "-"); m = $3 + 0; r = $2 / $4
    printf "| %s | %s | %s | %s | %.0f | %.1f%% | %.0f | %.1f%% | %.2fx |\n", n, k[1], k[2], k[3], $2, m, $4, m / r, r}'
