"""Helpers for the balancer's own suite: fakeservers, odd Python backends, a balancer.

Everything runs on loopback with ephemeral ports and READY lines; processes belong to the
harness's `procs` fixture (killed by process group, sanitizer reports fail the test).
Waiting is always a bounded poll on something that tells the truth: /stats, a log, a port.
"""
import http.client
import json
import socket
import threading

import pytest

from harness import free_port, scaled, wait_for  # noqa: F401 (the suite's tests import them here)
from harness.listener import Listener


def request(port, method="GET", path="/f", body=None, timeout=10.0, conn=None):
    """One request; returns (status, body bytes, headers dict). Reuses conn if given."""
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=scaled(timeout))
    try:
        c.request(method, path, body=body)
        r = c.getresponse()
        data = r.read()
        return r.status, data, dict(r.getheaders())
    finally:
        if own:
            c.close()


def raw_exchange(port, data, timeout=10.0):
    """Sends raw bytes, reads until the balancer closes; returns everything read."""
    s = socket.create_connection(("127.0.0.1", port), timeout=scaled(timeout))
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


class SilentBackend(Listener):
    """Accepts connections and never answers (reads and drops what it gets)."""

    def __init__(self):
        self.conns = []
        self.accepted = 0
        super().__init__()

    def on_accept(self, conn):
        self.accepted += 1
        self.conns.append(conn)

    def close(self):
        super().close()
        for c in self.conns:
            c.close()


class Rig:
    """Starts fakeservers and a balancer through `procs`."""

    def __init__(self, procs, tmp_path):
        self.procs = procs
        self.tmp = tmp_path
        self.backends = []
        self.lb = None
        self.silent = []

    def fakeserver(self, *args, files=None, port=0, name=None, log=True):
        name = name or f"fs{len(self.backends)}"
        root = self.tmp / name
        root.mkdir(exist_ok=True)
        for fname, content in (files or {"f": b"hello\n"}).items():
            (root / fname).write_bytes(content)
        logpath = self.tmp / f"{name}.courselog"
        logargs = ["-l", str(logpath)] if log else ["-L"]
        p = self.procs.start(["fakeserver", str(port), *logargs, *args], name=name, cwd=root)
        p.courselog = logpath
        p.root = root
        self.backends.append(p)
        return p

    def silent_backend(self):
        s = SilentBackend()
        self.silent.append(s)
        return s

    def balancer(self, *args, stats=True):
        argv = ["loadbalancer", *(["--stats-port", "0"] if stats else []), *args]
        self.lb = self.procs.start(argv, name="lb")
        return self.lb

    @property
    def port(self):
        return self.lb.port

    def stats(self):
        port = int(self.lb.ready["stats"])
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=scaled(5))
        try:
            c.request("GET", "/stats")
            return json.loads(c.getresponse().read())
        finally:
            c.close()

    @property
    def stats_port(self):
        return int(self.lb.ready["stats"])

    def admin(self, method, path, body=None, host="127.0.0.1"):
        """One admin API call; body: a dict (sent as JSON), bytes/str (sent as is) or None.
        Returns (status, decoded JSON answer, headers dict)."""
        if isinstance(body, dict):
            body = json.dumps(body)
        c = http.client.HTTPConnection(host, self.stats_port, timeout=scaled(10))
        try:
            c.request(method, path, body=body)
            r = c.getresponse()
            data = r.read()
            return r.status, json.loads(data) if data else None, dict(r.getheaders())
        finally:
            c.close()

    def backend(self, name):
        """The /stats object of the backend called name, or None."""
        return next((b for b in self.stats()["backends"] if b["address"] == name), None)

    def forwarded(self):
        return [b["forwarded"] for b in self.stats()["backends"]]

    def states(self):
        return [b["state"] for b in self.stats()["backends"]]

    def get(self, path="/f", **kw):
        return request(self.port, "GET", path, **kw)

    def close(self):
        for s in self.silent:
            s.close()


@pytest.fixture
def rig(procs, tmp_path):
    r = Rig(procs, tmp_path)
    yield r
    r.close()


def course_requests(logpath):
    """Request lines (e.g. 'GET /f') in a fakeserver's course log, health checks excluded."""
    try:
        text = logpath.read_text(errors="replace")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        if line.startswith(("GET ", "PUT ", "HEAD ")) and "/healthcheck" not in line:
            out.append(line.split(" length")[0])
        elif line.startswith("FAIL: "):
            out.append(line)
    return out


class Load:
    """Keep-alive clients sending GET /f until stopped; records every outcome. Nothing may
    be lost: `end()` asserts that every answer was a 200 with the file's bytes (an exception,
    another status or another body is recorded as bad)."""

    def __init__(self, port, clients=4, path="/f", body=b"hello\n"):
        self.port, self.path, self.body = port, path, body
        self.stop, self.lock = threading.Event(), threading.Lock()
        self.ok, self.bad = 0, []
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def run(self):
        conn = None
        while not self.stop.is_set():
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", self.port,
                                                          timeout=scaled(20))
                status, data, _ = request(self.port, path=self.path, conn=conn)
                good = status == 200 and data == self.body
            except (OSError, http.client.HTTPException) as exc:
                status, good = repr(exc), False
                conn.close()
                conn = None
            with self.lock:
                if good:
                    self.ok += 1
                else:
                    self.bad.append(status)
        if conn:
            conn.close()

    def wait_more(self, n, what="requests answered"):
        """Waits until n more requests were answered well than when called."""
        start = self.ok
        wait_for(lambda: self.ok >= start + n, what=f"{n} more {what}")

    def end(self):
        self.stop.set()
        for t in self.threads:
            t.join(scaled(30))
        assert self.bad == [], self.bad
        assert self.ok > 0
        return self.ok
