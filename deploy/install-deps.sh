#!/usr/bin/env bash
# Installs the Debian packages Ennakko needs to build, test and run. Idempotent: when every package
# is already installed it returns in well under a second without touching apt.
set -euo pipefail

PACKAGES=(
  # build
  cmake ninja-build g++ ccache pkg-config
  # libraries (see docs/architecture.md, "Dependencies")
  libboost1.81-dev libboost-url1.81-dev nlohmann-json3-dev libyaml-cpp-dev libsqlite3-dev
  libspdlog-dev libfmt-dev libcli11-dev libvalijson-dev libssl-dev libcurl4-openssl-dev catch2
  libhpdf-dev
  libpugixml-dev
  libsimdjson-dev
  # fuzzing (tests/fuzz): clang with libFuzzer and the sanitizer runtimes (libclang-rt-14-dev is
  # only recommended by clang-14, and recommends are not installed), llvm-symbolizer for reports
  clang-14 libclang-rt-14-dev llvm-14
  # real gateways used by the end-to-end tests and the SMS demo
  kannel kannel-extras python3 python3-aiosmtpd sqlite3 curl
  # checks the PDF letters of paper mail (pdftotext, pdfinfo)
  poppler-utils
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Kannel's Debian package starts bearerbox as a service; the tests start their own, so keep the
# packaged one from being started on installation where policy-rc.d allows it.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
