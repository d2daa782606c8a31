#!/usr/bin/env bash
# Benchmark: `ennakko serve` on the embedded default with a fresh demo city. Prints the time from
# start to "all demo offers sent", the offers sent, and the daemon's peak RSS (VmHWM).
# Usage: bench/serve_demo.sh [RESIDENTS]   (default 50000; builds the binary if needed)
set -euo pipefail
cd "$(dirname "$0")/.."
residents=${1:-50000}
bin=${ENNAKKO_BIN:-build/engine/app/ennakko}
[ -x "$bin" ] || { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null && cmake --build build --target ennakko; }

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/ennakko.yaml" <<YAML
store: {path: ennakko.db}
audit: {path: audit.jsonl, pseudonym_key: "bench-only-pseudonym-key-0123456789"}
rules: {directory: $PWD/rules}
population: {kind: file-drop, directory: population, poll_every_seconds: 1, demo: {seed: 42, residents: $residents}}
channels: {file: {directory: offers}}
http: {port: $port}
YAML

start=$(date +%s.%N)
"$bin" serve --config "$work/ennakko.yaml" 2> "$work/log" &
pid=$!
peak=0
until grep -q "dispatch: nothing due" "$work/log"; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/log"; echo "daemon exited early" >&2; exit 1; }
  hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
  [ "${hwm:-0}" -gt "$peak" ] && peak=$hwm
  sleep 0.05
done
end=$(date +%s.%N)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
[ "$hwm" -gt "$peak" ] && peak=$hwm
kill -TERM "$pid"
wait "$pid"
rc=$?
sent=$(ls "$work/offers" | wc -l)
echo "residents:                     $residents"
echo "offers sent (files):           $sent"
printf 'start to all offers sent:      %.2f s\n' "$(echo "$end - $start" | bc -l)"
echo "peak RSS (VmHWM):              $((peak / 1024)) MiB"
echo "exit code after SIGTERM:       $rc"
grep -E "engine:|population:|demo city" "$work/log" | sed 's/^/  log: /'
