#!/usr/bin/env bash
# Chaos run: the tiny training job under `ntrun --nproc_per_node=2 --max_restarts=K`, with
#   - a random worker killed with SIGKILL at random moments (seeded; the seed is printed), and
#   - each point of the save protocol killing its process with probability P
#     (NANOTRAIN_TEST_CRASH_AT=random:P:SEED), so some kills land inside checkpoint writes;
# the same command (--resume_from_step=auto) serves every restart. The run must finish, and its
# final model and optimizer files must equal an uninterrupted run's byte for byte. Ends with
#   chaos: kills=K survived=K final_state_identical=yes
# and exits 0 only then. Needs a build (scripts/build.sh; --bin names its bin directory).
# --layout sharded runs both jobs with --checkpoint_layout=sharded (every rank writes its shard;
# the sharded protocol's crash points join the random ones) and compares every rank's file.
# --snapshots off runs without per-step snapshots in memory (--snapshot_every 0); by default they
# are on, as under any launcher with restarts, and a kill point of the snapshot copy joins the
# random ones; the run then says how many restarts resumed from memory and must count at least
# one (a restart whose newest state is on disk, or in no rank's memory, resumes from the disk).
# --async_save on writes the saves on background threads, so kills land in them mid-write too.
# Before training, `nanotrain prepare` is rerun --prepare_kills times over the data (each time
# with another validation draw) and killed at a random moment or at a random point of its own
# (after a shard, before publishing); after every kill the data must be the old dataset or the
# new one, whole, and the trainer must accept it:
#   chaos: prepare runs=N killed=K data_accepted=N
# Usage: scripts/chaos.sh [--kills N] [--seed S] [--steps N] [--save_probability P]
#                         [--layout gathered|sharded] [--snapshots on|off] [--async_save on|off]
#                         [--prepare_kills N] [--bin DIR]
set -u
cd "$(dirname "$0")/.."
kills=20 seed=$RANDOM steps=600 probability=0.04 layout=gathered snapshots=on async=off
prepare_kills=4
bin=build/bin
while [ $# -gt 0 ]; do
  case "$1" in
    --kills) kills=$2 ;;
    --seed) seed=$2 ;;
    --steps) steps=$2 ;;
    --save_probability) probability=$2 ;;
    --layout) layout=$2 ;;
    --snapshots) snapshots=$2 ;;
    --async_save) async=$2 ;;
    --prepare_kills) prepare_kills=$2 ;;
    --bin) bin=$2 ;;
    *) echo "usage: scripts/chaos.sh [--kills N] [--seed S] [--steps N] [--save_probability P]" \
         "[--layout gathered|sharded] [--snapshots on|off] [--async_save on|off]" \
         "[--prepare_kills N] [--bin DIR]"
       exit 2 ;;
  esac
  shift 2
done
echo "chaos: seed $seed, $kills timed kills, save-point kill probability $probability, $steps steps," \
  "$layout layout, snapshots $snapshots, async saves $async"
RANDOM=$seed
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/nanotrain" prepare --base_dir "$work/data" --vocab_size 512 --shard_tokens 100000 \
  > "$work/prepare.log" 2>&1 || { cat "$work/prepare.log"; exit 1; }
for run in chaos clean probe; do
  mkdir -p "$work/$run" && ln -s "$work/data/tokenizer" "$work/$run/tokenizer"
done
export OMP_NUM_THREADS=1

accepted=0 killed=0
for attempt in $(seq "$prepare_kills"); do
  cp "$work/data/base_data/manifest.json" "$work/old_manifest.json"
  NANOTRAIN_TEST_CRASH_AT="random:0.3:$((seed + attempt))" timeout -s KILL \
    "$((RANDOM % 20 + 1))e-1" "$bin/nanotrain" prepare --base_dir "$work/data" \
    --tokenizer "$work/data/tokenizer/tokenizer.model" --shard_tokens 100000 \
    --seed "$attempt" > "$work/prepare_$attempt.log" 2>&1
  [ $? = 137 ] && killed=$((killed + 1))
  # Whole old data or whole new data: the manifest is either, and the trainer takes it.
  cmp -s "$work/old_manifest.json" "$work/data/base_data/manifest.json" && which=old || which=new
  NANOTRAIN_BASE_DIR=$work/probe "$bin/nanotrain" train --data_dir "$work/data/base_data" \
    --depth 1 --max_seq_len 32 --device_batch_size 4 --num_iterations 1 --eval_every 1 \
    --eval_tokens 256 --peak_flops 1e11 --model_tag "probe_$attempt" \
    > "$work/probe_$attempt.log" 2>&1 && accepted=$((accepted + 1)) ||
    { tail -n 5 "$work/probe_$attempt.log"; echo "chaos: the $which data was refused"; }
done
echo "chaos: prepare runs=$prepare_kills killed=$killed data_accepted=$accepted"
[ "$accepted" = "$prepare_kills" ] || exit 1
args=(--data_dir "$work/data/base_data" --depth 1 --max_seq_len 32 --device_batch_size 4
      --num_iterations "$steps" --save_every 10 --eval_every 100 --eval_tokens 256
      --keep_last 2 --model_tag chaos --resume_from_step=auto --checkpoint_layout "$layout"
      --peak_flops 1e11)  # a fixed MFU denominator: measuring the peak costs 1.5 s per start
[ "$snapshots" = off ] && args+=(--snapshot_every 0)
[ "$async" = on ] && args+=(--async_save true)
# Timed kills plus the save-point kills, with room to spare; with snapshots each rank passes a
# kill point of the snapshot copy every step, about steps * 2 * P more kills, taken twice over.
max_restarts=$((kills * 3 + 10))
[ "$snapshots" = off ] ||
  max_restarts=$((max_restarts + $(awk -v s="$steps" -v p="$probability" \
    'BEGIN { print int(s * 2 * p * 2 + 0.5) }')))

# Every worker runs under a shell that records its attempt, rank and exit status, so deaths are
# counted from what the workers' statuses say rather than from the launcher's messages. The
# shell outlives its worker, whatever signal the launcher sends their process group (the worker
# gets it too): the launcher must not start the next attempt while a worker still runs.
cat > "$work/record.sh" << 'SH'
trap : TERM INT HUP QUIT USR1 USR2
"$@" &
worker=$!
until wait "$worker"; status=$?; [ "$status" -le 128 ] || ! kill -0 "$worker" 2> /dev/null; do :; done
wait "$worker" 2> /dev/null && status=0 || { last=$?; [ "$last" = 127 ] || status=$last; }
echo "$TORCHELASTIC_RESTART_COUNT $RANK $status" >> "$STATUS_FILE"
exit "$status"
SH
NANOTRAIN_BASE_DIR=$work/chaos NANOTRAIN_TEST_CRASH_AT="random:$probability:$seed" \
  STATUS_FILE=$work/statuses "$bin/ntrun" --standalone --nproc_per_node=2 \
  --max_restarts=$max_restarts --shutdown_timeout=5 \
  bash "$work/record.sh" "$bin/nanotrain" train "${args[@]}" > "$work/chaos.log" 2>&1 &
ntrun=$!
timed=0
while [ "$timed" -lt "$kills" ] && kill -0 "$ntrun" 2> /dev/null; do
  sleep "$((RANDOM % 15 + 3))e-1"  # 0.3 to 1.7 s
  workers=($(pgrep -f "^$bin/nanotrain train .*$work/data"))
  [ "${#workers[@]}" -gt 0 ] || continue
  victim=${workers[$((RANDOM % ${#workers[@]}))]}
  kill -9 "$victim" 2> /dev/null && timed=$((timed + 1))
done
wait "$ntrun"
status=$?
# A death: an attempt in which a worker was killed (137: SIGKILL, timed or at a crash point).
# It was survived when the launcher started another attempt after it.
deaths=$(awk '$3 == 137 { print $1 }' "$work/statuses" | sort -un | wc -l)
attempts=$(awk '{ print $1 }' "$work/statuses" | sort -un | wc -l)
survived=$(awk -v last="$((attempts - 1))" '$3 == 137 && $1 < last { print $1 }' \
  "$work/statuses" | sort -un | wc -l)

NANOTRAIN_BASE_DIR=$work/clean "$bin/ntrun" --standalone --nproc_per_node=2 \
  "$bin/nanotrain" train "${args[@]}" > "$work/clean.log" 2>&1 ||
  { cat "$work/clean.log"; echo "chaos: the uninterrupted run failed"; exit 1; }
identical=yes
files=$(printf 'model_%06d.pt optim_%06d.pt' "$steps" "$steps")
[ "$layout" = sharded ] && files=$(printf 'model_%06d.pt optim_%06d_rank0.pt optim_%06d_rank1.pt' \
  "$steps" "$steps" "$steps")
for f in $files; do
  cmp -s "$work/chaos/base_checkpoints/chaos/$f" "$work/clean/base_checkpoints/chaos/$f" ||
    identical=no
done
echo "chaos: $timed timed kills, $((deaths - timed)) at save points or step ends, exit $status"
from_memory=$(grep -c 'resumed from memory' "$work/chaos.log")
echo "chaos: restarts resumed from memory=$from_memory, from disk=$(grep -c 'resumed from /' \
  "$work/chaos.log")"
echo "chaos: kills=$deaths survived=$survived final_state_identical=$identical"
[ "$status" = 0 ] && [ "$identical" = yes ] && [ "$deaths" -ge "$kills" ] &&
  [ "$survived" = "$deaths" ] && { [ "$snapshots" = off ] || [ "$from_memory" -gt 0 ]; } ||
  { tail -n 30 "$work/chaos.log"; exit 1; }
