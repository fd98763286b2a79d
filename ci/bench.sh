#!/usr/bin/env bash
# ci/bench.sh BUILD_DIR - `make bench`: the balancer against HAProxy and nginx, side by side.
#
# Everything happens in ci/bench_run.py (Python stdlib); this wrapper only checks the tools
# and raises the open-file limit to the hard limit, since 10,000 idle client connections
# need that many descriptors in the client and in each proxy.
# Environment: BENCH_TIME (s per run, 5), BENCH_ROUNDS (3), BENCH_CONNS (64),
# BENCH_IDLE (10000, 0 skips), BENCH_EQ_CONNS (100), BENCH_BACKENDS (nginx|fakeserver),
# BENCH_OURS_ARGS (extra balancer options), BENCH_LIGHT=0 (skip the light-client mode),
# BENCH_RT=1 (SCHED_RR on a busy machine), BENCH_KEEP=1 keeps the run directory.
# See ci/BENCH.md. Output: bench-out/bench.json, bench.svg.
# Then faultproxy's pass-through against nginx as a proxy (faultproxy/bench/vs_nginx.sh;
# BENCH_FAULTPROXY=0 skips it): a ratio printed, never asserted.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
for tool in haproxy nginx wrk taskset python3; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || {
    echo "ci/bench.sh: $tool missing; run ci/deps.sh bench as root" >&2; exit 1; }
done
export PATH=$PATH:/usr/sbin
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
py=/usr/bin/python3; [ -x "$py" ] || py=python3
status=0
"$py" "$here/bench_run.py" "$build" || status=$?
if [ "${BENCH_FAULTPROXY:-1}" != 0 ] && [ -x "$build/bin/faultproxy" ]; then
  echo "== faultproxy pass-through vs nginx as a proxy =="
  "$here/../faultproxy/bench/vs_nginx.sh" "$build/bin" || true
fi
exit $status
