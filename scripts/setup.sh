#!/usr/bin/env bash
# Installs what nanotrain needs from Debian's packages, only what is missing (idempotent).
# Used by scripts/demo.sh and scripts/test.sh; safe to run again at any time.
# With --torch2 it also installs the second build's LibTorch: a pinned PyTorch from PyPI in the
# project's own virtual environment ($NANOTRAIN_TORCH2_VENV, default
# ~/.cache/nanotrain/torch-venv), only when missing.
set -euo pipefail

packages=(
  build-essential cmake            # toolchain
  python3 python3-venv             # the reference scripts; the venv of the LibTorch 2.x build
  ca-certificates                  # pip's HTTPS, on a bare Debian
  procps                           # pgrep and ps, in the launcher and chaos tests
  strace                           # counts a resume's file opens in a test
  libtorch-dev libgloo-dev         # LibTorch 1.13 (CPU) with c10d; its headers include gloo's
  libopenblas0-pthread             # fast BLAS for LibTorch (the reference BLAS is ~25x slower)
  nlohmann-json3-dev libspdlog-dev libgtest-dev
  libopenmpi-dev openmpi-bin       # MPI launch
  libsentencepiece-dev             # tokenizer
  zlib1g-dev                       # .jsonl.gz corpora
  python3-torch                    # test references, run with /usr/bin/python3
  bible-kjv                        # the default corpus
  iproute2                         # network namespaces for the two-host launcher test
  clang libclang-rt-14-dev         # libFuzzer targets (scripts/fuzz.sh)
  util-linux                       # unshare: the full-disk test's private tmpfs
)

# The pip PyTorch of the LibTorch 2.x build: its torch.utils.cmake_prefix_path is the LibTorch,
# its torchrun and torch.distributed.checkpoint are the peers in tests. numpy: for the reference
# scripts under tests/reference. tensorboard: its EventAccumulator reads the event files back.
torch2_version=2.11.0
numpy_version=2.4.6
tensorboard_version=2.20.0
torch2_venv="${NANOTRAIN_TORCH2_VENV:-$HOME/.cache/nanotrain/torch-venv}"

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

if [ "${1:-}" = --torch2 ]; then
  if ! "$torch2_venv/bin/python" -c "import sys, torch, numpy, tensorboard
sys.exit(torch.__version__.split('+')[0] != '$torch2_version' or numpy.__version__ != '$numpy_version'
         or tensorboard.__version__ != '$tensorboard_version')" \
      2> /dev/null; then
    echo "setup: installing torch==$torch2_version numpy==$numpy_version" \
      "tensorboard==$tensorboard_version into $torch2_venv"
    python3 -m venv "$torch2_venv"
    "$torch2_venv/bin/python" -m pip install -q "torch==$torch2_version" "numpy==$numpy_version" \
      "tensorboard==$tensorboard_version"
  fi
fi
