#!/usr/bin/env bash
# Builds nanotrain with AddressSanitizer and UndefinedBehaviorSanitizer (into build-sanitize/)
# and runs the test suite there: the GoogleTest suites and the launcher, restart, chaos and
# Slurm jobs, whose workers are then sanitized too. Any sanitizer report fails the test it
# happens in. A full second build (about 20 minutes on 2 cores): not part of scripts/test.sh.
# Extra arguments go to ctest (e.g. -R Checkpoint).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DNANOTRAIN_SANITIZE=address,undefined -DNANOTRAIN_BUILD_BENCH=OFF
cmake --build build-sanitize -j "$(nproc)"
# Leaks are not checked: LibTorch's registries are allocated once and never freed.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd build-sanitize
# Everything but the fuzzers, which build their own sanitized binaries (scripts/fuzz.sh).
ctest --output-on-failure -j "$(nproc)" --timeout 1800 -E fuzz "$@"
