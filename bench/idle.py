"""bench/idle.py - hold N idle keep-alive client connections open against a proxy.

Each connection is opened (at most BATCH connects pending at once, so the listen backlog
never overflows into SYN retransmits), sends one keep-alive GET, reads the complete answer
(framed by Content-Length), and then stays open and silent. That is the state HAProxy's
"about 1.1 KB per idle keep-alive connection" describes: a connection that served a request
and waits for the next one. The caller measures the proxy's RSS while they are held, then
calls close().

Limits: needs N file descriptors (raise RLIMIT_NOFILE first); answers with a chunked body
are not understood (the benchmark serves a fixed 1 KiB file with Content-Length).

Standalone: python3 bench/idle.py PORT N [PID]  -- prints the RSS delta of PID.
"""
import errno
import os
import selectors
import socket
import sys
import time

BATCH = 256
REQUEST = b"GET /file1k HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class _Conn:
    __slots__ = ("sock", "state", "data")

    def __init__(self, sock):
        self.sock, self.state, self.data = sock, "connecting", b""


def _answer_complete(data):
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


class IdleHolder:
    def __init__(self, port, count, timeout=60.0):
        self.port, self.count, self.timeout = port, count, timeout
        self.conns = []
        self.failed = 0

    def open_all(self):
        """Opens the connections; returns the number that completed their request."""
        sel = selectors.DefaultSelector()
        started = done = 0
        deadline = time.monotonic() + self.timeout
        while done + self.failed < self.count and time.monotonic() < deadline:
            while started < self.count and started - done - self.failed < BATCH:
                started += 1
                self._connect(sel)
            for key, ev in sel.select(timeout=0.5):
                finished = self._step(sel, key.data, ev)
                if finished == 1:
                    done += 1
                elif finished == -1:
                    self.failed += 1
        sel.close()
        return done

    def _connect(self, sel):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        c = _Conn(s)
        err = s.connect_ex(("127.0.0.1", self.port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            self.failed += 1
            return
        self.conns.append(c)
        sel.register(s, selectors.EVENT_WRITE, c)

    def _step(self, sel, c, ev):
        """Advances one connection; 1 when its answer is complete, -1 on failure."""
        try:
            if c.state == "connecting":
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, os.strerror(err))
                c.sock.send(REQUEST)  # 40 bytes always fit a fresh socket buffer
                c.state = "reading"
                sel.modify(c.sock, selectors.EVENT_READ, c)
                return 0
            chunk = c.sock.recv(65536)
            if not chunk:
                raise OSError("closed before the answer")
            c.data += chunk
            if _answer_complete(c.data):
                c.state, c.data = "idle", b""
                sel.unregister(c.sock)
                return 1
            return 0
        except OSError:
            sel.unregister(c.sock)
            c.sock.close()
            c.state = "failed"
            return -1

    def still_open(self):
        """Counts idle connections the proxy has not closed (no EOF pending)."""
        sel = selectors.DefaultSelector()
        idle = [c for c in self.conns if c.state == "idle"]
        for c in idle:
            sel.register(c.sock, selectors.EVENT_READ, c)
        closed = len(sel.select(timeout=0))
        sel.close()
        return len(idle) - closed

    def close(self):
        for c in self.conns:
            if c.state != "failed":
                c.sock.close()
        self.conns = []


def settle_rss(pid, rss_fn, tries=20, interval=0.1):
    """RSS once two readings in a row agree within 1% (bounded)."""
    last = rss_fn(pid)
    for _ in range(tries):
        time.sleep(interval)
        now = rss_fn(pid)
        if abs(now - last) <= max(16, last // 100):
            return now
        last = now
    return last


def measure(port, pid, count, rss_fn):
    """Holds count idle connections on port; returns a dict of the proxy's RSS figures."""
    before = settle_rss(pid, rss_fn)
    holder = IdleHolder(port, count)
    try:
        opened = holder.open_all()
        after = settle_rss(pid, rss_fn)
        still = holder.still_open()
    finally:
        holder.close()
    delta = after - before
    return {"connections": count, "answered": opened, "failed": holder.failed,
            "open_at_measure": still, "rss_before_kib": before, "rss_after_kib": after,
            "bytes_per_conn": round(delta * 1024.0 / opened, 1) if opened else None}


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from common import raise_nofile, rss_kib
    raise_nofile()
    port, n = int(sys.argv[1]), int(sys.argv[2])
    if len(sys.argv) > 3:
        print(measure(port, int(sys.argv[3]), n, rss_kib))
    else:
        h = IdleHolder(port, n)
        print("answered", h.open_all(), "failed", h.failed, "open", h.still_open())
        h.close()
