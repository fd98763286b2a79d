"""Shared by the demo tests: running `python3 -m harness.demo` as a user would (its own
session, non-interactive, fast SPEED) and checking that nothing it started outlives it."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def bin_dir():
    return Path(os.environ.get("LBTEST_BIN") or REPO / "build" / "bin")


def binaries():
    """The bin directory holding both binaries, or None."""
    base = Path(bin_dir())
    if (base / "fakeserver").exists() and (base / "loadbalancer").exists():
        return base
    return None


def processes_under(path):
    """PIDs of live processes whose working directory lies under path."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (cwd == str(path) or cwd.startswith(str(path) + "/")):
            found.append(int(entry.name))
    return found


def session_members(sid):
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry.name))
    return found


class DemoRun:
    def __init__(self, out, scenario, proc, stdout, stderr, elapsed, leftovers):
        self.out, self.scenario = out, scenario
        self.dir = out / scenario
        self.returncode, self.stdout, self.stderr = proc.returncode, stdout, stderr
        self.elapsed, self.leftovers = elapsed, leftovers


def run_demo(out, scenario="classic", speed=10, timeout=60):
    bindir = binaries()
    if bindir is None:
        pytest.skip(f"fakeserver or loadbalancer not built in {bin_dir()}: the demo needs both")
    argv = [sys.executable, "-m", "harness.demo", "--bin", str(bindir), "--out", str(out),
            "--scenario", scenario, "--speed", str(speed), "--view", "plain"]
    began = time.monotonic()
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        stdout, stderr = proc.communicate()
        pytest.fail(f"the demo did not end within {timeout}s:\n{stdout.decode()}"
                    f"\n{stderr.decode()}")
    elapsed = time.monotonic() - began
    leftovers = sorted(set(session_members(proc.pid)) | set(processes_under(out)))
    return DemoRun(out, scenario, proc, stdout.decode(errors="replace"),
                   stderr.decode(errors="replace"), elapsed, leftovers)


@pytest.fixture(scope="session")
def classic_run(tmp_path_factory):
    """One classic run at SPEED=10, shared by the run test and the browser test."""
    return run_demo(tmp_path_factory.mktemp("demo-classic"), "classic", speed=10)
