"""Size limits on what a client may send: head size and field count (431 or 400), body size
(413). Each limit is a documented option (lb/README.md); the tests set small values and
probe both sides of each bound, and also check the defaults refuse an absurd head."""
import pytest

from .lbopts import MAX_BODY, MAX_HEAD, MAX_HEADERS, opt

HEAD_LIMIT = 2048
FIELD_LIMIT = 20
BODY_LIMIT = 1000


def _head_of(size):
    """A GET whose head is exactly `size` bytes."""
    start = b"GET /big HTTP/1.1\r\nHost: lb\r\nX-Pad: "
    end = b"\r\n\r\n"
    return start + b"a" * (size - len(start) - len(end)) + end


def _fields(n):
    return b"GET /many HTTP/1.1\r\n" + b"".join(b"X-F%d: v\r\n" % i for i in range(n - 1)) \
        + b"Host: lb\r\n\r\n"


def test_default_limits_refuse_a_megabyte_head(cluster):
    cl = cluster()
    cl.assert_refused(_head_of(1 << 20), statuses=(400, 431))


def test_default_limits_refuse_ten_thousand_fields(cluster):
    cl = cluster()
    cl.assert_refused(_fields(10000), statuses=(400, 431))


def test_head_over_limit_is_refused(cluster):
    cl = cluster([opt(MAX_HEAD, HEAD_LIMIT)])
    cl.assert_refused(_head_of(HEAD_LIMIT + 1), statuses=(400, 431))


def test_head_at_limit_is_forwarded(cluster):
    cl = cluster([opt(MAX_HEAD, HEAD_LIMIT)])
    cl.assert_forwarded(_head_of(HEAD_LIMIT))


def test_head_over_limit_sent_slowly_is_refused(cluster):
    cl = cluster([opt(MAX_HEAD, HEAD_LIMIT)])
    raw = _head_of(HEAD_LIMIT * 2)
    pieces = [raw[i:i + 512] for i in range(0, len(raw), 512)]
    cl.assert_refused(pieces, statuses=(400, 431), pause=0.02)


def test_too_many_fields_is_refused(cluster):
    cl = cluster([opt(MAX_HEADERS, FIELD_LIMIT)])
    cl.assert_refused(_fields(FIELD_LIMIT + 1), statuses=(400, 431))


def test_fields_at_limit_are_forwarded(cluster):
    cl = cluster([opt(MAX_HEADERS, FIELD_LIMIT)])
    cl.assert_forwarded(_fields(FIELD_LIMIT))


def test_content_length_over_limit_is_413(cluster):
    cl = cluster([opt(MAX_BODY, BODY_LIMIT)])
    raw = b"PUT /f HTTP/1.1\r\nHost: lb\r\nContent-Length: %d\r\n\r\n" % (BODY_LIMIT + 1)
    cl.assert_refused(raw + b"b" * (BODY_LIMIT + 1), statuses=(413,))


def test_huge_content_length_is_413_before_the_body(cluster):
    # The client announces 1 TB and sends nothing more: refused from the head alone.
    cl = cluster([opt(MAX_BODY, BODY_LIMIT)])
    cl.assert_refused(b"PUT /f HTTP/1.1\r\nHost: lb\r\nContent-Length: 1000000000000\r\n\r\n",
                      statuses=(413,))


def test_chunked_over_limit_is_413(cluster):
    cl = cluster([opt(MAX_BODY, BODY_LIMIT)])
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (BODY_LIMIT + 1, b"c" * (BODY_LIMIT + 1))
    raw = b"PUT /f HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    cl.assert_refused(raw, statuses=(413,))


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_body_at_limit_is_forwarded(cluster, framing):
    cl = cluster([opt(MAX_BODY, BODY_LIMIT)])
    data = b"d" * BODY_LIMIT
    if framing == "length":
        raw = b"PUT /f HTTP/1.1\r\nHost: lb\r\nContent-Length: %d\r\n\r\n" % BODY_LIMIT + data
    else:
        raw = (b"PUT /f HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"%x\r\n%s\r\n0\r\n\r\n" % (BODY_LIMIT, data))
    cl.assert_forwarded(raw)
