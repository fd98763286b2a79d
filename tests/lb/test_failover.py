"""Failover: a backend killed mid-run, all down then one revived (panic routing), backends
that accept and never answer (the exact 500 within one server timeout)."""
import time

from harness import ERROR_500

from .conftest import raw_exchange, scaled, wait_for

GET = b"GET /f HTTP/1.1\r\nHost: lb\r\n\r\n"
QUIET = ["-R", "100000", "--health-interval", "600s"]


def test_backend_killed_mid_run(rig):
    a, b = rig.fakeserver(), rig.fakeserver()
    rig.balancer("0", str(a.port), str(b.port))
    for _ in range(6):
        assert rig.get("/f")[:2] == (200, b"hello\n")
    a.kill()
    a.wait(5)
    for _ in range(10):
        assert rig.get("/f")[:2] == (200, b"hello\n")
    assert rig.states()[0] == "down"


def test_all_down_gives_exact_500_then_a_revived_one_serves_at_once(rig):
    a, b = rig.fakeserver(), rig.fakeserver()
    rig.balancer(*QUIET, "0", str(a.port), str(b.port))
    wait_for(lambda: rig.states() == ["up", "up"], what="up")
    port_b = b.port
    a.kill()
    b.kill()
    a.wait(5)
    b.wait(5)
    assert raw_exchange(rig.port, GET) == ERROR_500
    assert rig.states() == ["down", "down"]
    assert raw_exchange(rig.port, GET) == ERROR_500   # still tried (panic), still none
    rig.fakeserver(port=port_b, name="revived")
    # no health check runs (-R huge, 600 s interval): panic routing finds it at once
    status, body, _ = rig.get("/f")
    assert (status, body) == (200, b"hello\n")
    assert rig.stats()["health_rounds_done"] == 1


def test_silent_backend_gives_500_and_is_marked_down(rig):
    s = rig.silent_backend()
    rig.balancer(*QUIET, "--server-timeout", "800", "--health-timeout", "300", "0", str(s.port))
    wait_for(lambda: rig.stats()["health_rounds_done"] == 1, what="start-up round")
    t0 = time.monotonic()
    assert raw_exchange(rig.port, GET) == ERROR_500
    took = time.monotonic() - t0
    assert 0.7 <= took < scaled(2.5), took
    st = rig.stats()
    assert st["backends"][0]["state"] == "down" and st["backends"][0]["failures"] >= 1


def test_all_silent_backends_500_within_one_server_timeout(rig):
    silents = [rig.silent_backend() for _ in range(3)]
    rig.balancer(*QUIET, "--server-timeout", "1000", "--health-timeout", "200", "0",
                 *[str(s.port) for s in silents])
    wait_for(lambda: rig.stats()["health_rounds_done"] == 1, what="start-up round")
    t0 = time.monotonic()
    assert raw_exchange(rig.port, GET) == ERROR_500
    took = time.monotonic() - t0
    # one timeout per backend would be 3 s; allow scheduling noise on a loaded machine
    assert took < scaled(2.5), f"500 after {took:.2f}s with a 1 s server timeout"


def test_refused_backend_is_skipped_within_the_request(rig):
    a, b = rig.fakeserver(), rig.fakeserver()
    rig.balancer(*QUIET, "0", str(a.port), str(b.port))
    wait_for(lambda: rig.states() == ["up", "up"], what="up")
    a.kill()
    a.wait(5)
    for _ in range(3):
        assert rig.get("/f")[:2] == (200, b"hello\n")
    st = rig.stats()["backends"]
    assert st[0]["state"] == "down" and st[0]["failures"] == 1


def test_unframeable_request_is_refused_before_any_backend(rig):
    a = rig.fakeserver()
    rig.balancer(*QUIET, "0", str(a.port))
    bad = (b"POST /f HTTP/1.1\r\nHost: lb\r\nContent-Length: 3\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    out = raw_exchange(rig.port, bad)
    assert out.startswith(b"HTTP/1.1 400 ")
    assert rig.forwarded() == [0]
    assert rig.get("/f")[0] == 200
