#!/usr/bin/env bash
# `mpirun -np 2` of the trainer: ranks come from Open MPI's environment (no RANK, WORLD_SIZE or
# MASTER_* set), the master address and port from rank 0 over MPI (or, in a build without MPI,
# from the job's PMIx namespace), and the run completes with checkpoints.
# Usage: mpirun_test.sh MPIRUN NANOTRAIN PREPARED_DIR
set -u
mpirun=$1
nanotrain=$2
prepared=$3
source "$(dirname "$0")/../support/harness.sh"
base_dirs base
env -u RANK -u WORLD_SIZE -u MASTER_ADDR -u MASTER_PORT NANOTRAIN_BASE_DIR="$work/base" \
  "$mpirun" --allow-run-as-root --oversubscribe -np 2 "$nanotrain" train "${tiny[@]}" \
  --device_batch_size 4 --num_iterations 4 --save_every 2 --eval_tokens 512 --model_tag mpi \
  > "$work/mpirun.log" 2>&1 || fail "mpirun exited $?"
grep -q "world: 2 ranks (2 per node) from mpi's environment" "$work/mpirun.log" || fail "not 2 MPI ranks"
[ "$(grep -c 'step 00004/00004' "$work/mpirun.log")" = 1 ] || fail "expected one step line (rank 0)"
for step in 2 4; do
  "$nanotrain" ckpt verify "$work/base/base_checkpoints/mpi" --step "$step" > /dev/null \
    || fail "checkpoint $step does not verify"
done
# The commit record names the job's world, which under mpirun no RANK/WORLD_SIZE variable tells.
world=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['world_size'])" \
  "$work/base/base_checkpoints/mpi/meta_000004.json")
[ "$world" = 2 ] || fail "meta_000004.json records world_size $world, expected 2"
echo "mpirun -np 2: ok"
