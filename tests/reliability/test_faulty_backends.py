"""The issue 8 target, as HAProxy with retries and redispatch reaches it: 16 clients send
steady GETs through three backends; one backend is then killed (SIGKILL), or frozen
(SIGSTOP: it accepts nothing and answers nothing), and no client sees a failure. Passive
outlier ejection: a backend that fails requests in a row is marked down before its next
health check."""
import pytest

from .conftest import Load, Rig, lbopts, request, scaled

WARMUP_OK = 200
AFTER_OK = 600


def _run_with(rig, fault):
    for _ in range(3):
        rig.backend("--delay-ms", "20")  # ~5 requests in flight on each when the fault hits
    rig.balancer("-N", "16")  # all 16 clients in flight at once, not queued behind -N 4
    load = Load(rig.lb.port, clients=16).start()
    try:
        assert load.wait_ok(WARMUP_OK, scaled(30)), f"no steady load: {load.failures[:5]}"
        victim = rig.backends[1]
        assert Rig.requests_of(victim), "the victim served nothing before the fault"
        getattr(victim, fault)()
        # Long enough for the balancer to notice (health deadline 1 s, checks every R=5
        # requests) and for several hundred requests to pass after it.
        assert load.wait_ok(AFTER_OK, scaled(40)), f"load stalled: {load.failures[:5]}"
    finally:
        load.stop()
    assert load.failures == [], (f"{len(load.failures)} client failures out of "
                                 f"{load.ok + len(load.failures)}: {load.failures[:5]}")
    assert rig.lb.alive()
    return load


@pytest.mark.cluster
def test_one_of_three_killed_under_load_no_client_failure(rig):
    _run_with(rig, "kill")


@pytest.mark.cluster
def test_one_of_three_frozen_under_load_no_client_failure(rig):
    try:
        _run_with(rig, "freeze")
    finally:
        rig.backends[1].thaw()


def test_frozen_backend_alone_gives_500_within_one_server_timeout(rig):
    import time
    rig.backend()
    rig.balancer(lbopts.opt(lbopts.SERVER_TIMEOUT, 1000))
    rig.backends[0].freeze()
    t0 = time.monotonic()
    try:
        status, _body, sock = request(rig.lb.port, "GET", "/frozen", timeout=scaled(10))
        sock.close()
    finally:
        rig.backends[0].thaw()
    took = time.monotonic() - t0
    assert status == 500
    assert took < scaled(1.0 + 1.5), f"500 after {took:.2f}s (server timeout 1 s)"


def test_outlier_is_ejected_before_its_next_health_check(rig):
    # Health checks every 1000 requests and every 60 s: only passive ejection can stop the
    # failing backend from getting half the traffic.
    bad = rig.backend("--mode", "reset")
    good = rig.backend()
    rig.balancer("-R", "1000", lbopts.opt(lbopts.HEALTH_INTERVAL, 60000),
                 lbopts.opt(lbopts.OUTLIER_THRESHOLD, 3))
    answers = []
    for i in range(30):
        try:
            status, _b, sock = request(rig.lb.port, "GET", f"/o{i}")
            sock.close()
            answers.append(status)
        except ConnectionError:
            answers.append("closed")
    to_bad = len(Rig.requests_of(bad))
    assert to_bad <= 3 + 1, f"failing backend still got {to_bad} of 30 requests"
    assert len(Rig.requests_of(good)) >= 30 - to_bad
    assert answers.count(200) >= 30 - to_bad, answers


def test_request_on_a_frozen_backend_moves_when_it_is_marked_down(rig):
    # A GET is waiting on a frozen backend. The server timeout is 5 s, but health checks
    # every 300 ms with a 300 ms deadline mark the backend down well before: the GET, which
    # has received nothing, must move to the healthy backend at once, not wait out 5 s.
    import time
    frozen = rig.backend()
    healthy = rig.backend()
    rig.balancer(lbopts.opt(lbopts.HEALTH_INTERVAL, 300), lbopts.opt(lbopts.HEALTH_TIMEOUT, 300),
                 lbopts.opt(lbopts.STATS_PORT, 0))
    assert rig.wait_all_up(), rig.stats()
    frozen.freeze()
    try:
        t0 = time.monotonic()
        status, body, sock = request(rig.lb.port, "GET", "/moved", timeout=scaled(10))
        sock.close()
        took = time.monotonic() - t0
    finally:
        frozen.thaw()
    assert status == 200
    assert "GET /moved" in Rig.requests_of(healthy)
    assert took < scaled(2.5), f"answered after {took:.2f}s: waited for the server timeout?"
    # Thawed, the frozen backend reads what the balancer had sent it: the GET went there
    # first (equal counts, first named), so this test did exercise the move.
    deadline = time.monotonic() + scaled(5)
    while "GET /moved" not in Rig.requests_of(frozen) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "GET /moved" in Rig.requests_of(frozen), "the GET never went to the frozen backend"
