#!/usr/bin/env bash
# Goodput under random worker kills: the demo model (configs/cpu_tiny.json, 120 steps,
# --deterministic true) on 2 ranks under ntrun --max_restarts, failure-free and with a random
# worker SIGKILLed at exponentially distributed intervals (seeded), for disk-only recovery
# (--save_every 20 and 5, no snapshots) and per-step snapshots in memory (--snapshot_every 1,
# with --save_every 20 as persistence). Goodput is the failure-free run's wall time (no
# snapshots) over the run's own; recovery is a kill to the next completed step.
# Usage: bench/goodput.sh [SEED]   (data from `nanotrain prepare` in $NANOTRAIN_BASE_DIR;
# GOODPUT_LOGS=DIR keeps every run's stamped log and JSON summary there)
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${1:-1}
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

run free_disk 0 --save_every 20 --snapshot_every 0
run free_snapshots 0 --save_every 20 --snapshot_every 1
run disk20_30s 30 --save_every 20 --snapshot_every 0
run disk20_10s 10 --save_every 20 --snapshot_every 0
run disk5_10s 10 --save_every 5 --snapshot_every 0
run snapshots_30s 30 --save_every 20 --snapshot_every 1
run snapshots_10s 10 --save_every 20 --snapshot_every 1

python3 - "$work" << 'EOF'
import filecmp, json, statistics, sys
work = sys.argv[1]
runs = {n: json.load(open(f"{work}/{n}.json")) for n in
        ["free_disk", "free_snapshots", "disk20_30s", "disk20_10s", "disk5_10s",
         "snapshots_30s", "snapshots_10s"]}
free = runs["free_disk"]
def identical(name):
    ck = lambda n: f"{work}/{n}/base_checkpoints/goodput"
    return all(filecmp.cmp(f"{ck(name)}/{f}", f"{ck('free_disk')}/{f}", shallow=False)
               for f in ["model_000120.pt", "optim_000120.pt"])
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
