#!/usr/bin/env bash
# README command 2: set up, build, and run the whole test suite under AddressSanitizer +
# UndefinedBehaviorSanitizer (leaks included; clang, build-san), the fuzzer for a bounded time in the
# same tree, and on the optimized build users get (build/) everything that depends on optimization:
# the kernel tests, the instruction-set symbol check, and every test that runs the tool itself
# (bundled, zoo and graph models, ONNX Runtime, the report schema, the documented commands), and the
# Python module against the CLI (built there only: -DREINIT_PYTHON=ON). The unit
# tests are compiled once, in build-san: configure build/ with -DREINIT_UNIT_TESTS=ON to have them
# there too.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh -DREINIT_UNIT_TESTS=OFF -DREINIT_PYTHON=ON
ctest --test-dir build --output-on-failure -j2

echo "== the whole suite under ASan + UBSan (clang; the tree the fuzzer uses too)"
./scripts/sanitized.sh
ctest --test-dir build-san --output-on-failure -j2 --timeout 600

echo "== fuzzing the loader and pipeline for ${FUZZ_SECONDS:-60} s"
./scripts/fuzz.sh "${FUZZ_SECONDS:-60}" 2>&1 | tail -n 8
