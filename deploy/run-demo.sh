#!/usr/bin/env bash
# The quick start: install what is missing (Debian packages), build, and run `ennakko serve` on a
# synthetic demo city of 50,000 residents whose registries are played by the test doubles on
# loopback, as a city would deploy it:
#   - the population register: `vtj_fake` serves the city through the VTJ change-data interface
#     (the daemon's initial load asks perustiedot for the city's identity codes, then follows the
#     change feed);
#   - the Incomes Register: `incomes_fake` holds last month's earnings reports of most guardians of
#     the children in early childhood education (ECEC); their pending fee decision is the legal
#     basis on which the daemon asks for them (docs/incomes-connector.md);
#   - the city's own registers (ECEC and pre-primary placements, contact details): a file drop;
#   - offers are written by the file channel to var/demo/offers.
# Everything lives under var/demo (the generated city, the doubles' ports and logs, the store, the
# audit log, the config written for this run). Ctrl-C stops the daemon and the doubles.
#
#   deploy/run-demo.sh [--file-drop] [--no-install] [--no-build] [SERVE-ARGS...]
#
#   --file-drop   the earlier demo without the doubles: deploy/ennakko.yaml, the whole city from a
#                 file drop under var/population, state in var/ennakko.db
#   --no-install  do not run deploy/install-deps.sh (which may call apt-get)
#   --no-build    use the binaries already in the build directory
# Environment (for tests): ENNAKKO_BUILD_DIR (build), ENNAKKO_VAR_DIR (var, the doubles mode only),
# ENNAKKO_DEMO_RESIDENTS (50000), ENNAKKO_DEMO_PORT (8080, the daemon's HTTP port).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

mode=doubles install=1 build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --file-drop) mode=file-drop ;;
    --no-install) install=0 ;;
    --no-build) build=0 ;;
    *) break ;;
  esac
  shift
done
build_dir=${ENNAKKO_BUILD_DIR:-build}
bin=$build_dir/engine/app/ennakko

[ "$install" = 1 ] && bash deploy/install-deps.sh
if [ "$build" = 1 ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build_dir" --target ennakko vtj_fake incomes_fake
fi

# Secrets for the demo, created once with restrictive permissions. A real deployment keeps them in
# its secret store and points the config at them ({file: ...} or {env: ...}).
var=${ENNAKKO_VAR_DIR:-var}
[ "$mode" = file-drop ] && var=var  # deploy/ennakko.yaml names ../var
mkdir -p "$var/secrets"
var=$(cd "$var" && pwd)
chmod 700 "$var/secrets"
for secret in pseudonym.key:32 api-token:24 vtj.password:16 incomes.password:16; do
  file=$var/secrets/${secret%%:*}
  [ -s "$file" ] || (umask 077 && openssl rand -hex "${secret##*:}" > "$file")
done

if [ "$mode" = file-drop ]; then
  exec "$bin" serve --config deploy/ennakko.yaml "$@"
fi

demo=$var/demo
residents=${ENNAKKO_DEMO_RESIDENTS:-50000}
mkdir -p "$demo"

# The city, generated once (starting again continues with the same city and store): the whole of
# it for the doubles to serve, and the part the city's own registers hold for the file drop.
if [ ! -s "$demo/city/000000.snapshot.jsonl" ]; then
  today=$(TZ=Europe/Helsinki date +%F)
  "$bin" demo generate --out "$demo/city-registers" --groups city --residents "$residents" --today "$today" >/dev/null
  "$bin" demo generate --out "$demo/city.tmp" --residents "$residents" --today "$today"
  echo "$today" > "$demo/city.tmp/generated-on"
  rm -rf "$demo/city" && mv "$demo/city.tmp" "$demo/city"
fi
today=$(cat "$demo/city/generated-on")
# The initial-load list: the identity codes of the city's residents (from its own register).
sed -n 's/^{"henkilotunnus":"\([^"]*\)".*/\1/p' "$demo/city/000000.snapshot.jsonl" > "$demo/vtj-initial-load.txt"

# The doubles: free ports on 127.0.0.1 (each prints its port first), stopped when this script ends.
pids=()
daemon=
stop_all() {
  if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then
    kill -TERM "$daemon" 2>/dev/null || true
  fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
# Ctrl-C (or SIGTERM to this script): stop the daemon, which exits cleanly; then the doubles.
on_signal() {
  if [ -n "$daemon" ]; then kill -TERM "$daemon" 2>/dev/null || true; else exit 130; fi
}
trap stop_all EXIT
trap on_signal INT TERM

start_double() {  # name binary args...: starts it, waits for its port, prints the port
  local name=$1 port= i
  shift
  mkdir -p "$demo/$name"
  : > "$demo/$name/port"
  "$@" > "$demo/$name/port" 2> "$demo/$name/log" &
  pids+=($!)
  echo $! > "$demo/$name/pid"
  for i in $(seq 1 600); do
    port=$(head -n 1 "$demo/$name/port")
    [ -n "$port" ] && break
    if ! kill -0 "$!" 2>/dev/null; then
      echo "run-demo: $name did not start:" >&2
      cat "$demo/$name/log" >&2
      exit 1
    fi
    sleep 0.1
  done
  [ -n "$port" ] || { echo "run-demo: $name printed no port" >&2; exit 1; }
  echo "$port"
}
start_double vtj-fake "$build_dir/tests/fakes/vtj_fake" --address 127.0.0.1 --port 0 \
  --password "$(cat "$var/secrets/vtj.password")" --page-size 500 --population "$demo/city" >/dev/null
vtj_port=$(head -n 1 "$demo/vtj-fake/port")
start_double incomes-fake "$build_dir/tests/fakes/incomes_fake" --address 127.0.0.1 --port 0 \
  --password "$(cat "$var/secrets/incomes.password")" --population "$demo/city" >/dev/null
incomes_port=$(head -n 1 "$demo/incomes-fake/port")
echo "run-demo: vtj_fake on 127.0.0.1:$vtj_port ($(cat "$demo/vtj-fake/log")), incomes_fake on 127.0.0.1:$incomes_port ($(cat "$demo/incomes-fake/log"))"

# The daemon's config for this run (the doubles' ports change each time). Paths are relative to it.
cat > "$demo/ennakko.yaml" <<YAML
# Written by deploy/run-demo.sh at each start: the demo city's registries played by the test
# doubles on loopback. See docs/operator-guide.md.
store:
  path: ennakko.db
audit:
  path: audit/audit.jsonl
  pseudonym_key: {file: ../secrets/pseudonym.key}
rules:
  directory: $repo/rules
population:  # the city's own registers: placements and contact details
  kind: file-drop
  directory: city-registers
  poll_every_seconds: 5
connectors:
  vtj:
    base_url: http://127.0.0.1:$vtj_port
    username: ennakko
    password: {file: ../secrets/vtj.password}
    start_date: "$today"
    initial_load_file: vtj-initial-load.txt
    poll_every_seconds: 60
  incomes:
    base_url: http://127.0.0.1:$incomes_port
    username: ennakko
    password: {file: ../secrets/incomes.password}
    purpose: ecec-fee-income
    poll_every_seconds: 600
channels:
  file: {directory: offers}
http:
  address: 127.0.0.1
  port: ${ENNAKKO_DEMO_PORT:-8080}
  token: {file: ../secrets/api-token}
log:
  level: info
YAML

"$bin" serve --config "$demo/ennakko.yaml" "$@" &
daemon=$!
while :; do  # a signal interrupts the wait: wait again until the daemon has exited
  set +e
  wait "$daemon"
  rc=$?
  set -e
  kill -0 "$daemon" 2>/dev/null || break
done
daemon=
exit "$rc"
