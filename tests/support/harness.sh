# Set-up shared by the shell tests that train through a launcher; source it after setting
# `prepared` (a base dir written by `nanotrain prepare`). Provides $work (removed at exit),
# base_dirs, the tiny model's flags in `tiny`, and fail. Workers run one thread each.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1

# base_dirs NAME...: base directories $work/NAME whose tokenizer is the prepared one.
base_dirs() {
  for name in "$@"; do
    mkdir -p "$work/$name" && ln -s "$prepared/tokenizer" "$work/$name/tokenizer"
  done
}

# The depth-1 model on the prepared shards; each test adds its own flags.
# A fixed MFU denominator: measuring this CPU's matmul peak costs 1.5 s per process start.
tiny=(--data_dir "$prepared/base_data" --depth 1 --max_seq_len 32 --peak_flops 1e11)

# fail MESSAGE: prints it and every log in $work, and ends the test.
fail() {
  echo "FAIL: $*"
  cat "$work"/*.log 2> /dev/null
  exit 1
}
