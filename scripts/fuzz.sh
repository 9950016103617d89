#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (into build/fuzz), replays every saved
# regression input (fuzz/regressions/<target>/), then fuzzes each target for --seconds S
# (default 30) from its corpus in fuzz/corpus/<target>/. New inputs go to build/fuzz/corpus;
# a crash leaves its input in build/fuzz/artifacts and fails the script: add that file to
# fuzz/regressions/<target>/ once fixed.
# Exits 77 (skipped) when clang is not installed (scripts/setup.sh installs it).
# Usage: scripts/fuzz.sh [--seconds S] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=30
targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_hostlist fuzz_command_line fuzz_meta fuzz_pickle fuzz_safetensors)

command -v clang++ > /dev/null || { echo "fuzz: clang++ not found: skipped"; exit 77; }
mkdir -p build/fuzz
cmake -S fuzz -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  > build/fuzz.configure.log || { cat build/fuzz.configure.log; exit 1; }
cmake --build build/fuzz -j "$(nproc)" --target "${targets[@]}"

status=0
for target in "${targets[@]}"; do
  binary=build/fuzz/$target
  regressions=fuzz/regressions/$target
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    "$binary" "$regressions"/* > "build/fuzz/$target.regressions.log" 2>&1 \
      || { echo "$target: a regression input fails again:"; tail -30 "build/fuzz/$target.regressions.log"; status=1; continue; }
  fi
  mkdir -p "build/fuzz/corpus/$target" build/fuzz/artifacts
  if "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix=build/fuzz/artifacts/"$target"- \
      "build/fuzz/corpus/$target" "fuzz/corpus/$target" > "build/fuzz/$target.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build/fuzz/$target.log" | grep -o '[0-9]*$')
    echo "$target: ${runs:-?} inputs in ${seconds} s, no crash"
  else
    echo "$target: crashed; input saved under build/fuzz/artifacts/:"
    grep -E 'ERROR|SUMMARY|Test unit written' "build/fuzz/$target.log" | head -5
    status=1
  fi
done
exit $status
