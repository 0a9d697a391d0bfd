#!/usr/bin/env bash
# Installs every build, test and run dependency of cscflow on Debian 12 with apt-get.
# Then the npm packages of serve/www (the dashboard's chart library, the browser test's driver).
# Safe to run again: apt-get and npm skip what is already installed.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  librdkafka-dev            # Kafka consumer/producer and the mock cluster (rdkafka_mock.h)
  protobuf-c-compiler libprotobuf-c-dev   # protoc-c codegen at build time, runtime
  liblmdb-dev               # state store
  libcmocka-dev             # unit and integration tests
  libmicrohttpd-dev         # the HTTP read API (serve/)
  nettle-dev                # SHA-256 of API tokens
  libjansson-dev            # JSON of the HTTP read API
  libxml2-dev               # the CIN census XML (cscflow import cin)
  valgrind                  # leak checks of the core paths
  clang libclang-rt-dev     # libFuzzer targets (fuzz/): clang's fuzzer and sanitizer runtimes
  sqlite3                   # the bench's batch-engine comparison (bench/sqlite/)
  chromium                  # the dashboard's browser test (tests/browser/), headless
)
# Node.js and npm fetch the dashboard's chart library (uPlot, built into cscflow)
# and the browser test's driver (playwright-core) from the npm registry: Debian's
# packages, unless a Node.js with npm is already installed (NodeSource's nodejs
# bundles npm and conflicts with Debian's npm package).
if ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The npm packages, at the versions of serve/www/package-lock.json. npm ci
# starts from an empty node_modules, so it runs only when node_modules was not
# installed from this very lock file (a copy of it is kept there as a stamp).
www="$(cd "$(dirname "${BASH_SOURCE[0]}")/../serve/www" && pwd)"
stamp="$www/node_modules/.cscflow-package-lock.json"
if cmp -s "$www/package-lock.json" "$stamp"; then
  echo "install-deps: npm packages present"
else
  echo "install-deps: npm ci in serve/www"
  (cd "$www" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$www/package-lock.json" "$stamp"
fi
