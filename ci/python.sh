#!/usr/bin/env bash
# ci/python.sh - prints the path of a Python 3 that can import pytest.
# The python3 first on PATH may be a separate interpreter (pyenv) that cannot see Debian's
# packages, so Debian's own interpreter is tried first.
for py in /usr/bin/python3 python3 python; do
  if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import pytest' >/dev/null 2>&1; then
    command -v "$py"; exit 0
  fi
done
echo "ci/python.sh: no Python with pytest; run: apt-get install -y python3-pytest" >&2
exit 1
