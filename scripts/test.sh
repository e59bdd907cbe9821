#!/usr/bin/env bash
# README command 2: set up, build, and run the whole test suite — as built for users, again under
# AddressSanitizer + UndefinedBehaviorSanitizer (leaks included), and the fuzzer for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
ctest --test-dir build --output-on-failure -j2

echo "== the same tests under ASan + UBSan (clang; the tree the fuzzer uses too)"
./scripts/sanitized.sh
ctest --test-dir build-san --output-on-failure -j2

echo "== fuzzing the loader and pipeline for ${FUZZ_SECONDS:-60} s"
./scripts/fuzz.sh "${FUZZ_SECONDS:-60}" 2>&1 | tail -n 8
