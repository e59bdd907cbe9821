#!/usr/bin/env bash
# Installs the dependencies (idempotent), configures build/ with Ninja (extra arguments go to cmake's
# configure step, e.g. -DREINIT_UNIT_TESTS=OFF) and builds it with two jobs.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j2
