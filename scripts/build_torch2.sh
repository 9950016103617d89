#!/usr/bin/env bash
# Configures and builds nanotrain against the pip PyTorch's LibTorch 2.x (scripts/setup.sh
# --torch2 installs it) into build-torch2/ (Release): with CUDA and NCCL where nvcc is found,
# else the CPU libraries only, and says which. Its tests take their references from the same
# PyTorch, and run torchrun and torch.distributed.checkpoint as peers. Extra arguments go to
# cmake's configure.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${NANOTRAIN_TORCH2_VENV:-$HOME/.cache/nanotrain/torch-venv}/bin/python"
prefix=$("$python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
nvcc=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2> /dev/null || true)
if [ -n "$nvcc" ]; then
  echo "build_torch2: LibTorch $("$python" -c 'import torch; print(torch.__version__)') with CUDA ($nvcc)"
  cuda=(-DCMAKE_CUDA_COMPILER="$nvcc" -DNANOTRAIN_TORCH_CPU_ONLY=OFF)
else
  echo "build_torch2: no nvcc on this machine: a CPU-only build of LibTorch 2.x's CPU libraries"
  cuda=(-DNANOTRAIN_TORCH_CPU_ONLY=ON)
fi
# The fuzz test builds its own tree, and the gathered chaos run and the help and corpus-format
# tests are the default build's: each runs once per scripts/test.sh.
cmake -S . -B build-torch2 -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" "${cuda[@]}" \
  -DNANOTRAIN_REFERENCE_PYTHON="$python" -DNANOTRAIN_PEER_PYTHON="$python" \
  -DNANOTRAIN_FUZZ_TEST=OFF -DNANOTRAIN_CHAOS_LAYOUTS=sharded -DNANOTRAIN_FORMAT_TESTS=OFF "$@"
cmake --build build-torch2 -j "$(nproc)"
