#!/usr/bin/env bash
# ci/test.sh BUILD_DIR - every test against one build tree: CTest (C unit tests and
# fuzz-corpus replay), then the pytest suites with that tree's binaries, on two xdist
# workers (every test binds port 0 and lives in its own tmp_path).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
status=0
ctest --test-dir "$build" --output-on-failure -j "${JOBS:-2}" || status=1
py=$(ci/python.sh)
LBTEST_BIN="$PWD/$build/bin" "$py" -m pytest -q -p no:cacheprovider -n 2 tests || status=1
exit $status
