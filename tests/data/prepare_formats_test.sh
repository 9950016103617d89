#!/usr/bin/env bash
# `nanotrain prepare` on the corpus formats people have: the same documents as .txt files (a
# file per document), as lines of a text file (--input_format lines), as JSON Lines (plain,
# gzip, another --text_field) all give byte-identical token shards with one reused tokenizer
# (--tokenizer), and the trainer trains on them. Bad input is a named error (file and line) or a
# counted skip: empty documents, a JSON line without the field, malformed JSON or UTF-8, a
# damaged .gz, a line over the limit. A prepare killed while writing or before publishing
# leaves the old data in place, and the trainer refuses shards without their manifest or made
# with another tokenizer.
# Usage: prepare_formats_test.sh NANOTRAIN PREPARED_BASE_DIR
set -euo pipefail
nanotrain=$1
prepared=$(cd "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1
fail() {
  echo "FAIL: $*"
  cat "$work"/*.log 2> /dev/null | tail -20
  exit 1
}
tokenizer=$prepared/tokenizer/tokenizer.model

# 60 one-line documents (quotes and a non-ASCII letter, which JSON escapes), in each format.
python3 - "$work" << 'PY'
import json, os, sys
work = sys.argv[1]
os.mkdir(f"{work}/txt")
utf8 = {"mode": "w", "encoding": "utf-8"}
with open(f"{work}/corpus.lines", **utf8) as lines, open(f"{work}/corpus.jsonl", **utf8) as jsonl, \
        open(f"{work}/content.jsonl", **utf8) as content:
    for i in range(1, 61):
        doc = f'Verse {i}: and God said, let there be light; and there was light, "day" {i} \u00e9.'
        with open(f"{work}/txt/doc_{i:02d}.txt", **utf8) as f:
            f.write(doc)
        lines.write(doc + "\n")
        jsonl.write(json.dumps({"id": i, "text": doc}) + "\n")
        content.write(json.dumps({"content": doc}) + "\n")
        if i == 30:  # empty documents: skipped and counted
            jsonl.write("\n" + json.dumps({"text": ""}) + "\n")
PY
gzip -k "$work/corpus.jsonl"
common=(--tokenizer "$tokenizer" --shard_tokens 1024 --val_fraction 0.1)

prepare() {  # prepare NAME FLAGS...: into $work/NAME, logged to $work/NAME.log
  local name=$1
  shift
  "$nanotrain" prepare --base_dir "$work/$name" "${common[@]}" "$@" > "$work/$name.log" 2>&1
}
prepare from_txt --input "$work/txt" || fail "prepare from .txt files failed"
prepare from_lines --input "$work/corpus.lines" --input_format lines || fail "lines failed"
prepare from_jsonl --input "$work/corpus.jsonl" || fail "prepare from .jsonl failed"
prepare from_gz --input "$work/corpus.jsonl.gz" || fail "prepare from .jsonl.gz failed"
prepare from_field --input "$work/content.jsonl" --text_field content || fail "--text_field failed"
grep -q "skipped 2 empty document(s)" "$work/from_jsonl.log" || fail "empty documents not counted"
cmp -s "$tokenizer" "$work/from_txt/tokenizer/tokenizer.model" || fail "--tokenizer not reused"
shards=$(cd "$work/from_txt/base_data" && ls *.bin)
[[ $(echo "$shards" | wc -l) -ge 2 ]] || fail "expected training and validation shards: $shards"
for name in from_lines from_jsonl from_gz from_field; do
  [[ $(cd "$work/$name/base_data" && ls *.bin) == "$shards" ]] || fail "$name: other shards"
  for shard in $shards; do
    cmp -s "$work/from_txt/base_data/$shard" "$work/$name/base_data/$shard" ||
      fail "$name/$shard differs from the .txt corpus's"
  done
done
NANOTRAIN_BASE_DIR=$work/from_gz "$nanotrain" train --data_dir "$work/from_gz/base_data" \
  --depth 1 --max_seq_len 16 --device_batch_size 2 --num_iterations 3 --eval_every 3 \
  --eval_tokens 32 --peak_flops 1e11 > "$work/train.log" 2>&1 || fail "training on .jsonl.gz data failed"

# bad NAME EXPECTED FLAGS...: prepare fails, and its error line matches EXPECTED.
bad() {
  local name=$1 expected=$2
  shift 2
  prepare "$name" "$@" && fail "$name: prepare succeeded"
  grep -q -- "$expected" "$work/$name.log" || fail "$name: expected '$expected'"
}
printf '{"text": "one"}\n{"body": "two"}\n' > "$work/no_field.jsonl"
bad no_field "no_field.jsonl:2: expected an object with a string field 'text'" \
  --input "$work/no_field.jsonl"
printf '{"text": "one"}\n{"text": "tw\n' > "$work/broken.jsonl"
bad broken "broken.jsonl:2: not a JSON line" --input "$work/broken.jsonl"
printf '{"text": "one"}\n{"text": "\xff\xfe"}\n' > "$work/not_utf8.jsonl"
bad not_utf8 "not_utf8.jsonl:2: not a JSON line: .*UTF-8" --input "$work/not_utf8.jsonl"
head -c 300 "$work/corpus.jsonl.gz" > "$work/cut.jsonl.gz"
bad cut "cut.jsonl.gz:[0-9]*: cannot read" --input "$work/cut.jsonl.gz"
{ echo short; head -c 70000000 /dev/zero | tr '\0' a; echo; } > "$work/long.lines"
bad long "long.lines:2: a line of over 67108864 bytes" --input "$work/long.lines" \
  --input_format lines
bad format "input_format: expected auto or lines, found 'csv'" --input_format csv
bad missing "input '$work/nothing.jsonl' does not exist" --input "$work/nothing.jsonl"
# Atomic datasets: a prepare killed at any point leaves the old data, whole and accepted; the
# loader refuses shards without their manifest, or made with another tokenizer.
data=$work/from_gz/base_data
[[ -f $data/manifest.json ]] || fail "no manifest.json in $data"
cp -r "$data" "$work/old_data"
train_on() {  # train_on LOG: 1 step on from_gz's data
  NANOTRAIN_BASE_DIR=$work/from_gz "$nanotrain" train --data_dir "$data" --depth 1 \
    --max_seq_len 16 --device_batch_size 2 --num_iterations 1 --eval_every -1 \
    --peak_flops 1e11 --model_tag "$1" > "$work/$1.log" 2>&1
}
for point in prepare_after_shard@1 prepare_after_shard@2 prepare_before_publish; do
  NANOTRAIN_TEST_CRASH_AT=$point prepare from_gz --input "$work/corpus.lines" \
    --input_format lines --val_fraction 0.3 && fail "prepare was not killed at $point"
  diff -r "$work/old_data" "$data" > /dev/null || fail "killed at $point, the old data changed"
  train_on "after_${point%@*}" || fail "the old data is refused after a kill at $point"
done
ls -d "$work/from_gz/base_data.partial-"* > /dev/null || fail "no staging directory left to clean"
prepare from_gz --input "$work/corpus.lines" --input_format lines --val_fraction 0.3 ||
  fail "prepare after the kills failed"
! ls -d "$work/from_gz/base_data.partial-"* 2> /dev/null || fail "staging leftovers remain"
diff -r "$work/old_data" "$data" > /dev/null && fail "the new data did not replace the old"
# A run resumes only with the tokenizer its meta records.
meta=$work/from_gz/base_checkpoints/after_prepare_before_publish/meta_000001.json
sed -i 's/"tokenizer_crc32c": "[0-9a-f]*"/"tokenizer_crc32c": "00000000"/' "$meta"
NANOTRAIN_BASE_DIR=$work/from_gz "$nanotrain" train --data_dir "$data" --depth 1 \
  --max_seq_len 16 --device_batch_size 2 --num_iterations 2 --eval_every -1 --peak_flops 1e11 \
  --model_tag after_prepare_before_publish --resume_from_step auto > "$work/resume.log" 2>&1 &&
  fail "a run resumed with another tokenizer than its meta records"
grep -q "meta_000001.json: the run was trained with the tokenizer of CRC-32C 00000000, but" \
  "$work/resume.log" || fail "no clear error for a resume with another tokenizer"
sed -i 's/"tokenizer_crc32c": "[0-9a-f]*"/"tokenizer_crc32c": "00000000"/' "$data/manifest.json"
train_on other_tokenizer && fail "shards of another tokenizer were accepted"
grep -q "written with the tokenizer of CRC-32C 00000000, but the tokenizer here is [0-9a-f]*: rerun \`nanotrain prepare\`" \
  "$work/other_tokenizer.log" || fail "no clear error for another tokenizer's shards"
rm "$data/manifest.json"
train_on no_manifest && fail "shards without a manifest were accepted"
grep -q "without manifest.json (an interrupted \`nanotrain prepare\`" "$work/no_manifest.log" ||
  fail "no clear error for shards without a manifest"
echo "prepare formats: ok"
