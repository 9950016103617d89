#!/usr/bin/env bash
# The GPU path, proved in one command on a machine that has a GPU: an NVIDIA H200 with PyTorch
# 2.x and CUDA in python3, nvcc, cmake and ninja, but no internet and no apt.
#   scripts/gpu_check.sh fetch  here, on Debian with apt: the build's dependencies that such a
#                               machine lacks, as Debian .deb files (apt-get download), and the
#                               KJV corpus as text, into .gpu_check/ (a few MB; carry it along)
#   scripts/gpu_check.sh run    there: unpacks the .debs into .gpu_check/prefix (dpkg -x, or
#                               Python's ar and tar where dpkg is absent; never into /), builds
#                               against python3's LibTorch with CUDA, and runs the checks
#   scripts/gpu_check.sh rehearse  here, without a GPU: `run` with the project's pip PyTorch
#                               (scripts/setup.sh --torch2), the checks on the CPU at a tiny size,
#                               so that the script is proved before a GPU's minutes are spent
# The checks: the model and optimizers on CUDA against the CPU (tests/gpu); a 1-GPU run of
# nanochat's d12 (seq 2048) for 30 steps with a checkpoint at step 15, a kill, and a resume that
# must repeat steps 16-30's losses exactly (--deterministic); two ranks on the one GPU over NCCL
# (skipped, with NCCL's reason, where it refuses); tok/s and MFU against the H200's bf16 dense
# peak, 989 TFLOP/s (the H100 SXM's figure too: the same GH100 compute). The summary goes to
# $OUT/gpu_check_summary.txt when OUT is set, else .gpu_check/summary.txt. Without a GPU, `run`
# stops after the build and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state=$root/.gpu_check
debs=(nlohmann-json3-dev libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libgtest-dev
      libgmock-dev libsentencepiece-dev libsentencepiece0 libgloo-dev zlib1g-dev)

fetch() {
  mkdir -p "$state/debs" "$state/kjv"
  (cd "$state/debs" && apt-get download "${debs[@]}")
  # One file per chapter: `nanotrain prepare --input DIR` takes a file as a document.
  "$(command -v bible || echo /usr/games/bible)" -f Gen1:1-Rev22:21 |
    awk -v dir="$state/kjv" '{ ref = $1; sub(/:.*/, "", ref)
      if (ref != last) { n++; last = ref; if (out) close(out); out = sprintf("%s/%04d.txt", dir, n) }
      print > out }'
  echo "gpu_check: $(ls "$state/debs" | wc -l) packages and $(ls "$state/kjv" | wc -l) chapters" \
    "in $state ($(du -sch "$state/debs" "$state/kjv" | tail -1 | cut -f1))"
}

# Unpacks every .deb into $state/prefix, with dpkg where there is one.
unpack() {
  rm -rf "$state/prefix"
  mkdir -p "$state/prefix"
  for deb in "$state"/debs/*.deb; do
    if command -v dpkg > /dev/null; then
      dpkg -x "$deb" "$state/prefix"
    else
      python3 - "$deb" "$state/prefix" << 'PY'
import io, lzma, sys, tarfile
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"!<arch>\n", "not a .deb"
pos = 8
while pos < len(data):
    name, size = data[pos:pos + 16].decode().strip(), int(data[pos + 48:pos + 58])
    body = data[pos + 60:pos + 60 + size]
    if name.startswith("data.tar"):
        tarfile.open(fileobj=io.BytesIO(body)).extractall(sys.argv[2])
    pos += 60 + size + (size & 1)
PY
    fi
  done
}

summary=()
note() {
  echo "gpu_check: $*"
  summary+=("$*")
}

write_summary() {
  local out=${OUT:-$state}
  mkdir -p "$out"
  printf '%s\n' "${summary[@]}" > "$out/gpu_check_summary.txt"
  echo "gpu_check: summary in $out/gpu_check_summary.txt"
}

build() {
  local prefix=$state/prefix/usr arch torch_prefix
  arch=$(gcc -dumpmachine)
  torch_prefix=$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
  note "torch $(python3 -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')," \
    "nvcc $(nvcc --version | grep -o 'release [0-9.]*')"
  local generator=()
  command -v ninja > /dev/null && generator=(-G Ninja)
  local t0=$SECONDS
  logged configure.log cmake "${generator[@]}" -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix" -DCMAKE_CUDA_COMPILER="$(command -v nvcc)" \
    -DCMAKE_CXX_FLAGS="-isystem $prefix/include" -DNANOTRAIN_SYSTEM_FMT_DIR="$prefix/include" \
    -DCMAKE_BUILD_RPATH="$prefix/lib/$arch" -DNANOTRAIN_WITH_MPI=OFF \
    -DNANOTRAIN_BUILD_BENCH=OFF -DNANOTRAIN_REFERENCE_PYTHON="$(command -v python3)" || return 1
  logged build.log cmake --build build-gpu -j "$(nproc)" --target nanotrain ntrun gpu_tests ||
    return 1
  note "built nanotrain, ntrun and gpu_tests with CUDA and NCCL in $((SECONDS - t0)) s"
  local foreign
  foreign=$(foreign_deps)
  [ -z "$foreign" ] && note "every header and library came from $state/prefix and python3's torch" ||
    note "FAILED: taken from outside $state/prefix and python3's torch:" $foreign
}

# A GPU machine has none of these but what the prefix brings: list any the build took from the
# system instead (headers from ninja's dependency log, libraries from ldd).
foreign_deps() {
  local system_lib=/usr/lib/$(gcc -dumpmachine)
  {
    ninja -C build-gpu -t deps | grep -oE \
      '^\s+/usr/include/(nlohmann|spdlog|fmt|gtest|gmock|sentencepiece|gloo|torch|ATen|c10|zlib\.h)' ||
      true
    ldd build-gpu/bin/nanotrain build-gpu/bin/gpu_tests build-gpu/bin/libnanotrain_sentencepiece.so |
      grep -oE "=> $system_lib/lib(spdlog|fmt|sentencepiece|torch|c10|gtest)[^ ]*" || true
  } | sed 's/^[ =>]*//' | sort -u
}

# losses LOG FIRST LAST: the loss column of steps FIRST..LAST.
losses() {
  awk -v a="$2" -v b="$3" '/^.*step [0-9]+\/[0-9]+ .*\| loss:/ {
    match($0, /step [0-9]+/); s = substr($0, RSTART + 5, RLENGTH - 5) + 0
    if (s >= a && s <= b) { match($0, /loss: [0-9.]+/); print s, substr($0, RSTART + 6, RLENGTH - 6) } }' "$1"
}

# gtest_counts LOG: "N passed, M skipped, K failed" from a gtest log (a test's own line ends
# with its time in parentheses; the closing lists repeat the names without).
gtest_counts() {
  local passed skipped failed
  passed=$(grep -c '^\[       OK \]' "$1" || true)
  skipped=$(grep -c '^\[  SKIPPED \] [A-Za-z].*(' "$1" || true)
  failed=$(grep -c '^\[  FAILED  \] [A-Za-z].*(' "$1" || true)
  echo "$passed passed, $skipped skipped, $failed failed"
}

# logged LOG CMD...: runs CMD with its output in $state/LOG; a failure is noted with the log's
# last line and returned.
logged() {
  local log=$state/$1 rc=0
  shift
  "$@" > "$log" 2>&1 || rc=$?
  [ $rc = 0 ] || note "FAILED (exit $rc): ${1##*/} ${2:-} ($log: $(tail -1 "$log"))"
  return $rc
}

# checks LABEL TOKENS_PER_STEP SIZE_ARGS...: the checks, with the model and device the
# arguments give.
checks() {
  local label=$1 batch=$2 bin=$root/build-gpu/bin work=$state/work
  shift 2
  rm -rf "$work"
  mkdir -p "$work"
  logged gpu_tests.log "$bin/gpu_tests" || true
  note "CUDA vs CPU (tests/gpu): $(gtest_counts "$state/gpu_tests.log")"
  grep -E '^\[ +(OK|FAILED|SKIPPED) +\] [A-Za-z].*\(' "$state/gpu_tests.log" | sed 's/^/  /' || true

  logged prepare.log "$bin/nanotrain" prepare --input "$state/kjv" --base_dir "$work" || return 0
  export NANOTRAIN_BASE_DIR=$work
  local args=(train "$@" --total_batch_size "$batch" --num_iterations 30 --save_every 15
              --eval_every -1 --async_save false --deterministic true)
  logged train_a.log "$bin/nanotrain" "${args[@]}" --model_tag a || true
  NANOTRAIN_TEST_CRASH_AT=after_checkpoint "$bin/nanotrain" "${args[@]}" --model_tag b \
    > "$state/train_b1.log" 2>&1 || true
  logged train_b2.log "$bin/nanotrain" "${args[@]}" --model_tag b --resume_from_step auto || true
  if diff <(losses "$state/train_a.log" 16 30) <(losses "$state/train_b2.log" 16 30) > /dev/null &&
     [ "$(losses "$state/train_b2.log" 16 30 | wc -l)" = 15 ] &&
     [ "$(losses "$state/train_b1.log" 1 30 | wc -l)" = 15 ]; then
    note "$label: killed after the checkpoint at step 15, resumed: steps 16-30 repeat their losses exactly"
  else
    note "$label: resume at step 15 FAILED: losses of steps 16-30 differ (train_a.log, train_b2.log)"
  fi
  note "$label, last step of $batch tokens: $(grep '| loss:' "$state/train_a.log" | tail -1 |
    grep -o 'dt: [0-9.]*ms | tok/sec: [0-9,]* | mfu: [0-9.]*' || echo none)"

  # Two ranks on one GPU: NCCL refuses two ranks on one device in most versions; try it.
  cat > "$work/two_ranks.py" << 'PY'
import torch, torch.distributed as dist
torch.cuda.set_device(0)
dist.init_process_group("nccl")
t = torch.ones(1, device="cuda")
dist.all_reduce(t)
assert t.item() == 2
PY
  if timeout 120 "$bin/ntrun" --standalone --nproc_per_node=2 "$work/two_ranks.py" \
      > "$state/two_ranks.log" 2>&1; then
    note "ntrun 2 ranks on one GPU: NCCL allows it (an all_reduce ran); nanotrain itself takes" \
      "cuda:LOCAL_RANK, one GPU per rank, so its 2-rank runs need 2 GPUs"
  else
    note "ntrun 2 ranks on one GPU: skipped: $(grep -m1 -oE \
      'Duplicate GPU[^.]*|ncclInvalidUsage[^.]*|[A-Za-z]*Error: .*' "$state/two_ranks.log" ||
      tail -1 "$state/two_ranks.log")"
  fi
}

# run_all LABEL TOKENS_PER_STEP SIZE_ARGS...: unpack, build, then the checks where a GPU is
# (or, rehearsing, on the CPU), and the summary.
run_all() {
  [ -d "$state/debs" ] || { echo "gpu_check: run 'scripts/gpu_check.sh fetch' first" >&2; exit 1; }
  local t0=$SECONDS
  unpack
  note "unpacked $(ls "$state/debs" | wc -l) Debian packages into $state/prefix"
  # A failed configure or build is in the summary (with its log's last line), not the end of it.
  if ! build; then
    note "no checks ran: the build failed"
  elif [ -n "${rehearsal:-}" ]; then
    note "rehearsal: no GPU; the checks run on the CPU at a tiny size"
    checks "$@"
  elif python3 -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    note "GPU: $(python3 -c 'import torch; print(torch.cuda.get_device_name(0))')"
    checks "$@"
  else
    note "no GPU here: built and linked with CUDA; the GPU checks did not run"
  fi
  note "total $((SECONDS - t0)) s"
  write_summary
}

case "${1:-}" in
  fetch) fetch ;;
  run) run_all "d12 (seq 2048, bf16, 1 GPU, MFU of 989 TFLOP/s)" 65536 \
         --config configs/d12.json --device_batch_size 32 --peak_flops 989e12 ;;
  rehearse)
    export PATH=${NANOTRAIN_TORCH2_VENV:-$HOME/.cache/nanotrain/torch-venv}/bin:$PATH
    rehearsal=1 run_all "rehearsal at depth 2 (seq 256, fp32, CPU)" 8192 --depth 2 \
      --max_seq_len 256 --device_batch_size 32 --device cpu --dtype float32
    ;;
  *)
    echo "usage: scripts/gpu_check.sh fetch|run|rehearse" >&2
    exit 2
    ;;
esac
