"""The demo's processes: fakeservers (named A, B, C, ...) behind one balancer, all on
ephemeral loopback ports, each started through harness.process.Process (own process group,
READY line, log file) and each recorded in pids.txt so a test can prove none is left behind.

A backend can be slowed, frozen, killed and revived. A revived backend gets its old port
back (the balancer's command line names it). Faults are changed through the fakeserver's
control port when it has one; otherwise the backend is restarted on the same port with the
new fault options and its old counters preset (-e/-t), so to the balancer it looks like the
same backend, only slower.

Each backend serves one file, `who`, whose body is its name: a client can tell which
backend answered without any header the balancer might add or drop.
"""
import http.client
import json
import os
import signal
import time
from pathlib import Path

from harness.process import Process, ProcessError


def http_get(port, path, timeout=1.0, method="GET", body=None):
    """(status, body bytes) of one request on a fresh connection; raises OSError."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body,
                     headers={"Content-Type": "application/json"} if body else {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class Backend:
    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.root = cluster.workdir / f"root-{name}"
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "who").write_text(name)
        self.port = 0
        self.proc = None
        self.control = None
        self.faults = {}          # fault name -> value, as long options (--name value)
        self.generation = 0
        self.frozen = False

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def _argv(self, counts=None):
        argv = [self.cluster.bin("fakeserver"), "--ready", str(self.port), "-N", "2",
                "-l", str(self.cluster.workdir / f"course-{self.name}.log"),
                ]
        if not self.cluster.no_control:
            argv += ["--control-port", "0"]
        if counts:
            argv += ["-e", str(counts[0]), "-t", str(counts[1])]
        for key, value in self.faults.items():
            argv += [f"--{key}", str(value)]
        return argv

    def start(self, counts=None):
        """Starts (or restarts) the process; on a revive, retries while the port is busy."""
        self.generation += 1
        last = None
        for _attempt in range(20):
            argv = self._argv(counts)
            proc = Process(argv, name=f"fakeserver-{self.name}", cwd=self.root,
                           log_dir=self.cluster.logdir)
            try:
                proc.start(timeout=10)
            except ProcessError as e:
                last = e
                text = str(e).lower()
                if "control" in text and not self.cluster.no_control:
                    self.cluster.no_control = True    # an older fakeserver: restart instead
                    continue
                if "in use" not in text and "bind" not in text:
                    break      # a bad option, not a busy port: retrying will not help
                time.sleep(0.1)
                continue
            self.proc = proc
            self.port = int(proc.ready["port"])
            ctl = proc.ready.get("control")
            self.control = int(ctl) if ctl and ctl != "0" else None
            self.cluster.remember(proc, self.name)
            return self
        raise ProcessError(f"backend {self.name} would not start: {last}")

    def counts(self, patience=1.5):
        """(ERRORS, TOTAL) from the backend's own /healthcheck, or None. Retries for a
        while: a flapping health check answers 500 half of the time."""
        deadline = time.monotonic() + patience
        while True:
            try:
                status, body = http_get(self.port, "/healthcheck", timeout=1.0)
                if status == 200:
                    e, t = body.decode().split()
                    return int(e), int(t)
            except (OSError, ValueError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)

    def set_faults(self, **faults):
        """Changes faults (underscored names; None removes one). Returns how it was done."""
        new = dict(self.faults)
        for key, value in faults.items():
            key = key.replace("_", "-")
            if value is None:
                new.pop(key, None)
            else:
                new[key] = value
        if self.control and self._patch_control(faults):
            self.faults = new
            return "control port"
        counts = self.counts()
        self.faults = new
        self.kill()
        self.start(counts=counts)
        return "restart"

    def _patch_control(self, faults):
        """PATCH /faults on the control port (fault names with dashes, as on the command
        line; a removed fault goes back to 0). False if the port refused or said no."""
        body = {k.replace("_", "-"): (0 if v is None else v) for k, v in faults.items()}
        try:
            status, _ = http_get(self.control, "/faults", timeout=1.0, method="PATCH",
                                 body=json.dumps(body).encode())
            return status in (200, 204)
        except (OSError, http.client.HTTPException):
            return False

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            self.proc.close()

    def freeze(self):
        self.proc.freeze()
        self.frozen = True

    def thaw(self):
        self.proc.thaw()
        self.frozen = False

    def stop(self):
        if self.proc is not None:
            self.proc.thaw()
            self.proc.close()


class Cluster:
    def __init__(self, bindir, workdir, names=("A", "B", "C")):
        self.bindir = Path(bindir).resolve()
        self.workdir = Path(workdir).resolve()
        self.logdir = self.workdir / "logs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.pidfile = self.workdir / "pids.txt"
        self.pidfile.write_text("")
        self.backends = [Backend(self, n) for n in names]
        self.balancer = None
        self.stats_port = None
        self.no_control = False

    def bin(self, name):
        path = self.bindir / name
        if not path.exists():
            raise ProcessError(f"{path} does not exist: build it first (make)")
        return str(path)

    def remember(self, proc, name):
        with open(self.pidfile, "a") as f:
            f.write(f"{proc.pid} {name}\n")

    def by_name(self, name):
        return next(b for b in self.backends if b.name == name)

    def start(self, lb_args=(), faults=None):
        """Starts the backends (with faults: name -> {fault: value}), then the balancer,
        with a stats port if it has one."""
        for b in self.backends:
            b.faults = {k.replace("_", "-"): v for k, v in (faults or {}).get(b.name, {}).items()}
            b.start()
        ports = [str(b.port) for b in self.backends]
        base = [self.bin("loadbalancer"), "--ready", "0"] + ports + [str(a) for a in lb_args]
        for extra in (["--stats-port", "0"], []):
            proc = Process(base + extra, name="loadbalancer", cwd=self.workdir,
                           log_dir=self.logdir)
            try:
                proc.start(timeout=10)
            except ProcessError:
                if extra:
                    continue
                raise
            self.balancer = proc
            self.remember(proc, "loadbalancer")
            stats = proc.ready.get("stats")
            self.stats_port = int(stats) if stats and stats != "0" else None
            return self
        raise ProcessError("the balancer would not start")

    @property
    def port(self):
        return int(self.balancer.ready["port"])

    def stop(self):
        """Stops every process: the balancer first (SIGTERM, drain), then the backends."""
        statuses = {}
        if self.balancer is not None:
            self.balancer.signal(signal.SIGCONT)
            self.balancer.close()
            statuses["loadbalancer"] = self.balancer.returncode
        for b in self.backends:
            if b.proc is not None:
                b.stop()
                statuses[b.name] = b.proc.returncode
        return statuses

    def leftovers(self):
        """PIDs from pids.txt that still exist (not zombies)."""
        return still_running(self.pidfile)


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
