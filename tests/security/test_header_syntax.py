"""Malformed header lines (RFC 9112 section 5, RFC 9110 section 5.5): whitespace before a
colon, obs-fold, NUL and other control bytes, a line with no colon, an empty or non-token
field name. Each one is refused; obs-text (bytes 0x80-0xFF) in a value is legal and is
the control."""
import pytest

START = b"GET /page HTTP/1.1\r\nHost: lb\r\n"

FIELDS = {
    "space_before_colon": b"X-Test : a\r\n",
    "tab_before_colon": b"X-Test\t: a\r\n",
    "space_before_colon_host": b"Host : other\r\n",
    "space_before_colon_cl": b"Content-Length : 0\r\n",
    "obs_fold_space": b"X-Test: a\r\n b\r\n",
    "obs_fold_tab": b"X-Test: a\r\n\tb\r\n",
    "leading_space_first_field": None,  # built below: fold right after the request line
    "nul_in_value": b"X-Test: a\x00b\r\n",
    "nul_in_name": b"X-Te\x00st: a\r\n",
    "nul_alone": b"\x00\r\n",
    "ctl_in_value": b"X-Test: a\x01b\r\n",
    "del_in_value": b"X-Test: a\x7fb\r\n",
    "esc_in_value": b"X-Test: a\x1bb\r\n",
    "no_colon": b"X-Test a\r\n",
    "empty_name": b": a\r\n",
    "space_in_name": b"X Test: a\r\n",
    "paren_in_name": b"X(Test): a\r\n",
    "slash_in_name": b"X/Test: a\r\n",
    "high_byte_in_name": b"X-T\xe9st: a\r\n",
    "colon_only": b":\r\n",
}


def _raw(name):
    if name == "leading_space_first_field":
        return b"GET /page HTTP/1.1\r\n Host: lb\r\n\r\n"
    return START + FIELDS[name] + b"\r\n"


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_malformed_field_line_is_refused(recorded_lb, name):
    recorded_lb().assert_refused(_raw(name))


@pytest.mark.parametrize("field", [b"X-Test: caf\xc3\xa9\r\n", b"X-Test: \xff\x80\r\n",
                                   b"X-Test:\r\n", b"X-Test: a\tb\r\n",
                                   b"X-!#$%&'*+-.^_`|~09: token-chars\r\n"],
                         ids=["utf8", "obs_text", "empty_value", "tab_inside", "tchars"])
def test_control_legal_fields_are_forwarded(recorded_lb, field):
    recorded_lb().assert_forwarded(START + field + b"\r\n")
