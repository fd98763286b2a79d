"""scope-header in the fakeserver (shared with the fault proxy): request faults hit only
requests carrying the named field, or the field with exactly that value."""


def test_scope_header_name_and_value(start):
    srv = start("--error-rate", "1", "--scope-header", "X-Chaos: on", "--control-port", "0",
                files={"f": b"x"})
    assert srv.request("GET", "/f")[0] == 200
    assert srv.request("GET", "/f", headers={"X-Chaos": "off"})[0] == 200
    assert srv.request("GET", "/f", headers={"x-chaos": "on"})[0] == 500
    st, body = srv.ctl("PATCH", "/faults", {"scope-header": "X-Chaos"})
    assert st == 200
    assert srv.request("GET", "/f", headers={"X-Chaos": "off"})[0] == 500


def test_bad_scope_header_is_refused(start):
    srv = start("--control-port", "0")
    st, body = srv.ctl("PATCH", "/faults", {"scope-header": "two words"})
    assert st == 400 and "scope-header" in body["error"]
