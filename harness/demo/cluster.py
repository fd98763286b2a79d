"""The demo's processes: the harness's own Cluster (harness/cluster.py) with fakeservers
named A, B, C, ... behind one balancer, all on ephemeral loopback ports, each a
harness.process.Process (own process group, READY line, log file), and each recorded in
pids.txt so a test can prove none is left behind.

A backend can be slowed, frozen, killed and revived (Backend.restart: its old port back,
since the balancer's command line names it). Faults change live through the fakeserver's
control port. The balancer gets a stats port when it accepts --stats-port (stats="auto");
an older one runs without, and the demo's view falls back to what it sees from outside.

Each backend serves one file, `who`, whose body is its name: a client can tell which
backend answered without any header the balancer might add or drop.
"""
import os
import signal
from pathlib import Path

from harness.cluster import Cluster


def make_cluster(workdir, lb_args=(), faults=None, names=("A", "B", "C")):
    """The demo's Cluster, not started: backends with their `who` file and their faults
    at start (name -> {fault: value}, as long options), and an empty pids.txt."""
    faults = faults or {}
    per_backend = {}
    for i, name in enumerate(names):
        for key, value in faults.get(name, {}).items():
            per_backend.setdefault(i, []).extend([f"--{key.replace('_', '-')}", str(value)])
    cluster = Cluster(Path(workdir).resolve(), names=names, backend_args=["-N", "2"],
                      per_backend=per_backend, lb_args=lb_args, stats="auto", files={})
    for b in cluster.backends:
        (b.dir / "who").write_text(b.name)
    pidfile(cluster).write_text("")
    return cluster


def start(cluster):
    """Starts the backends, then the balancer; every PID lands in pids.txt, even when a
    start fails."""
    try:
        cluster.start()
    finally:
        remember(cluster)
    return cluster


def pidfile(cluster):
    return cluster.root / "pids.txt"


def remember(cluster):
    """Writes the PID and name of every process the cluster ever ran to pids.txt."""
    pidfile(cluster).write_text("".join(f"{p.pid} {p.name}\n" for p in cluster.processes()
                                        if p.popen is not None))


def exit_statuses(cluster):
    """{name: exit status of its latest process} after Cluster.stop(); the balancer is
    "loadbalancer"."""
    statuses = {b.name: b.proc.returncode for b in cluster.backends if b.proc is not None}
    if cluster.balancer.proc is not None:
        statuses["loadbalancer"] = cluster.balancer.proc.returncode
    return statuses


def still_running(pidfile):
    """Remembered PIDs that still run one of our binaries (a reused PID does not count)."""
    alive = []
    for line in Path(pidfile).read_text().splitlines():
        pid = int(line.split()[0])
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            if state not in ("Z", "X") and (b"fakeserver" in cmd or b"loadbalancer" in cmd):
                alive.append(pid)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return alive


def ensure_gone(pidfile):
    """Last resort: SIGKILL the process group of any remembered PID still alive."""
    for pid in still_running(pidfile):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
