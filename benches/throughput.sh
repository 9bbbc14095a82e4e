#!/usr/bin/env bash
# Installs the HTTP load tool, then runs the throughput benchmark
# (benches/throughput/): about twelve minutes, all traffic on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  apt-get update
  apt-get install -y --no-install-recommends wrk
fi
cargo bench --bench throughput
