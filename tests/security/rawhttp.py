"""Raw-bytes tools for the hostile-client suites: a recording backend and a raw client.

RecordingBackend is a threaded socket server on 127.0.0.1 (ephemeral port) that answers
health checks correctly and records every byte of every other connection, so a test can
assert *exactly* what reached the backend: nothing for a refused vector, the client's bytes
unchanged for a positive control. A connection counts as a health check only when all it
ever carried is the contract's probe `GET /healthcheck HTTP/1.1\\r\\nHost: H:P\\r\\n\\r\\n`.

The raw client sends bytes as they are (no normalisation of any kind) and reads until the
balancer closes or a deadline passes, so "a 4xx and a close" is observed, not assumed.
"""
import os
import re
import socket
import threading
import time

try:  # the harness's scale: LBTEST_TIMEOUT_SCALE, else 10 under valgrind, else 1
    from harness.process import timeout_scale as _timeout_scale
    SCALE = _timeout_scale()
except ImportError:
    SCALE = float(os.environ.get("LBTEST_TIMEOUT_SCALE", "1"))
PROBE_RE = re.compile(rb"\AGET /healthcheck HTTP/1\.1\r\nHost: [^\r\n]*\r\n\r\n\Z")
STATUS_RE = re.compile(rb"\AHTTP/1\.[01] (\d{3}) [^\r\n]*\r\n")
OK_BODY = b"ok"
OK_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def scaled(seconds):
    return seconds * SCALE


# -- framing, just enough for the backend to know when a request ended -----------------
def _request_end(data):
    """Index after the first complete request in data, or None if incomplete/unframeable.

    Lenient on purpose: the backend must answer legal requests, never judge hostile ones
    (whatever reaches it is already a failure the test reports)."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    fields = {}
    for line in data[:head_end].decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        fields.setdefault(name.lower(), value.strip().lower())
    pos = head_end + 4
    m = re.fullmatch(r"(\d+)", fields.get("content-length", ""))
    if fields.get("transfer-encoding", "").endswith("chunked"):
        while True:
            line_end = data.find(b"\r\n", pos)
            if line_end < 0:
                return None
            try:
                size = int(data[pos:line_end].split(b";")[0], 16)
            except ValueError:
                return None
            pos = line_end + 2
            if size == 0:
                trailer_end = data.find(b"\r\n\r\n", pos - 2)
                return None if trailer_end < 0 else trailer_end + 4
            if len(data) < pos + size + 2:
                return None
            pos += size + 2
    if m:
        n = int(m.group(1))
        return pos + n if len(data) >= pos + n else None
    return pos


class Conn:
    """One accepted backend connection and every byte it carried."""

    def __init__(self, sock):
        self.sock = sock
        self.data = bytearray()
        self.closed_by_peer = threading.Event()

    def is_probe(self):
        return bool(PROBE_RE.match(bytes(self.data)))


class RecordingBackend:
    """answer(request_bytes) -> bytes gives the reply to each non-probe request (default
    a fixed 200 'ok'); answer may return None to say nothing and keep reading, or
    (bytes, "close") to close its side of the connection right after the reply."""

    def __init__(self, answer=None, counts=(0, 0)):
        self.answer = answer or (lambda req: OK_ANSWER)
        self.counts = counts
        self.conns = []
        self.events = []  # (conn, chunk) in arrival order, across connections
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    # -- server side -----------------------------------------------------------------
    def _accept_loop(self):
        while not self._stop:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            conn = Conn(sock)
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _probe_answer(self):
        body = f"{self.counts[0]}\n{self.counts[1]}".encode()
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    def _serve(self, conn):
        pending = bytearray()
        try:
            while True:
                chunk = conn.sock.recv(65536)
                if not chunk:
                    conn.closed_by_peer.set()
                    break
                with self.cond:
                    conn.data += chunk
                    self.events.append((conn, chunk))
                    self.cond.notify_all()
                pending += chunk
                while True:
                    end = _request_end(bytes(pending))
                    if end is None:
                        break
                    req, pending = bytes(pending[:end]), pending[end:]
                    if PROBE_RE.match(req) and conn.data == req:
                        conn.sock.sendall(self._probe_answer())
                        conn.sock.shutdown(socket.SHUT_WR)
                        continue
                    reply = self.answer(req)
                    close_after = isinstance(reply, tuple)
                    if close_after:
                        reply = reply[0]
                    if reply:
                        # Closing: MSG_MORE corks the reply so the FIN rides on its last
                        # segment and the balancer sees the answer and the close together.
                        conn.sock.sendall(reply, socket.MSG_MORE if close_after else 0)
                    if close_after:  # answer(req) returned (bytes, "close")
                        conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            conn.closed_by_peer.set()
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass

    def close(self):
        self._stop = True
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            for c in self.conns:
                try:
                    c.sock.close()
                except OSError:
                    pass

    # -- what the tests ask -----------------------------------------------------------
    def received(self):
        """Every byte of every non-probe connection, connections in accept order."""
        with self.lock:
            return b"".join(bytes(c.data) for c in self.conns if not c.is_probe())

    def mark(self):
        """A position in the arrival order, for received_since()."""
        with self.lock:
            return len(self.events)

    def received_since(self, mark):
        """Non-probe bytes that arrived after mark, in arrival order."""
        with self.lock:
            return b"".join(ch for c, ch in self.events[mark:] if not c.is_probe())

    def request_conns(self):
        with self.lock:
            return [c for c in self.conns if not c.is_probe() and c.data]

    def wait_received(self, predicate, timeout):
        """Bounded poll on the recorded bytes; returns the last value seen."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                data = b"".join(bytes(c.data) for c in self.conns if not c.is_probe())
                if predicate(data) or time.monotonic() >= deadline:
                    return data
                self.cond.wait(max(0.0, min(0.1, deadline - time.monotonic())))

    def probes(self):
        with self.lock:
            return sum(1 for c in self.conns if c.is_probe())


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
    """Reads exactly one Content-Length-framed response (enough for the controls); with
    head_only (an answer to HEAD) the head alone. Returns (answer, bytes read beyond it)."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        end = _response_end(bytes(data), head_only)
        if end is not None:
            return bytes(data[:end]), bytes(data[end:])
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no complete response within {timeout}s: {bytes(data)!r}")
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed before a complete response: {bytes(data)!r}")
        data += chunk


def _response_end(data, head_only=False):
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    if head_only:
        return head_end + 4
    m = re.search(rb"\r\ncontent-length:[ \t]*(\d+)", data[:head_end].lower())
    n = int(m.group(1)) if m else 0
    return head_end + 4 + n if len(data) >= head_end + 4 + n else None
