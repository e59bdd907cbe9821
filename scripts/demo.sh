#!/usr/bin/env bash
# README command 1: set up, build the tool, and re-initialize the bundled CNN. Writes out/cnn_bn.reinit.onnx and
# out/cnn_bn.report.json and prints the per-layer table.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2 --target onnx-reinit  # only the tool: the tests are built by scripts/test.sh
mkdir -p out
set -x
./build/onnx-reinit rewrite models/cnn_bn.onnx -o out/cnn_bn.reinit.onnx --seed 0 --report out/cnn_bn.report.json
