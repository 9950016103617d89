# Set-up shared by the shell tests of `nanotrain` on checkpoints; source it after setting `data`
# (the build's test data directory). Provides $work (removed at exit) as the base directory's
# parent, NANOTRAIN_BASE_DIR with the prepared tokenizer, the nanochat fixture ($fixtures, $ckpt,
# $tokens), and fail. Commands run one thread each.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export NANOTRAIN_BASE_DIR=$work/base OMP_NUM_THREADS=1
mkdir -p "$NANOTRAIN_BASE_DIR" && ln -s "$data/prepared/tokenizer" "$NANOTRAIN_BASE_DIR/tokenizer"
fixtures=$data/torch_files
ckpt=$fixtures/nanochat/d2
tokens=$fixtures/nanochat_tokens.txt

# fail MESSAGE: prints it and ends the test.
fail() {
  echo "FAIL: $*"
  exit 1
}
