#!/usr/bin/env bash
# The quick start: install what is missing (Debian packages), build, and run `ennakko serve` on the
# embedded default — SQLite under ./var, a synthetic demo city of 50,000 residents, offers written
# by the file channel to ./var/offers. Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target ennakko

# Secrets for the demo, created once with restrictive permissions. A real deployment keeps them in
# its secret store and points the config at them ({file: ...} or {env: ...}).
mkdir -p var/secrets
chmod 700 var/secrets
[ -s var/secrets/pseudonym.key ] || (umask 077 && openssl rand -hex 32 > var/secrets/pseudonym.key)
[ -s var/secrets/api-token ] || (umask 077 && openssl rand -hex 24 > var/secrets/api-token)

exec ./build/engine/app/ennakko serve --config deploy/ennakko.yaml "$@"
