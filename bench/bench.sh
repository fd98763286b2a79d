#!/usr/bin/env bash
# bench/bench.sh BUILD_DIR - `make bench`: the balancer against HAProxy and nginx, side by side.
#
# Everything happens in bench/run.py (Python stdlib); this wrapper only checks the tools
# and raises the open-file limit to the hard limit, since 10,000 idle client connections
# need that many descriptors in the client and in each proxy. The light client is
# BUILD_DIR/bin/bench_load, built by `make` (bench/CMakeLists.txt).
# Then bench/backend.py (the fakeserver against nginx as a backend) and
# faultproxy/bench/vs_nginx.sh (the fault proxy's pass-through against nginx).
# Environment: see bench/README.md. Output: bench-out/bench.{json,md,svg}, backend.*.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
for tool in haproxy nginx wrk taskset python3; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || {
    echo "bench/bench.sh: $tool missing; run ci/deps.sh bench as root" >&2; exit 1; }
done
export PATH=$PATH:/usr/sbin
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
py=/usr/bin/python3; [ -x "$py" ] || py=python3
status=0
"$py" "$here/run.py" "$build" || status=$?
# The fakeserver as a backend, against nginx on the same file (BENCH_FAKESERVER=0 skips it).
if [ "${BENCH_FAKESERVER:-1}" != 0 ]; then
  echo
  "$py" "$here/backend.py" "$build" || status=$?
fi
# faultproxy's pass-through against nginx as a proxy (faultproxy/bench/vs_nginx.sh, owned
# by the fault proxy; BENCH_FAULTPROXY=0 skips it): a ratio printed, never asserted.
if [ "${BENCH_FAULTPROXY:-1}" != 0 ] && [ -x "$build/bin/faultproxy" ]; then
  echo "== faultproxy pass-through vs nginx as a proxy =="
  "$here/../faultproxy/bench/vs_nginx.sh" "$build/bin" || true
fi
exit $status
