#!/usr/bin/env bash
# ci/demo.sh BUILD_DIR - the teaching demo (`make demo`): three fakeservers behind the
# balancer, a story told live in the terminal, and a picture of the run under demo-out/.
#   SCENARIO=name  another story (SCENARIO=list lists them); SPEED=x  x times faster.
# The Python side lives in harness/demo/ (python3 -m harness.demo --help).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
py=$(ci/python.sh)
exec "$py" -m harness.demo --bin "$PWD/$build/bin" --out "$PWD/demo-out" \
  --scenario "${SCENARIO:-classic}" --speed "${SPEED:-1}"
