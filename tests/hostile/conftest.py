"""Shared pieces of the hostile suites: a scriptable Python backend, the balancer, and
the settling checks (stats at rest, fd count) every test ends with.

The backend answers `GET /healthcheck` correctly (`0\\n0`, Content-Length 3) and every
other request with the *plan* registered under the request's path: a list of (bytes,
pause) pieces and an ending (`fin`, `rst`, `keep` = go on reading requests on the same
connection). Plans are keyed by path so pooled or retried backend connections always get
the plan of the request they carry."""
import json
import re
import os
import socket
import struct
import threading
import time
import urllib.request

import pytest

from harness import ERROR_500, wait_for
from harness.listener import Listener

HEALTH = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n0\n0"


def rst_close(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class PlanBackend(Listener):
    def __init__(self, plans=None, lock=None):
        self.plans = {} if plans is None else plans  # may be shared by several backends
        self.early = set()  # paths answered before their request body is read
        self.health = ([(HEALTH, 0)], "keep")  # (pieces, ending) for /healthcheck
        self.close_if_reused = set()  # paths met by a close when not first on their conn
        self.lock = lock or threading.Lock()
        self.requests = []
        super().__init__(backlog=256)

    def plan(self, path, pieces, ending="fin", early=False):
        with self.lock:
            self.plans[path] = (pieces, ending)
            if early:
                self.early.add(path)

    def serve(self, c):
        c.settimeout(10)
        buf = b""
        nth = 0
        try:
            while not self.stop:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        c.close()
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                parts = line.split(" ")
                path = parts[1] if len(parts) > 1 else ""
                with self.lock:
                    self.requests.append(line)
                if path == "/healthcheck":
                    pieces, ending = self.health
                    for data, pause in pieces:
                        if pause:
                            time.sleep(pause)
                        c.sendall(data)
                    if ending == "rst":
                        rst_close(c)
                        return
                    if ending == "fin":
                        c.close()
                        return
                    continue
                nth += 1
                if nth > 1 and path in self.close_if_reused:
                    c.close()  # as a server closing an idle keep-alive connection would
                    return
                with self.lock:
                    pieces, ending = self.plans.get(path, ([(ERROR_500, 0)], "fin"))
                    early = path in self.early
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                need = int(m.group(1)) if m else 0
                if not early:  # read the body first (an "early" plan answers before it)
                    buf = self._take(c, buf, need)
                    need = 0
                for data, pause in pieces:
                    if pause:
                        time.sleep(pause)
                    if data:
                        c.sendall(data)
                if ending == "rst":
                    rst_close(c)
                    return
                buf = self._take(c, buf, need)
                if ending == "fin":
                    c.close()
                    return
        except OSError:
            pass
        try:
            c.close()
        except OSError:
            pass

    @staticmethod
    def _take(c, buf, need):
        """Reads until `need` body bytes were consumed; returns what follows them."""
        while len(buf) < need:
            d = c.recv(65536)
            if not d:
                raise OSError("eof in a body")
            buf += d
        return buf[need:]

READ_LIMIT = 4.0  # > --server-timeout 1s: a hang shows as a test failure, not a wait


def read_until(sock, want=None, more_after=None):
    """Reads until the close, or until `want` bytes arrived (and, with more_after, on while
    the bytes end with it). Returns (bytes, closed); a timeout returns closed=False."""
    sock.settimeout(READ_LIMIT)
    out = b""
    while want is None or len(out) < want or (more_after and out.endswith(more_after)):
        try:
            d = sock.recv(65536)
        except ConnectionResetError:
            return out, True
        except socket.timeout:
            return out, False
        if not d:
            return out, True
        out += d
    return out, False


def stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
        return json.loads(r.read())


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class LB:
    """A balancer under test with its stats port; `settle()` waits for an empty house."""

    def __init__(self, proc):
        self.proc = proc
        self.port = int(proc.ready["port"])
        self.stats_port = int(proc.ready["stats"])

    def stats(self):
        return stats(self.stats_port)

    def at_rest(self):
        s = self.stats()
        return s["clients"] == 0 and s["in_flight"] == 0 and s.get("queued_now", 0) == 0

    def settle(self, timeout=10):
        wait_for(self.at_rest, timeout, "balancer at rest (clients 0, in_flight 0)")

    def fds(self):
        return fd_count(self.proc.pid)

    def assert_alive(self):
        assert self.proc.alive(), f"balancer exited: {self.proc.log()[-3000:]}"
        bad = self.proc.check_log()
        assert not bad, bad


def start_lb(procs, backends, *args):
    argv = ["loadbalancer", "0", *[str(b) for b in backends], "--stats-port", "0", *args]
    return LB(procs.start(argv, name="lb"))


def fds_back_to(lb, base, timeout=10):
    """Pooled idle backend connections are legitimate; the count must come back to at
    most the base plus the pool once the balancer is at rest."""
    lb.settle(timeout)
    def ok():
        s = lb.stats()
        pool = sum(b.get("pool_idle", 0) for b in s["backends"])
        return lb.fds() <= base + pool
    try:
        wait_for(ok, timeout, "fd count back to its base")
    except AssertionError:
        s = lb.stats()
        raise AssertionError(f"fd leak: base {base}, now {lb.fds()}, stats {s}, "
                             f"fds {sorted(os.listdir(f'/proc/{lb.proc.pid}/fd'))}")
