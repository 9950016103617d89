#!/usr/bin/env bash
# A whole node lost and replaced, with no disk checkpoint to fall back on (--save_every -1): two
# ntrun agents with one worker each, each "host" a network namespace (joined by a veth pair) with
# a private /dev/shm (a mount namespace of its own). Node 1 (agent and worker) is SIGKILLed
# mid-run, its memory gone with its namespace, and started again empty: rank 1's snapshot comes
# back from the replica node 0 keeps, and the job ends byte-identical to an uninterrupted run.
# Then a worker killed while it receives a replica: both nodes resume from their own snapshots.
# Usage: node_loss_test.sh NTRUN NANOTRAIN PREPARED_DIR. Exit 77 (skipped) when the machine
# does not allow network or mount namespaces, with the reason printed.
set -u
ntrun=$1
nanotrain=$2
prepared=$3
source "$(dirname "$0")/../support/harness.sh"
a=ntlA_$$
b=ntlB_$$
cleanup() {
  pkill -9 -f "run_id=nodeloss$$" 2> /dev/null
  ip netns del "$a" 2> /dev/null
  ip netns del "$b" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT

source "$(dirname "$0")/../support/two_hosts.sh"
two_hosts "$a" "$b" 10.214.0
if ! out=$(ip netns exec "$a" unshare -m true 2>&1); then
  echo "SKIP: cannot enter a mount namespace: $out"
  exit 77
fi

base_dirs clean lost clean8 receiving
args=("${tiny[@]}" --device_batch_size 4 --eval_every -1 --eval_tokens 256 --model_tag nodes
      --deterministic true --save_every -1)
# node NS NODE_RANK RUN LOG STEPS: an agent on "host" NS with a /dev/shm of its own, training
# STEPS steps, in the background.
node() {
  NANOTRAIN_BASE_DIR=$work/$3 ip netns exec "$1" unshare -m sh -c \
    'mount -t tmpfs -o size=64m,mode=1777 tmpfs /dev/shm && exec "$@"' _ \
    "$ntrun" --nnodes=2 --nproc_per_node=1 --node_rank="$2" --master_addr=10.214.0.1 \
    --master_port=29741 --run_id="nodeloss$$" --rdzv_timeout=60 --max_restarts=2 \
    --shutdown_timeout=5 "$nanotrain" train "${args[@]}" --num_iterations "$5" \
    >> "$work/$4.log" 2>&1 &
}
# clean_run NAME STEPS: both nodes, no failure.
clean_run() {
  node "$a" 0 "$1" "${1}0" "$2"; pid_a=$!
  node "$b" 1 "$1" "${1}1" "$2"; pid_b=$!
  wait $pid_a || fail "the uninterrupted run $1 failed on node 0"
  wait $pid_b || fail "the uninterrupted run $1 failed on node 1"
}
same_final_files() {  # same_final_files NAME CLEAN STEP
  local step
  step=$(printf %06d "$3")
  for f in "model_$step.pt" "optim_$step.pt"; do
    cmp "$work/$1/base_checkpoints/nodes/$f" "$work/$2/base_checkpoints/nodes/$f" ||
      fail "$1: $f differs from the uninterrupted run"
  done
}

clean_run clean 120

# 1. Node 1 lost at step 40 or later, and replaced by an empty one.
node "$a" 0 lost lost0 120; pid_a=$!
node "$b" 1 lost lost1 120; pid_b=$!
for _ in $(seq 600); do
  grep -qE 'step 0*([4-9][0-9]|1[0-9][0-9])/' "$work/lost0.log" 2> /dev/null && break
  sleep 0.05
done
kill -9 $pid_b
wait $pid_b 2> /dev/null
node "$b" 1 lost lost1 120; pid_b=$!
wait $pid_a || fail "node 0 failed after node 1 was lost"
wait $pid_b || fail "the replacement node 1 failed"
grep -q 'ntrun: joining a running job at generation 1' "$work/lost1.log" ||
  fail "the replacement node did not join the running job"
grep -qE 'resume: rank\(s\) 1 lost their snapshots of step [0-9]+ .*sent back from the replicas' \
  "$work/lost0.log" || fail "rank 1's snapshot was not sent back from node 0's replica"
grep -q 'resumed from memory at step' "$work/lost0.log" || fail "no resume from memory"
same_final_files lost clean 120
echo "node loss: $(grep -oE 'lost their snapshots of step [0-9]+' "$work/lost0.log")"

# 2. Rank 0 killed while it receives rank 1's replica of step 5 (before its header): every rank
# still holds its own snapshots, and a replica half-written does not count. 8 steps, so that the
# restarted worker, which counts its receives afresh, is not killed again.
clean_run clean8 8
NANOTRAIN_TEST_CRASH_AT=replica_before_header@5 node "$a" 0 receiving receiving0 8; pid_a=$!
node "$b" 1 receiving receiving1 8; pid_b=$!
wait $pid_a || fail "node 0 failed after its worker was killed mid-replica"
wait $pid_b || fail "node 1 failed after rank 0 was killed mid-replica"
grep -q 'resume: from memory, step [45]:' "$work/receiving0.log" ||
  fail "the restart did not resume from the snapshots of step 4 or 5"
same_final_files receiving clean8 8
echo "ok"
