#!/usr/bin/env bash
# Installs what nanotrain needs from Debian's packages, only what is missing (idempotent).
# Used by scripts/demo.sh and scripts/test.sh; safe to run again at any time.
set -euo pipefail

packages=(
  build-essential cmake            # toolchain
  libtorch-dev libgloo-dev         # LibTorch 1.13 (CPU) with c10d; its headers include gloo's
  libopenblas0-pthread             # fast BLAS for LibTorch (the reference BLAS is ~25x slower)
  nlohmann-json3-dev libspdlog-dev libgtest-dev
  libopenmpi-dev openmpi-bin       # MPI launch
  libsentencepiece-dev             # tokenizer
  python3-torch                    # test references, run with /usr/bin/python3
  bible-kjv                        # the default corpus
  iproute2                         # network namespaces for the two-host launcher test
  clang libclang-rt-14-dev         # libFuzzer targets (scripts/fuzz.sh)
  util-linux                       # unshare: the full-disk test's private tmpfs
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
