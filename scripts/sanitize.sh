#!/usr/bin/env bash
# Builds nanotrain with AddressSanitizer and UndefinedBehaviorSanitizer (into build-sanitize/)
# and runs the GoogleTest suites there, plus the fixtures they need. Any sanitizer report fails
# the test it happens in. Slow (a full second build, tests 2-3x slower): not part of
# scripts/test.sh. Extra arguments go to ctest (e.g. -R Checkpoint).
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
# The shell-level jobs (chaos, Slurm, mpirun, restarts, fuzzing) run the same code under their
# own launchers and take minutes each; the unit suites cover the code paths.
ctest --output-on-failure -j "$(nproc)" --timeout 1800 \
  -E 'chaos|slurm|fuzz|mpirun|namespaces|resume_bit_exact|restarts|preemption|hung_worker|disk_full' "$@"
