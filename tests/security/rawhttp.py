"""The raw client of the hostile-client suites (the backend is harness/recorder.py).

The raw client sends bytes as they are (no normalisation of any kind) and reads until the
balancer closes or a deadline passes, so "a 4xx and a close" is observed, not assumed.
"""
import re
import socket
import time

from harness import scaled  # noqa: F401 (the suite's tests import it here)
from harness.wire import AnswerReader, Cut

STATUS_RE = re.compile(rb"\AHTTP/1\.[01] (\d{3}) [^\r\n]*\r\n")


# -- the raw client ----------------------------------------------------------------------
class Result:
    def __init__(self, data, closed, error=None):
        self.data = data
        self.closed = closed      # the balancer ended the connection (FIN or RST)
        self.error = error

    @property
    def status(self):
        m = STATUS_RE.match(self.data)
        return int(m.group(1)) if m else None

    def __repr__(self):
        return f"Result(status={self.status}, closed={self.closed}, data={self.data[:300]!r})"


def connect(port, timeout=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout or scaled(5))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_close(sock, timeout):
    """Reads until EOF/RST or the deadline. Returns (bytes, closed)."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(data), False
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return bytes(data), False
        except (ConnectionResetError, BrokenPipeError):
            return bytes(data), True
        if not chunk:
            return bytes(data), True
        data += chunk


def exchange(port, pieces, timeout=None, pause=0.0):
    """Sends each piece (bytes) in order, then reads until the balancer closes.

    A send that fails because the balancer already answered and closed is not an error:
    what the client can still read is the result."""
    if isinstance(pieces, (bytes, bytearray)):
        pieces = [pieces]
    sock = connect(port)
    try:
        for piece in pieces:
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            if pause:
                time.sleep(pause)
        data, closed = read_until_close(sock, timeout or scaled(5))
        return Result(data, closed)
    finally:
        sock.close()


def read_one_response(sock, timeout, head_only=False):
    """Reads exactly one answer with harness.wire's reader (Content-Length, chunked, to the
    close; with head_only, an answer to HEAD: the head alone). Returns (the answer's bytes,
    bytes read beyond it). A close or a deadline before the answer is whole fails the test,
    showing what arrived."""
    reader = AnswerReader(sock)
    try:
        answer = reader.read("HEAD" if head_only else "GET", time.monotonic() + timeout)
    except Cut as cut:
        raise AssertionError(f"closed before a complete response: {cut.data!r}") from None
    except socket.timeout:
        raise AssertionError(f"no complete response within {timeout}s: "
                             f"{reader.pending!r}") from None
    return answer.raw, reader.buf
