#!/usr/bin/env bash
# Build (release) and run the benchmark: podpulse against a raw socket sink.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DPODPULSE_TESTS=OFF
./build-bench/bench/podpulse-loadgen ./build-bench/podpulse "${1:-500000}"
