"""Clients harness.traffic does not have: pipelined requests on one connection, and bad
input. Answers are read by the harness's one reader (harness.wire.AnswerReader) and judged
by harness.traffic's own rule, so a pipelined answer is judged exactly like any other."""
import socket
import time

from .. import traffic as traffic_mod
from ..wire import ERROR_500, AnswerReader, Cut, request_bytes

_judge = traffic_mod._judge    # noqa: SLF001 - the one rule for ok / wrong / status


def pipelined(port, specs, clock, timeout=8.0, client=0):
    """Sends every request of `specs` ((method, name, expected body or PUT body)) in one
    write on one connection, then reads the answers in order. Returns harness.traffic
    Requests with their outcomes, timed on `clock()`."""
    tag = next(traffic_mod._RUNS)   # noqa: SLF001 - request ids never collide with Traffic's
    reqs = []
    for i, (method, name, data) in enumerate(specs):
        body, expect = (data, None) if method == "PUT" else (b"", data)
        reqs.append(traffic_mod.Request(i, client, method, name, body=body, expect=expect,
                                        run=tag, keepalive=True, reused=i > 0))
    t0 = clock()
    for r in reqs:
        r.t_start = t0
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as exc:
        for r in reqs:
            r.kind, r.error, r.t_end = "connect", str(exc), clock()
        return reqs
    with sock:
        try:
            sock.sendall(b"".join(request_bytes(r.method, f"/{r.name}", f"127.0.0.1:{port}",
                                                r.body) for r in reqs))
        except OSError as exc:
            reqs[0].error = f"send: {exc}"
        reader = AnswerReader(sock)
        for k, r in enumerate(reqs):
            _one_answer(reader, r, deadline)
            r.t_end = clock()
            if r.kind not in ("ok", "status"):
                for rest in reqs[k + 1:]:   # the connection is gone
                    rest.kind, rest.t_end = "empty", clock()
                    rest.error = f"after {r.kind} on the same connection"
                break
    return reqs


def _one_answer(reader, r, deadline):
    try:
        answer = reader.read(r.method, deadline)
    except socket.timeout:
        r.kind = "timeout"
        return
    except Cut as cut:
        r.kind, r.received, r.sample = ("partial" if cut.data else "empty"), len(cut.data), \
            cut.data[:256]
        r.error = str(cut)[:200]
        return
    except OSError as exc:
        r.kind, r.error = "empty", f"{type(exc).__name__}: {exc}"
        return
    except ValueError as exc:
        r.kind, r.error = "malformed", str(exc)
        return
    r.received, r.sample = len(answer.raw), answer.raw[:256]
    r.kind = _judge(r, answer, answer.raw == ERROR_500)


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
    """Sends `data`; if hang_up, closes at once and returns None. Otherwise returns the
    status of the answer read within `wait` seconds, or None (closed, reset, silent, not
    HTTP): what a balancer answers to bad input is its own affair, but never a 2xx."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=wait)
    except OSError:
        return None
    with sock:
        try:
            sock.sendall(data)
        except OSError:
            pass
        if hang_up:
            return None
        try:
            return AnswerReader(sock).read("GET", time.monotonic() + wait).status
        except (OSError, ValueError):   # socket.timeout and Cut are OSErrors
            return None
