"""Shared pieces of the lbtest suite: the binaries, the command, and balancers built here
(the `need_binaries` fixture is imported by each test module)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.process import ProcessError, bin_path, repo_root

HERE = Path(__file__).resolve().parent
COURSE_LB = HERE / "course_lb.py"


@pytest.fixture
def need_binaries():
    missing = []
    for name in ("fakeserver", "loadbalancer"):
        try:
            bin_path(name)
        except ProcessError as exc:
            missing.append(str(exc))
    if missing:
        msg = "; ".join(missing)
        if os.environ.get("LBTEST_REQUIRE_BINARIES"):
            pytest.fail(msg)
        pytest.skip(msg)


def lbtest(*args, timeout=300, env=None):
    """Runs `python3 -m harness.lbtest ARGS` as a user would; returns CompletedProcess."""
    return lbtest_start(*args, env=env).wait_done(timeout)


class Running(subprocess.Popen):
    def wait_done(self, timeout=300):
        out, err = self.communicate(timeout=timeout)
        return subprocess.CompletedProcess(self.args, self.returncode, out, err)


def lbtest_start(*args, env=None):
    """Starts `python3 -m harness.lbtest ARGS`; .wait_done() gives the CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=str(repo_root()), **(env or {}))
    return Running([sys.executable, "-m", "harness.lbtest", *map(str, args)], cwd=repo_root(),
                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def cells(json_path):
    """{(balancer, entry): cell dict} from a --json report."""
    data = json.loads(Path(json_path).read_text())
    return {(c["subject"], c["entry"]): c for c in data["cells"]}


def not_passed(json_path, subject):
    return {e for (s, e), c in cells(json_path).items() if s == subject and c["verdict"] != "pass"}


def build_balancer(folder, name, script):
    """Writes an executable balancer `name` into folder: a shell script (the body given)."""
    path = Path(folder) / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


def course_balancer(folder, name, broken=None):
    """The Python course balancer (course_lb.py), correct or broken in one way."""
    flag = f"--break {broken} " if broken else ""
    return build_balancer(folder, name, f'exec {sys.executable} {COURSE_LB} {flag}"$@"\n')


def have(program):
    return shutil.which(program, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
