"""recorder: a Python HTTP backend that records every byte it receives.

`RecordingBackend` listens on 127.0.0.1, port 0 (harness.listener's accept loop), serves
each connection on a thread of its own, and keeps two records of what reached it:

- the raw bytes of every connection, exactly as they arrived (`received()`,
  `received_by_conn()`, `received_since(mark())`), so a test can assert that *nothing* of
  a refused request reached the backend, or that a forwarded one arrived byte for byte;
- the requests it framed out of those bytes (`requests()`, `Conn.requests`), parsed into
  method, target, version, header fields and body.

Answers. A connection whose whole content is the contract's health probe
`GET /healthcheck HTTP/1.1\\r\\nHost: H:P\\r\\n\\r\\n` is a probe: it gets `200` with body
`ERRORS\\nTOTAL` (`health=(0, 0)`), then the backend closes its side. Probe connections
are left out of every byte and request accessor (`probes()` counts them). Every other
request gets `answer`: bytes (the same reply to each request) or a callable
`answer(request) -> bytes | None | (bytes, "close")`, where None sends nothing and keeps
reading and the tuple closes the backend's side right after the reply. The default is
`200` with body `ok` (`OK_ANSWER`), head only for a HEAD request.

Framing is lenient on purpose (the backend answers legal requests; it never judges hostile
ones, since whatever reaches it is already what the test looks at): Content-Length, chunked
(last Transfer-Encoding coding), otherwise no body. Bytes that never make a whole request
are recorded, not answered; so are requests that arrive after the backend closed its side.

Thread safety: one lock guards every record; accessors return snapshots (bytes, lists).
`Conn.data` and `Conn.requests` are snapshots too. `wait_for()` and `wait_received()` are
bounded polls on a condition the serving threads notify on every arrival and close; their
timeouts are multiplied by the harness's timeout scale (harness.process.scaled), like
harness.wait_for. `close()` stops accepting, shuts every connection down, joins the
threads (bounded) and is idempotent; the class is also a context manager.
"""
import re
import socket
import threading
import time

from .listener import Listener
from .timing import scaled

PROBE_RE = re.compile(rb"\AGET /healthcheck HTTP/1\.1\r\nHost: [^\r\n]*\r\n\r\n\Z")
OK_BODY = b"ok"
OK_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"


def health_answer(errors=0, total=0):
    """The answer to a health probe: `200` with body `ERRORS\\nTOTAL`."""
    body = b"%d\n%d" % (errors, total)
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def default_answer(request):
    """`200 ok` to everything; a HEAD gets the head alone."""
    return OK_HEAD if request.method == "HEAD" else OK_ANSWER


# -- framing and parsing -------------------------------------------------------------------
def _fields(head):
    """(name, value) pairs of a head's field lines, latin-1, names as sent."""
    out = []
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            out.append((name, value.strip()))
    return out


def _chunked_end(data, pos):
    """Index after a chunked body that starts at pos, or None if incomplete/unframeable."""
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


def request_end(data):
    """Index after the first complete request in data (bytes), or None when it is still
    incomplete or cannot be framed. The first field of a name wins."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    fields = {}
    for name, value in _fields(data[:head_end]):
        fields.setdefault(name.lower(), value.lower())
    pos = head_end + 4
    if fields.get("transfer-encoding", "").endswith("chunked"):
        return _chunked_end(data, pos)
    m = re.fullmatch(r"(\d+)", fields.get("content-length", ""))
    if m:
        n = int(m.group(1))
        return pos + n if len(data) >= pos + n else None
    return pos


class Request:
    """One framed request: `raw` (its exact bytes), `method`, `target`, `version` (str,
    latin-1; empty when the request line has fewer parts), `fields` [(name, value)], `body`
    (the bytes after the head, as framed on the wire), `conn` (index of its connection in
    accept order) and `seq` (its place among every request the backend framed)."""

    __slots__ = ("raw", "method", "target", "version", "fields", "body", "conn", "seq")

    def __init__(self, raw, conn=0, seq=0):
        self.raw = bytes(raw)
        head, _, self.body = self.raw.partition(b"\r\n\r\n")
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        parts += [""] * (3 - len(parts))
        self.method, self.target, self.version = parts
        self.fields = _fields(head)
        self.conn, self.seq = conn, seq

    def header(self, name, default=None):
        """Value of the first field called name (any case), else default."""
        name = name.lower()
        for key, value in self.fields:
            if key.lower() == name:
                return value
        return default

    def __repr__(self):
        return f"Request({self.raw[:120]!r}, conn={self.conn}, seq={self.seq})"


# -- one connection ------------------------------------------------------------------------
class Conn:
    """One accepted connection. `index` is its place in accept order; `closed_by_peer`
    (threading.Event) is set when the peer ended it (FIN, RST); `data`, `requests` are
    snapshots taken under the backend's lock."""

    def __init__(self, backend, sock, index):
        self._backend = backend
        self.sock = sock
        self.index = index
        self._data = bytearray()
        self._requests = []
        self.closed_by_peer = threading.Event()
        self.thread = None

    @property
    def data(self):
        with self._backend.lock:
            return bytes(self._data)

    @property
    def requests(self):
        with self._backend.lock:
            return list(self._requests)

    def is_probe(self):
        with self._backend.lock:
            return self._is_probe()

    def _is_probe(self):  # lock held
        return bool(PROBE_RE.match(self._data))

    def wait_closed(self, timeout):
        """True once the peer has closed, within timeout (scaled) seconds."""
        return self.closed_by_peer.wait(scaled(timeout))

    def __repr__(self):
        return f"Conn(index={self.index}, bytes={len(self._data)}, " \
               f"closed_by_peer={self.closed_by_peer.is_set()})"


# -- the backend ---------------------------------------------------------------------------
class RecordingBackend(Listener):
    """See the module docstring. `answer`: bytes or callable (default `default_answer`);
    `health`: the (ERRORS, TOTAL) a probe is answered with."""

    def __init__(self, answer=None, health=(0, 0), backlog=128):
        if answer is None:
            answer = default_answer
        elif isinstance(answer, (bytes, bytearray)):
            fixed = bytes(answer)
            answer = lambda request: fixed  # noqa: E731 - the same reply to every request
        self.answer = answer
        self.health = health
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self._conns = []
        self._events = []  # (conn, chunk) in arrival order, across connections
        self._requests = []
        self._errors = []
        self._closing = False
        super().__init__(backlog=backlog)

    @property
    def addr(self):
        return ("127.0.0.1", self.port)

    # -- serving -----------------------------------------------------------------------
    def on_accept(self, sock):
        with self.cond:
            if self._closing:
                sock.close()
                return
            conn = Conn(self, sock, len(self._conns))
            self._conns.append(conn)
            conn.thread = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                           name=f"recorder-{self.port}-{conn.index}")
        conn.thread.start()

    def _arrived(self, conn, chunk):
        with self.cond:
            conn._data += chunk
            self._events.append((conn, chunk))
            self.cond.notify_all()

    def _framed(self, conn, raw):
        """Records one framed request; returns (request, is the connection's probe)."""
        with self.cond:
            req = Request(raw, conn.index, len(self._requests))
            self._requests.append(req)
            conn._requests.append(req)
            probe = PROBE_RE.match(raw) is not None and bytes(conn._data) == raw
            self.cond.notify_all()
        return req, probe

    def _reply(self, conn, req):
        """Sends answer(req); returns False when it closed the backend's side."""
        try:
            reply = self.answer(req)
        except Exception as exc:  # noqa: BLE001 - reported through errors(), conn closed
            with self.cond:
                self._errors.append((req, exc))
            raise
        close_after = isinstance(reply, tuple)
        if close_after:
            reply = reply[0]
        if reply:
            # Closing: MSG_MORE corks the reply so the FIN rides on its last segment and the
            # peer sees the answer and the close together.
            conn.sock.sendall(reply, socket.MSG_MORE if close_after else 0)
        if close_after:
            conn.sock.shutdown(socket.SHUT_WR)
        return not close_after

    def _serve(self, conn):
        pending, peer_closed, answering = b"", False, True
        try:
            while True:
                chunk = conn.sock.recv(65536)
                if not chunk:
                    peer_closed = True
                    break
                self._arrived(conn, chunk)
                pending += chunk
                while (end := request_end(pending)) is not None:
                    raw, pending = pending[:end], pending[end:]
                    req, probe = self._framed(conn, raw)
                    if not answering:  # our side is closed: record, never answer
                        continue
                    if probe:
                        conn.sock.sendall(health_answer(*self.health))
                        conn.sock.shutdown(socket.SHUT_WR)
                        answering = False
                    else:
                        answering = self._reply(conn, req)
        except OSError:  # a reset, or a send to a peer that left
            peer_closed = True
        except Exception:  # noqa: BLE001 - answer() raised: in errors(), connection dropped
            pass
        finally:
            with self.cond:
                if peer_closed and not self._closing:  # close() ends the others itself
                    conn.closed_by_peer.set()
                self.cond.notify_all()
            try:
                conn.sock.close()
            except OSError:
                pass

    def close(self, timeout=2.0):
        """Stops accepting, shuts every connection down and joins the threads (each at
        most timeout seconds). Idempotent."""
        with self.cond:
            if self._closing:
                return
            self._closing = True
        super().close()  # wakes and joins the accept loop at once
        with self.cond:
            conns = list(self._conns)
        for c in conns:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for c in conns:
            if c.thread is not None:
                c.thread.join(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- what the tests ask ------------------------------------------------------------
    def connections(self, probes=False):
        """Connections that carried bytes, in accept order; probe connections only when
        probes=True."""
        with self.lock:
            return [c for c in self._conns if c._data and (probes or not c._is_probe())]

    def received(self):
        """Every byte of every non-probe connection, connections in accept order."""
        with self.lock:
            return b"".join(bytes(c._data) for c in self._conns if not c._is_probe())

    def received_by_conn(self):
        """The bytes of each non-probe connection that carried any, in accept order."""
        with self.lock:
            return [bytes(c._data) for c in self._conns if c._data and not c._is_probe()]

    def mark(self):
        """A position in the arrival order, for received_since()."""
        with self.lock:
            return len(self._events)

    def received_since(self, mark):
        """Non-probe bytes that arrived after mark, in arrival order (across connections)."""
        with self.lock:
            return b"".join(ch for c, ch in self._events[mark:] if not c._is_probe())

    def requests(self):
        """Every request framed on a non-probe connection, in arrival order."""
        with self.lock:
            return [r for r in self._requests if not self._conns[r.conn]._is_probe()]

    def probes(self):
        """How many probe connections there were."""
        with self.lock:
            return sum(1 for c in self._conns if c._is_probe())

    def errors(self):
        """(request, exception) for every call of answer() that raised."""
        with self.lock:
            return list(self._errors)

    def wait_for(self, predicate, timeout=10.0, what="condition"):
        """Polls predicate() on every arrival and close, at least every 0.1 s, until it
        returns a true value (returned) or timeout (scaled) seconds pass: AssertionError
        naming what. predicate takes no arguments, runs under the lock (it may call the
        accessors) and must not block."""
        limit = scaled(timeout)
        deadline = time.monotonic() + limit
        with self.cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {limit:.1f}s waiting for {what}")
                self.cond.wait(min(0.1, left))

    def wait_received(self, predicate, timeout=5.0):
        """Polls predicate(received()) until true or timeout (scaled) seconds pass; returns
        the last received() either way, for the caller to judge."""
        deadline = time.monotonic() + scaled(timeout)
        with self.cond:
            while True:
                data = self.received()
                left = deadline - time.monotonic()
                if predicate(data) or left <= 0:
                    return data
                self.cond.wait(min(0.1, left))
