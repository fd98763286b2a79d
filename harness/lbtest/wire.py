"""Clients harness.traffic does not have: pipelined requests on one connection, and bad
input. Answers are read and judged by harness.traffic's own reader, so a pipelined answer is
judged exactly like any other (the one place that knows those helpers' names is here)."""
import itertools
import socket
import time

from .. import traffic as traffic_mod

_read_answer = traffic_mod._read_answer    # noqa: SLF001 - the harness's one answer reader
_judge = traffic_mod._judge                # noqa: SLF001
_Connection = traffic_mod._Connection      # noqa: SLF001
_ids = itertools.count(1)


def request_bytes(req, host="127.0.0.1"):
    head = f"{req.method} /{req.name} HTTP/1.1\r\nHost: {host}\r\n"
    if req.method == "PUT":
        head += f"Content-Length: {len(req.body)}\r\n"
    return head.encode() + b"\r\n" + req.body


def pipelined(port, specs, clock, timeout=8.0, client=0):
    """Sends every request of `specs` ((method, name, expect_or_body)) in one write on one
    connection, then reads the answers in order. Returns harness.traffic.Requests with
    their outcomes, timed on `clock()`."""
    tag = next(traffic_mod._RUNS)   # noqa: SLF001 - request ids never collide with Traffic's
    reqs = []
    for i, (method, name, data) in enumerate(specs):
        if method == "PUT":
            reqs.append(traffic_mod.Request(i, client, method, name, body=data, run=tag,
                                            keepalive=True, reused=i > 0))
        else:
            reqs.append(traffic_mod.Request(i, client, method, name, expect=data, run=tag,
                                            keepalive=True, reused=i > 0))
    t0 = clock()
    for r in reqs:
        r.t_start = t0
    deadline = time.monotonic() + timeout
    try:
        conn = _Connection(("127.0.0.1", port), timeout)
    except OSError as exc:
        for r in reqs:
            r.kind, r.error, r.t_end = "connect", str(exc), clock()
        return reqs
    try:
        try:
            conn.sock.sendall(b"".join(request_bytes(r) for r in reqs))
        except OSError as exc:
            reqs[0].error = f"send: {exc}"
        for r in reqs:
            if r.kind is None:
                _one_answer(conn, r, deadline)
            r.t_end = clock()
            if r.kind not in ("ok", "status"):
                for rest in reqs[reqs.index(r) + 1:]:   # the connection is gone
                    rest.kind, rest.t_end = "empty", clock()
                    rest.error = f"after {r.kind} on the same connection"
                break
    finally:
        conn.close()
    return reqs


def _one_answer(conn, r, deadline):
    try:
        status, fields, body, _close = _read_answer(conn, r, deadline)
    except socket.timeout:
        r.kind = "timeout"
        return
    except (traffic_mod._Incomplete, OSError) as exc:   # noqa: SLF001
        r.kind = "partial" if r.received else "empty"
        r.error = f"{type(exc).__name__}: {exc}"
        return
    except ValueError as exc:
        r.kind, r.error = "malformed", str(exc)
        return
    raw_500 = r.sample.startswith(traffic_mod.ERROR_500) and r.received == len(traffic_mod.ERROR_500)
    r.kind = _judge(r, status, fields, body, raw_500)
    r.sample = r.sample[:256]


# Bad input a balancer must survive: what it answers is its own affair (a 4xx, or a close),
# but never a 2xx, never a crash, and nothing smuggled may reach a server.
BAD_INPUTS = [
    ("binary garbage", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(40))
     + b"\r\n\r\n", False),
    ("a request line without a version", b"GET /tiny\r\n\r\n", False),
    ("Content-Length together with Transfer-Encoding (request smuggling)",
     b"PUT /smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked"
     b"\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", False),
    ("a negative Content-Length", b"PUT /badlen HTTP/1.1\r\nHost: x\r\nContent-Length: -5"
     b"\r\n\r\nhello", False),
    ("a 100 KiB header line", b"GET /tiny HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 102400
     + b"\r\n\r\n", False),
    ("half a request head, then the client hangs up", b"GET /tiny HTTP/1.1\r\nHost: x\r\n",
     True),
    ("a PUT that promises 1000 bytes, sends 10 and hangs up",
     b"PUT /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789", True),
    ("a connection closed at once", b"", True),
]


def send_bad(port, data, hang_up, wait=3.0):
    """Sends `data`; if hang_up, closes at once. Otherwise reads for up to `wait` seconds.
    Returns (status or None, bytes received, 'closed'|'open'|'reset')."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    except OSError:
        return None, b"", "refused"
    got, state = b"", "open"
    try:
        try:
            s.sendall(data)
        except OSError:
            state = "reset"
        if hang_up:
            return None, b"", "closed"
        s.settimeout(wait)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                state = "reset"
                break
            if not chunk:
                state = "closed"
                break
            got += chunk
            if b"\r\n\r\n" in got and state == "open":
                break   # an answer head: enough to judge
    finally:
        s.close()
    status = None
    if got.startswith(b"HTTP/1."):
        try:
            status = int(got[9:12])
        except ValueError:
            status = None
    return status, got, state
