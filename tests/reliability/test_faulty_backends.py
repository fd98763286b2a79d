"""The issue 8 target, as HAProxy with retries and redispatch reaches it: 16 clients send
steady GETs through three backends; one backend is then killed (SIGKILL), or frozen
(SIGSTOP: it accepts nothing and answers nothing), and no client sees a failure. Passive
outlier ejection: a backend that fails requests in a row is marked down before its next
health check."""
import time

import pytest

from harness import Workload, fetch, scaled, wait_for
from harness.lbopts import (HEALTH_INTERVAL, HEALTH_TIMEOUT, OUTLIER_THRESHOLD,
                            SERVER_TIMEOUT, opt)

from .conftest import FAULTS, small_files

WARMUP = 200
AFTER = 600
LOAD_FILES = small_files(*(f"c{i}" for i in range(32)))


def _run_with(cluster_factory, fault):
    # Backends wait 20 ms before each answer: ~5 requests in flight on each when the fault
    # hits; -N 16: all 16 clients in flight at once, not queued behind -N 4.
    c = cluster_factory(backends=3, backend_args=["--delay", "20"], lb_args=["-N", "16"],
                        files=LOAD_FILES)
    victim = c.backends[1]
    load = c.traffic(clients=16, keepalive=False, workload=Workload(LOAD_FILES, mix={"GET": 1}))
    load.start()
    try:
        assert load.wait_completed(WARMUP, 30), f"no steady load: {load.counts()}"
        assert victim.served(), "the victim served nothing before the fault"
        getattr(victim, fault)()
        # Long enough for the balancer to notice (health deadline 1 s, checks every R=5
        # requests) and for several hundred requests to pass after it.
        assert load.wait_completed(load.completed + AFTER, 40), f"load stalled: {load.counts()}"
    finally:
        result = load.stop()
    c.check(result, allow=("ok",)).assert_ok()   # no client saw a failure
    assert c.balancer.alive()


@pytest.mark.cluster
def test_one_of_three_killed_under_load_no_client_failure(cluster_factory):
    _run_with(cluster_factory, "kill")


@pytest.mark.cluster
def test_one_of_three_frozen_under_load_no_client_failure(cluster_factory):
    _run_with(cluster_factory, "freeze")


def test_frozen_backend_alone_gives_500_within_one_server_timeout(cluster_factory):
    c = cluster_factory(backends=1, lb_args=[opt(SERVER_TIMEOUT, 1000)])
    c.backends[0].freeze()
    t0 = time.monotonic()
    try:
        answer = fetch(c.port, "GET", "/tiny", timeout=10)
    finally:
        c.backends[0].thaw()
    took = time.monotonic() - t0
    assert answer.status == 500
    assert took < scaled(1.0 + 1.5), f"500 after {took:.2f}s (server timeout 1 s)"


def test_outlier_is_ejected_before_its_next_health_check(cluster_factory):
    # Health checks every 1000 requests and every 60 s: only passive ejection can stop the
    # failing backend from getting half the traffic.
    names = [f"o{i}" for i in range(30)]
    c = cluster_factory(backends=2, per_backend={0: FAULTS["reset"]}, files=small_files(*names),
                        lb_args=["-R", "1000", opt(HEALTH_INTERVAL, 60000),
                                 opt(OUTLIER_THRESHOLD, 3)])
    bad, good = c.backends
    answers = []
    for name in names:
        try:
            answers.append(fetch(c.port, "GET", f"/{name}").status)
        except ConnectionError:
            answers.append("closed")
    to_bad = bad.served()
    assert to_bad <= 3 + 1, f"failing backend still got {to_bad} of 30 requests"
    assert good.served() >= 30 - to_bad
    assert answers.count(200) >= 30 - to_bad, answers


def test_request_on_a_frozen_backend_moves_when_it_is_marked_down(cluster_factory):
    # A GET is waiting on a frozen backend. The server timeout is 5 s, but health checks
    # every 300 ms with a 300 ms deadline mark the backend down well before: the GET, which
    # has received nothing, must move to the healthy backend at once, not wait out 5 s.
    c = cluster_factory(backends=2, files=small_files("moved"),
                        lb_args=[opt(HEALTH_INTERVAL, 300), opt(HEALTH_TIMEOUT, 300)])
    frozen, healthy = c.backends
    for i in (0, 1):
        c.wait_backend_state(i, up=True)
    frozen.freeze()
    try:
        t0 = time.monotonic()
        answer = fetch(c.port, "GET", "/moved", timeout=10)
        took = time.monotonic() - t0
    finally:
        frozen.thaw()
    assert answer.status == 200
    assert healthy.requests()[("GET", "moved")]
    assert took < scaled(2.5), f"answered after {took:.2f}s: waited for the server timeout?"
    # Thawed, the frozen backend reads what the balancer had sent it: the GET went there
    # first (equal counts, first named), so this test did exercise the move.
    wait_for(lambda: frozen.requests()[("GET", "moved")], 5,
             what="the GET in the frozen backend's course log")
