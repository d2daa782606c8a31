#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with warnings as errors, runs the whole suite
# under ctest (unit tests, rule checks, end-to-end tests with a real Kannel), then builds again with
# AddressSanitizer + UndefinedBehaviorSanitizer and runs the suite under them.
# Last, it fuzzes the expression parser and the rule loader for 60 s each (tests/fuzz/run.sh, clang
# + libFuzzer, ASan + UBSan) after replaying the saved crash reproducers.
# Set ENNAKKO_SKIP_SANITIZERS=1 to skip the second build while iterating locally, and
# ENNAKKO_SKIP_FUZZ=1 to skip the fuzzing (ENNAKKO_FUZZ_SECONDS changes its length per target).
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh

jobs=$(nproc)
run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DENNAKKO_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  (cd "$dir" && ctest --output-on-failure --timeout 600 -j 2)
}

echo "== build and test (RelWithDebInfo, -Werror)"
run_suite build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [ "${ENNAKKO_SKIP_SANITIZERS:-0}" != "1" ]; then
  echo "== build and test under ASan + UBSan"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DENNAKKO_SANITIZE=ON
fi

if [ "${ENNAKKO_SKIP_FUZZ:-0}" != "1" ]; then
  echo "== fuzz the expression parser and the rule loader (libFuzzer, ASan + UBSan)"
  bash tests/fuzz/run.sh "${ENNAKKO_FUZZ_SECONDS:-60}"
fi
