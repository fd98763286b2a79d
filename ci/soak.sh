#!/usr/bin/env bash
# ci/soak.sh BUILD_DIR - the long chaos run of issue 8 (`make soak`): SOAK_REQUESTS requests
# (default 100000) with seeded faults and backend kills (SOAK_SEED, default 1), then the
# report of harness/soak: 0 lost, 0 duplicated, balancer RSS and fds flat. SOAK_LARGE_SHARE
# (default 0.1) of the GETs/HEADs get large answers (16 KiB-600 KiB, relayed by splice);
# 0 gives small answers only. The JSON report lands in BUILD_DIR/soak-report.json.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
py=$(ci/python.sh)
exec "$py" -m harness.soak --bin "$build/bin" --report "$build/soak-report.json" \
  --workdir "$build/soak-work" --progress
