"""Malformed request lines (RFC 9112 section 3): no version (HTTP/0.9 style), a version not
of the form HTTP/D.D, extra or missing parts, odd separators, control bytes in the target.
An unknown method or an odd-but-legal target is forwarded for the backend to judge."""
import pytest

from .rawhttp import connect, read_until_close, scaled

VECTORS = {
    "no_version": b"GET /\r\nHost: lb\r\n\r\n",
    "no_version_no_headers": b"GET /\r\n\r\n",
    "lowercase_http": b"GET / http/1.1\r\nHost: lb\r\n\r\n",
    "version_no_minor": b"GET / HTTP/1\r\nHost: lb\r\n\r\n",
    "version_two_digit": b"GET / HTTP/1.10\r\nHost: lb\r\n\r\n",
    "version_letters": b"GET / HTTP/x.y\r\nHost: lb\r\n\r\n",
    "version_trailing_space": b"GET / HTTP/1.1 \r\nHost: lb\r\n\r\n",
    "extra_part": b"GET / HTTP/1.1 extra\r\nHost: lb\r\n\r\n",
    "double_space": b"GET  / HTTP/1.1\r\nHost: lb\r\n\r\n",
    "tab_separator": b"GET\t/ HTTP/1.1\r\nHost: lb\r\n\r\n",
    "leading_space": b" GET / HTTP/1.1\r\nHost: lb\r\n\r\n",
    "missing_target": b"GET HTTP/1.1\r\nHost: lb\r\n\r\n",
    "empty_method": b" / HTTP/1.1\r\nHost: lb\r\n\r\n",
    "method_non_token": b"GE(T / HTTP/1.1\r\nHost: lb\r\n\r\n",
    "nul_in_target": b"GET /a\x00b HTTP/1.1\r\nHost: lb\r\n\r\n",
    "ctl_in_target": b"GET /a\x01b HTTP/1.1\r\nHost: lb\r\n\r\n",
    "del_in_target": b"GET /a\x7fb HTTP/1.1\r\nHost: lb\r\n\r\n",
    "space_in_target": b"GET /a b HTTP/1.1\r\nHost: lb\r\n\r\n",
    "nul_only": b"\x00\r\n\r\n",
    "garbage": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",  # TLS hello
}


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_malformed_request_line_is_refused(recorded_lb, name):
    recorded_lb().assert_refused(VECTORS[name])


@pytest.mark.parametrize("line", [b"FOO /x HTTP/1.1", b"GET /a?b=c&d=%20 HTTP/1.1",
                                  b"OPTIONS * HTTP/1.1", b"GET http://lb/abs HTTP/1.1",
                                  b"DELETE /x HTTP/1.1"],
                         ids=["unknown_method", "query", "asterisk", "absolute", "delete"])
def test_control_framable_lines_are_forwarded(recorded_lb, line):
    recorded_lb().assert_forwarded(line + b"\r\nHost: lb\r\n\r\n")


def test_control_http10_request_is_forwarded(recorded_lb):
    # Byte for byte with the verbatim relay; by default (hop-by-hop) the HTTP/1.0 request
    # asks the backend for keep-alive and the answer tells the client its connection ends.
    recorded_lb(["--verbatim-connection"]).assert_forwarded(
        b"GET /old HTTP/1.0\r\nHost: lb\r\n\r\n")


def test_control_http10_request_is_forwarded_hop_by_hop(recorded_lb):
    cl = recorded_lb()
    sock = connect(cl.port)
    try:
        sock.sendall(b"GET /old HTTP/1.0\r\nHost: lb\r\n\r\n")
        data, closed = read_until_close(sock, scaled(10))
    finally:
        sock.close()
    assert closed and data == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    want = b"GET /old HTTP/1.0\r\nHost: lb\r\nConnection: keep-alive\r\n\r\n"
    assert cl.backend.wait_received(lambda d: d == want, 5) == want
