#!/usr/bin/env bash
# ntrun against the real torchrun (the pip PyTorch whose LibTorch this build links):
#  1. one torch.distributed program (tests/reference/dump_env.py) under both, with
#     --standalone --nproc_per_node=2, with the same settings as PET_* variables and no flags
#     (as Kubeflow's PyTorchJob starts torchrun), and as two nodes on this machine (--nnodes=2
#     --node_rank=0/1): it succeeds under both, and its environments agree
#     (tests/reference/compare_launcher_env.py lists the deliberate differences);
#  2. `torchrun --no_python nanotrain train` and `ntrun nanotrain train`, same seed: the same
#     checkpoint files, the model and optimizer files byte for byte, the metas equal but for
#     their wall-clock fields (created, loop_state.total_training_time);
#  3. a failing rank, and SIGTERM to the launcher: the same exit code, and no worker left behind.
# Usage: torchrun_peer_test.sh NTRUN NANOTRAIN PREPARED_DIR PEER_PYTHON
set -u
ntrun=$1
nanotrain=$2
prepared=$3  # a base dir written by `nanotrain prepare`
python=$4    # the pip PyTorch's interpreter; its torchrun is `python -m torch.distributed.run`
source "$(dirname "$0")/../support/harness.sh"
reference=$(cd "$(dirname "$0")/../reference" && pwd)
export PATH="$(dirname "$python"):$PATH"  # python3 for ntrun's .py workers: the peer's
torchrun=("$python" -m torch.distributed.run)
free_port() { "$python" -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'; }

# 1. The environment, on one node and on two.
"$python" -c 'import json, os; print(json.dumps(dict(os.environ)))' > "$work/parent.json"
port=$(free_port)  # both launchers' two-node runs, one after the other
for launcher in torchrun ntrun; do
  mkdir -p "$work/standalone_$launcher" "$work/pet_$launcher" "$work/nodes_$launcher"
  if [ $launcher = torchrun ]; then cmd=("${torchrun[@]}"); else cmd=("$ntrun"); fi
  "${cmd[@]}" --standalone --nproc_per_node=2 "$reference/dump_env.py" \
    "$work/standalone_$launcher" > "$work/standalone_$launcher.log" 2>&1 ||
    fail "dump_env.py under $launcher --standalone"
  PET_STANDALONE=1 PET_NPROC_PER_NODE=2 PET_MAX_RESTARTS=1 "${cmd[@]}" "$reference/dump_env.py" \
    "$work/pet_$launcher" > "$work/pet_$launcher.log" 2>&1 ||
    fail "dump_env.py under $launcher with PET_* variables"
  pids=()
  for node in 0 1; do
    "${cmd[@]}" --nnodes=2 --node_rank=$node --nproc_per_node=1 --master_addr=127.0.0.1 \
      --master_port="$port" "$reference/dump_env.py" "$work/nodes_$launcher" \
      > "$work/nodes_${launcher}_$node.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || fail "dump_env.py under two $launcher agents"; done
done
"$python" "$reference/compare_launcher_env.py" "$work/parent.json" "$work/standalone_torchrun" \
  "$work/standalone_ntrun" 2 || fail "--standalone: the environments differ"
"$python" "$reference/compare_launcher_env.py" "$work/parent.json" "$work/pet_torchrun" \
  "$work/pet_ntrun" 2 || fail "PET_* variables: the environments differ"
grep -q '"TORCHELASTIC_MAX_RESTARTS": "1"' "$work/pet_ntrun/env.1.json" ||
  fail "PET_MAX_RESTARTS=1 did not reach ntrun's workers"
"$python" "$reference/compare_launcher_env.py" "$work/parent.json" "$work/nodes_torchrun" \
  "$work/nodes_ntrun" 2 || fail "two nodes: the environments differ"
echo "environment under ntrun = under torchrun: ok"

# 2. nanotrain trains and checkpoints the same under both.
base_dirs t n
args=("${tiny[@]}" --device_batch_size 4 --num_iterations 4 --save_every 2 --model_tag peer)
NANOTRAIN_BASE_DIR=$work/t "${torchrun[@]}" --standalone --nproc_per_node=2 --no_python \
  "$nanotrain" train "${args[@]}" > "$work/train_torchrun.log" 2>&1 || fail "train under torchrun"
NANOTRAIN_BASE_DIR=$work/n "$ntrun" --standalone --nproc_per_node=2 "$nanotrain" train \
  "${args[@]}" > "$work/train_ntrun.log" 2>&1 || fail "train under ntrun"
grep -q "world: 2 ranks (2 per node) from torchrun's environment, .* hosted by the launcher" \
  "$work/train_torchrun.log" || fail "nanotrain did not join torchrun's store"
# Run records with wall times (metrics.jsonl, TensorBoard's event files under tb/) are not
# checkpoint state.
files() {
  (cd "$1" && find . -type f ! -name metrics.jsonl ! -name '*.svg' ! -path './tb/*' | sort)
}
t_dir=$work/t/base_checkpoints/peer
n_dir=$work/n/base_checkpoints/peer
diff <(files "$t_dir") <(files "$n_dir") || fail "different checkpoint files"
[ "$(files "$t_dir" | grep -c '_000004')" -ge 2 ] || fail "no checkpoint at step 4"
for f in $(files "$t_dir" | grep -v '/meta_'); do
  cmp "$t_dir/$f" "$n_dir/$f" || fail "$f differs between torchrun and ntrun"
done
for f in $(files "$t_dir" | grep '/meta_'); do
  "$python" - "$t_dir/$f" "$n_dir/$f" << 'PY' || fail "$f differs between torchrun and ntrun"
import json, sys
def timeless(path):
    meta = json.load(open(path))
    del meta["created"]
    del meta["loop_state"]["total_training_time"]
    return meta
sys.exit(timeless(sys.argv[1]) != timeless(sys.argv[2]))
PY
done
echo "checkpoints under torchrun and ntrun: $(files "$t_dir" | wc -l) files, model and optimizer" \
  "byte-identical, metas equal but for wall-clock times: ok"

# 3. A failing rank, and SIGTERM to the launcher.
cat > "$work/worker.sh" << 'WORKER'
#!/bin/bash
echo $$ > "$OUT/pid.$RANK.tmp" && mv "$OUT/pid.$RANK.tmp" "$OUT/pid.$RANK"
[ "$MODE" = fail ] && [ "$RANK" = 1 ] && { sleep 1; exit 3; }
exec sleep 60
WORKER
chmod +x "$work/worker.sh"
alive() { for f in "$1"/pid.*; do kill -0 "$(cat "$f")" 2> /dev/null && return 0; done; return 1; }
for launcher in torchrun ntrun; do
  if [ $launcher = torchrun ]; then cmd=("${torchrun[@]}" --no_python); else cmd=("$ntrun"); fi
  for mode in fail term; do
    out=$work/$mode.$launcher
    mkdir -p "$out"
    OUT=$out MODE=$mode "${cmd[@]}" --standalone --nproc_per_node=2 "$work/worker.sh" \
      > "$out.log" 2>&1 &
    pid=$!
    for _ in $(seq 600); do [ -f "$out/pid.0" ] && [ -f "$out/pid.1" ] && break; sleep 0.05; done
    [ $mode = term ] && kill -TERM $pid
    wait $pid
    echo $? > "$out.rc"
    sleep 0.5
    alive "$out" && fail "$launcher left a worker running after $mode"
  done
done
for mode in fail term; do
  echo "$mode: torchrun exits $(cat "$work/$mode.torchrun.rc"), ntrun $(cat "$work/$mode.ntrun.rc")"
  cmp -s "$work/$mode.torchrun.rc" "$work/$mode.ntrun.rc" || fail "exit codes differ after $mode"
done
echo "failures and SIGTERM under torchrun and ntrun: ok"
