#!/usr/bin/env bash
# bench/backend.sh BUILD_DIR - the fakeserver against nginx serving the same 1 KiB file,
# keep-alive wrk (bench/backend.py does the work; see bench/README.md).
# Environment: BENCH_TIME (s per run, 5), BENCH_ROUNDS (3), BENCH_CONNS (64), BENCH_KEEP.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
for tool in nginx wrk taskset; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || {
    echo "bench/backend.sh: $tool missing; run ci/deps.sh bench as root" >&2; exit 1; }
done
[ -x "$build/bin/fakeserver" ] || { echo "bench/backend.sh: $build/bin/fakeserver not built" >&2; exit 1; }
export PATH=$PATH:/usr/sbin
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
py=/usr/bin/python3; [ -x "$py" ] || py=python3
exec "$py" "$here/backend.py" "$build"
