#!/usr/bin/env bash
# ntrun's own overhead: time to start 4 workers that exit at once and tear them down, and time
# from SIGTERM to ntrun's exit with 4 running workers. Median of 10 runs each.
# Usage: bench/ntrun_bench.sh [build/bin/ntrun]
set -euo pipefail
ntrun=${1:-build/bin/ntrun}
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for i in $(seq 10); do
  t0=$(now); "$ntrun" --nproc_per_node=4 /bin/true 2>/dev/null; t1=$(now)
  echo $(( (t1 - t0) / 1000 ))
done | median | awk '{printf "start + exit of 4 workers (/bin/true): %.1f ms\n", $1/1000}'

for i in $(seq 10); do
  "$ntrun" --nproc_per_node=4 /bin/sleep 30 2>/dev/null &
  pid=$!
  sleep 0.3
  t0=$(now); kill -TERM $pid; wait $pid || true; t1=$(now)
  echo $(( (t1 - t0) / 1000 ))
done | median | awk '{printf "SIGTERM to exit with 4 running workers: %.1f ms\n", $1/1000}'

t0=$(now); /bin/true; t1=$(now)
echo "baseline: starting /bin/true once from this shell: $(( (t1 - t0) / 1000 )) us"
