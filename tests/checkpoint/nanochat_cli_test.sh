#!/usr/bin/env bash
# The nanochat checkpoint of make_torch_fixtures.py through the command line: `nanotrain loss`
# gives Python's loss, `sample` runs, `ckpt verify` names the missing commit record, and
# `ckpt export` then `ckpt import` give a nanotrain step with the very same loss.
# Usage: nanochat_cli_test.sh NANOTRAIN TEST_DATA_DIR
set -euo pipefail
nanotrain=$1
data=$(cd "$2" && pwd)
fixtures=$data/torch_files
prepared=$data/prepared
ckpt=$fixtures/nanochat/d2
tokens=$fixtures/nanochat_tokens.txt

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export NANOTRAIN_BASE_DIR=$work/base OMP_NUM_THREADS=1
mkdir -p "$NANOTRAIN_BASE_DIR" && ln -s "$prepared/tokenizer" "$NANOTRAIN_BASE_DIR/tokenizer"

fail() {
  echo "FAIL: $*"
  exit 1
}

loss=$("$nanotrain" loss --checkpoint_dir "$ckpt" --tokens "$tokens" | sed -n 's/^loss: //p')
expected=$(cat "$fixtures/nanochat_eval_loss.txt")
awk -v a="$loss" -v b="$expected" 'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }' ||
  fail "loss $loss on the nanochat checkpoint, Python's is $expected"

"$nanotrain" sample --checkpoint_dir "$ckpt" --prompt "In the beginning" --max_tokens 8 \
  --temperature 0 > "$work/sample.txt" || fail "sample failed"
grep -q "^In the beginning" "$work/sample.txt" || fail "sample printed: $(cat "$work/sample.txt")"

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
echo "ok: loss $loss (Python $expected), export and import keep it"
