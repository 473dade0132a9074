#!/usr/bin/env bash
# The whole test suite: install, build (plain and ASan+UBSan), and run
# every unit and integration test of both builds.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DPODPULSE_SANITIZE=ON
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
ctest --test-dir build --output-on-failure -j 2 || status=1
ctest --test-dir build-asan --output-on-failure -j 2 || status=1
exit $status
