#!/usr/bin/env bash
# The newcomer's first command: install, build, and watch podpulse work.
#
# Starts the daemon with config/dev.ini (socket in /tmp, reports to
# stdout) and a simulated model server beside it. An instance-state report
# appears on stdout every 15 s, the setup report right after the simulated
# setup. Metrics, probes and state are on http://127.0.0.1:9464 (try
# curl -s localhost:9464/metrics in another terminal). Ctrl-C stops both;
# the daemon then prints its final report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build

duration=${DEMO_DURATION:-0}
./build/podpulse -c config/dev.ini &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon' EXIT INT TERM
./build/podpulse-cli -c config/dev.ini simulate --rate 3 --concurrency 2 \
	--mean-duration 0.6 --duration "${duration}" &
sim=$!
wait $sim || true
