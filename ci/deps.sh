#!/usr/bin/env bash
# ci/deps.sh GROUP... - make sure the Debian packages a make target needs are present.
#
# Groups: build, test, fuzz, bench, memcheck, browser, lbtest. Run as root, it installs what is
# missing with apt-get (running `apt-get update` once); otherwise it prints the exact
# apt-get line and fails. PyPI is never used.
set -euo pipefail

declare -A need=(
  [build]="cmake:cmake gcc:gcc make:make"
  [test]="python3-pytest:/usr/lib/python3/dist-packages/pytest python3-pytest-timeout:/usr/lib/python3/dist-packages/pytest_timeout.py python3-pytest-xdist:/usr/lib/python3/dist-packages/xdist python3-hypothesis:/usr/lib/python3/dist-packages/hypothesis curl:curl netcat-openbsd:nc clang-format:clang-format nginx-light:nginx"
  [fuzz]="afl++:afl-fuzz clang:clang"
  [bench]="haproxy:haproxy nginx-light:nginx wrk:wrk curl:curl"
  [memcheck]="valgrind:valgrind"
  [browser]="chromium:chromium"
  [lbtest]="haproxy:haproxy nginx-light:nginx"
)

missing=()
for group in "$@"; do
  [ -n "${need[$group]+x}" ] || { echo "ci/deps.sh: unknown group '$group'" >&2; exit 2; }
  for pair in ${need[$group]}; do
    pkg=${pair%%:*} probe=${pair#*:}
    if [[ $probe == /* ]]; then [ -e "$probe" ] && continue
    else
      command -v "$probe" >/dev/null 2>&1 && continue
      [ -x "/usr/sbin/$probe" ] && continue
    fi
    missing+=("$pkg")
  done
done
[ ${#missing[@]} -eq 0 ] && exit 0

line="apt-get install -y ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages; run as root: apt-get update && $line" >&2
  exit 1
fi
echo "ci/deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
install() { apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }
# Package lists may be absent (a fresh image) or stale: update once, then retry.
if [ -z "$(ls /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ] || ! install; then
  apt-get update -q >&2
  install
fi
