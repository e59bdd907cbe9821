#!/usr/bin/env bash
# Installs the dependencies (idempotent), configures with Ninja and builds with two jobs.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
