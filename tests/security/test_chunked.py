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
def test_bad_chunked_body_is_refused(cluster, name):
    cluster().assert_refused(HEAD + BODIES[name])


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
def test_control_legal_chunked_is_forwarded(cluster, body):
    cluster().assert_forwarded(HEAD + body)
