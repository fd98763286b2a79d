"""Content-Length that is duplicated, conflicting, signed, empty, huge or not decimal.

lb/core/http.h states the rule: one Content-Length field with one value of plain digits
that fits in 64 bits, else refused. (RFC 9110 would let a recipient merge identical
duplicates; the balancer does not, which is the safer reading.)"""
import pytest

HEAD = b"POST /upload HTTP/1.1\r\nHost: lb\r\n"

VALUES = {
    "duplicate_same": b"Content-Length: 5\r\nContent-Length: 5\r\n",
    "duplicate_conflicting": b"Content-Length: 5\r\nContent-Length: 6\r\n",
    "list_same": b"Content-Length: 5, 5\r\n",
    "list_conflicting": b"Content-Length: 5, 6\r\n",
    "plus_sign": b"Content-Length: +5\r\n",
    "minus_sign": b"Content-Length: -5\r\n",
    "minus_zero": b"Content-Length: -0\r\n",
    "empty": b"Content-Length: \r\n",
    "empty_no_space": b"Content-Length:\r\n",
    "overflow_2_64": b"Content-Length: 18446744073709551616\r\n",
    "overflow_long": b"Content-Length: 99999999999999999999999999999999999999\r\n",
    "hex": b"Content-Length: 0x5\r\n",
    "exponent": b"Content-Length: 5e0\r\n",
    "decimal_point": b"Content-Length: 5.0\r\n",
    "trailing_garbage": b"Content-Length: 5a\r\n",
    "inner_space": b"Content-Length: 5 5\r\n",
    "unicode_digit": "Content-Length: \u0665\r\n".encode("utf-8"),
    "nul_after": b"Content-Length: 5\x00\r\n",
    "vertical_tab": b"Content-Length: \x0b5\r\n",
}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_bad_content_length_is_refused(recorded_lb, name):
    cl = recorded_lb()
    cl.assert_refused(HEAD + VALUES[name] + b"\r\nhello")


@pytest.mark.parametrize("value", [b"5", b"\t5", b"5 ", b"005"])
def test_control_legal_content_length_is_forwarded(recorded_lb, value):
    # Leading/trailing OWS is not part of a field value; leading zeros are digits.
    recorded_lb().assert_forwarded(HEAD + b"Content-Length: " + value + b"\r\n\r\nhello")


def test_control_zero_length(recorded_lb):
    recorded_lb().assert_forwarded(HEAD + b"Content-Length: 0\r\n\r\n")
