#!/usr/bin/env bash
# Installs every build, test and run dependency of cscflow on Debian 12 with apt-get.
# Safe to run again: apt-get skips what is already installed.
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
  valgrind                  # leak checks of the core paths
  clang libclang-rt-dev     # libFuzzer targets (fuzz/): clang's fuzzer and sanitizer runtimes
  sqlite3                   # the bench's batch-engine comparison (bench/sqlite/)
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
