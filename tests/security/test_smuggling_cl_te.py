"""Content-Length together with Transfer-Encoding (RFC 9112 sections 6.1 and 11.2).

Every shape is refused with a 4xx and a close before a byte reaches the backend, whatever
the order of the two fields or the smuggled request hidden in the body. Controls: CL alone
and chunked alone are forwarded byte for byte, so these tests can fail."""
import pytest

HEAD = b"POST /upload HTTP/1.1\r\nHost: lb\r\n"

VECTORS = {
    "cl_then_te": HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_then_cl": HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    # CL.TE: a front end using CL forwards the smuggled GET as part of the body.
    "cl_te_smuggle": HEAD + b"Content-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: lb\r\nX: x",
    # TE.CL: a back end using CL sees the chunk as the next request.
    "te_cl_smuggle": HEAD + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"2a\r\nGET /admin HTTP/1.1\r\nHost: lb\r\nX: xxxxxxxx\r\n0\r\n\r\n",
    "cl_zero_te": HEAD + b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "cl_te_identity": HEAD + b"Content-Length: 3\r\nTransfer-Encoding: identity\r\n\r\nabc",
    "cl_te_lower_names": HEAD + b"content-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
    "cl_te_get": b"GET / HTTP/1.1\r\nHost: lb\r\nContent-Length: 5\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "cl_te_http10": b"POST / HTTP/1.0\r\nContent-Length: 5\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_cl_with_te_is_refused(recorded_lb, name):
    cl = recorded_lb()
    cl.assert_refused(VECTORS[name])


def test_refusals_in_a_row_leave_the_balancer_serving(recorded_lb):
    cl = recorded_lb()
    for name in sorted(VECTORS):
        cl.assert_refused(VECTORS[name])


def test_control_content_length_is_forwarded(recorded_lb):
    recorded_lb().assert_forwarded(HEAD + b"Content-Length: 5\r\n\r\nhello")


def test_control_chunked_is_forwarded(recorded_lb):
    recorded_lb().assert_forwarded(HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
