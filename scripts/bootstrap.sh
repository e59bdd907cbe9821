#!/usr/bin/env bash
# Installs every build and test dependency from Debian's packages (with --models, also python3-torch
# for re-exporting the bundled models).
# Idempotent: packages already present are skipped, so a second run is quick and changes nothing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libonnx-dev libprotobuf-dev protobuf-compiler   # ONNX C++ library and the protobuf it is built on
  libeigen3-dev                                   # QR for orthogonal init, fp16/bf16 conversion
  libcli11-dev                                    # command-line parsing
  nlohmann-json3-dev                              # the JSON report
  libyaml-cpp-dev                                 # rules files (--config)
  libssl-dev                                      # SHA-256 of input and output files
  libgtest-dev libbenchmark-dev                   # tests and micro benchmarks
  clang libclang-rt-14-dev                        # the libFuzzer target (scripts/fuzz.sh)
  libonnx-testdata                                # pytorch-converted models for the zoo tests
  python3 python3-onnx python3-numpy python3-jsonschema  # report-schema check, model scripts
  python3-dev pybind11-dev                        # the Python module (-DREINIT_PYTHON=ON)
  python3-torch                                   # the tests against PyTorch (torch_presets, export_weights)
)

# --models (what models/make_models.py needs to re-export the bundled models) needs nothing more now
# that the tests build PyTorch models too; the flag is still accepted.

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# Node.js runs ONNX Runtime (npm's onnxruntime-node) over rewritten models in the test suite; a
# machine that already has a node and npm keeps them.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# apt-get that waits for another apt or dpkg to finish (on a fresh machine an unattended upgrade often
# holds the locks for minutes) instead of failing at once: apt's own lock timeout, and a retry while
# the failure is a lock that is still held, for up to 15 minutes.
apt_get() {
  local deadline=$((SECONDS + 900)) log
  log=$(mktemp)
  until DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=900 "$@" 2>"$log"; do
    if grep -qE "Could not get lock|Unable to acquire|is held by process" "$log" && [ $SECONDS -lt $deadline ]; then
      echo "bootstrap: another apt or dpkg holds the package locks; waiting for it" >&2
      sleep 5
    else
      cat "$log" >&2
      rm -f "$log"
      return 1
    fi
  done
  cat "$log" >&2
  rm -f "$log"
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#PACKAGES[@]} packages present"
else
  echo "bootstrap: installing ${missing[*]}"
  apt_get update -q
  apt_get install -y -q --no-install-recommends "${missing[@]}"
fi

# onnxruntime-node at the version of tests/runtime/package-lock.json. --ignore-scripts: its CPU
# library ships inside the package; the install script would only try to download GPU builds.
runtime="$(dirname "$0")/../tests/runtime"
want=$(sed -n 's/.*"onnxruntime-node": "\([0-9.]*\)".*/\1/p' "$runtime/package.json")
have=$(sed -n 's/^  "version": "\(.*\)",/\1/p' "$runtime/node_modules/onnxruntime-node/package.json" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  echo "bootstrap: npm ci in tests/runtime (onnxruntime-node $want)"
  (cd "$runtime" && npm ci --ignore-scripts --no-audit --no-fund)
else
  echo "bootstrap: onnxruntime-node $have present"
fi
