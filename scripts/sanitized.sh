#!/usr/bin/env bash
# Configures build-san: clang, AddressSanitizer + UndefinedBehaviorSanitizer, and the libFuzzer target,
# all in one tree (scripts/test.sh runs the tests in it, scripts/fuzz.sh the fuzzer). Extra arguments
# go to `cmake --build` (e.g. --target fuzz_plan).
set -euo pipefail
cd "$(dirname "$0")/.."
CC=clang CXX=clang++ cmake -S . -B build-san -G Ninja -DCMAKE_BUILD_TYPE=None -DREINIT_SANITIZE=ON -DREINIT_FUZZ=ON \
  >/dev/null
cmake --build build-san -j2 "$@"
