"""Raw HTTP on sockets for the fault proxy's tests: exact bytes, timings, resets. Answers
are framed by harness.wire; this adds the shapes the tests compare."""
import socket
import time

from harness.timing import scaled
from harness.wire import AnswerReader, Cut

# What every upstream of the suite serves (conftest.py writes them).
SMALL = b"hello, proxy\n"
BIG = bytes(range(256)) * 160  # 40960 bytes


def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=scaled(timeout))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def get_raw(target, headers=None, method="GET"):
    lines = [f"{method} {target} HTTP/1.1", "Host: x"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Reader:
    """harness.wire.AnswerReader (the harness's one HTTP reader) in the shape these tests
    compare: (status, fields by lower-case name, body, raw bytes), plus reading to the
    close to tell a FIN from an RST."""

    def __init__(self, sock):
        self.sock = sock
        self.reader = AnswerReader(sock)

    def response(self, head_only=False):
        try:
            a = self.reader.read("HEAD" if head_only else "GET")
        except Cut as cut:
            raise EOFError(cut.data) from cut
        return a.status, {k: v[-1] for k, v in a.fields.items()}, a.body, a.raw

    def until_close(self):
        """Every byte until the peer closes; returns (bytes, 'eof' or 'reset')."""
        data, how = self.reader.buf, "eof"
        self.reader.buf = b""
        try:
            while True:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            how = "reset"
        return data, how


def request(port, target, headers=None, method="GET", timeout=10):
    with connect(port, timeout) as s:
        s.sendall(get_raw(target, headers, method))
        return Reader(s).response(head_only=(method == "HEAD"))


def timed(fn, *a, **kw):
    t0 = time.monotonic()
    r = fn(*a, **kw)
    return r, time.monotonic() - t0


def without_date(raw):
    """An answer without its Date line (nginx's changes every second)."""
    return b"\r\n".join(l for l in raw.split(b"\r\n") if not l.lower().startswith(b"date:"))
