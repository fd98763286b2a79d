"""Bad chunk sizes, extensions and trailers (RFC 9112 section 7.1).

lb/core/http.h: sizes are 1 to 16 hex digits, an extension follows ';', every line ends in
CRLF, trailer fields are checked like header fields. The whole request arrives in one write,
so the balancer holds it all before forwarding: no byte may reach the backend."""
import pytest

HEAD = b"POST /upload HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n"

BODIES = {
    "non_hex_size": b"g\r\nhello\r\n0\r\n\r\n",
    "empty_size": b"\r\nhello\r\n0\r\n\r\n",
    "size_17_digits": b"00000000000000005\r\nhello\r\n0\r\n\r\n",
    "size_overflow": b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    "negative_size": b"-5\r\nhello\r\n0\r\n\r\n",
    "plus_size": b"+5\r\nhello\r\n0\r\n\r\n",
    "hex_prefix": b"0x5\r\nhello\r\n0\r\n\r\n",
    "space_before_size": b" 5\r\nhello\r\n0\r\n\r\n",
    "space_in_size": b"5 5\r\nhello\r\n0\r\n\r\n",
    "size_lf_only": b"5\nhello\r\n0\r\n\r\n",
    "size_cr_only": b"5\rhello\r\n0\r\n\r\n",
    "data_longer_than_size": b"3\r\nhello\r\n0\r\n\r\n",
    "missing_crlf_after_data": b"5\r\nhello0\r\n\r\n",
    "lf_after_data": b"5\r\nhello\n0\r\n\r\n",
    "cr_after_data": b"5\r\nhello\r0\r\n\r\n",
    "last_chunk_lf": b"5\r\nhello\r\n0\n\r\n",
    "final_crlf_lf": b"5\r\nhello\r\n0\r\n\n",
    "ext_empty_name": b"5;\r\nhello\r\n0\r\n\r\n",
    "ext_bad_name": b"5;a b=c\r\nhello\r\n0\r\n\r\n",
    "ext_nul": b"5;a\x00=b\r\nhello\r\n0\r\n\r\n",
    "ext_bare_lf": b"5;a=b\nhello\r\n0\r\n\r\n",
    "ext_unterminated_quote": b'5;a="b\r\nhello\r\n0\r\n\r\n',
    "ext_ctl_in_value": b"5;a=\x01\r\nhello\r\n0\r\n\r\n",
    "trailer_no_colon": b"5\r\nhello\r\n0\r\nnot a field\r\n\r\n",
    "trailer_space_before_colon": b"5\r\nhello\r\n0\r\nX : y\r\n\r\n",
    "trailer_obs_fold": b"5\r\nhello\r\n0\r\nX: y\r\n z\r\n\r\n",
    "trailer_bare_lf": b"5\r\nhello\r\n0\r\nX: y\n\r\n",
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_bad_chunked_body_is_refused(recorded_lb, name):
    recorded_lb().assert_refused(HEAD + BODIES[name])


@pytest.mark.parametrize("body", [
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5;name=value\r\nhello\r\n0\r\n\r\n",
    b'5;name="quoted value"\r\nhello\r\n0\r\n\r\n',
    b"5;a;b=c\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n",
    b"A\r\n0123456789\r\n00a\r\n0123456789\r\n0\r\n\r\n",
    b"0\r\n\r\n",
    b"000000000000000F\r\n0123456789abcde\r\n0\r\n\r\n",
], ids=["plain", "ext", "ext_quoted", "ext_two", "trailer", "upper_and_zeros", "empty",
        "sixteen_digits"])
def test_control_legal_chunked_is_forwarded(recorded_lb, body):
    recorded_lb().assert_forwarded(HEAD + body)


def test_bad_chunk_after_the_head_was_forwarded_closes_the_backend(recorded_lb):
    """Streamed: the head and a good chunk have already gone to the backend when the bad
    chunk size arrives. The balancer cannot take bytes back, so it must close the backend
    connection (the backend never sees a complete request, nor the bad bytes) and answer
    the client with a 4xx and a close, or close it."""
    from .rawhttp import connect, read_until_close, scaled
    # The backend answers only a whole request, so nothing is answered before the cut.
    cl = recorded_lb(answer=lambda req: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    first = HEAD + b"5\r\nhello\r\n"
    sock = connect(cl.port)
    try:
        sock.sendall(first)
        got = cl.backend.wait_received(lambda d: d == first, 5)
        if got != first:  # a balancer that holds the body until it is whole: also fine
            assert got == b"", f"backend got {got!r}"
        sock.sendall(b"zz\r\nsmuggled\r\n0\r\n\r\n")
        data, closed = read_until_close(sock, scaled(5))
    finally:
        sock.close()
    assert closed, f"client connection left open: {data!r}"
    assert data == b"" or (data.startswith(b"HTTP/1.1 4") and data.count(b"HTTP/1.") == 1), data
    assert b"zz" not in cl.backend.received(), "the bad chunk reached the backend"
    conns = cl.backend.connections()
    assert all(c.wait_closed(5) for c in conns), "backend connection kept"
    assert cl.lb.alive()


def test_pipelined_bad_request_after_a_good_one(recorded_lb):
    """A legal request and a smuggling vector in one write: the first is answered, then
    the second is refused with a 4xx and a close; the backend sees only the first."""
    from harness.recorder import OK_ANSWER
    good = b"GET /first HTTP/1.1\r\nHost: lb\r\n\r\n"
    bad = HEAD.replace(b"Transfer-Encoding: chunked\r\n", b"Content-Length: 5\r\n"
                       b"Transfer-Encoding: chunked\r\n") + b"0\r\n\r\n"
    cl = recorded_lb()
    res = cl.send(good + bad)
    assert res.data.startswith(OK_ANSWER), res
    rest = res.data[len(OK_ANSWER):]
    assert rest.startswith(b"HTTP/1.1 4") and rest.count(b"HTTP/1.") == 1, res
    assert res.closed
    sent = cl.sentinel()
    assert cl.backend.received() == good + sent
