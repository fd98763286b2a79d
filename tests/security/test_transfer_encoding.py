"""Obfuscated Transfer-Encoding (RFC 9112 sections 6.1, 6.3 and 11.2).

Refused: a last coding other than chunked, chunked named twice, chunked hidden behind
whitespace before the colon, control bytes or a fold, and any Transfer-Encoding in HTTP/1.0.
Coding names are case-insensitive (RFC 9112 section 7), so `CHUNKED` may be refused or
framed as chunked, never framed as anything else."""
import pytest

from .conftest import refused_or_forwarded

HEAD = b"POST /upload HTTP/1.1\r\nHost: lb\r\n"
BODY = b"5\r\nhello\r\n0\r\n\r\n"

REFUSED = {
    "space_before_colon": b"Transfer-Encoding : chunked\r\n",
    "tab_before_colon": b"Transfer-Encoding\t: chunked\r\n",
    "leading_space_line": b"X: y\r\n Transfer-Encoding: chunked\r\n",
    "folded_value": b"Transfer-Encoding:\r\n chunked\r\n",
    "chunked_not_last": b"Transfer-Encoding: chunked, identity\r\n",
    "chunked_then_gzip": b"Transfer-Encoding: chunked, gzip\r\n",
    "gzip_only": b"Transfer-Encoding: gzip\r\n",
    "identity_only": b"Transfer-Encoding: identity\r\n",
    "repeated_list": b"Transfer-Encoding: chunked, chunked\r\n",
    "repeated_fields": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    "second_field_not_chunked": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
    "xchunked": b"Transfer-Encoding: xchunked\r\n",
    "chunked_suffix": b"Transfer-Encoding: chunked-false\r\n",
    "quoted": b'Transfer-Encoding: "chunked"\r\n',
    "empty": b"Transfer-Encoding: \r\n",
    "vertical_tab": b"Transfer-Encoding: \x0bchunked\r\n",
    "form_feed": b"Transfer-Encoding: chunked\x0c\r\n",
    "nul_inside": b"Transfer-Encoding: chun\x00ked\r\n",
    "bare_cr_inside": b"Transfer-Encoding: chunked\rX: y\r\n",
    "name_with_space": b"Transfer Encoding: chunked\r\n",
    "semicolon_param": b"Transfer-Encoding: chunked;q=1\r\n",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_obfuscated_te_is_refused(recorded_lb, name):
    recorded_lb().assert_refused(HEAD + REFUSED[name] + b"\r\n" + BODY)


@pytest.mark.parametrize("version", [b"1.0"])
def test_te_in_http10_is_refused(recorded_lb, version):
    raw = b"POST /upload HTTP/" + version + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + BODY
    recorded_lb().assert_refused(raw)


@pytest.mark.parametrize("field", [b"Transfer-Encoding: CHUNKED\r\n",
                                   b"Transfer-Encoding: Chunked\r\n",
                                   b"TRANSFER-ENCODING: chunked\r\n"])
def test_case_is_refused_or_framed_as_chunked(recorded_lb, field):
    refused_or_forwarded(recorded_lb(), HEAD + field + b"\r\n" + BODY)


@pytest.mark.parametrize("field", [b"Transfer-Encoding: chunked\r\n",
                                   b"transfer-encoding: chunked\r\n",
                                   b"Transfer-Encoding:\tchunked\r\n",
                                   b"Transfer-Encoding: chunked \r\n",
                                   b"Transfer-Encoding:chunked\r\n"])
def test_control_legal_te_is_forwarded(recorded_lb, field):
    recorded_lb().assert_forwarded(HEAD + field + b"\r\n" + BODY)
