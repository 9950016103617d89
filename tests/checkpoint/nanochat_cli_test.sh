#!/usr/bin/env bash
# The nanochat checkpoint of make_torch_fixtures.py through the command line: `nanotrain loss`
# gives Python's loss, `sample` runs, `ckpt verify` names the missing commit record, and
# `ckpt export` then `ckpt import` give a nanotrain step with the very same loss; training resumes
# from it, and from the per-rank files of a two-rank nanochat run on two ranks.
# Usage: nanochat_cli_test.sh NANOTRAIN NTRUN TEST_DATA_DIR
set -euo pipefail
nanotrain=$1
ntrun=$2
data=$(cd "$3" && pwd)
prepared=$data/prepared
source "$(dirname "$0")/cli_harness.sh"

loss=$("$nanotrain" loss --checkpoint_dir "$ckpt" --tokens "$tokens" | sed -n 's/^loss: //p')
expected=$(cat "$fixtures/nanochat_eval_loss.txt")
awk -v a="$loss" -v b="$expected" 'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }' ||
  fail "loss $loss on the nanochat checkpoint, Python's is $expected"
# Token ids need no tokenizer: the same loss with none under the base directory; an id outside
# the vocabulary is an error naming it.
mkdir "$work/no_tokenizer"
bare=$(NANOTRAIN_BASE_DIR=$work/no_tokenizer "$nanotrain" loss --checkpoint_dir "$ckpt" \
  --tokens "$tokens" | sed -n 's/^loss: //p')
[[ $bare == "$loss" ]] || fail "loss without a tokenizer: '$bare', with one $loss"
echo "0 1 99999" > "$work/bad_tokens.txt"
if "$nanotrain" loss --checkpoint_dir "$ckpt" --tokens "$work/bad_tokens.txt" > "$work/bad.txt" 2>&1; then
  fail "an id outside the vocabulary was scored"
fi
grep -q "bad_tokens.txt: token 2: id 99999 is outside the model's vocabulary" "$work/bad.txt" ||
  fail "loss printed: $(cat "$work/bad.txt")"

"$nanotrain" sample --checkpoint_dir "$ckpt" --prompt "In the beginning" --max_tokens 8 \
  --temperature 0 > "$work/sample.txt" || fail "sample failed"
grep -q "^In the beginning" "$work/sample.txt" || fail "sample printed: $(cat "$work/sample.txt")"

# sample does need the tokenizer: without one it names what it needs and the flag; given it
# with --tokenizer_dir, it runs as above.
NANOTRAIN_BASE_DIR=$work/no_tokenizer "$nanotrain" sample --checkpoint_dir "$ckpt" --prompt x \
  --max_tokens 2 > "$work/no_tok.txt" 2>&1 && fail "sample ran without a tokenizer"
grep -q "^sample needs the tokenizer $ckpt was trained with ([0-9]* tokens); .*$work/no_tokenizer/tokenizer/tokenizer.model.*: pass --tokenizer_dir" \
  "$work/no_tok.txt" || fail "sample without a tokenizer printed: $(cat "$work/no_tok.txt")"
NANOTRAIN_BASE_DIR=$work/no_tokenizer "$nanotrain" sample --checkpoint_dir "$ckpt" \
  --prompt "In the beginning" --max_tokens 8 --temperature 0 \
  --tokenizer_dir "$NANOTRAIN_BASE_DIR/tokenizer" | grep -v '^\[' > "$work/sample_dir.txt"
grep -v '^\[' "$work/sample.txt" | cmp -s - "$work/sample_dir.txt" ||
  fail "sample with --tokenizer_dir differs from sample with the base directory's tokenizer"

"$nanotrain" ckpt verify "$ckpt" > "$work/verify.txt" || fail "ckpt verify failed"
grep -q "step 5: no commit record (a nanochat checkpoint)" "$work/verify.txt" ||
  fail "ckpt verify printed: $(cat "$work/verify.txt")"

mkdir "$work/hf"
"$nanotrain" ckpt export "$ckpt" --format safetensors --out "$work/hf/model.safetensors" ||
  fail "ckpt export failed"
[[ -s $work/hf/config.json ]] || fail "no config.json beside model.safetensors"
"$nanotrain" ckpt import "$work/hf/model.safetensors" --out "$work/imported" ||
  fail "ckpt import failed"
"$nanotrain" ckpt verify "$work/imported" | grep -q "step 5: ok" ||
  fail "the imported step is not a complete nanotrain step"
reloaded=$("$nanotrain" loss --checkpoint_dir "$work/imported" --tokens "$tokens" |
  sed -n 's/^loss: //p')
[[ $reloaded == "$loss" ]] || fail "loss $reloaded after export and import, $loss before"

# Training resumes from the nanochat step: its GQA shape comes from the meta (--depth cannot
# describe it), its optimizer state from optim_000005_rank0.pt, the data from its start.
mkdir -p "$NANOTRAIN_BASE_DIR/base_checkpoints" && cp -r "$ckpt" "$NANOTRAIN_BASE_DIR/base_checkpoints/nanochat_d2"
"$nanotrain" train --model_tag nanochat_d2 --resume_from_step 5 --num_iterations 8 \
  --data_dir "$prepared/base_data" --max_seq_len 16 --device_batch_size 2 --eval_every -1 \
  --save_every -1 > "$work/train.log" 2>&1 || fail "training from the nanochat step failed: $(tail -3 "$work/train.log")"
grep -q 'resumed from .*nanochat_d2 at step 5' "$work/train.log" || fail "did not resume at step 5"
grep -q '"n_kv_head":1' "$work/train.log" || fail "the model was not built from the checkpoint's config"
grep -q 'step 00008/00008' "$work/train.log" || fail "training did not reach step 8"
"$nanotrain" ckpt verify "$NANOTRAIN_BASE_DIR/base_checkpoints/nanochat_d2" --step 8 | grep -q "step 8: ok" ||
  fail "step 8 is not a complete nanotrain step"

# The optimizer files of a two-rank nanochat run (DistAdamW and DistMuon shards) resume on two
# ranks, and export as the gathered layout.
cp -r "$fixtures/nanochat_ranks/d2" "$NANOTRAIN_BASE_DIR/base_checkpoints/nanochat_ranks"
"$ntrun" --standalone --nproc_per_node 2 "$nanotrain" train --model_tag nanochat_ranks \
  --resume_from_step 5 --num_iterations 6 --data_dir "$prepared/base_data" --max_seq_len 16 \
  --device_batch_size 2 --eval_every -1 --save_every -1 > "$work/train_ranks.log" 2>&1 ||
  fail "two ranks from the nanochat rank files failed: $(tail -3 "$work/train_ranks.log")"
grep -q 'resumed from .*nanochat_ranks at step 5' "$work/train_ranks.log" ||
  fail "two ranks did not resume at step 5"
"$nanotrain" ckpt export "$NANOTRAIN_BASE_DIR/base_checkpoints/nanochat_ranks" --step 5 \
  --layout gathered --out "$work/gathered" > /dev/null || fail "ckpt export --layout gathered failed"
"$nanotrain" ckpt verify "$work/gathered" | grep -q "step 5: ok" ||
  fail "the gathered export of the rank files is not a complete step"
echo "ok: loss $loss (Python $expected), export and import keep it, training resumes from step 5" \
  "on one rank, and on two from a two-rank run's files"
