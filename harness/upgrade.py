"""A backend that switches protocols: a `101 Switching Protocols` to a request with an
`Upgrade` field, then an echo of every byte (WebSocket-style) until the client closes or
sends `bye`; every other request is plain HTTP.

The fakeserver is the course httpserver's drop-in (GET/PUT/HEAD on files) and has no protocol
to switch to, so it never answers 101; this Python backend does. Plain requests get, by
default, `200 hello\\n` (health checks `200 0\\n0`); with `relay=PORT` each one is forwarded
(framed as harness/recorder.py frames requests: Content-Length or chunked) to the fakeserver on that port and its answer relayed as it
came. A relayed backend is a fakeserver that also speaks WebSocket: its files, its course
log and its /healthcheck counts stay the fakeserver's, so the cluster invariant
(harness.traffic.check) judges the plain traffic that went through it.

    echo = EchoBackend()                          # or EchoBackend(relay=fakeserver.port)
    sock, rest = open_tunnel(lb_port, early=b"hi")  # the 101 read; rest: bytes after it
    sock.sendall(b"ping"); recv_exactly(sock, 4)  # b"ping"
    echo.tunnels, echo.closed_tunnels; echo.close()

Used by tests/lb/test_upgrade.py and tests/cluster/test_cluster_scale.py.
"""
import socket
import threading

from .listener import Listener
from .recorder import Request, request_end
from .timing import scaled
from .wire import AnswerReader

UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: lb\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\n\r\n")
SWITCHING = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             b"Connection: Upgrade\r\n\r\n")
HEALTHY = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n0\n0"
HELLO = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"
DECLINED = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\ndeclined\n"


class EchoBackend(Listener):
    """A thread per connection, keep-alive; 101 then echo, or a 200 when `decline` is set.
    `tunnels`: upgrades accepted; `closed_tunnels`: tunnels whose echo has ended."""

    def __init__(self, decline=False, relay=None):
        self.decline, self.relay = decline, relay
        self.tunnels, self.closed_tunnels = 0, 0
        self.conns = []
        self._lock = threading.Lock()
        super().__init__()

    def serve(self, conn):
        with self._lock:
            self.conns.append(conn)
        upstream = []   # [socket, AnswerReader] to the relayed fakeserver, per connection
        buf = b""
        try:
            with conn:
                while True:
                    end = request_end(buf)   # framed as the recording backend frames
                    while end is None:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buf += data
                        end = request_end(buf)
                    req, buf = Request(buf[:end]), buf[end:]
                    if req.header("upgrade") is not None and not self.decline:
                        with self._lock:   # counted before the client can see the 101
                            self.tunnels += 1
                        conn.sendall(SWITCHING)
                        self.echo(conn, buf)
                        return
                    conn.sendall(self.answer(req, upstream))
        except OSError:
            return
        finally:
            if upstream:
                upstream[0].close()

    def answer(self, req, upstream):
        """The bytes answering one plain request."""
        if self.relay is not None:
            return self.forward(req, upstream)
        if req.method == "GET" and req.target == "/healthcheck":
            return HEALTHY
        return DECLINED if req.header("upgrade") is not None else HELLO

    def forward(self, req, upstream):
        """Sends the request to the fakeserver on self.relay (one kept-alive connection per
        client connection) and returns its answer's bytes as they came."""
        if not upstream:
            sock = socket.create_connection(("127.0.0.1", self.relay), timeout=scaled(10))
            upstream[:] = [sock, AnswerReader(sock)]
        sock, reader = upstream
        sock.sendall(req.raw)
        answer = reader.read(req.method)
        if answer.close_after:
            sock.close()
            upstream.clear()
        return answer.raw

    def echo(self, conn, rest):
        if rest:
            conn.sendall(rest)
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                break
            if not data or data == b"bye":
                break
            conn.sendall(data)
        with self._lock:
            self.closed_tunnels += 1

    def close(self):
        super().close()
        with self._lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def open_tunnel(port, early=b"", host="127.0.0.1"):
    """Sends the upgrade request (and early bytes after it) to host:port; returns the socket
    and what followed the 101 head. AssertionError when the answer is not a 101."""
    s = socket.create_connection((host, port), timeout=scaled(10))
    s.sendall(UPGRADE + early)
    got = b""
    while b"\r\n\r\n" not in got:
        data = s.recv(65536)
        assert data, got
        got += data
    head, rest = got.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return s, rest


def recv_exactly(s, n):
    """n bytes off socket s (AssertionError when it closes first)."""
    out = b""
    while len(out) < n:
        data = s.recv(65536)
        assert data, len(out)
        out += data
    return out
