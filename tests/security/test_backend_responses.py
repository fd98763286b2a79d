"""Backend answers that cannot be framed (RFC 9112 section 6.3): the balancer closes both
the backend connection and the client connection, and the client never gets a patched
answer: either a balancer-made 5xx with none of the backend's bytes (nothing relayed yet),
or a prefix of the backend's own bytes and then the close (never a 5xx appended)."""
import re

import pytest

from harness.hop import hop_by_hop

from .rawhttp import connect, read_one_response, read_until_close, scaled

MARK = b"BACKEND-MARK"
BAD = {
    "cl_and_te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5\r\n" + MARK[:5] + b"\r\n0\r\n\r\n",
    "te_and_cl": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
                 b"5\r\n" + MARK[:5] + b"\r\n0\r\n\r\n",
    "cl_letters": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n" + MARK,
    "cl_negative": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n" + MARK,
    "cl_conflicting": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 12\r\n\r\n" + MARK,
    "cl_overflow": b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n" + MARK,
    "space_before_colon": b"HTTP/1.1 200 OK\r\nContent-Length : 12\r\n\r\n" + MARK,
    "bare_lf_head": b"HTTP/1.1 200 OK\nContent-Length: 12\n\n" + MARK,
    "obs_fold": b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 12\r\n\r\n" + MARK,
    "nul_in_head": b"HTTP/1.1 200 OK\r\nX: a\x00\r\nContent-Length: 12\r\n\r\n" + MARK,
    "bad_status_line": b"HTTP/1.1 2x0 OK\r\nContent-Length: 12\r\n\r\n" + MARK,
    "not_http": b"SSH-2.0-OpenSSH_9.2\r\n" + MARK,
    "bad_chunk_size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"zz\r\n" + MARK + b"\r\n0\r\n\r\n",
    "chunk_size_overflow": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"fffffffffffffffff\r\n" + MARK + b"\r\n0\r\n\r\n",
    "chunk_missing_crlf": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"c\r\n" + MARK + b"XX0\r\n\r\n",
}

REQ = b"GET /bad-answer HTTP/1.1\r\nHost: lb\r\n\r\n"


def _answer_with(raw):
    return lambda req: raw


@pytest.mark.parametrize("name", sorted(BAD))
def test_unframeable_answer_closes_both_sides(recorded_lb, name):
    raw = BAD[name]
    cl = recorded_lb(answer=_answer_with(raw))
    sock = connect(cl.port)
    try:
        sock.sendall(REQ)
        data, closed = read_until_close(sock, scaled(8))
    finally:
        sock.close()
    assert closed, f"client connection left open, got {data!r}"
    m = re.match(rb"HTTP/1\.[01] (5\d\d) ", data)
    if m and not raw.startswith(data):
        # Nothing relayed: a whole balancer answer, none of the backend's bytes.
        assert MARK[:5] not in data, f"backend bytes patched into a 5xx: {data!r}"
        assert data.count(b"HTTP/1.") == 1, data
    else:
        # Relayed bytes: exactly a prefix of the backend's answer, then the close.
        assert raw.startswith(data), f"client got bytes the backend never sent: {data!r}"
        assert not (MARK in data and data.endswith(MARK + b"\r\n0\r\n\r\n")), \
            f"an unframeable answer was relayed whole: {data!r}"
    conns = cl.backend.connections()
    assert conns and conns[0].data.startswith(REQ)
    assert all(c.wait_closed(5) for c in conns), "backend connection kept open"
    assert cl.lb.alive()


def test_surplus_bytes_after_an_answer_are_never_relayed(recorded_lb):
    # The backend answers the first request and appends a forged second answer. The
    # balancer must not hand that forgery to the client's next request on the same
    # keep-alive connection: it drops that backend connection and asks again.
    forged = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"

    def answer(req):
        if req.raw.startswith(b"GET /first "):
            return b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst" + forged
        return b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"

    cl = recorded_lb(answer=answer)
    sock = connect(cl.port)
    try:
        sock.sendall(b"GET /first HTTP/1.1\r\nHost: lb\r\n\r\n")
        first, rest = read_one_response(sock, scaled(10))
        assert first.endswith(b"\r\n\r\nfirst"), first
        assert rest == b"", f"surplus relayed: {rest!r}"
        sock.sendall(b"GET /second HTTP/1.1\r\nHost: lb\r\n\r\n")
        try:
            second, _ = read_one_response(sock, scaled(10))
        except (AssertionError, ConnectionResetError):
            second = None  # closing the client is also safe
    finally:
        sock.close()
    if second is not None:
        assert second.endswith(b"\r\n\r\nsecond"), f"forged answer relayed: {second!r}"


def _two_on_one_connection(cl, first, second):
    sock = connect(cl.port)
    try:
        sock.sendall(first)
        a1, rest = read_one_response(sock, scaled(10), head_only=first.startswith(b"HEAD "))
        assert rest == b"", f"surplus relayed after the first answer: {rest!r}"
        sock.sendall(second)
        try:
            a2, _ = read_one_response(sock, scaled(10))
        except (AssertionError, ConnectionResetError) as exc:
            a2 = exc
    finally:
        sock.close()
    return a1, a2


def test_backend_closing_after_a_framed_answer_keeps_the_client_connection(recorded_lb):
    # The backend closes its side after each complete Content-Length answer (as an
    # HTTP/1.0 server or one with `Connection: close` would). The client's keep-alive
    # connection is the client's: its next request must be served, not dropped unanswered.
    cl = recorded_lb(answer=lambda req: (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "close"))
    a1, a2 = _two_on_one_connection(cl, b"GET /one HTTP/1.1\r\nHost: lb\r\n\r\n",
                                    b"GET /two HTTP/1.1\r\nHost: lb\r\n\r\n")
    assert a1.endswith(b"\r\n\r\nok")
    assert isinstance(a2, bytes) and a2.endswith(b"\r\n\r\nok"), \
        f"second request on the kept-alive client connection was dropped: {a2!r}"


def test_head_answer_with_a_body_never_leaks_into_the_next_answer(recorded_lb):
    # A broken backend sends body bytes after a HEAD answer. They are not an answer to
    # anything: never relayed, and the next request on the client connection gets its own.
    def answer(req):
        if req.method == "HEAD":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" + \
                b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"[:40]
        return b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"

    cl = recorded_lb(answer=answer)
    a1, a2 = _two_on_one_connection(cl, b"HEAD /h HTTP/1.1\r\nHost: lb\r\n\r\n",
                                    b"GET /g HTTP/1.1\r\nHost: lb\r\n\r\n")
    assert a1 == b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n", a1
    # The HEAD answer was whole and did not say `Connection: close`: the client may send
    # its next request on this connection, and it must be answered (by a fresh backend
    # connection), not dropped by a silent close.
    assert isinstance(a2, bytes), f"client connection closed after a whole answer: {a2!r}"
    assert a2.endswith(b"\r\n\r\nsecond"), f"forged bytes relayed as an answer: {a2!r}"


def test_oversized_answer_head_closes_both_sides(recorded_lb):
    big = b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * (1 << 20) + b"\r\nContent-Length: 12\r\n\r\n" + MARK
    cl = recorded_lb(answer=_answer_with(big))
    sock = connect(cl.port)
    try:
        sock.sendall(REQ)
        data, closed = read_until_close(sock, scaled(8))
    finally:
        sock.close()
    assert closed
    assert MARK not in data and (data == b"" or re.match(rb"HTTP/1\.1 5\d\d ", data)
                                 or big.startswith(data)), data[:200]
    assert all(c.wait_closed(5) for c in cl.backend.connections())
    assert cl.lb.alive()


def test_a_flood_of_interim_answers_is_bounded(recorded_lb):
    # 2000 `100 Continue` before the real answer: relayed or cut, never a hang or a crash.
    flood = b"HTTP/1.1 100 Continue\r\n\r\n" * 2000 + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    cl = recorded_lb(answer=lambda req: flood if req.raw.startswith(b"GET /interim ")
                 else b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    sock = connect(cl.port)
    try:
        sock.sendall(b"GET /interim HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
        data, closed = read_until_close(sock, scaled(8))
    finally:
        sock.close()
    assert closed, "hung on interim answers"
    flood = hop_by_hop(flood, close=True)  # the final head says the close the client asked
    assert data == flood or flood.startswith(data) or re.match(rb"HTTP/1\.1 5\d\d ", data), \
        data[-200:]
    assert cl.lb.alive()
    cl.sentinel()
