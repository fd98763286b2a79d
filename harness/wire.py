"""HTTP/1.1 answers read off a raw socket: the harness's one reader, and the exact 500.

Tests read answers byte by byte on purpose: a library would retry, reassemble or forgive,
and the balancer's faults are exactly what it would hide. `AnswerReader` frames one answer
at a time on a connected socket (Content-Length, chunked, or read to the close; no body for
HEAD, 1xx, 204 and 304) and keeps what arrived beyond it for the next, so a caller sees
surplus bytes instead of losing them. It is strict where a strict client is (status line,
field lines, one numeric Content-Length) and says so with ValueError. A close or a reset
before the answer is whole raises `Cut` (a ConnectionError) carrying the bytes of that
answer received so far, which is how a test tells a prefix (never patched) from an empty
close. A deadline in the past raises socket.timeout.

    reader = AnswerReader(sock)
    answer = reader.read("GET", deadline=time.monotonic() + 5)
    answer.status, answer.header("content-length"), answer.body, answer.raw, reader.buf

    fetch(port, "PUT", "/f", body=b"x")   # one exchange on a fresh connection -> Answer

Used by the traffic driver (harness/traffic.py), the soak (harness/soak), the control-port
and /stats calls of harness/cluster.py, and the suites; importable by any script
(`from harness.wire import fetch`).
"""
import re
import socket
import time
from dataclasses import dataclass, field

from .timing import scaled

# The contract's answer when no backend can take a request, byte for byte (CONTRACT.md
# section 2): the balancer never adds a body or a field to it.
ERROR_500 = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
MAX_HEAD = 64 * 1024
RECV_SIZE = 262144
STATUS_LINE = re.compile(rb"HTTP/1\.([01]) (\d{3}) ?(.*)")


class Cut(ConnectionError):
    """The peer closed (FIN) or reset (RST) the connection before the answer was whole.
    `data`: the bytes of this answer received before that; `reset`: it was an RST."""

    def __init__(self, data, reset=False):
        super().__init__(f"{'reset' if reset else 'closed'} after {len(data)} bytes of an "
                         f"answer: {bytes(data[:200])!r}")
        self.data = bytes(data)
        self.reset = reset


@dataclass
class Answer:
    """One whole answer. `fields`: lower-case name -> every value, in order (latin-1);
    `body`: the body (chunked: decoded); `raw`: every byte of the answer as it arrived;
    `framing`: "length", "chunked", "close" (read to the peer's FIN) or "none"."""
    status: int
    version: str
    head: bytes
    fields: dict = field(default_factory=dict)
    body: bytes = b""
    raw: bytes = b""
    framing: str = "none"

    def header(self, name, default=None):
        """The last value of field `name` (any case), or default."""
        values = self.fields.get(name.lower())
        return values[-1] if values else default

    @property
    def close_after(self):
        """The connection ends with this answer: HTTP/1.0, `Connection: close`, or a body
        delimited by the close."""
        tokens = ",".join(self.fields.get("connection", [])).lower()
        return self.version == "HTTP/1.0" or "close" in tokens or self.framing == "close"


class AnswerReader:
    """Reads answers off one connected socket. `buf` holds bytes received beyond the last
    answer; `received` counts every byte received; `on_data(chunk)`, if set, sees each
    chunk as it arrives."""

    def __init__(self, sock, buf=b"", on_data=None):
        self.sock = sock
        self.buf = bytes(buf)
        self.received = 0
        self.on_data = on_data
        self._answer = bytearray()   # bytes of the answer being read, as they arrived

    @property
    def pending(self):
        """The bytes of the answer being read that arrived so far (what a test shows when
        the deadline passed before the answer was whole)."""
        return bytes(self._answer)

    def read(self, method="GET", deadline=None):
        """Reads one answer to a request of `method`. deadline: a time.monotonic() value
        (None: each recv waits as long as the socket's own timeout). Raises Cut, ValueError
        (not HTTP/1.x) or socket.timeout."""
        self._answer = bytearray(self.buf)
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > MAX_HEAD:
                raise ValueError(f"answer head over {MAX_HEAD} bytes")
            self._more(deadline)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        answer = _parse_head(head + b"\r\n\r\n")
        if method == "HEAD" or answer.status in (204, 304) or 100 <= answer.status < 200:
            answer.framing = "none"
        elif answer.fields.get("transfer-encoding"):
            answer.framing, answer.body = "chunked", self._chunked(deadline)
        elif answer.fields.get("content-length"):
            answer.framing, answer.body = "length", self._take(_length(answer), deadline)
        else:
            answer.framing, answer.body = "close", self._to_close(deadline)
        answer.raw = bytes(self._answer[:len(self._answer) - len(self.buf)])
        return answer

    # -- receiving ------------------------------------------------------------------------
    def _more(self, deadline):
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("answer deadline passed")
            self.sock.settimeout(left)
        try:
            data = self.sock.recv(RECV_SIZE)
        except ConnectionResetError:
            raise Cut(self._answer, reset=True) from None
        if not data:
            raise Cut(self._answer)
        self.received += len(data)
        self._answer += data
        self.buf += data
        if self.on_data:
            self.on_data(data)

    def _take(self, n, deadline):
        while len(self.buf) < n:
            self._more(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _line(self, deadline):
        while b"\r\n" not in self.buf:
            self._more(deadline)
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _chunked(self, deadline):
        body = bytearray()
        while True:
            size = int(self._line(deadline).split(b";")[0].strip(), 16)
            if size == 0:
                while self._line(deadline):   # trailer fields, up to the empty line
                    pass
                return bytes(body)
            body += self._take(size, deadline)
            if self._take(2, deadline) != b"\r\n":
                raise ValueError("chunk data longer than its size")

    def _to_close(self, deadline):
        try:
            while True:
                self._more(deadline)
        except Cut as cut:
            if cut.reset:
                raise
        body, self.buf = self.buf, b""
        return body


def _parse_head(head):
    """An Answer (without body) from the bytes of a head, its empty line included."""
    lines = head[:-4].split(b"\r\n")
    m = STATUS_LINE.fullmatch(lines[0])
    if not m:
        raise ValueError(f"bad status line {lines[0][:80]!r}")
    fields = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"bad header line {line[:80]!r}")
        fields.setdefault(name.decode("latin-1").lower(), []).append(
            value.strip().decode("latin-1"))
    return Answer(status=int(m.group(2)), version=f"HTTP/1.{m.group(1).decode()}", head=head,
                  fields=fields)


def _length(answer):
    values = answer.fields["content-length"]
    if len(values) != 1 or not values[0].isdigit():
        raise ValueError(f"bad Content-Length {values}")
    return int(values[0])


def request_bytes(method, path, host="lb", body=b"", close=False, fields=()):
    """The bytes of one HTTP/1.1 request: Host, Content-Length when there is a body or the
    method is PUT, `Connection: close` when asked, then `fields` as (name, value) pairs."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
    if body or method == "PUT":
        head += f"Content-Length: {len(body)}\r\n"
    if close:
        head += "Connection: close\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in fields)
    return head.encode("latin-1") + b"\r\n" + body


def fetch(port, method="GET", path="/", body=b"", fields=(), host="127.0.0.1", timeout=10.0,
          close=True):
    """One request on a fresh connection to host:port; returns its Answer. The deadline
    (connect, send and answer) is `timeout` seconds, scaled. A send that fails because the
    peer already answered and closed still reads what it said."""
    limit = scaled(timeout)
    deadline = time.monotonic() + limit
    with socket.create_connection((host, port), timeout=limit) as sock:
        try:
            sock.sendall(request_bytes(method, path, f"{host}:{port}", body, close, fields))
        except (BrokenPipeError, ConnectionResetError):
            pass
        return AnswerReader(sock).read(method, deadline)


__all__ = ["ERROR_500", "Answer", "AnswerReader", "Cut", "fetch", "request_bytes"]
