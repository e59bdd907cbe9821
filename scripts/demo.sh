#!/usr/bin/env bash
# README command 1: set up, build, and re-initialize the bundled CNN. Writes out/cnn_bn.reinit.onnx and
# out/cnn_bn.report.json and prints the per-layer table.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
mkdir -p out
set -x
./build/onnx-reinit rewrite models/cnn_bn.onnx -o out/cnn_bn.reinit.onnx --seed 0 --report out/cnn_bn.report.json
