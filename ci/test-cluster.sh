#!/usr/bin/env bash
# ci/test-cluster.sh BUILD_DIR [PYTEST_ARG...] - the cluster scenarios (tests/cluster: failover,
# weights, slow start, upgrades, backends changed under load) against one build
# tree's binaries, then a table: scenario, what it proved, requests sent, answers by kind,
# time, result. Exits non-zero when a scenario fails.
#
# With LB set (make test-cluster LB=path/to/loadbalancer; several separated by spaces, the
# names ours, haproxy and nginx allowed): lbtest's catalogue against those balancers instead,
# run like any course balancer (python3 -m harness.lbtest --lb ...; LBTEST_ARGS adds
# arguments, e.g. "--html lbtest.html"). The fakeservers come from BUILD_DIR either way.
#
# Environment: CLUSTER_JOBS (pytest-xdist workers; default 1: the scenarios measure time),
# LBTEST_WRAP / LBTEST_WRAP_LOADBALANCER / LBTEST_WRAP_FAKESERVER (run the binaries under
# e.g. valgrind; deadlines then scale, see LBTEST_TIMEOUT_SCALE), PYTEST_ARGS (extra
# arguments in shell syntax, e.g. "-k 'frozen or queue'"; arguments after BUILD_DIR are
# passed on too), LBTEST_TABLE_JSON (also write the table as JSON lines).
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
case $build in /*) ;; *) build="$PWD/$build" ;; esac
eval "extra=(${PYTEST_ARGS:-})"
[ -x "$build/bin/loadbalancer" ] && [ -x "$build/bin/fakeserver" ] || {
  echo "ci/test-cluster.sh: $build/bin has no loadbalancer/fakeserver; build it first" >&2
  exit 2
}
py=$(ci/python.sh)
if [ -n "${LB:-}" ]; then
  eval "more=(${LBTEST_ARGS:-})"
  lbs=()
  for lb in $LB; do
    case $lb in ours|haproxy|nginx|/*) ;; *) lb="$caller/$lb" ;; esac   # paths: the caller's
    lbs+=(--lb "$lb")
  done
  status=0
  LBTEST_BIN="$build/bin" "$py" -m harness.lbtest "${lbs[@]}" "${more[@]}" "$@" || status=$?
  exit $status
fi
args=(-q -rs -p no:cacheprovider --lb-table -m cluster tests/cluster)
jobs=${CLUSTER_JOBS:-1}   # JOBS is the build's parallelism; scenarios measure time
if [ "$jobs" != 1 ] && "$py" -c 'import xdist' 2>/dev/null; then args+=(-n "$jobs"); fi
[ -n "${LBTEST_TABLE_JSON:-}" ] && args+=(--lb-table-json "$LBTEST_TABLE_JSON")
start=$(date +%s)
status=0
LBTEST_BIN="$build/bin" LBTEST_REQUIRE_BINARIES=1 \
  "$py" -m pytest "${args[@]}" "${extra[@]}" "$@" || status=$?
echo "ci/test-cluster.sh: $(( $(date +%s) - start ))s with $build/bin, exit $status"
exit $status
