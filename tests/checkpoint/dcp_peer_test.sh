#!/usr/bin/env bash
# torch.distributed.checkpoint both ways, against the pip PyTorch: a DCP checkpoint that Python
# saves from 2 ranks (matrices sharded by rows) imports with Python's loss, nanotrain's DCP
# export loads in Python at 3 ranks with nanotrain's loss, and damaged or foreign directories
# are refused with errors that name the file.
# Usage: dcp_peer_test.sh NANOTRAIN TEST_DATA_DIR PEER_PYTHON
set -euo pipefail
nanotrain=$1
data=$(cd "$2" && pwd)
python=$3
peer=$(cd "$(dirname "$0")/../reference" && pwd)/dcp_peer.py
source "$(dirname "$0")/cli_harness.sh"
close() {  # |a - b| < 1e-5
  awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }'
}
loss_of() {
  "$nanotrain" loss --checkpoint_dir "$1" --tokens "$tokens" | sed -n 's/^loss: //p'
}
expect_error() {  # expect_error PATTERN COMMAND...: fails, exit 1, stderr matching PATTERN
  local pattern=$1
  shift
  if "$@" > "$work/out.txt" 2> "$work/err.txt"; then fail "'$*' succeeded"; fi
  grep -q -- "$pattern" "$work/err.txt" || fail "'$*' printed: $(cat "$work/err.txt")"
  if grep -qi "segmentation\|terminate called\|stack trace" "$work/err.txt"; then
    fail "'$*' crashed: $(cat "$work/err.txt")"
  fi
}

# Python -> nanotrain: {"model": state_dict, "step": 5} from 2 ranks; the model config given.
"$python" "$peer" save "$ckpt" 5 "$work/from_python" 2 2> "$work/save.log" ||
  fail "Python's dcp.save failed: $(tail -5 "$work/save.log")"
ls "$work/from_python"/__1_*.distcp > /dev/null || fail "no shard of rank 1 in the DCP directory"
"$python" -c "import json, sys; json.dump(json.load(open(sys.argv[1]))['model_config'], \
  open(sys.argv[2], 'w'))" "$ckpt/meta_000005.json" "$work/model_config.json"
"$nanotrain" ckpt import --format dcp "$work/from_python" --out "$work/imported" \
  --model_config "$work/model_config.json" > "$work/import.txt" || fail "ckpt import failed"
grep -q "skipped 1 entries that are not model parameters: step" "$work/import.txt" ||
  fail "import printed: $(cat "$work/import.txt")"
imported=$(loss_of "$work/imported")
expected=$(cat "$fixtures/nanochat_eval_loss.txt")
close "$imported" "$expected" || fail "loss $imported after the DCP import, Python's is $expected"

# nanotrain -> Python: the export loads at another world size (3) with the same loss.
"$nanotrain" ckpt export "$work/imported" --format dcp --out "$work/to_python" > /dev/null ||
  fail "ckpt export --format dcp failed"
python_loss=$("$python" "$peer" load "$work/to_python" "$work/to_python/model_config.json" \
  "$tokens" 3 2> "$work/load.log" | sed -n 's/^loss: //p') ||
  fail "Python's dcp.load failed: $(tail -5 "$work/load.log")"
close "$python_loss" "$imported" || fail "Python's loss $python_loss on the export, nanotrain's $imported"
# ... and back, the model config travelling in the directory: the very same weights.
"$nanotrain" ckpt import --format dcp "$work/to_python" --out "$work/reimported" --step 7 \
  > /dev/null || fail "re-import of the export failed"
[[ $(loss_of "$work/reimported") == "$imported" ]] || fail "loss changed on export and re-import"
expect_error "step 7 exists already" "$nanotrain" ckpt import --format dcp "$work/to_python" \
  --out "$work/reimported" --step 7
expect_error "holds a DCP checkpoint already" "$nanotrain" ckpt export "$work/imported" \
  --format dcp --out "$work/to_python"

# Damaged and foreign directories.
expect_error "carries no model_config.json; give --model_config" "$nanotrain" ckpt import \
  --format dcp "$work/from_python" --out "$work/x"
cp -r "$work/from_python" "$work/truncated"
shard=$(ls "$work/truncated"/__1_*.distcp | head -1)
truncate -s 1000 "$shard"
expect_error "$(basename "$shard").*(truncated?)" "$nanotrain" ckpt import --format dcp \
  "$work/truncated" --out "$work/x" --model_config "$work/model_config.json"
cp -r "$work/from_python" "$work/garbled"
printf 'garbage' | dd of="$work/garbled/.metadata" bs=1 seek=200 conv=notrunc 2> /dev/null
expect_error "garbled/.metadata" "$nanotrain" ckpt import --format dcp "$work/garbled" \
  --out "$work/x" --model_config "$work/model_config.json"
rm "$work/garbled/.metadata"
expect_error "is not a torch.distributed.checkpoint directory: it has no .metadata" \
  "$nanotrain" ckpt import --format dcp "$work/garbled" --out "$work/x" \
  --model_config "$work/model_config.json"
"$python" "$peer" save_foreign "$work/foreign" 2> "$work/foreign.log" ||
  fail "Python's dcp.save of the foreign state dict failed: $(tail -3 "$work/foreign.log")"
expect_error "does not hold the model .* missing \[lm_head.weight.*its keys include \[encoder.layer.0.weight, epoch\]" \
  "$nanotrain" ckpt import --format dcp "$work/foreign" --out "$work/x" \
  --model_config "$work/model_config.json"
[[ ! -e $work/x ]] || fail "a refused import left $work/x behind"
echo "ok: DCP from 2 Python ranks imports with loss $imported (Python $expected); the export" \
  "loads at 3 Python ranks with loss $python_loss; damaged and foreign directories refused"
