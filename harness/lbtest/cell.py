"""One cell of the matrix: one catalogue entry run against one balancer, seen from outside.

    outcome = Cell(entry, subject, root, seed).run()

A cell starts the entry's fakeservers (ours: course logs with -l, a control port, a seed),
then the balancer exactly as a course script would: by path, `PROG [-N n] [-R r] PORT
SERVER...` on a free fixed port, no --ready, no stats port, in its own process group.
Readiness is the port accepting a connection. While the entry runs, a tailer reads every
course log as it grows, so each logged request and health check gets a time on the cell's
clock (t = 0 when the balancer was started). The entry drives clients (harness.traffic),
hurts and heals servers, and calls `cell.fail(reason)` for what breaks its rule; the cell
then applies the invariant to every request of every phase (judge.py) and ends the
balancer's process group by PID, whatever happened. Verdicts:

  pass       the rule held and the invariant held
  fail       reasons say what broke, with counts and the first time
  crash      the balancer exited by itself during the cell
  hang       the cell passed its deadline: everything was killed
  no-start   the balancer exited before listening, or never listened
  error      lbtest itself could not run the cell (a fakeserver did not start ...)
"""
import shlex
import signal
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..cluster import Cluster, port_accepts
from ..process import Process, describe_status, scaled
from ..timing import wait_for
from .. import traffic as traffic_mod
from . import judge

VERDICTS = ("pass", "fail", "flaky", "crash", "hang", "no-start", "error")
READY_DEADLINE = 20.0      # seconds for the balancer to listen (a loaded machine is slow)
CLIENT_TIMEOUT = 8.0       # a client's deadline: the course server timeout (5 s) + 3 s
NAMES = "ABCDEFGH"


class CellFailed(AssertionError):
    """Raised by an entry to stop at a failure it cannot go on from."""


@dataclass
class Outcome:
    entry: str
    subject: str
    verdict: str
    reasons: list = field(default_factory=list)
    seconds: float = 0.0
    requests: int = 0
    counts: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    timeline: dict = None
    attempts: list = field(default_factory=list)
    log_tail: str = ""
    command: str = ""
    wall: float = 0.0          # seconds for every attempt of this cell

    @property
    def passed(self):
        return self.verdict == "pass"

    def to_json(self, with_timeline=False):
        d = {k: getattr(self, k) for k in ("entry", "subject", "verdict", "reasons", "seconds",
                                            "requests", "counts", "notes", "attempts",
                                            "wall", "command", "log_tail")}
        if with_timeline and self.timeline:
            d["timeline"] = self.timeline
        return d


_HANDED = set()               # every port free_port() gave out in this process
_HANDED_LOCK = threading.Lock()


def free_port():
    """A port nobody listens on now (the balancer gets a fixed port, as in a course script).
    Not harness.ports.free_port: the port it returns sits in TIME_WAIT, which only a server
    setting SO_REUSEADDR can bind, and a student's balancer may not set it. Never the same
    port twice in one process, so cells run side by side (--jobs) never share one."""
    with _HANDED_LOCK:
        while True:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _HANDED:
                _HANDED.add(port)
                return port


class LogTail:
    """Reads the fakeservers' course logs as they grow; each entry gets the cell time at
    which it was first seen (at most one poll interval late)."""

    def __init__(self, cell, interval=0.05):
        self.cell = cell
        self.interval = interval
        self.entries = {i: [] for i in range(len(cell.backends))}  # i: [(t, method, name, ok)]
        self._pos = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="logtail")

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(2)
        self.poll()

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self):
        with self._lock:
            t = self.cell.now()
            for i, b in enumerate(self.cell.backends):
                for path in list(b.course_logs):
                    self._read(i, path, t)

    def _read(self, i, path, t):
        pos, rest = self._pos.get(path, (0, b""))
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                data = f.read()
        except FileNotFoundError:
            return
        if not data:
            return
        lines = (rest + data).split(b"\n")
        self._pos[path] = (pos + len(data), lines.pop())
        for raw in lines:
            if not raw or raw[:1].isdigit() or raw == b"========":
                continue
            line = raw.decode(errors="replace")
            m = traffic_mod.LOG_ENTRY.match(line)
            ok = True
            if not m:
                m, ok = traffic_mod.LOG_FAIL.match(line), False
            if m:
                self.entries[i].append((t, m.group(1), m.group(2), ok))

    def of(self, i, health=None, since=None, until=None):
        """Backend i's entries: health True (only health checks), False (only client
        requests) or None (both), seen in [since, until)."""
        with self._lock:
            out = list(self.entries[i])
        return [e for e in out
                if (health is None or (e[2] == "healthcheck") == health)
                and (since is None or e[0] >= since) and (until is None or e[0] < until)]


class FailFast(traffic_mod.Traffic):
    """A Traffic that issues no new request once one got no answer at all: against a
    balancer that holds its clients, a phase costs one client deadline, not one per request
    (the outcome of every request issued is still judged)."""

    def _one(self, conn, req):
        conn = super()._one(conn, req)
        if req.kind == "timeout":
            self._stop.set()
        return conn


class Run:
    """A traffic phase of a cell: harness.traffic.Traffic whose request times are moved to
    the cell's clock when it ends, registered with the outcome kinds its phase allows."""

    def __init__(self, cell, traffic, allow, label):
        self.cell, self.traffic, self.allow, self.label = cell, traffic, tuple(allow), label
        self.offset = 0.0
        self.result = None

    def start(self, requests=None, duration=None):
        self.traffic.start(requests=requests, duration=duration)
        self.offset = self.cell.now() - self.traffic.now()
        return self

    def run(self, requests=None, duration=None):
        return self.start(requests, duration).join()

    def wait_completed(self, n, timeout=30.0):
        return self.traffic.wait_completed(n, timeout)

    @property
    def completed(self):
        return self.traffic.completed

    def stop(self):
        """Lets each client finish the request it is on; returns the Result."""
        return self.join(stop=True)

    def join(self, stop=False):
        if self.result is None:
            result = self.traffic.stop() if stop else self.traffic.join()
            for r in result.requests:
                r.t_start += self.offset
                r.t_end += self.offset
            self.result = result
            self.cell.phases.append(self)
        return self.result


class Cell:
    def __init__(self, entry, subject, root, seed=None):
        self.entry = entry
        self.subject = subject
        self.root = Path(root)
        self.seed = entry.seed if seed is None else seed
        self.t0 = time.monotonic()
        self.events = []          # {"t", "kind", "backend", "text"}
        self.steps = []           # {"t", "title"}
        self.phases = []          # Runs, in the order they ended
        self.reasons = []
        self.notes = []
        self.lb = None
        self.lb_died_at = None
        self.cluster = None
        self.tail = None
        self.port = None
        self.errored = False      # lbtest itself failed (not the balancer): verdict "error"

    # -- the entry's API ------------------------------------------------------------------
    def now(self):
        return time.monotonic() - self.t0

    @property
    def backends(self):
        return self.cluster.backends

    def name(self, i):
        return NAMES[i]

    def event(self, kind, i=None, text="", t=None):
        ev = {"t": round(self.now() if t is None else t, 3), "kind": kind,
              "backend": self.name(i) if i is not None else None, "text": text}
        self.events.append(ev)
        return ev

    def step(self, title):
        self.steps.append({"t": round(self.now(), 3), "title": title})

    def fail(self, reason):
        self.reasons.append(reason)

    def kill(self, i):
        """SIGKILL to server i; the event's time is when the signal went (clients may see
        the effect before the server is reaped)."""
        t = self.now()
        self.backends[i].kill()
        return self.event("crash", i, f"server {self.name(i)} was killed", t=t)

    def restart(self, i):
        t = self.now()
        self.backends[i].restart()
        return self.event("revive", i, f"server {self.name(i)} was restarted", t=t)

    def faults(self, i, **faults):
        self.backends[i].set_faults(**faults)
        text = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in faults.items())
        return self.event("slow", i, f"server {self.name(i)} got {text}")

    def traffic(self, clients=2, keepalive="mixed", workload=None, allow=("ok",), label="",
                timeout=CLIENT_TIMEOUT, **kw):
        workload = workload or traffic_mod.Workload(self.cluster.files, seed=self.seed)
        t = FailFast(("127.0.0.1", self.port), workload, clients=clients,
                     keepalive=keepalive, timeout=timeout,
                     seed=f"{self.seed}-{len(self.phases)}", **kw)
        return Run(self, t, allow, label)

    def add_requests(self, requests, allow=("ok",), label=""):
        """Requests sent by the entry's own client (wire.py), on the cell's clock already."""
        run = Run(self, None, allow, label)
        run.result = wire_result(requests)
        self.phases.append(run)
        return run.result

    def sync(self):
        """Reads the course logs now (entries appended before a check)."""
        self.tail.poll()

    def logged(self, i, health=False, since=None, until=None):
        """Entries of backend i's course logs (every life) seen in [since, until):
        client requests (health=False), health checks (True) or both (None)."""
        return self.tail.of(i, health=health, since=since, until=until)

    def wait(self, predicate, timeout, interval=0.02):
        """predicate()'s true value once it has one; a false value when the timeout (scaled)
        passes or the balancer dies first (an entry then goes on to judge what it has)."""
        def done():
            return self.lb_died_at is not None or predicate()
        try:
            wait_for(done, timeout, what="the entry's condition", interval=interval)
        except AssertionError:
            pass
        try:
            return predicate()
        except Exception:  # noqa: BLE001 - as wait_for: an exception counts as false
            return False

    def balancer_alive(self):
        return self.lb is not None and self.lb.alive()

    # -- running ----------------------------------------------------------------------------
    def run(self):
        started = time.monotonic()
        out = Outcome(self.entry.name, self.subject.name, "error",
                      command=shlex.join(self.subject.argv + ["..."]))
        try:
            out.verdict = self._run()
        except Exception as exc:  # noqa: BLE001 - a cell never stops the matrix
            out.verdict = "error"
            self.reasons.append(f"lbtest could not run this cell: {exc}")
            self.notes.append(traceback.format_exc())
        finally:
            self._teardown()
        out.seconds = round(time.monotonic() - started, 2)
        out.reasons = self.reasons
        out.notes = self.notes
        requests = [r for p in self.phases for r in p.result.requests]
        out.requests = len(requests)
        out.counts = dict(sorted(traffic_mod.Result.counts(wire_result(requests)).items()))
        out.log_tail = self._log_tail()
        if self.lb is not None:
            out.command = shlex.join(self.lb.argv)
        if out.verdict != "pass" and self.cluster is not None:
            from .timeline import timeline_data
            out.timeline = timeline_data(self, out)
        return out

    def _run(self):
        e = self.entry
        if self.subject.problem:
            self.reasons.append(self.subject.problem)
            return "no-start"
        self.root.mkdir(parents=True, exist_ok=True)
        per_backend = {i: [str(a) for a in args] for i, args in e.per_backend.items()}
        self.cluster = Cluster(self.root, backends=e.backends, lb_args=e.lb_args,
                               backend_args=["--seed", str(self.seed)] + list(e.backend_args),
                               per_backend=per_backend, control=True, stats=False,
                               files=e.files(), ready_timeout=10.0)
        self.cluster.start(balancer=False)
        if e.before_start:
            e.before_start(self)
        verdict = self._start_balancer()
        if verdict:
            return verdict
        self.tail = LogTail(self).start()
        worker = threading.Thread(target=self._body, daemon=True, name=f"cell-{e.name}")
        watcher = threading.Thread(target=self._watch, daemon=True, name="lb-watch")
        self._done = threading.Event()
        watcher.start()
        worker.start()
        worker.join(scaled(e.deadline))
        hung = worker.is_alive()
        if hung:
            self.reasons.insert(0, f"the cell did not finish within its {e.deadline:g} s "
                                   f"deadline: the balancer and servers were killed")
            self.lb.kill()
            for b in self.backends:
                if b.alive():
                    b.kill()
            worker.join(scaled(CLIENT_TIMEOUT) + 5)
        self._done.set()
        watcher.join(2)
        self.tail.stop()
        if hung:
            return "hang"
        self.reasons += judge.invariant(self)
        if self.lb_died_at is not None:
            self.reasons.insert(0, f"the balancer exited by itself "
                                   f"({describe_status(self.lb.returncode)}) at "
                                   f"t={self.lb_died_at:.2f} s{self._stderr_hint()}")
            return "crash"
        if self.errored:
            return "error"
        return "fail" if self.reasons else "pass"

    def _start_balancer(self):
        self.port = free_port()
        args = [str(a) for a in self.entry.lb_args]
        argv = (self.subject.argv + args + [str(self.port)] +
                [str(b.port) for b in self.backends])
        env = dict(self.subject.env, LBTEST_ADAPTER_DIR=str(self.root / "lb"))
        (self.root / "lb").mkdir(exist_ok=True)
        self.t0 = time.monotonic()
        for ev in self.events:      # what happened before the balancer started: t = 0
            ev["t"] = 0.0
        self.lb = Process(argv, name="lb", cwd=self.root / "lb", log_dir=self.root, env=env,
                          wrap=False)
        self.lb.spawn()
        self.event("start", None, "the balancer was started")
        deadline = time.monotonic() + scaled(READY_DEADLINE)
        while not port_accepts(self.port, timeout=0.2):
            if not self.lb.alive():
                self.lb.wait(1)
                self.reasons.append(f"the balancer exited ({describe_status(self.lb.returncode)}) "
                                    f"before listening on port {self.port}{self._stderr_hint()}")
                return "no-start"
            if time.monotonic() > deadline:
                self.reasons.append(f"the balancer did not listen on port {self.port} within "
                                    f"{READY_DEADLINE:g} s{self._stderr_hint()}")
                return "no-start"
            time.sleep(0.02)
        self.event("ready", None, f"the balancer listens on port {self.port}")
        return None

    def _body(self):
        try:
            self.entry.run(self)
        except CellFailed as exc:
            self.reasons.append(str(exc))
        except AssertionError as exc:
            self.reasons.append(str(exc).splitlines()[0])
        except Exception as exc:  # noqa: BLE001 - reported as the cell's error
            self.errored = True
            self.reasons.append(f"lbtest could not run this cell: {type(exc).__name__}: {exc}")
            self.notes.append(traceback.format_exc())

    def _watch(self):
        while not self._done.wait(0.02):
            if not self.lb.alive() and not self.lb.killed_by_test:
                self.lb_died_at = self.now()
                self.lb.wait(1)
                return

    def _stderr_hint(self):
        lines = [ln for ln in self.lb.log().splitlines()[1:] if ln.strip()] if self.lb else []
        return f"; it said: {lines[-1][:160]}" if lines else ""

    def _log_tail(self, n=15):
        if self.lb is None:
            return ""
        return "\n".join(self.lb.log().splitlines()[-n:])

    def _teardown(self):
        if self.lb is not None:
            self.lb.stop(signal.SIGTERM, timeout=2)   # its process group, by PID
            self.lb.close()
        if self.tail is not None:
            self.tail._stop.set()
        if self.cluster is not None:
            for p in self.cluster.stop():
                self.notes.append(f"fakeserver: {p}")


def wire_result(requests):
    """A harness.traffic.Result made of requests sent by any client."""
    res = object.__new__(traffic_mod.Result)
    res.requests = list(requests)
    res.extra, res.stuck, res.reconnects, res.elapsed = [], [], 0, 0.0
    res.workload = None
    return res

