"""Traffic: concurrent HTTP clients that record every request and its outcome, and the
invariant checker that judges a run.

Clients are threads speaking HTTP/1.1 over raw sockets, so the driver sees exactly the
bytes the balancer sent: nothing is retried, nothing is reassembled by a library. Each
client either keeps its connection alive across requests or opens one per request (sending
`Connection: close`). Requests come from a `Workload`: GET and HEAD on files with known
contents (seeded into every backend's directory), PUT of a fresh, unique name with a known
body. Every request gets exactly one `Outcome` kind:

  ok         a complete answer with the expected status and the exact expected body
  error500   exactly `HTTP/1.1 500 Internal Server Error\\r\\nContent-Length: 0\\r\\n\\r\\n`
  status     a complete, well-framed answer with another status (a backend's 500, a 404...)
  wrong      a complete 2xx answer whose body or length is not the expected one
  partial    the connection closed or reset after part of an answer (never patched)
  empty      the connection closed or reset before any byte of an answer
  timeout    no complete answer within the client's deadline (the request is lost)
  connect    the client could not connect to the balancer at all
  malformed  bytes that are not an HTTP/1.1 response
  extra      (on the run, not a request) bytes after a complete answer, before the next
             request: a second answer to one request

`check()` then asserts the invariant: every request issued has exactly one outcome, every
outcome is of an allowed kind, nothing arrived twice, each PUT answered 2xx landed in
exactly one backend's directory with its exact body (and a failed PUT in at most one), and,
when backends log (`-l`), no backend logged a request more often than clients sent it.
"""
import collections
import hashlib
import itertools
import random
import re
import select
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .timing import scaled
from .wire import ERROR_500, AnswerReader, request_bytes

KINDS = ("ok", "error500", "status", "wrong", "partial", "empty", "timeout", "connect",
         "malformed")
DOCUMENTED_ERRORS = ("error500", "partial")
NEVER_ALLOWED = ("wrong", "malformed")
_RUNS = itertools.count(1)   # every Traffic gets a tag: PUT names never repeat in a process


def make_body(seed, size):
    """Deterministic bytes: the same (seed, size) always gives the same body."""
    rng = random.Random(repr(seed))
    return rng.randbytes(size) if size else b""


@dataclass
class Request:
    id: int
    client: int
    method: str
    name: str
    body: bytes = b""              # sent (PUT)
    expect: bytes = None           # expected body of a 200 GET / length of a HEAD
    keepalive: bool = False
    reused: bool = False           # sent on a connection that carried earlier requests
    t_start: float = 0.0
    t_end: float = 0.0
    kind: str = None
    status: int = None
    received: int = 0              # bytes of the answer received
    t_data: float = 0.0            # when the last of them arrived (clock of t_start)
    sample: bytes = b""            # the answer's first bytes, for reports
    error: str = ""
    run: int = 0
    after: str = ""                # outcome of the previous request on the same connection

    def line(self):
        return (f"#{self.run}.{self.id} client {self.client} {self.method} /{self.name} "
                f"({'keep-alive' if self.keepalive else 'close'}"
                f"{', reused after ' + self.after if self.reused else ''}) -> {self.kind}"
                f"{' ' + str(self.status) if self.status else ''} after "
                f"{self.t_end - self.t_start:.3f}s, {self.received} bytes"
                f"{': ' + self.error if self.error else ''}"
                f"{' ' + repr(self.sample[:120]) if self.kind not in ('ok',) else ''}")


class Workload:
    """What clients ask for. `files` (name -> bytes) are the GET/HEAD targets and must be
    present on every backend (Cluster.seed does it); PUTs use fresh names `p<client>x<n>`.

    mix: weights for GET, HEAD, PUT. put_sizes: (min, max) bytes of a PUT body."""

    def __init__(self, files=None, mix=None, put_sizes=(0, 8192), seed=1):
        self.files = dict(files) if files is not None else default_files(seed)
        self.mix = dict(mix or {"GET": 6, "HEAD": 1, "PUT": 3})
        if not self.files:
            self.mix = {"PUT": 1}
        self.put_sizes = put_sizes
        self.seed = seed
        self._methods = [m for m, w in self.mix.items() for _ in range(int(w))]

    def request(self, rid, client, seq, rng, run=0):
        method = rng.choice(self._methods)
        if method == "PUT":
            name = f"p{run}c{client}x{seq}"
            body = make_body((self.seed, run, client, seq), rng.randint(*self.put_sizes))
            return Request(rid, client, method, name, body=body, run=run)
        name = rng.choice(sorted(self.files))
        return Request(rid, client, method, name, expect=self.files[name], run=run)


def default_files(seed=1):
    """A small set of GET targets: empty, tiny, a few KiB, 64 KiB, 300 KiB."""
    sizes = {"empty": 0, "tiny": 5, "small": 1000, "page": 4096, "big": 65536,
             "large": 100_000}
    return {name: make_body((seed, name), size) for name, size in sizes.items()}


class _Connection:
    def __init__(self, addr, timeout):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = AnswerReader(self.sock)
        self.used = 0
        self.last_kind = ""

    def idle_state(self):
        """Before reusing: 'open', 'closed' (peer closed an idle connection) or 'extra'
        (unsolicited bytes: an answer nobody asked for)."""
        if self.reader.buf:
            return "extra"
        r, _, _ = select.select([self.sock], [], [], 0)
        if not r:
            return "open"
        try:
            data = self.sock.recv(65536, socket.MSG_PEEK)
        except OSError:
            return "closed"
        return "extra" if data else "closed"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def _judge(req, answer, raw_is_500):
    req.status = answer.status
    if raw_is_500:
        return "error500"
    if req.method == "GET" and answer.status == 200:
        return "ok" if answer.body == req.expect else "wrong"
    if req.method == "HEAD" and answer.status == 200:
        cl = answer.fields.get("content-length", [""])
        return "ok" if cl == [str(len(req.expect))] else "wrong"
    if req.method == "PUT" and answer.status in (200, 201):
        return "ok"
    return "status"


def _noting(req, t0):
    """on_data for one request: counts its bytes, notes when the last arrived (seconds since
    t0) and keeps the first 256 for reports."""
    def note(data):
        req.received += len(data)
        req.t_data = time.monotonic() - t0
        if len(req.sample) < 256:
            req.sample += data[:256 - len(req.sample)]
    return note


class Traffic:
    """Concurrent clients against addr = (host, port).

        t = Traffic(addr, Workload(files), clients=6, keepalive="mixed")
        result = t.run(requests=300)              # blocking
        t.start(duration=30); ...; result = t.stop()   # in the background

    keepalive: True, False or "mixed" (even clients keep alive, odd ones do not).
    rate: requests per second per client (None: as fast as answers come back).
    timeout: per-request deadline in seconds (scaled by LBTEST_TIMEOUT_SCALE)."""

    def __init__(self, addr, workload=None, clients=4, keepalive="mixed", timeout=20.0,
                 rate=None, seed=7):
        self.addr = addr
        self.workload = workload or Workload()
        self.clients = clients
        self.keepalive = keepalive
        self.timeout = scaled(timeout)
        self.rate = rate
        self.seed = seed
        self.tag = next(_RUNS)
        self.requests = []
        self.extra = []
        self.reconnects = 0
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._completed = 0
        self._issued = 0
        self._budget = None
        self._stop_at = None
        self._stop = threading.Event()
        self._threads = []
        self._t0 = None
        self.elapsed = 0.0

    # -- control ------------------------------------------------------------------------
    def start(self, requests=None, duration=None):
        self._budget = requests
        self._t0 = time.monotonic()
        self._stop_at = self._t0 + duration if duration else None
        for c in range(self.clients):
            ka = self.keepalive if self.keepalive != "mixed" else (c % 2 == 0)
            t = threading.Thread(target=self._client, args=(c, ka), daemon=True,
                                 name=f"client-{c}")
            self._threads.append(t)
            t.start()
        return self

    def run(self, requests=None, duration=None):
        self.start(requests=requests, duration=duration)
        return self.join()

    def stop(self):
        """Lets each client finish the request it is on, then returns the Result."""
        self._stop.set()
        return self.join()

    def join(self, timeout=None):
        limit = (timeout or self.timeout + 30)
        for t in self._threads:
            t.join(limit)
        stuck = [t.name for t in self._threads if t.is_alive()]
        self.elapsed = time.monotonic() - self._t0
        return Result(self, stuck)

    def now(self):
        """Seconds since the run started, on the clock of Request.t_start/t_end."""
        return time.monotonic() - self._t0

    @property
    def completed(self):
        return self._completed

    def wait_completed(self, n, timeout=30.0):
        """Blocks until n requests have an outcome; returns False on timeout."""
        deadline = time.monotonic() + scaled(timeout)
        with self._done:
            while self._completed < n:
                left = deadline - time.monotonic()
                if left <= 0 or (not any(t.is_alive() for t in self._threads)):
                    return self._completed >= n
                self._done.wait(min(left, 0.2))
        return True

    def counts(self):
        with self._lock:
            return collections.Counter(r.kind for r in self.requests if r.kind)

    # -- clients ------------------------------------------------------------------------
    def _next(self, client, seq, rng):
        with self._lock:
            if self._stop.is_set():
                return None
            if self._budget is not None and self._issued >= self._budget:
                return None
            if self._stop_at is not None and time.monotonic() >= self._stop_at:
                return None
            rid = self._issued
            self._issued += 1
            req = self.workload.request(rid, client, seq, rng, run=self.tag)
            self.requests.append(req)
            return req

    def _client(self, client, keepalive):
        rng = random.Random(f"{self.seed}-{client}")
        conn, seq = None, 0
        while True:
            req = self._next(client, seq, rng)
            if req is None:
                break
            seq += 1
            req.keepalive = keepalive
            conn = self._one(conn, req)
            with self._done:
                self._completed += 1
                self._done.notify_all()
            if self.rate:
                self._stop.wait(1.0 / self.rate)
            elif req.kind == "connect":
                self._stop.wait(0.05)   # nobody listens: do not spin
        if conn:
            if conn.idle_state() == "extra":
                self._note_extra(client, conn)
            conn.close()

    def _note_extra(self, client, conn):
        try:
            conn.sock.settimeout(0.2)
            data = conn.reader.buf + conn.sock.recv(4096)
        except OSError:
            data = conn.reader.buf
        with self._lock:
            self.extra.append((client, data[:200]))

    def _one(self, conn, req):
        """Sends req (on conn when it is reusable) and records its outcome; returns the
        connection to reuse, or None."""
        if conn is not None:
            state = conn.idle_state()
            if state == "extra":
                self._note_extra(req.client, conn)
            if state != "open":
                conn.close()
                conn = None
                with self._lock:
                    self.reconnects += 1
        req.t_start = time.monotonic() - self._t0
        deadline = time.monotonic() + self.timeout
        if conn is None:
            try:
                conn = _Connection(self.addr, self.timeout)
            except OSError as exc:
                req.kind, req.error = "connect", str(exc)
                req.t_end = time.monotonic() - self._t0
                return None
        req.reused = conn.used > 0
        req.after = conn.last_kind
        conn.used += 1
        keep = self._exchange(conn, req, deadline)
        conn.last_kind = req.kind
        req.t_end = time.monotonic() - self._t0
        if keep and req.keepalive:
            return conn
        conn.close()
        return None

    def _exchange(self, conn, req, deadline):
        raw = request_bytes(req.method, f"/{req.name}", f"{self.addr[0]}:{self.addr[1]}",
                            req.body, close=not req.keepalive)
        try:
            conn.sock.settimeout(max(0.001, deadline - time.monotonic()))
            conn.sock.sendall(raw)
        except OSError as exc:
            # The answer may already be there (an early 500 or a reset): read it anyway.
            req.error = f"send: {exc}"
        conn.reader.on_data = _noting(req, self._t0)
        try:
            answer = conn.reader.read(req.method, deadline)
        except socket.timeout:
            req.kind = "timeout"
            return False
        except OSError as exc:   # Cut (closed or reset mid-answer) and other socket errors
            req.kind = "partial" if req.received else "empty"
            req.error = (req.error + "; " if req.error else "") + f"{type(exc).__name__}: {exc}"
            return False
        except ValueError as exc:
            req.kind, req.error = "malformed", str(exc)
            return False
        raw_500 = req.sample == ERROR_500 and req.received == len(ERROR_500)
        req.kind = _judge(req, answer, raw_500)
        if req.kind != "ok" and req.method == "GET":
            req.error = (f"got {len(answer.body)} body bytes, expected {len(req.expect)}"
                         if req.kind == "wrong" else req.error)
        if conn.reader.buf:
            with self._lock:
                self.extra.append((req.client, conn.reader.buf[:200]))
            return False
        # After the balancer's own 500 the connection may be closed without notice (the
        # 500's bytes are fixed by the contract, so it cannot say `Connection: close`):
        # a careful client does not reuse it.
        return not answer.close_after and req.kind != "error500"


class Result:
    """What a Traffic run produced: every request with its outcome."""

    def __init__(self, traffic, stuck=()):
        self.requests = list(traffic.requests)
        self.extra = list(traffic.extra)
        self.reconnects = traffic.reconnects
        self.elapsed = traffic.elapsed
        self.stuck = list(stuck)
        self.workload = traffic.workload

    def __add__(self, other):
        """Two runs as one (for a scenario's table row); ids stay distinct per run."""
        merged = object.__new__(Result)
        merged.requests = self.requests + other.requests
        merged.extra = self.extra + other.extra
        merged.reconnects = self.reconnects + other.reconnects
        merged.elapsed = self.elapsed + other.elapsed
        merged.stuck = self.stuck + other.stuck
        merged.workload = self.workload
        return merged

    @property
    def sent(self):
        return len(self.requests)

    def counts(self):
        return collections.Counter(r.kind or "unfinished" for r in self.requests)

    def of(self, *kinds, method=None):
        return [r for r in self.requests if r.kind in kinds and (method is None or
                                                                r.method == method)]

    def summary(self):
        c = self.counts()
        parts = [f"{k}={c[k]}" for k in KINDS + ("unfinished",) if c.get(k)]
        return f"{self.sent} requests in {self.elapsed:.1f}s: " + " ".join(parts)


class Report:
    """The invariant's verdict on a Result (see check())."""

    def __init__(self, result, violations, counts, notes):
        self.result = result
        self.violations = violations
        self.counts = counts
        self.notes = notes

    @property
    def ok(self):
        return not self.violations

    def assert_ok(self):
        if self.violations:
            shown = "\n  ".join(self.violations[:40])
            more = len(self.violations) - 40
            raise AssertionError(
                f"traffic invariant violated ({self.result.summary()}):\n  {shown}"
                + (f"\n  ... and {more} more" if more > 0 else ""))
        return self

    def __repr__(self):
        return f"Report({'ok' if self.ok else 'VIOLATED'}: {self.result.summary()})"


LOG_ENTRY = re.compile(r"^(GET|HEAD|PUT) /(\S+) length (\d+)$")
LOG_FAIL = re.compile(r"^FAIL: (\S+) /(\S*) \S+ --- response (\d+)$")


def parse_course_log(path):
    """Counter of (method, name) over the entries of a course log (-l), FAIL lines
    included; health checks are counted under name 'healthcheck'."""
    counts = collections.Counter()
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return counts
    for line in text.splitlines():
        m = LOG_ENTRY.match(line) or LOG_FAIL.match(line)
        if m:
            counts[(m.group(1), m.group(2))] += 1
    return counts


def parse_course_logs(paths):
    """parse_course_log summed over several files (every life of every backend)."""
    total = collections.Counter()
    for path in paths:
        total.update(parse_course_log(path))
    return total


def check(result, allow=("ok",), backend_dirs=(), course_logs=(), idempotent_copies=1,
          min_ok=0, population=None):
    """Judges a Result. allow: outcome kinds acceptable in this scenario ('wrong' and
    'malformed' never are). backend_dirs: every backend working directory (for PUT landing).
    course_logs: every course log file of every backend incarnation (for duplicates).
    idempotent_copies: how many times one GET/HEAD may reach backends (1 + the balancer's
    retries); a PUT may reach them once.
    min_ok: at least this many requests must have been answered ok.
    population: every request ever sent to these backends (default: result's); the course
    logs are compared with it, so earlier runs on the same cluster do not look duplicated."""
    violations, notes = [], []
    allow = set(allow) - set(NEVER_ALLOWED)
    counts = result.counts()
    ids = [(r.run, r.id) for r in result.requests]
    if len(set(ids)) != len(ids):
        violations.append("a request id was recorded twice")
    for name in result.stuck:
        violations.append(f"{name} never finished (a request hung past every deadline)")
    for r in result.requests:
        if r.kind is None:
            violations.append(f"lost: {r.line()} has no outcome")
        elif r.kind not in allow:
            violations.append(f"{r.kind}: {r.line()}")
    for client, data in result.extra:
        violations.append(f"extra bytes after a complete answer (client {client}): {data!r}")
    if counts.get("ok", 0) < min_ok:
        violations.append(f"only {counts.get('ok', 0)} ok answers, expected at least {min_ok}")
    if backend_dirs:
        violations += _check_puts(result, [Path(d) for d in backend_dirs])
    if course_logs:
        v, n = _check_logs(population or result.requests, course_logs, idempotent_copies)
        violations += v
        notes += n
    return Report(result, violations, counts, notes)


def _check_puts(result, dirs):
    violations = []
    for r in result.requests:
        if r.method != "PUT":
            continue
        holders = []
        for i, d in enumerate(dirs):
            path = d / r.name
            if path.exists():
                holders.append((i, path.read_bytes()))
        where = ", ".join(f"backend {i}" for i, _ in holders) or "no backend"
        if r.kind == "ok":
            if len(holders) != 1:
                violations.append(f"PUT answered ok landed on {where}: {r.line()}")
            elif holders[0][1] != r.body:
                violations.append(f"PUT answered ok stored {len(holders[0][1])} bytes, "
                                  f"sent {len(r.body)}: {r.line()}")
        elif len(holders) > 1:
            violations.append(f"failed PUT landed on {where} (duplicated): {r.line()}")
    return violations


def _check_logs(requests, course_logs, copies):
    logged = parse_course_logs(course_logs)
    sent = collections.Counter((r.method, r.name) for r in requests)
    ok = collections.Counter((r.method, r.name) for r in requests if r.kind == "ok")
    violations, notes = [], []
    if not any(k[1] != "healthcheck" for k in logged) and sent:
        notes.append("course logs hold no request entries: duplicate check skipped")
        return violations, notes
    for key, n in sorted(logged.items()):
        if key[1] == "healthcheck" or key not in sent:
            continue
        limit = sent[key] * (1 if key[0] == "PUT" else copies)
        if n > limit:
            violations.append(f"{key[0]} /{key[1]} logged {n} times by the backends, "
                              f"sent {sent[key]} times (duplicated; at most {limit} allowed)")
    for key, n in sorted(ok.items()):
        if logged[key] < n:
            violations.append(f"{key[0]} /{key[1]} answered {n} times but logged only "
                              f"{logged[key]} times (an answer no backend gave?)")
    return violations, notes


def digest(data):
    return hashlib.sha256(data).hexdigest()[:16]


__all__ = ["Traffic", "Workload", "Request", "Result", "Report", "check", "make_body",
           "default_files", "parse_course_log", "parse_course_logs", "ERROR_500", "KINDS", "DOCUMENTED_ERRORS"]
