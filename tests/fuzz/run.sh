#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, ASan + UBSan) in build-fuzz/ and fuzzes each for a while.
#
#   tests/fuzz/run.sh [SECONDS]   replay tests/fuzz/regressions/, then fuzz each target SECONDS
#                                 (default 60); exits non-zero on any crash, hang, OOM or
#                                 sanitizer report
#   tests/fuzz/run.sh merge       minimise the working corpus back into tests/fuzz/corpus/
#
# Targets: fuzz_expression (ParseExpression + CheckExpression) and fuzz_rule (CheckRuleText).
# A hang is an input that takes over 2 s (-timeout=2); memory is capped by -rss_limit_mb.
# The committed seeds in tests/fuzz/corpus/TARGET are only read; what the fuzzer learns goes to
# build-fuzz/fuzz-corpus/TARGET (kept between local runs), and crash reproducers to
# build-fuzz/fuzz-artifacts/. Copy a reproducer to tests/fuzz/regressions/ as TARGET-NAME (e.g.
# rule-self-alias.yaml) so that every later run replays it.
# Environment: ENNAKKO_FUZZ_BUILD_DIR (default build-fuzz), ENNAKKO_FUZZ_JOBS (parallel build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${ENNAKKO_FUZZ_BUILD_DIR:-$root/build-fuzz}
mode=fuzz
seconds=60
case "${1:-}" in
  "") ;;
  merge) mode=merge ;;
  *[!0-9]* | 0) echo "usage: $0 [SECONDS | merge]" >&2; exit 2 ;;
  *) seconds=$1 ;;
esac

targets=(expression rule)
declare -A max_len=([expression]=20000 [rule]=16384)
rss_mb=2048

echo "== fuzz: build ($build)"
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DENNAKKO_FUZZ=ON -DENNAKKO_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target fuzzers -j "${ENNAKKO_FUZZ_JOBS:-$(nproc)}"

export ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi

bin() { echo "$build/tests/fuzz/fuzz_$1"; }
common() { echo "-timeout=2 -rss_limit_mb=$rss_mb -max_len=${max_len[$1]} -dict=$here/$1.dict"; }

if [ "$mode" = merge ]; then
  for t in "${targets[@]}"; do
    work="$build/fuzz-corpus/$t" fresh="$build/fuzz-merge/$t"
    mkdir -p "$work"
    rm -rf "$fresh" && mkdir -p "$fresh"
    # Seeds with a readable name are kept as they are; fuzzer finds (named by their SHA-1) are
    # kept only when they add edge coverage to everything before them.
    find "$here/corpus/$t" -type f ! -regex '.*/[0-9a-f]\{40\}' -exec cp {} "$fresh/" \;
    # shellcheck disable=SC2046
    "$(bin "$t")" $(common "$t") -use_counters=0 -merge=1 "$fresh" "$here/corpus/$t" "$work" 2>&1 | grep -E "MERGE-OUTER: [0-9]+ new files" || true
    find "$here/corpus/$t" -type f -regex '.*/[0-9a-f]\{40\}' -delete
    cp -n "$fresh"/* "$here/corpus/$t/"
    echo "fuzz: corpus/$t: $(ls "$here/corpus/$t" | wc -l) files, $(du -sh "$here/corpus/$t" | cut -f1)"
  done
  exit 0
fi

failed=()
logs="$build/fuzz-logs"
mkdir -p "$logs" "$build/fuzz-artifacts"

echo "== fuzz: replay tests/fuzz/regressions"
shopt -s nullglob
for f in "$here"/regressions/*; do
  name=$(basename "$f")
  t=${name%%-*}
  if [ ! -x "$(bin "$t")" ]; then
    echo "fuzz: regressions/$name: no target fuzz_$t (name reproducers TARGET-...)" >&2
    failed+=("regressions/$name")
    continue
  fi
  if "$(bin "$t")" -timeout=2 -rss_limit_mb=$rss_mb "$f" >"$logs/regression-$name.log" 2>&1; then
    echo "ok    regressions/$name"
  else
    echo "FAIL  regressions/$name: $(grep -m1 -E 'SUMMARY|ERROR: libFuzzer|invariant broken' "$logs/regression-$name.log" || echo 'see log')"
    echo "      log: $logs/regression-$name.log"
    failed+=("regressions/$name")
  fi
done

for t in "${targets[@]}"; do
  echo "== fuzz: fuzz_$t for ${seconds}s"
  work="$build/fuzz-corpus/$t"
  mkdir -p "$work"
  log="$logs/fuzz_$t.log"
  # shellcheck disable=SC2046
  if "$(bin "$t")" $(common "$t") -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$build/fuzz-artifacts/$t-" "$work" "$here/corpus/$t" >"$log" 2>&1; then
    status=ok
  else
    status=FAIL
    failed+=("fuzz_$t")
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  echo "$status  fuzz_$t: ${execs:-?} runs, ${speed:-?} exec/s, working corpus $(ls "$work" | wc -l) files"
  if [ "$status" = FAIL ]; then
    grep -E -A 12 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error|invariant broken' "$log" | head -40 || true
    grep -E 'Test unit written to' "$log" || true
    echo "      log: $log"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no crash, hang or sanitizer report"
