"""Fixtures for the faulty-backend suites: backend.py processes (so they can be killed and
frozen) behind the real balancer, and a steady-load driver that records every outcome."""
import os
import sys
import threading
import time
import importlib.util
from pathlib import Path

import pytest

from .backend import expected_body

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("lbopts", HERE.parent / "security" / "lbopts.py")
lbopts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lbopts)  # the one table of option names, shared with tests/security
BACKEND = str(HERE / "backend.py")
try:  # the harness's scale: LBTEST_TIMEOUT_SCALE, else 10 under valgrind, else 1
    from harness.process import timeout_scale as _timeout_scale
    SCALE = _timeout_scale()
except ImportError:
    SCALE = float(os.environ.get("LBTEST_TIMEOUT_SCALE", "1"))
ERROR_500 = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"


def scaled(s):
    return s * SCALE


class Rig:
    def __init__(self, procs, tmp_path):
        self.procs = procs
        self.tmp = tmp_path
        self.backends = []
        self.lb = None

    def backend(self, *args, name=None):
        name = name or f"be{len(self.backends)}"
        log = self.tmp / f"{name}.requests"
        p = self.procs.start([sys.executable, BACKEND, "--log", str(log), *args], name=name)
        p.requests_log = log
        self.backends.append(p)
        return p

    def balancer(self, *opts):
        argv = ["loadbalancer", *opts, "0", *[str(b.port) for b in self.backends]]
        self.lb = self.procs.start(argv, name="lb", timeout=scaled(20))
        return self.lb

    def stats(self):
        """The balancer's /stats JSON (start it with --stats-port=0)."""
        import json
        import urllib.request
        url = f"http://127.0.0.1:{self.lb.ready['stats']}/stats"
        return json.loads(urllib.request.urlopen(url, timeout=scaled(5)).read())

    def wait_all_up(self, timeout=None):
        """Bounded poll on /stats until every backend is judged up."""
        deadline = time.monotonic() + (timeout or scaled(10))
        while time.monotonic() < deadline:
            if all(b.get("state") == "up" for b in self.stats()["backends"]):
                return True
            time.sleep(0.05)
        return False

    @staticmethod
    def requests_of(backend):
        try:
            return backend.requests_log.read_text().splitlines()
        except FileNotFoundError:
            return []


@pytest.fixture
def rig(procs, tmp_path):
    return Rig(procs, tmp_path)


# -- a minimal HTTP/1.1 client with exact outcome classification ----------------------
import socket  # noqa: E402


def _read_answer(sock, method, deadline):
    """Reads one Content-Length-framed answer. Returns (status, body) or raises."""
    data = b""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} bytes: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    if method == "HEAD":
        length = 0
    while len(body) < length:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {len(body)}/{length} body bytes")
        body += chunk
    if len(body) > length:
        raise AssertionError(f"surplus bytes after an answer: {body[length:][:100]!r}")
    return status, head, body


def request(port, method, path, body=b"", timeout=None, sock=None):
    """One request; returns (status, body, sock) leaving sock open for keep-alive reuse."""
    deadline = time.monotonic() + (timeout or scaled(15))
    own = sock is None
    if own:
        sock = socket.create_connection(("127.0.0.1", port), timeout=scaled(5))
    head = f"{method} {path} HTTP/1.1\r\nHost: lb\r\n"
    if method == "PUT":
        head += f"Content-Length: {len(body)}\r\n"
    sock.sendall(head.encode() + b"\r\n" + body)
    status, _head, got = _read_answer(sock, method, deadline)
    return status, got, sock


class Load:
    """`clients` threads sending GETs (new path each) until stopped; every outcome recorded."""

    def __init__(self, port, clients=16, keepalive=False):
        self.port = port
        self.clients = clients
        self.keepalive = keepalive
        self.stop_flag = threading.Event()
        self.ok = 0
        self.failures = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True)
                        for i in range(clients)]

    def _client(self, idx):
        n = 0
        sock = None
        while not self.stop_flag.is_set():
            n += 1
            path = f"/c{idx}-{n}"
            try:
                status, body, sock = request(self.port, "GET", path, sock=sock)
                good = status == 200 and body == expected_body(path)
                if not self.keepalive:
                    sock.close()
                    sock = None
            except Exception as exc:  # noqa: BLE001 - every failure is recorded
                good, status, body = False, None, repr(exc).encode()
                if sock:
                    sock.close()
                sock = None
            with self.lock:
                if good:
                    self.ok += 1
                else:
                    self.failures.append((time.monotonic(), path, status, body[:200]))
        if sock:
            sock.close()

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def wait_ok(self, count, timeout):
        """Bounded poll until `count` more successes were seen."""
        target = self.ok + count
        deadline = time.monotonic() + timeout
        while self.ok < target and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.ok >= target

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(scaled(30))
