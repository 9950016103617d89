#!/usr/bin/env bash
# Every rank resumes from rank 0's step or none does: rank 0's base directory holds a checkpoint
# at step 2 and rank 1's holds none (a per-node ~/.cache on a cluster without a shared
# filesystem). With --resume_from_step=auto both ranks must stop before training, rank 1 naming
# its directory and saying it must be shared, instead of rank 1 starting afresh beside a
# resumed rank 0.
# Usage: unshared_dir_test.sh NTRUN NANOTRAIN PREPARED_DIR
set -u
ntrun=$1
nanotrain=$2
prepared=$3
source "$(dirname "$0")/../support/harness.sh"
base_dirs node0 node1
args=("${tiny[@]}" --device_batch_size 2 --model_tag unshared --eval_every -1)
NANOTRAIN_BASE_DIR=$work/node0 "$nanotrain" train "${args[@]}" --num_iterations 2 \
  > "$work/first.log" 2>&1 || fail "the first run failed"
[ -f "$work/node0/base_checkpoints/unshared/meta_000002.json" ] || fail "no step 2 in node0"

cat > "$work/per_rank_base_dir.sh" << WRAPPER
#!/usr/bin/env bash
NANOTRAIN_BASE_DIR=$work/node\$LOCAL_RANK exec "$nanotrain" "\$@"
WRAPPER
chmod +x "$work/per_rank_base_dir.sh"
"$ntrun" --standalone --nproc_per_node=2 --no_python "$work/per_rank_base_dir.sh" train \
  "${args[@]}" --num_iterations 4 --resume_from_step=auto > "$work/resume.log" 2>&1 &&
  fail "the resume with an unshared directory succeeded"
grep -q "rank 1: rank 0 resumes from step 2, which '$work/node1/base_checkpoints/unshared' does not hold complete here: every rank must see the same checkpoint directory" \
  "$work/resume.log" || fail "rank 1 did not name its directory"
grep -q "rank 0: another rank does not see step 2 of" "$work/resume.log" ||
  fail "rank 0 did not stop with the reason"
grep -q "step 00003" "$work/resume.log" && fail "a rank trained"
[ -e "$work/node1/base_checkpoints/unshared/meta_000004.json" ] && fail "rank 1 saved a step"
echo "ok: an unshared checkpoint directory stops both ranks before training"
