"""Health checks: once at start, after every R forwarded requests (coalesced), every 3 s
without traffic; observed through /stats and the backends' own logs."""
import time

from .conftest import scaled, wait_for


def health_lines(fs):
    return fs.courselog.read_text().count("GET /healthcheck")


def test_check_after_every_r_requests(rig):
    a, b = rig.fakeserver(), rig.fakeserver()
    rig.balancer("-R", "3", "--health-interval", "600s", "0", str(a.port), str(b.port))
    wait_for(lambda: rig.stats()["health_rounds_done"] == 1, what="start-up round")
    for k in range(1, 4):
        for _ in range(3):
            assert rig.get("/f")[0] == 200
        wait_for(lambda: rig.stats()["health_rounds_done"] == 1 + k, what=f"round {k + 1}")
    st = rig.stats()
    assert st["health_rounds_started"] == 4 and st["health_rounds_done"] == 4
    # each backend saw exactly one probe per round, on a connection of its own
    wait_for(lambda: health_lines(a) == 4 and health_lines(b) == 4, what="4 probes each")
    assert sum(rig.forwarded()) == 9


def test_two_requests_short_of_r_start_no_round(rig):
    a = rig.fakeserver()
    rig.balancer("-R", "3", "--health-interval", "600s", "0", str(a.port))
    wait_for(lambda: rig.stats()["health_rounds_done"] == 1, what="start-up round")
    rig.get("/f")
    rig.get("/f")
    # the next request's round would have started synchronously with its forwarding
    assert rig.stats()["health_rounds_started"] == 1


def test_check_every_3_seconds_without_traffic(rig):
    a = rig.fakeserver()
    rig.balancer("0", str(a.port))
    wait_for(lambda: rig.stats()["health_rounds_done"] >= 1, what="start-up round")
    n0 = rig.stats()["health_rounds_done"]
    wait_for(lambda: rig.stats()["health_rounds_done"] >= n0 + 1, timeout=6, what="round",
             interval=0.05)
    t1 = time.monotonic()
    wait_for(lambda: rig.stats()["health_rounds_done"] >= n0 + 2, timeout=6, what="round",
             interval=0.05)
    gap = time.monotonic() - t1
    assert 2.7 <= gap <= scaled(4.5), f"rounds {gap:.2f}s apart"


def test_unhealthy_answers_mark_down(rig):
    good = rig.fakeserver()
    bad_status = rig.fakeserver("--health-status", "503")
    malformed = rig.fakeserver("--health-malformed")
    rig.balancer("0", str(bad_status.port), str(malformed.port), str(good.port))
    wait_for(lambda: rig.states() == ["down", "down", "up"], what="states")
    for _ in range(4):
        assert rig.get("/f")[0] == 200
    assert rig.forwarded() == [0, 0, 4]


def test_slow_health_answer_is_down_by_its_deadline(rig):
    slow = rig.fakeserver("--health-delay", "2000")
    good = rig.fakeserver()
    t0 = time.monotonic()
    rig.balancer("--health-timeout", "300", "0", str(slow.port), str(good.port))
    wait_for(lambda: rig.states() == ["down", "up"], what="states")
    assert time.monotonic() - t0 < scaled(2.0)  # the probe gave up long before the 2 s answer
