#!/usr/bin/env bash
# Builds the libFuzzer target with clang (ASan + UBSan) and runs it for SECONDS seconds (default 60)
# on a corpus seeded with every model in models/. Exits non-zero on a crash, a sanitizer report or a
# leak; the input that caused it is saved as crash-* in build-san/ (add it to tests as a regression).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
./scripts/bootstrap.sh
./scripts/sanitized.sh --target fuzz_plan
corpus=build-san/corpus
mkdir -p "$corpus"
find models -name '*.onnx' -size -2M -exec cp {} "$corpus"/ \;
cd build-san
./fuzz_plan -max_total_time="$SECONDS_TO_RUN" -max_len=262144 -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 corpus
