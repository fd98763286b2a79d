"""The course command line: accepted shapes reach READY; every bad one is refused with one
line on stderr, a non-zero exit, and nothing bound (the port named stays free)."""
import subprocess

import pytest

from harness.ports import bind_check
from harness.process import bin_path

from .conftest import free_port, scaled

BAD = [
    [],
    ["{P}"],
    ["-N", "3", "{P}"],
    ["{P}", "8080", "-N"],
    ["{P}", "8080", "-R"],
    ["-N", "abc", "{P}", "8080"],
    ["-N", "0", "{P}", "8080"],
    ["-N", "-2", "{P}", "8080"],
    ["-R", "0", "{P}", "8080"],
    ["-R", "-1", "{P}", "8080"],
    ["-R", "1.5", "{P}", "8080"],
    ["{P}", "65536"],
    ["{P}", "0"],
    ["{P}", "x:80"],     # unresolvable host: refused before binding
    ["{P}", "host:"],
    ["{P}", "8080", "-q"],
    ["{P}", "8080", "--no-such-option", "1"],
    ["{P}", "8080", "--server-timeout", "0"],
    ["{P}", "8080", "--policy", "random"],
    ["99999", "8080"],
    ["abc", "8080"],
]


@pytest.mark.parametrize("argv", BAD, ids=lambda a: " ".join(a) or "(none)")
def test_bad_arguments_are_refused_and_bind_nothing(argv):
    port = free_port()
    argv = [a.replace("{P}", str(port)) for a in argv]
    r = subprocess.run([bin_path("loadbalancer"), *argv], capture_output=True,
                       timeout=scaled(10), stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert r.stdout == b""
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1, r.stderr
    bind_check(port)  # still free: nothing was bound


def test_help_exits_zero():
    r = subprocess.run([bin_path("loadbalancer"), "--help"], capture_output=True,
                       timeout=scaled(10))
    assert r.returncode == 0 and b"usage" in r.stdout


@pytest.mark.parametrize("shape", [
    ["-N", "7", "0", "{B}", "-R", "3", "{B}"],
    ["0", "-N", "2", "127.0.0.1:{B}", "{B}"],
    ["-N7", "-R3", "0", "{B}", "--", "{B}"],
    ["--server-timeout=2s", "--connect-timeout", "250ms", "0", "localhost:{B}"],
])
def test_good_shapes_reach_ready_and_serve(rig, shape):
    fs = rig.fakeserver()
    argv = [a.replace("{B}", str(fs.port)) for a in shape]
    rig.balancer(*argv)
    assert rig.port > 0
    assert rig.lb.stdout_lines[0] == f"READY port={rig.port} stats={rig.lb.ready['stats']}"
    status, body, _ = rig.get("/f")
    assert (status, body) == (200, b"hello\n")


def test_ready_line_without_stats(rig):
    fs = rig.fakeserver()
    rig.balancer("0", str(fs.port), stats=False)
    assert rig.lb.stdout_lines[0] == f"READY port={rig.port}"
