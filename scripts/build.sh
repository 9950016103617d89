#!/usr/bin/env bash
# Configures and builds nanotrain into build/ (Release). Extra arguments go to cmake's configure.
set -euo pipefail
cd "$(dirname "$0")/.."
# The pip PyTorch's torchrun, when scripts/setup.sh --torch2 installed it: a test runs this
# LibTorch 1.13 build under it.
torch2_python="${NANOTRAIN_TORCH2_VENV:-$HOME/.cache/nanotrain/torch-venv}/bin/python"
[ -x "$torch2_python" ] || torch2_python=""
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNANOTRAIN_TORCHRUN2_PYTHON="$torch2_python" "$@"
cmake --build build -j "$(nproc)"
