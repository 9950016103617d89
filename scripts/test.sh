#!/usr/bin/env bash
# The test command: installs what is missing, then builds and runs the whole suite (ctest) twice:
# against Debian's LibTorch 1.13 (build/) and against the pip PyTorch's LibTorch 2.x, with CUDA
# and NCCL where nvcc is installed (build-torch2/). Ends with what ran, what was skipped and why,
# and how long each stage took; exits non-zero if any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."

summary=()
failed=0
# stage NAME COMMAND...: runs it, timed, and records the outcome.
stage() {
  local name=$1 start=$SECONDS
  shift
  echo "== $name"
  if "$@"; then
    summary+=("$(printf '%-34s ok      %4d s' "$name" $((SECONDS - start)))")
  else
    summary+=("$(printf '%-34s FAILED  %4d s' "$name" $((SECONDS - start)))")
    failed=1
    return 1
  fi
}
ctest_in() { (cd "$1" && ctest --output-on-failure -j "$(nproc)" --timeout 900); }
# tests_after_build BUILD_STAGE_OK NAME DIR: a build's tests, only when that build worked (stale
# binaries of an earlier build could otherwise pass); otherwise the stage is reported as failed.
tests_after_build() {
  if [ "$1" = 0 ]; then
    stage "$2" ctest_in "$3"
  else
    summary+=("$(printf '%-34s FAILED  not run: the build failed' "$2")")
    failed=1
  fi
}

stage "setup (apt, pip)" scripts/setup.sh --torch2
built=0
stage "build: LibTorch 1.13 (CPU)" scripts/build.sh || built=$?
tests_after_build "$built" "tests: LibTorch 1.13 (CPU)" build
if [ -x "${NANOTRAIN_TORCH2_VENV:-$HOME/.cache/nanotrain/torch-venv}/bin/python" ]; then
  if command -v nvcc > /dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then
    flavour="LibTorch 2.x (CUDA + NCCL)"
  else
    flavour="LibTorch 2.x (CPU only: no nvcc)"
  fi
  built=0
  stage "build: $flavour" scripts/build_torch2.sh || built=$?
  tests_after_build "$built" "tests: $flavour" build-torch2
else
  summary+=("build and tests: LibTorch 2.x        skipped: the pip PyTorch did not install")
  failed=1
fi

echo
echo "== scripts/test.sh: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p')"
printf '%s\n' "${summary[@]}"
exit $failed
