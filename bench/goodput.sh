#!/usr/bin/env bash
# Goodput under random worker kills: the demo model (configs/cpu_tiny.json, 120 steps,
# --deterministic true) on 2 ranks under ntrun --max_restarts, failure-free and with a random
# worker SIGKILLed at exponentially distributed intervals (seeded), for disk-only recovery
# (--save_every 20 and 5, no snapshots) and per-step snapshots in memory (--snapshot_every 1,
# with --save_every 20 as persistence). Goodput is the failure-free run's wall time (no
# snapshots) over the run's own; recovery is a kill to the next completed step. Then a whole node
# lost (bench/node_loss.py, as root): 2 nodes of one worker each in network namespaces, no disk
# checkpoint (--save_every -1), node 1 killed once and started again empty.
# Usage: bench/goodput.sh [SEED] [MODES]   MODES: "all" (default), "workers" or "node" (data
# from `nanotrain prepare` in $NANOTRAIN_BASE_DIR; GOODPUT_LOGS=DIR keeps every run's stamped log
# and JSON summary there)
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${1:-1}
modes=${2:-all}
prepared=${NANOTRAIN_BASE_DIR:-$HOME/.cache/nanotrain}
[ -f "$prepared/base_data/manifest.json" ] || { echo "run nanotrain prepare first" >&2; exit 1; }
work=$(mktemp -d)
trap '[ -n "${GOODPUT_LOGS:-}" ] && mkdir -p "$GOODPUT_LOGS" && cp "$work"/*.log "$work"/*.json \
  "$GOODPUT_LOGS"/; rm -rf "$work"' EXIT
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores," \
  "$(grep -q avx512_bf16 /proc/cpuinfo && echo 'avx512_bf16' || echo 'no avx512_bf16')"
args=(--config configs/cpu_tiny.json --num_iterations 120 --deterministic true --model_tag goodput)

# run NAME MEAN_KILL_S TRAIN_FLAGS...: one job in its own base dir; its JSON summary in NAME.json.
run() {
  local name=$1 mean=$2
  shift 2
  mkdir -p "$work/$name"
  ln -s "$prepared/tokenizer" "$work/$name/tokenizer"
  python3 bench/goodput.py --ntrun build/bin/ntrun --nanotrain build/bin/nanotrain \
    --base_dir "$work/$name" --mean_kill_s "$mean" --seed "$seed" --log "$work/$name.log" -- \
    "${args[@]}" --data_dir "$prepared/base_data" "$@" > "$work/$name.json" ||
    { echo "$name: the job failed; its log:" >&2; tail -40 "$work/$name.log" >&2; exit 1; }
}

# node_run NAME [TRAIN_FLAGS...]: the two-node job (node 1 lost once when $kill is set); its
# JSON summary in NAME.json.
node_run() {
  local name=$1
  shift
  mkdir -p "$work/$name"
  ln -s "$prepared/tokenizer" "$work/$name/tokenizer"
  python3 bench/node_loss.py --ntrun build/bin/ntrun --nanotrain build/bin/nanotrain \
    --base_dir "$work/$name" --seed "$seed" --log "$work/$name.log" ${kill:+--kill} -- \
    "${args[@]}" --data_dir "$prepared/base_data" --save_every -1 "$@" > "$work/$name.json" ||
    { echo "$name: the job failed; its log:" >&2; tail -40 "$work/$name.log" >&2; exit 1; }
}

if [ "$modes" != node ]; then
  run free_disk 0 --save_every 20 --snapshot_every 0
  run free_snapshots 0 --save_every 20 --snapshot_every 1
  run disk20_30s 30 --save_every 20 --snapshot_every 0
  run disk20_10s 10 --save_every 20 --snapshot_every 0
  run disk5_10s 10 --save_every 5 --snapshot_every 0
  run snapshots_30s 30 --save_every 20 --snapshot_every 1
  run snapshots_10s 10 --save_every 20 --snapshot_every 1
fi
if [ "$modes" != workers ]; then
  node_run node_free_off --snapshot_every 0
  node_run node_free
  kill=1 node_run node_lost
fi

python3 - "$work" << 'EOF'
import filecmp, json, os, statistics, sys
work = sys.argv[1]
runs = {n: json.load(open(f"{work}/{n}.json")) for n in
        ["free_disk", "free_snapshots", "disk20_30s", "disk20_10s", "disk5_10s",
         "snapshots_30s", "snapshots_10s", "node_free_off", "node_free", "node_lost"]
        if os.path.exists(f"{work}/{n}.json")}
def identical(name, reference="free_disk"):
    ck = lambda n: f"{work}/{n}/base_checkpoints/goodput"
    return all(filecmp.cmp(f"{ck(name)}/{f}", f"{ck(reference)}/{f}", shallow=False)
               for f in ["model_000120.pt", "optim_000120.pt"])
if "node_lost" in runs:
    free, lost, off = runs["node_free"], runs["node_lost"], runs["node_free_off"]
    print(f"two nodes, failure-free: {off['wall_s']:.1f} s without snapshots, {free['wall_s']:.1f} s "
          f"with snapshots and replicas; median step {off['median_step_ms']:.1f} ms without, "
          f"{free['median_step_ms']:.1f} ms with "
          f"({100 * (free['median_step_ms'] / off['median_step_ms'] - 1):+.1f}%)")
    print("| whole node lost (2 nodes x 1 worker, no disk checkpoint) | once | 1 | "
          f"{free['wall_s'] / lost['wall_s']:.2f} | "
          f"{lost['kill_step'] - lost['resumed_step']} (killed after step {lost['kill_step']}, "
          f"resumed at {lost['resumed_step']}) | {lost['recovery_s']:.2f} s | "
          f"{'memory, from the replica' if lost['from_replica'] else 'NOT from the replica'} | "
          f"{'identical' if identical('node_lost', 'node_free') else 'DIFFERENT'} |")
if "free_disk" not in runs:
    sys.exit(0)
free = runs["free_disk"]
print(f"failure-free: {free['wall_s']:.1f} s without snapshots, "
      f"{runs['free_snapshots']['wall_s']:.1f} s with; median step "
      f"{free['median_step_ms']:.1f} ms without, {runs['free_snapshots']['median_step_ms']:.1f} ms "
      f"with (snapshot overhead {100 * (runs['free_snapshots']['median_step_ms'] / free['median_step_ms'] - 1):+.1f}%)")
print("| mode | mean time between kills | kills (restarts) | goodput | steps redone per restart "
      "| recovery median / max | from memory / disk | final files |")
print("|---|---|---|---|---|---|---|---|")
for name, label in [("disk20_30s", "disk, save every 20"), ("disk20_10s", "disk, save every 20"),
                    ("disk5_10s", "disk, save every 5"), ("snapshots_30s", "snapshots every step"),
                    ("snapshots_10s", "snapshots every step")]:
    r = runs[name]
    mean = name.split("_")[1]
    redone = (r["steps_executed"] - 120) / max(r["restarts"], 1)
    rec = r["recovery_s"]
    recovery = f"{statistics.median(rec):.2f} / {max(rec):.2f} s" if rec else "-"
    print(f"| {label} | {mean} | {r['kills']} ({r['restarts']}) | {free['wall_s'] / r['wall_s']:.2f} "
          f"| {redone:.1f} | {recovery} | {r['resumed_from_memory']} / {r['resumed_from_disk']} "
          f"| {'identical' if identical(name) else 'DIFFERENT'} |")
EOF
