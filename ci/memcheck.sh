#!/usr/bin/env bash
# ci/memcheck.sh BUILD_DIR - the cluster suites with every project binary (balancer and
# fakeserver) under Valgrind memcheck (`make memcheck`, issue 8).
#
# How: the harness prefixes each project binary with $LBTEST_WRAP (harness/process.py), so
# this script sets it to a memcheck line and runs the pytest suites that start clusters:
# tests/cluster, tests/lb, tests/security, tests/reliability, and the course scripts of
# tests/course (which run the binaries by name: tests/course/scripts/lib.sh puts shims that
# exec them through the wrapper first in PATH). Valgrind writes to each process's stderr,
# which the harness keeps in the test's log directory under BUILD_DIR/memcheck/tmp (pytest
# --basetemp); for a course script, whose binaries' stderr is part of the output it
# compares, to a --log-file NAME.PID.valgrind.log in the same place. The harness already fails a test whose log
# shows errors or definite leaks; afterwards this script reads every log again and reports,
# per process that ran under Valgrind:
#   errors          "ERROR SUMMARY: N errors" must be 0
#   definite leaks  "definitely lost: B bytes" must be 0
#   open fds        "FILE DESCRIPTORS: N open ... at exit" may list only fds inherited from
#                   the parent (stdin, stdout, stderr); judged only for processes that exited
#                   on their own (a process killed by a signal, or a fakeserver told to crash
#                   with --crash-*, has its sockets open by design)
# Exit status: 0 when every suite passed and every process is clean.
#
# MEMCHECK_REPORT_ONLY=1 judges the logs of the last run again without rerunning them.
# Environment: LBTEST_TIMEOUT_SCALE (default 10: READY lines and test deadlines under
# Valgrind), MEMCHECK_SUITES (default the five above), MEMCHECK_PYTEST_ARGS (extra args,
# e.g. "-k smuggling"), SOAK_SHORT_REQUESTS (default 600 here).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-valgrind}
case $build in /*) ;; *) build="$PWD/$build" ;; esac
out="$build/memcheck"
py=$(ci/python.sh) || exit 1
command -v valgrind >/dev/null || { echo "memcheck: valgrind missing: apt-get install -y valgrind" >&2; exit 1; }
[ -x "$build/bin/loadbalancer" ] || { echo "memcheck: $build/bin/loadbalancer missing (build with -DLB_VALGRIND=ON)" >&2; exit 1; }

report() {  # report OUT_DIR PYTEST_STATUS: the verdict, from every Valgrind block in the logs
"$py" - "$1" "$2" <<'EOF'
"""ci/memcheck_report.py OUT_DIR PYTEST_STATUS - the verdict of ci/memcheck.sh.

Reads every Valgrind report in the harness logs under OUT_DIR/tmp (one block per process,
by pid) and prints: processes, errors, bytes definitely lost, fds left open at exit (only
fds not inherited from the parent; not judged for a process killed by a signal or a
fakeserver told to crash). Exit status 0 when all are zero and pytest passed.
"""
import re
import sys
from collections import defaultdict
from pathlib import Path

out, pytest_status = Path(sys.argv[1]), int(sys.argv[2])
LINE = re.compile(r"^==(\d+)== ?(.*)$")
runs = defaultdict(list)           # (log file, pid) -> Valgrind lines
for log in sorted(out.glob("tmp/**/*.log")):
    for raw in log.read_text(errors="replace").splitlines():
        m = LINE.match(raw)
        if m:
            runs[(str(log.relative_to(out)), m.group(1))].append(m.group(2))

bad = []
stats = defaultdict(int)
for (log, pid), lines in sorted(runs.items()):
    if not any("Memcheck" in ln for ln in lines):
        continue
    stats["processes"] += 1
    command = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Command:")), "?")
    killed = any("Process terminating with default action of signal" in ln for ln in lines)
    # A fakeserver told to crash (--crash-after/-at/-rate) leaves with _exit() on purpose,
    # its sockets open: like a process killed by a signal, its fds are not judged.
    crashed = " --crash" in command
    summary = [ln for ln in lines if ln.startswith("ERROR SUMMARY:")]
    if not summary:
        stats["no summary (SIGKILLed)"] += 1
        continue
    errors = int(re.search(r"ERROR SUMMARY: (\d+) errors", summary[-1]).group(1))
    lost = [ln for ln in lines if "definitely lost:" in ln]
    lost_bytes = sum(int(re.search(r"definitely lost: ([\d,]+) bytes", ln).group(1)
                         .replace(",", "")) for ln in lost)
    fd_problems = []
    if crashed:
        stats["deliberate crashes (fds not judged)"] += 1
    elif not killed:
        for i, ln in enumerate(lines):
            if re.match(r"Open (file descriptor|AF_\w+ socket|\w+ socket) ?\d*", ln):
                follow = lines[i + 1] if i + 1 < len(lines) else ""
                if "<inherited from parent>" not in follow:
                    fd_problems.append(ln)
    else:
        stats["killed by a signal (fds not judged)"] += 1
    stats["errors"] += errors
    stats["definitely lost bytes"] += lost_bytes
    stats["fds left open"] += len(fd_problems)
    if errors or lost_bytes or fd_problems:
        bad.append(f"{log} pid {pid} ({command}): {errors} errors, {lost_bytes} bytes "
                   f"definitely lost, {len(fd_problems)} fds open at exit "
                   + "; ".join(fd_problems[:4]))

print("memcheck report")
for k in ("processes", "errors", "definitely lost bytes", "fds left open",
          "killed by a signal (fds not judged)", "deliberate crashes (fds not judged)",
          "no summary (SIGKILLed)"):
    print(f"  {k}: {stats[k]}")
print(f"  pytest exit status: {pytest_status}")
for b in bad:
    print("  BAD " + b)
if stats["processes"] == 0:
    print("  BAD no process ran under Valgrind (is LBTEST_WRAP honoured?)")
ok = not bad and stats["processes"] > 0 and pytest_status == 0
print("memcheck: PASS" if ok else "memcheck: FAIL")
sys.exit(0 if ok else 1)
EOF
}

if [ -n "${MEMCHECK_REPORT_ONLY:-}" ]; then  # judge the logs of the last run again
  report "$out" "$(cat "$out/pytest.status" 2>/dev/null || echo 1)"
  exit $?
fi
rm -rf "$out"
mkdir -p "$out/tmp"
export LBTEST_BIN="$build/bin"
export LBTEST_WRAP="valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --track-fds=yes --child-silent-after-fork=yes"
export LBTEST_TIMEOUT_SCALE=${LBTEST_TIMEOUT_SCALE:-10}
export SOAK_SHORT_REQUESTS=${SOAK_SHORT_REQUESTS:-600}

suites=()
for s in ${MEMCHECK_SUITES:-tests/cluster tests/lb tests/security tests/reliability tests/course}; do
  [ -d "$s" ] && suites+=("$s")
done
echo "memcheck: ${suites[*]} under: $LBTEST_WRAP (timeout scale $LBTEST_TIMEOUT_SCALE)"
start=$(date +%s)
# shellcheck disable=SC2086
"$py" -m pytest -q -rs -p no:cacheprovider --basetemp="$out/tmp" -o timeout=900 \
  ${MEMCHECK_PYTEST_ARGS:-} "${suites[@]}" 2>&1 | tee "$out/pytest.txt"
pytest_status=${PIPESTATUS[0]}
echo "memcheck: pytest finished in $(( $(date +%s) - start )) s with status $pytest_status"

echo "$pytest_status" > "$out/pytest.status"
report "$out" "$pytest_status"
