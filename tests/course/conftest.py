"""The course's way of using the balancer: shell scripts with curl, nc -N, diff, kill,
against fakeservers (the course httpserver's drop-in) that share one directory, as a
student's autograder runs them. Processes are started by the harness's `procs` (port 0
and READY lines); the scripts get ports and PIDs in their environment, kill only the
PIDs they are given, and each runs under a time bound."""
import os
import subprocess

import pytest


class Course:
    def __init__(self, procs, tmp_path):
        self.procs = procs
        self.tmp = tmp_path
        self.www = tmp_path / "www"
        self.www.mkdir()
        self.logs = tmp_path / "courselogs"  # not logs/: the harness keeps process logs there
        self.logs.mkdir()
        self.servers = []
        self.lb = None

    def file(self, name, data):
        (self.www / name).write_bytes(data)
        (self.tmp / f"{name}.orig").write_bytes(data)
        return data

    def server(self, *args, log=True):
        i = len(self.servers) + 1
        argv = ["fakeserver", "0", *args]
        if log:
            argv += ["-l", str(self.logs / f"s{i}.log")]
        p = self.procs.start(argv, name=f"s{i}", cwd=self.www)
        self.servers.append(p)
        return p

    def balancer(self, *argv):
        """argv with `{S1}`, `{S2}`... standing for backend ports, `PORT` for 0."""
        ports = {f"{{S{i + 1}}}": s.ready["port"] for i, s in enumerate(self.servers)}
        real = [ports.get(a, a) for a in argv]
        self.lb = self.procs.start(["loadbalancer", *real], name="lb", cwd=self.tmp)
        return self.lb

    def env(self):
        e = dict(os.environ, LB=self.lb.ready["port"] if self.lb else "")
        if self.lb and "stats" in self.lb.ready:
            e["STATS"] = self.lb.ready["stats"]
        for i, s in enumerate(self.servers):
            e[f"S{i + 1}"] = s.ready["port"]
            e[f"PID{i + 1}"] = str(s.pid)
            e[f"LOG{i + 1}"] = str(self.logs / f"s{i + 1}.log")
        return e

    def sh(self, script, timeout=20, check=True):
        """Runs a bash script (set -euo pipefail) in the test's directory; returns stdout."""
        r = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=self.tmp,
                           env=self.env(), capture_output=True, timeout=timeout)
        if check:
            assert r.returncode == 0, (f"script failed ({r.returncode}):\n{script}\n"
                                       f"stdout: {r.stdout[-2000:]!r}\nstderr: {r.stderr[-2000:]!r}")
        return r

    def killed(self, i):
        """Marks server i (1-based) as killed on purpose by a script."""
        self.servers[i - 1].killed_by_test = True


@pytest.fixture
def course(procs, tmp_path):
    return Course(procs, tmp_path)
