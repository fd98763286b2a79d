"""Bare CR and bare LF as line ends (RFC 9112 section 2.2): the balancer accepts CRLF only.

A front end that accepts a bare LF where the back end does not (or the reverse) sees a
different set of fields: the classic way to hide a Content-Length from one of them."""
import pytest

VECTORS = {
    "lf_request_line": b"GET / HTTP/1.1\nHost: lb\r\n\r\n",
    "lf_header_line": b"GET / HTTP/1.1\r\nHost: lb\nX: y\r\n\r\n",
    "lf_everywhere": b"GET / HTTP/1.1\nHost: lb\n\n",
    "lf_final_empty_line": b"GET / HTTP/1.1\r\nHost: lb\r\n\n",
    "cr_request_line": b"GET / HTTP/1.1\rHost: lb\r\n\r\n",
    "cr_header_line": b"GET / HTTP/1.1\r\nHost: lb\rX: y\r\n\r\n",
    "cr_in_value": b"GET / HTTP/1.1\r\nHost: lb\r\nX: a\rb\r\n\r\n",
    "cr_cr_lf": b"GET / HTTP/1.1\r\r\nHost: lb\r\n\r\n",
    "cr_final": b"GET / HTTP/1.1\r\nHost: lb\r\n\r\r\n",
    "lf_hides_cl": b"POST / HTTP/1.1\r\nHost: lb\r\nX: y\nContent-Length: 5\r\n\r\nhello",
    "cr_hides_te": b"POST / HTTP/1.1\r\nHost: lb\r\nX: y\rTransfer-Encoding: chunked\r\n"
                   b"Content-Length: 5\r\n\r\nhello",
}


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_bare_cr_or_lf_is_refused(recorded_lb, name):
    recorded_lb().assert_refused(VECTORS[name])


def test_control_leading_empty_lines_are_allowed(recorded_lb):
    # RFC 9112 section 2.2: a server SHOULD ignore at least one empty line (CRLF) before
    # the request line. The balancer skips them (lb/core/http.h), so what reaches the
    # backend is at most the request itself: either with the CRLF or without.
    cl = recorded_lb()
    req = b"GET /lead HTTP/1.1\r\nHost: lb\r\n\r\n"
    from harness.recorder import OK_ANSWER
    from .rawhttp import connect, read_one_response, scaled
    sock = connect(cl.port)
    try:
        sock.sendall(b"\r\n" + req)
        answer, _ = read_one_response(sock, scaled(10))
    finally:
        sock.close()
    assert answer == OK_ANSWER
    got = cl.backend.wait_received(lambda d: d.endswith(req), 5)
    assert got in (req, b"\r\n" + req), got
