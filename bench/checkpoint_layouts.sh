#!/usr/bin/env bash
# Gathered vs sharded checkpoint saves (each synchronous, then with async_save) of the same
# depth-12 state at 1, 2 and 4 ranks (ntrun on this machine, one thread per rank): the time a
# save blocks training, when it is committed, and rank 0's memory growth during it.
# Usage: bench/checkpoint_layouts.sh [BIN_DIR] [DIR]   (defaults: build/bin, a folder under /tmp)
set -eu
bin=${1:-build/bin}
dir=${2:-/tmp/nanotrain_checkpoint_layouts_$$}
trap 'rm -rf "$dir"' EXIT
for nproc in 1 2 4; do
  OMP_NUM_THREADS=1 "$bin/ntrun" --standalone --nproc_per_node="$nproc" \
    "$bin/checkpoint_bench" --layouts "$dir" 2>&1 | grep "rank(s),"
done
