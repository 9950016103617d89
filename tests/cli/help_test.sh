#!/usr/bin/env bash
# The command line explains itself: every command answers --help and -h (exit 0) from its own
# flag list; docs/flags.md is exactly what the programs print; every flag the README (and a
# command line in docs/) shows after `nanotrain CMD` is one of CMD's (and before it, one of
# ntrun's); errors of a process that no launcher started name no rank, and those of a rank do.
# Usage: help_test.sh NANOTRAIN NTRUN SOURCE_DIR
set -euo pipefail
nanotrain=$1
ntrun=$2
src=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}
commands=(prepare train ckpt loss sample plot)

"$nanotrain" --help > "$work/top.txt" || fail "nanotrain --help exited non-zero"
for cmd in "${commands[@]}"; do
  grep -q "^  $cmd " "$work/top.txt" || fail "nanotrain --help does not list $cmd"
  "$nanotrain" "$cmd" --help > "$work/$cmd.txt" || fail "nanotrain $cmd --help exited non-zero"
  "$nanotrain" "$cmd" -h | cmp -s - "$work/$cmd.txt" || fail "nanotrain $cmd -h differs from --help"
  head -1 "$work/$cmd.txt" | grep -q "^usage: nanotrain $cmd" || fail "$cmd --help has no usage"
  grep -q "^flags:" "$work/$cmd.txt" || fail "$cmd --help lists no flags"
done
for action in export import; do
  grep -q "ckpt .*$action" "$work/top.txt" || fail "nanotrain --help leaves out ckpt $action"
done
"$nanotrain" > /dev/null 2>&1 && fail "nanotrain with no command exited 0"
"$ntrun" --help > "$work/ntrun.txt" || fail "ntrun --help exited non-zero"

"$src/scripts/flags_doc.sh" "$nanotrain" "$ntrun" > "$work/flags.md"
diff -u "$src/docs/flags.md" "$work/flags.md" > "$work/flags.diff" ||
  fail "docs/flags.md is not what --help prints; run scripts/flags_doc.sh:
$(cat "$work/flags.diff")"

# flags_of FILE: the --flags a help text or a piece of README names, dashes as underscores.
flags_of() { grep -o -- '--[a-z][a-z0-9_-]*' "$1" | tr - _ | sed 's/^__/--/' | sort -u; }
for cmd in "${commands[@]}"; do flags_of "$work/$cmd.txt" > "$work/$cmd.flags"; done
{ flags_of "$work/ntrun.txt"; echo --help; } | sort -u > "$work/ntrun.flags"
cat "$work"/*.flags | sort -u > "$work/all.flags"
check_doc() {
local doc=$1 n=0 line cmd text known before
while IFS= read -r line; do
  n=$((n + 1))
  [[ $line == *--* ]] || continue
  # In docs/, only command lines; prose there names other programs' flags too.
  [[ $doc == README.md || $line =~ nanotrain\ [a-z]|ntrun\ -- ]] || continue
  known=$work/all.flags
  text=$line
  # Other programs' flags (srun, mpirun, cmake, tensorboard, setup.sh) are theirs to check.
  if [[ $line =~ (srun|mpirun|cmake|tensorboard|setup\.sh)\  && ! $line =~ nanotrain\ [a-z] ]]; then
    continue
  fi
  if [[ $line =~ nanotrain\ (prepare|train|ckpt|loss|sample|plot)(.*) ]]; then
    cmd=${BASH_REMATCH[1]}
    text=${BASH_REMATCH[2]}
    # Flags before `nanotrain CMD` (on its line, or a continued ntrun line) are ntrun's;
    # srun's and mpirun's are not checked.
    before=${line%%nanotrain "$cmd"*}
    if [[ ! $before =~ (srun|mpirun) ]]; then
      printf '%s\n' "$before" > "$work/line.txt"
      comm -23 <(flags_of "$work/line.txt") "$work/ntrun.flags" > "$work/unknown.txt" || true
      [[ -s $work/unknown.txt ]] &&
        fail "$doc:$n: ntrun has no $(paste -sd' ' "$work/unknown.txt"): $line"
    fi
    { cat "$work/$cmd.flags"; echo --help; } | sort -u > "$work/known.flags"
    known=$work/known.flags
  fi
  printf '%s\n' "$text" > "$work/line.txt"
  comm -23 <(flags_of "$work/line.txt") "$known" > "$work/unknown.txt" || true
  [[ -s $work/unknown.txt ]] &&
    fail "$doc:$n: --help knows no $(paste -sd' ' "$work/unknown.txt"): $line"
done < "$src/$doc"
}
for doc in README.md docs/training.md docs/checkpoints.md docs/launching.md; do check_doc "$doc"; done

# Outside any launcher an error names no rank; as rank 1 of a job it does.
clean_env=(env -i "PATH=$PATH" "HOME=$work")
"${clean_env[@]}" "$nanotrain" loss > /dev/null 2> "$work/err.txt" && fail "loss without flags exited 0"
[[ $(cat "$work/err.txt") == "loss: --checkpoint_dir DIR is required" ]] ||
  fail "error outside a job: $(cat "$work/err.txt")"
"${clean_env[@]}" RANK=1 WORLD_SIZE=2 "$nanotrain" loss > /dev/null 2> "$work/err.txt" &&
  fail "loss without flags exited 0"
[[ $(cat "$work/err.txt") == "rank 1: loss: --checkpoint_dir DIR is required" ]] ||
  fail "error of rank 1: $(cat "$work/err.txt")"
echo "help: ok"
