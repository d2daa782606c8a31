#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with warnings as errors, runs the whole suite
# under ctest (unit tests, rule checks, end-to-end tests with a real Kannel), then builds again with
# AddressSanitizer + UndefinedBehaviorSanitizer and runs the suite under them.
# Set ENNAKKO_SKIP_SANITIZERS=1 to skip the second build while iterating locally.
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
