"""The course-script suite: every bash script in tests/course/scripts is run as a course
autograder runs one (everything it prints, its binaries' stdout and stderr included, goes to
one file) and that file must equal expected/<name>.out byte for byte, as `cmp` judges.

The binaries are the ones under test ($LBTEST_BIN), started by the scripts by name on ports
chosen free here and passed in as P, P2, P3, P4. Each script runs in its own session under
a time bound; it must exit 0 and leave no process behind (its trap kills what it started,
by PID; anything still alive in its session afterwards fails the test and is killed here,
by PID). The two restart scripts run while this module keeps both CPUs busy.

Under a wrapper (LBTEST_WRAP, LBTEST_WRAP_<NAME>: `make memcheck` sets a valgrind line) the
scripts run each binary through it (lib.sh puts shims first in PATH). A valgrind wrapper
gets a --log-file in the test's directory, so its report stays out of the output compared
(and ci/memcheck.sh judges it with the others); a script whose binaries' reports show
errors or a definite leak fails here.
"""
import difflib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.ports import free_port
from harness.process import bin_path, log_problems, scaled, wrapper

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts"
EXPECTED = HERE / "expected"
HELPERS = {"lib.sh", "requests.sh"}  # sourced by the scripts, not run on their own
BINARIES = ("fakeserver", "loadbalancer")
VALGRIND_LOG = ".valgrind.log"  # ci/memcheck.sh reads every *.log under the test dirs

# script -> expected output (the request battery's: requests.out straight to a fakeserver,
# requests_lb.out through the balancer, where the one difference is hop-by-hop Connection)
CASES = {
    "fs_requests": "requests",
    "fs_healthcheck": "fs_healthcheck",
    "fs_log": "fs_log",
    "fs_args": "fs_args",
    "fs_threads": "fs_threads",
    "lb_one_server": "requests_lb",
    "lb_three_servers": "requests_lb",
    "lb_failover": "lb_failover",
    "lb_args": "lb_args",
    "lb_spread": "lb_spread",
    "lb_connection": "lb_connection",
}
UNDER_LOAD = {"fs_restart": "restart", "lb_restart": "restart"}


# -- running a script -----------------------------------------------------------------------
def free_ports(n):
    """n distinct ports no one holds and the kernel will not hand out meanwhile
    (harness.ports: each is left in TIME_WAIT, which the binaries' SO_REUSEADDR binds)."""
    ports = []
    while len(ports) < n:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def session_members(sid):
    """PIDs (and command lines) of the live processes of session sid."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append((int(entry), cmd.strip()))
    return found


def wrappers(log_dir):
    """LBTEST_WRAP_<NAME> for lib.sh, one per binary: the harness's wrapper for it, a
    valgrind one with a --log-file per process in log_dir (VALGRIND_LOG names them)."""
    env = {}
    for name in BINARIES:
        wrap = wrapper(name)
        if any(Path(word).name == "valgrind" for word in wrap):
            wrap = wrap + [f"--log-file={log_dir}/{name}.%p{VALGRIND_LOG}"]
        env[f"LBTEST_WRAP_{name.upper()}"] = shlex.join(wrap)
    return env


def wrapped_problems(log_dir):
    """What the valgrind reports of a script's binaries found: errors, definite leaks."""
    return [f"{log.name}: {line}" for log in sorted(Path(log_dir).glob(f"*{VALGRIND_LOG}"))
            for line in log_problems(log.read_text(errors="replace"))]


def run_script(path, tmp_path, timeout=60.0, env=None):
    """Runs `bash path > out 2>&1` in its own session; returns (exit status, output bytes).
    Fails the test on a timeout or when a process of the script outlives it; either way,
    whatever is left of it is killed by PID first. Then fails it when a wrapper's valgrind
    reports show errors or definite leaks."""
    out_path = tmp_path / f"{Path(path).stem}.got"
    ports = free_ports(4)
    bins = {str(Path(bin_path(name)).parent) for name in BINARIES}
    assert len(bins) == 1, f"fakeserver and loadbalancer come from different places: {bins}"
    full_env = dict(os.environ, BIN=bins.pop(), WORK=str(tmp_path / "work"),
                    P=str(ports[0]), P2=str(ports[1]), P3=str(ports[2]), P4=str(ports[3]),
                    **wrappers(tmp_path), **(env or {}))
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(["bash", str(path)], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=tmp_path, env=full_env,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=scaled(timeout))
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            for pid, _ in session_members(proc.pid):
                try:
                    os.kill(pid, signal.SIGTERM)  # bash too: its trap gets to run
                except ProcessLookupError:
                    pass
            try:
                rc = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
    # The session's processes, once bash is gone, are what the script failed to kill.
    left = []
    deadline = time.monotonic() + 0.5  # the trap reaped what it killed: a grace, no more
    while (left := session_members(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    output = out_path.read_bytes()
    if timed_out:
        pytest.fail(f"{path.name} still ran after {scaled(timeout):.0f} s; its output so far "
                    f"({out_path}):\n{show(output)}", pytrace=False)
    if left:
        pytest.fail(f"{path.name} left processes behind (killed now): {left}", pytrace=False)
    problems = wrapped_problems(tmp_path)
    if problems:
        pytest.fail(f"{path.name}: valgrind reports:\n" + "\n".join(problems), pytrace=False)
    return rc, output


def show(data):
    """Bytes as lines with CR, tabs and other control bytes visible, as `cat -A` would."""
    text = data.decode("latin-1")
    lines = []
    for line in text.split("\n"):
        lines.append("".join(c if " " <= c <= "~" else
                             ("^M" if c == "\r" else f"\\x{ord(c):02x}") for c in line))
    return "\n".join(lines)


def compare(name, got, expected_path, tmp_path):
    """Fails with cmp's verdict and a readable diff unless got equals the expected file."""
    want = expected_path.read_bytes()
    if got == want:
        return
    got_path = tmp_path / f"{name}.got"
    got_path.write_bytes(got)
    verdict = subprocess.run(["cmp", str(got_path), str(expected_path)], capture_output=True,
                             text=True).stdout.strip() or "differ"
    diff = "\n".join(difflib.unified_diff(show(want).split("\n"), show(got).split("\n"),
                                          os.path.relpath(expected_path, HERE),
                                          f"{name} printed", lineterm="", n=2))
    pytest.fail(f"{verdict}\n{diff[:6000]}", pytrace=False)


def check_script(name, expected, tmp_path, timeout=60.0):
    rc, got = run_script(SCRIPTS / f"{name}.sh", tmp_path, timeout)
    compare(name, got, EXPECTED / f"{expected}.out", tmp_path)
    assert rc == 0, f"{name}.sh printed what was expected but exited {rc}"


# -- the scripts ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_course_script(name, tmp_path):
    check_script(name, CASES[name], tmp_path)


@pytest.fixture
def cpu_load():
    """Two busy loops, one per CPU, for at most 150 s (more than a script may take; scaled,
    as the scripts' deadline is); killed by PID at the end."""
    code = (f"import time\nend = time.monotonic() + {scaled(150)}\n"
            "while time.monotonic() < end:\n    pass\n")
    hogs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    yield hogs
    for hog in hogs:
        hog.kill()
        hog.wait()


@pytest.mark.parametrize("name", sorted(UNDER_LOAD))
def test_restart_20_times_on_a_loaded_machine(name, tmp_path, cpu_load):
    check_script(name, UNDER_LOAD[name], tmp_path, timeout=90.0)
    assert all(hog.poll() is None for hog in cpu_load), "the load ended before the script"


def test_every_script_is_run_and_every_expectation_used():
    scripts = {p.stem for p in SCRIPTS.glob("*.sh") if p.name not in HELPERS}
    assert scripts == set(CASES) | set(UNDER_LOAD)
    used = set(CASES.values()) | set(UNDER_LOAD.values())
    assert {p.stem for p in EXPECTED.glob("*.out")} == used


# -- the runner can fail ------------------------------------------------------------------------
def write_script(tmp_path, body):
    path = tmp_path / "probe.sh"
    path.write_text(f". {SCRIPTS / 'lib.sh'}\n{body}")
    return path


PROBE = """printf 'hi\\n' > f
fakeserver $P &
pid=$!
wait_port $P $pid
curl -si http://127.0.0.1:$P/f
"""


def test_a_wrong_expectation_fails(tmp_path):
    rc, got = run_script(write_script(tmp_path, PROBE + "stop $pid\n"), tmp_path, timeout=20)
    assert rc == 0 and got == b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhi\n"
    wrong = tmp_path / "wrong.out"
    wrong.write_bytes(got.replace(b"\r\n\r\n", b"\n\n"))  # one CR missing: no longer equal
    with pytest.raises(pytest.fail.Exception) as failed:
        compare("probe", got, wrong, tmp_path)
    assert "differ: byte 35, line 2" in str(failed.value)


def test_a_process_left_behind_fails(tmp_path):
    """A script whose trap cannot reach a binary (disowned) fails, and the binary is killed."""
    with pytest.raises(pytest.fail.Exception) as failed:
        run_script(write_script(tmp_path, PROBE + "disown $pid\n"), tmp_path, timeout=20)
    assert "left processes behind" in str(failed.value) and "fakeserver" in str(failed.value)


def test_a_script_past_its_time_fails(tmp_path):
    with pytest.raises(pytest.fail.Exception) as failed:
        run_script(write_script(tmp_path, PROBE + "sleep 30\n"), tmp_path, timeout=1)
    assert "still ran after" in str(failed.value)


FAKE_VALGRIND = """#!/bin/sh
# Stands in for valgrind: a report with one error in --log-file (%p: its PID), then the
# program, as valgrind would run it.
log=$(printf '%s' "${1#--log-file=}" | sed "s/%p/$$/")
shift
printf '==%s== Memcheck\\n==%s== ERROR SUMMARY: 1 errors from 1 contexts\\n' $$ $$ > "$log"
exec "$@"
"""


def test_a_wrapped_binary_with_valgrind_errors_fails(tmp_path, monkeypatch):
    """LBTEST_WRAP reaches the binaries a script starts by name (through lib.sh's shims,
    the output unchanged), and a valgrind report with errors fails the script's test."""
    fake = tmp_path / "valgrind"
    fake.write_text(FAKE_VALGRIND)
    fake.chmod(0o755)
    monkeypatch.setenv("LBTEST_WRAP", str(fake))
    for name in BINARIES:
        monkeypatch.delenv(f"LBTEST_WRAP_{name.upper()}", raising=False)
    with pytest.raises(pytest.fail.Exception) as failed:
        run_script(write_script(tmp_path, PROBE + "stop $pid\n"), tmp_path, timeout=20)
    assert "valgrind reports" in str(failed.value)
    assert "ERROR SUMMARY: 1 errors" in str(failed.value)
    assert (tmp_path / "probe.got").read_bytes() == \
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhi\n"
