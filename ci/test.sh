#!/usr/bin/env bash
# ci/test.sh BUILD_DIR [PLAIN_BUILD_DIR] - every test against one build tree: CTest (C unit
# tests and fuzz-corpus replay), then the pytest suites with that tree's binaries, on two
# xdist workers (every test binds port 0 and lives in its own tmp_path).
#
# With PLAIN_BUILD_DIR (`make test` passes build/, the unsanitized build), the tests marked
# `plain_build` run against that tree instead: what an ASan build cannot host (the balancer
# under an address-space limit; ASan reserves terabytes of address space at start), so they
# run on every `make test` instead of being skipped. Without it, they run (or skip, saying
# why) against BUILD_DIR like every other test. pytest's -rs lists every skip with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
plain=${2:-}
status=0
ctest --test-dir "$build" --output-on-failure -j "${JOBS:-2}" || status=1
py=$(ci/python.sh)
pytest=("$py" -m pytest -q -rs -p no:cacheprovider)
if [ -n "$plain" ]; then
  LBTEST_BIN="$PWD/$build/bin" "${pytest[@]}" -n 2 -m "not plain_build" tests || status=1
  echo "ci/test.sh: the tests an ASan build cannot host, against $plain/bin:"
  LBTEST_BIN="$PWD/$plain/bin" "${pytest[@]}" -m plain_build tests || status=1
else
  LBTEST_BIN="$PWD/$build/bin" "${pytest[@]}" -n 2 tests || status=1
fi
exit $status
