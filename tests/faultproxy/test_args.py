"""faultproxy's command line: silence, READY, bad arguments, --help."""
import subprocess

import pytest

from harness.process import bin_path


def run(*args):
    return subprocess.run([bin_path("faultproxy"), *args], capture_output=True, timeout=20)


@pytest.mark.parametrize("args,why", [
    ((), "missing PORT"),
    (("0",), "missing --upstream"),
    (("0", "--upstream"), "needs a value"),
    (("0", "--upstream", "1", "-l", "log"), "fakeserver's"),
    (("0", "--upstream", "1", "--root", "/"), "fakeserver's"),
    (("0", "--upstream", "0"), "port"),
    (("0", "--upstream", "1", "--scope-header", "a b"), "scope-header"),
    (("0", "--upstream", "1", "--tcp-timeout", "-5"), "tcp-timeout"),
])
def test_bad_arguments_exit_2_with_one_line(args, why):
    p = run(*args)
    err = p.stderr.decode()
    assert p.returncode == 2 and p.stdout == b"" and err.count("\n") == 1 and why in err


def test_help_lists_every_fault_and_the_proxy_options():
    out = run("--help").stdout.decode()
    for word in ("--upstream", "--tcp", "--delay", "--scope-header", "--tcp-latency-down",
                 "--tcp-limit-up", "--tcp-rate"):
        assert word in out


def test_ready_line_and_silence(procs):
    p = procs.start(["faultproxy", "0", "--upstream", "1", "--control-port", "0"], name="fp")
    assert set(p.ready) == {"port", "control", "pid"} and int(p.ready["pid"]) == p.pid
    assert p.stop() == 0 and p.stdout_lines == [p.stdout_lines[0]]
