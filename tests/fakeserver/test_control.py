"""The control port: read, replace, patch, reset faults; generation; counters; bad requests."""
import socket
import subprocess
import time

import pytest

from fs_helpers import Reader, raw_exchange
from harness.process import bin_path, scaled


@pytest.fixture
def srv(start):
    return start("--control-port", "0", "-L", "--seed", "77", files={"f": b"F" * 10})


def test_ready_reports_control_port(srv):
    assert srv.control > 0 and srv.control != srv.port
    st, body = srv.ctl("GET", "/faults")
    assert st == 200 and body["generation"] == 0
    assert body["faults"]["seed"] == 77 and body["faults"]["delay"] == 0


def test_json_names_match_long_options(srv):
    helptext = subprocess.run([bin_path("fakeserver"), "--help"], capture_output=True).stdout.decode()
    _, body = srv.ctl("GET", "/faults")
    for name in body["faults"]:
        assert f"--{name}" in helptext


def test_patch_merges_and_bumps_generation(srv):
    st, body = srv.ctl("PATCH", "/faults", {"error-rate": 1, "error-status": 502})
    assert st == 200 and body["generation"] == 1
    assert srv.request("GET", "/f")[0] == 502
    st, body = srv.ctl("PATCH", "/faults", {"error_rate": 0})  # '_' spelling accepted
    assert body["generation"] == 2 and body["faults"]["error-status"] == 502
    assert srv.request("GET", "/f")[0] == 200


def test_put_replaces_keeping_seed(srv):
    srv.ctl("PATCH", "/faults", {"delay": 50, "error-status": 503})
    st, body = srv.ctl("PUT", "/faults", {"error-rate": 0.5})
    assert st == 200
    f = body["faults"]
    assert f["delay"] == 0 and f["error-status"] == 500 and f["error-rate"] == 0.5
    assert f["seed"] == 77


def test_put_accepts_what_get_returned(srv):
    srv.ctl("PATCH", "/faults", {"delay": 5, "scope": "others", "scope-prefix": "/x"})
    _, got = srv.ctl("GET", "/faults")
    st, body = srv.ctl("PUT", "/faults", got)
    assert st == 200 and body["faults"] == got["faults"]


def test_null_resets_one_field(srv):
    srv.ctl("PATCH", "/faults", {"delay": 5, "health-errors": 3})
    _, body = srv.ctl("PATCH", "/faults", {"health-errors": None})
    assert body["faults"]["health-errors"] == -1 and body["faults"]["delay"] == 5


@pytest.mark.parametrize("method,path", [("DELETE", "/faults"), ("POST", "/faults/reset")])
def test_reset(srv, method, path):
    srv.ctl("PATCH", "/faults", {"delay": 5, "refuse": True})
    st, body = srv.ctl(method, path)
    assert st == 200 and body["faults"]["delay"] == 0 and not body["faults"]["refuse"]
    assert body["faults"]["seed"] == 77 and body["generation"] == 2
    assert srv.request("GET", "/f")[0] == 200  # listening again


@pytest.mark.parametrize("body,needle", [
    (b"{", "bad JSON"), (b"[1]", "expected an object"), (b'{"delay": 5,}', "bad JSON"),
    (b'{"nope": 1}', "unknown fault 'nope'"), (b'{"delay": -3}', "delay"),
    (b'{"error-rate": 2}', "error-rate"), (b'{"scope": "sometimes"}', "scope"),
    (b'{"scope-prefix": "x"}', "scope-prefix"), (b'{"delay": {"a": 1}}', "nested"),
    (b'{"refuse": "perhaps"}', "refuse"), (b"", "bad JSON"),
])
def test_bad_changes_are_400_and_atomic(srv, body, needle):
    st, reply = srv.ctl("PATCH", "/faults", b'{"delay": 7}')
    st, reply = srv.ctl("PATCH", "/faults", body)
    assert st == 400 and needle in reply["error"]
    _, now = srv.ctl("GET", "/faults")
    assert now["generation"] == 1 and now["faults"]["delay"] == 7


def test_partial_bad_patch_changes_nothing(srv):
    st, reply = srv.ctl("PATCH", "/faults", {"delay": 9, "error-rate": 7})
    assert st == 400
    _, now = srv.ctl("GET", "/faults")
    assert now["generation"] == 0 and now["faults"]["delay"] == 0


def test_unknown_path_and_method(srv):
    assert srv.ctl("GET", "/nope")[0] == 404
    assert srv.ctl("POST", "/faults")[0] == 405
    assert srv.ctl("PUT", "/counters")[0] == 405
    got = raw_exchange(srv.control, b"garbage\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 400 ")


def test_counters_match_what_clients_saw(srv):
    srv.ctl("PATCH", "/faults", {"error-rate": 0.5, "fault-header": True})
    seen = {}
    faulted = 0
    with srv.connect() as s:
        r = Reader(s)
        for _ in range(60):
            s.sendall(b"GET /f HTTP/1.1\r\n\r\n")
            st, h, _ = r.response()
            seen[st] = seen.get(st, 0) + 1
            faulted += "X-Fault" in h
        s.sendall(b"GET /healthcheck HTTP/1.1\r\n\r\n")
        st, _, body = r.response()
    seen[st] = seen.get(st, 0) + 1
    _, c = srv.ctl("GET", "/counters")
    assert c["requests"] == 61
    assert {int(k): v for k, v in c["responses"].items()} == seen
    assert c["faults"]["error"] == faulted == seen.get(500, 0)
    assert c["log"] == {"errors": seen.get(500, 0), "total": 61}
    errors, total = map(int, body.split(b"\n"))
    assert (errors, total) == (seen.get(500, 0) - (st == 500), 60)


def test_generation_orders_changes(srv):
    gens = [srv.ctl("PATCH", "/faults", {"delay": i})[1]["generation"] for i in range(5)]
    assert gens == [1, 2, 3, 4, 5]


def test_keepalive_on_control_port(srv):
    with socket.create_connection(("127.0.0.1", srv.control), timeout=5) as s:
        r = Reader(s)
        for _ in range(3):
            s.sendall(b"GET /counters HTTP/1.1\r\n\r\n")
            assert r.response()[0] == 200


def test_change_is_in_force_for_the_next_request(srv):
    for i in range(10):
        srv.ctl("PATCH", "/faults", {"error-rate": i % 2})
        assert srv.request("GET", "/f")[0] == (500 if i % 2 else 200)


def test_crash_after_set_live(srv):
    srv.ctl("PATCH", "/faults", {"crash-after": 2, "crash-status": 9})
    assert srv.request("GET", "/f")[0] == 200
    assert srv.request("GET", "/f")[0] == 200
    assert srv.proc.wait(10) == 9


def test_sigterm_exits_zero(srv):
    import signal
    srv.request("GET", "/f")
    assert srv.proc.stop(signal.SIGTERM) == 0


def test_refuse_generation_then_connect(srv):
    _, body = srv.ctl("PATCH", "/faults", {"refuse": True})
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=2)
    _, body = srv.ctl("PATCH", "/faults", {"refuse": False})
    t0 = time.monotonic()
    assert srv.request("GET", "/f")[0] == 200
    assert time.monotonic() - t0 < scaled(2)


def test_half_closed_client_still_answered(srv):
    with socket.create_connection(("127.0.0.1", srv.control), timeout=5) as s:
        s.sendall(b"GET /counters HTTP/1.1\r\n\r\nGET /faults HTTP/1.1\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        r = Reader(s)
        assert r.response()[0] == 200 and r.response()[0] == 200
        assert r.read_all() == b""
