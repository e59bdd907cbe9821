#!/usr/bin/env bash
# End-to-end benchmark: onnx-reinit rewrite against `cp` (plus fsync, as rewrite makes its output
# durable) and against the Python onnx + numpy baseline (bench/baseline_reinit.py), on generated MLP
# models of 100 MB and 500 MB, the 500 MB one again with its weights as Constant nodes (no Python run:
# the baseline reads initializers only), and with BIG=1 a 4 GB model in external data. Prints medians of
# RUNS runs (warm page cache), ratios, and peak RSS from /usr/bin/time.
#
# usage: bench/end_to_end.sh            (after building; TOOL=path/to/onnx-reinit to override)
#        BIG=1 RUNS=3 bench/end_to_end.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TOOL=${TOOL:-build/onnx-reinit}
WORK=${WORK:-$(mktemp -d /tmp/onnx-reinit-bench.XXXXXX)}
RUNS=${RUNS:-3}
PY=/usr/bin/python3
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)"; exit 2; }
mkdir -p "$WORK"

# Runs "$@" RUNS times; prints "median_seconds max_rss_mb".
measure() {
  local times=() rss=0
  for _ in $(seq "$RUNS"); do
    local out
    /usr/bin/time -o "$WORK/time.txt" -f "%e %M" "$@" >/dev/null 2>&1
    out=$(tail -n 1 "$WORK/time.txt")
    times+=("${out% *}")
    local r=${out#* }
    [ "$r" -gt "$rss" ] && rss=$r
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$median $((rss / 1024))"
}

cp_sync() { cp "$1" "$2" && sync "$2"; }
export -f cp_sync

printf '%-10s %9s %9s %9s %9s %10s %12s %11s %13s\n' model file_MB cp_s tool_s python_s tool/cp tool/python tool_RSS_MB python_RSS_MB
run() {
  local name=$1 mb=$2 ext=${3:-}
  local model="$WORK/$name.onnx"
  $PY bench/make_bench_model.py "$model" "$mb" $ext >/dev/null
  local bytes
  bytes=$(du -cb "$model"* | tail -n 1 | cut -f1)
  local file_mb=$((bytes / 1000000))
  read -r cp_s _ < <(measure bash -c "cp_sync '$model' '$WORK/copy.onnx'; [ -e '$model.data' ] && cp_sync '$model.data' '$WORK/copy.onnx.data' || true")
  read -r tool_s tool_rss < <(measure "$TOOL" rewrite "$model" -o "$WORK/out.onnx" -q)
  local py_s="-" py_rss="-" ratio_py="-"
  if [ -z "$ext" ]; then
    read -r py_s py_rss < <(measure $PY bench/baseline_reinit.py "$model" "$WORK/py.onnx")
    ratio_py=$(awk -v a="$tool_s" -v b="$py_s" 'BEGIN {printf "%.3f", a / b}')
  fi
  local ratio_cp
  ratio_cp=$(awk -v a="$tool_s" -v b="$cp_s" 'BEGIN {printf "%.2f", a / b}')
  printf '%-10s %9s %9s %9s %9s %10s %12s %11s %13s\n' "$name" "$file_mb" "$cp_s" "$tool_s" "$py_s" "$ratio_cp" "$ratio_py" "$tool_rss" "$py_rss"
  rm -f "$model"* "$WORK"/copy.onnx* "$WORK"/out.onnx* "$WORK"/py.onnx
}

run mlp_100mb 100
run mlp_500mb 500
run mlp_500mb_const 500 --constants
if [ "${BIG:-0}" = 1 ]; then
  run mlp_4gb_ext 4096 --external
fi
rm -rf "$WORK"
