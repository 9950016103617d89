#!/usr/bin/env bash
# Peak resident memory and speed of `nanotrain prepare` against the corpus size: the KJV as
# JSON Lines (a chapter per line) once and COPIES times, each prepared with a reused tokenizer
# (so the tokenizer's sample is out of the picture) and once with the tokenizer trained on the
# single copy. The ratio of the peaks is the figure: memory must not grow with the corpus.
# Usage: bench/prepare_memory.sh [build/bin/nanotrain] [COPIES]
set -euo pipefail
nanotrain=${1:-build/bin/nanotrain}
copies=${2:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bible -f Gen1:1-Rev22:21 | python3 -c '
import json, sys
chapter, text = None, []
for line in sys.stdin:
    ref = line.split(":", 1)[0]
    if ref != chapter and text:
        print(json.dumps({"text": "".join(text)}))
        text = []
    chapter = ref
    text.append(line)
print(json.dumps({"text": "".join(text)}))' > "$work/kjv.jsonl"
for _ in $(seq "$copies"); do cat "$work/kjv.jsonl"; done > "$work/kjv_x$copies.jsonl"

# run NAME FLAGS...: prepare into $work/NAME; prints peak RSS (MB), seconds, tokens, tokens/s.
run() {
  local name=$1
  shift
  /usr/bin/time -f "%M %e" -o "$work/$name.time" "$nanotrain" prepare --base_dir "$work/$name" \
    "$@" > "$work/$name.log" 2>&1 || { cat "$work/$name.log"; exit 1; }
  read -r rss_kb seconds < "$work/$name.time"
  tokens=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["tokens"])' \
    "$work/$name/base_data/manifest.json")
  awk -v n="$name" -v r="$rss_kb" -v s="$seconds" -v t="$tokens" -v b="$(stat -c %s "$2")" \
    'BEGIN { printf "%-22s %8.1f MB input %7.1f MB peak RSS %6.1f s %11d tokens %9.0f tokens/s\n",
             n, b / 1e6, r / 1024, s, t, t / s }'
}
run train_tokenizer_x1 --input "$work/kjv.jsonl" --shard_tokens 1000000
tokenizer=$work/train_tokenizer_x1/tokenizer/tokenizer.model
run reuse_x1 --input "$work/kjv.jsonl" --tokenizer "$tokenizer" --shard_tokens 1000000
run "reuse_x$copies" --input "$work/kjv_x$copies.jsonl" --tokenizer "$tokenizer" \
  --shard_tokens 1000000
echo "cpu: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p')"
