"""Process: READY lines, deadlines, process groups, exit judgement, wrappers, log checks."""
import os
import sys
import time

import pytest

from harness import Process, ProcessError
from harness import process as process_mod

PY = sys.executable


def script(tmp_path, body):
    path = tmp_path / "child.py"
    path.write_text(body)
    return [PY, str(path)]


def test_ready_line_values_and_later_stdout(tmp_path):
    argv = script(tmp_path, "import time\nprint('noise first', flush=True)\n"
                  "print('READY port=1234 stats=99', flush=True)\nprint('after', flush=True)\n"
                  "time.sleep(30)\n")
    p = Process(argv, name="c", cwd=tmp_path).start(timeout=10)
    assert p.ready == {"port": "1234", "stats": "99"} and p.port == 1234
    deadline = time.monotonic() + 5
    while "after" not in p.stdout_lines and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "after" in p.stdout_lines
    assert p.close() == []    # SIGTERM kills python by signal: accepted by default


def test_exit_before_ready_raises_with_the_log(tmp_path):
    argv = script(tmp_path, "import sys\nsys.stderr.write('bad flag -Z\\n')\nsys.exit(2)\n")
    p = Process(argv, name="c", cwd=tmp_path)
    with pytest.raises(ProcessError) as err:
        p.start(timeout=10)
    assert "exit 2" in str(err.value) and "bad flag -Z" in str(err.value)


def test_silence_past_the_deadline_raises_and_kills(tmp_path):
    argv = script(tmp_path, "import time\ntime.sleep(60)\n")
    p = Process(argv, name="c", cwd=tmp_path)
    t0 = time.monotonic()
    with pytest.raises(ProcessError, match="did not print READY"):
        p.start(timeout=0.5)
    assert time.monotonic() - t0 < 5 and not p.alive()


def test_ready_timeout_names_the_line_and_how_a_balancer_is_asked(tmp_path, monkeypatch):
    # a stand-in "loadbalancer" that never prints READY: the message must say which line is
    # awaited and that the binaries print it with --ready or on PORT 0
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("loadbalancer", "fakeserver"):
        exe = bindir / name
        exe.write_text("#!/bin/sh\nexec sleep 30\n")
        exe.chmod(0o755)
    monkeypatch.setenv("LBTEST_BIN", str(bindir))
    monkeypatch.delenv("LBTEST_WRAP", raising=False)
    for name, line in (("loadbalancer", "'READY port=P' (plus 'stats=S' with --stats-port)"),
                       ("fakeserver", "'READY port=P control=C pid=PID'")):
        p = Process([name, "8080", "9000"], name="lb-0", cwd=tmp_path)
        with pytest.raises(ProcessError) as err:
            p.start(timeout=0.3)
        text = str(err.value)
        assert "did not print READY within 0s." in text
        assert "a line on stdout that starts with 'READY'" in text and line in text
        assert "only when asked with --ready or when PORT is 0" in text
        assert f"Command: {bindir / name} --ready 8080 9000" in text
    # any other child: it has to print and flush the line itself
    p = Process(script(tmp_path, "import time\ntime.sleep(30)\n"), name="c", cwd=tmp_path)
    with pytest.raises(ProcessError, match="print it itself and flush stdout"):
        p.start(timeout=0.3)


def test_stop_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "grandchild"
    argv = script(tmp_path, "import subprocess, sys, time\n"
                  "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
                  f"open({str(pidfile)!r}, 'w').write(str(g.pid))\n"
                  "print('READY port=1', flush=True)\ntime.sleep(60)\n")
    p = Process(argv, name="c", cwd=tmp_path).start(timeout=10)
    grandchild = int(pidfile.read_text())
    p.kill()
    p.wait(5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    else:
        pytest.fail("grandchild survived the process-group kill")


def test_unexpected_death_is_a_problem_and_declared_one_is_not(tmp_path):
    argv = script(tmp_path, "import os\nprint('READY port=1', flush=True)\nos._exit(3)\n")
    p = Process(argv, name="a", cwd=tmp_path).start(timeout=10)
    p.wait(5)
    assert any("exit 3" in x for x in p.close())
    q = Process(argv, name="b", cwd=tmp_path).start(timeout=10)
    q.expect_exit(3)
    q.wait(5)
    assert q.close() == []


def test_exit_status_after_sigterm_is_judged(tmp_path):
    argv = script(tmp_path, "import signal, sys, time\n"
                  "signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\n"
                  "print('READY port=1', flush=True)\ntime.sleep(60)\n")
    p = Process(argv, name="c", cwd=tmp_path).start(timeout=10)
    p.stop_exits = {0}
    assert p.close() == ["exit status after SIGTERM at teardown: exit 7, but SIGTERM must "
                         "make it drain and exit 0 (the contract: stop accepting, let "
                         "requests in flight finish within a bound, exit 0)"]


def test_exit_143_after_sigterm_states_the_rule_and_what_143_means(tmp_path):
    # a wrapper that reports the SIGTERM death of what it ran the way shells do: exit 143
    argv = ["/bin/sh", "-c", "trap 'exit 143' TERM; echo READY port=1; sleep 60 & wait"]
    p = Process(argv, name="lb-0", cwd=tmp_path).start(timeout=10)
    p.stop_exits = {0}
    (problem,) = p.close()
    assert problem.startswith("exit status after SIGTERM at teardown: exit 143, but SIGTERM "
                              "must make it drain and exit 0")
    assert "143 is 128+15: what a shell or wrapper exits with when SIGTERM killed" in problem
    # the default rule names both accepted statuses in words
    q = Process(argv, name="x", cwd=tmp_path).start(timeout=10)
    q.stop_exits = {0, -15}
    assert q.stop_rule() == "after SIGTERM the test accepts exit 0 or killed by SIGTERM"
    q.close()


def test_sanitizer_and_valgrind_reports_are_found(tmp_path):
    p = Process([PY, "-c", "pass"], name="c", cwd=tmp_path)
    p.log_path.write_text("==1==ERROR: AddressSanitizer: heap-use-after-free\n"
                          "x.c:3:5: runtime error: signed integer overflow\n"
                          "==2== ERROR SUMMARY: 0 errors from 0 contexts\n"
                          "==2==    definitely lost: 0 bytes in 0 blocks\n"
                          "==3== ERROR SUMMARY: 2 errors from 1 contexts\n")
    found = p.check_log()
    assert len(found) == 3 and "AddressSanitizer" in found[0] and "2 errors" in found[2]


def test_per_binary_wrapper_and_timeout_scale(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "fakeserver"
    exe.write_text("#!/bin/sh\necho READY port=5 wrapped=$WRAPPED\nsleep 30\n")
    exe.chmod(0o755)
    monkeypatch.setenv("LBTEST_BIN", str(bindir))
    monkeypatch.setenv("LBTEST_WRAP", "false")            # would fail: must be overridden
    monkeypatch.setenv("LBTEST_WRAP_FAKESERVER", "env WRAPPED=yes")
    p = Process(["fakeserver"], name="w", cwd=tmp_path).start(timeout=10)
    assert p.argv[:2] == ["env", "WRAPPED=yes"] and p.ready["wrapped"] == "yes"
    p.close()
    monkeypatch.setenv("LBTEST_WRAP_FAKESERVER", "")     # set but empty: no wrapper
    assert Process(["fakeserver"], cwd=tmp_path).argv == [str(exe), "--ready"]
    monkeypatch.setenv("LBTEST_WRAP_LOADBALANCER", "valgrind -q")
    monkeypatch.delenv("LBTEST_TIMEOUT_SCALE", raising=False)
    monkeypatch.delenv("TEST_TIMEOUT_SCALE", raising=False)
    assert process_mod.timeout_scale() == 10.0
    monkeypatch.setenv("LBTEST_TIMEOUT_SCALE", "3")
    assert process_mod.scaled(2) == 6


def test_missing_binary_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("LBTEST_BIN", str(tmp_path))
    with pytest.raises(ProcessError, match="run `make` first"):
        Process(["loadbalancer"])


def test_freeze_and_thaw(tmp_path):
    argv = script(tmp_path, "import time\nprint('READY port=1', flush=True)\ntime.sleep(60)\n")
    p = Process(argv, name="c", cwd=tmp_path).start(timeout=10)
    p.freeze()
    state = lambda: open(f"/proc/{p.pid}/stat").read().split(")")[1].split()[0]
    deadline = time.monotonic() + 5
    while state() != "T" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert state() == "T"
    p.thaw()
    while state() == "T" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert state() != "T"
    p.close()


def test_balancer_deadlines_scale_for_slow_runs():
    from harness.cluster import scale_lb_args
    assert scale_lb_args(["-N", "2", "--server-timeout", "1s"], 1.0) == \
        ["-N", "2", "--server-timeout", "1s"]
    out = scale_lb_args(["-N", "2", "--server-timeout", "1s", "--health-timeout=500ms"], 10)
    assert out[:6] == ["-N", "2", "--server-timeout", "10000ms", "--health-timeout", "5000ms"]
    assert "--connect-timeout" in out and out[out.index("--connect-timeout") + 1] == "10000ms"


def test_binaries_are_found_in_lbtest_bin_then_the_checkout_then_path(tmp_path, monkeypatch):
    """The lookup order of harness.process.bin_path: LBTEST_BIN alone when set, else the
    checkout's build/bin, else PATH."""
    on_path = tmp_path / "path"
    on_path.mkdir()
    exe = on_path / "lbtest-only-on-path"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{on_path}:{os.environ.get('PATH', '')}")
    monkeypatch.delenv("LBTEST_BIN", raising=False)
    assert process_mod.bin_path("lbtest-only-on-path") == str(exe)
    monkeypatch.setenv("LBTEST_BIN", str(tmp_path))      # set: nowhere else is looked at
    with pytest.raises(ProcessError, match="LBTEST_BIN"):
        process_mod.bin_path("lbtest-only-on-path")
    built = process_mod.repo_root() / "build" / "bin" / "loadbalancer"
    if built.exists():
        monkeypatch.delenv("LBTEST_BIN")
        assert process_mod.bin_path("loadbalancer") == str(built)
