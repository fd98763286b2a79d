"""Failover scenarios: backends that die, freeze, crash and come back, and the balancer's
own shutdown. Each asserts the traffic invariant (harness/traffic.py) plus its subject."""
import pytest

from harness import port_accepts, scaled, wait_for

pytestmark = pytest.mark.cluster
DOCUMENTED = ("ok", "error500", "partial")


@pytest.mark.cluster(backends=3, lb_args=["-N", "8", "-R", "5"])
def test_backend_killed_under_load(cluster, scenario):
    """A SIGKILLed backend costs at most the requests in flight on it."""
    t = cluster.traffic(clients=6).start()
    assert t.wait_completed(150), "traffic did not get going"
    victim = cluster.backends[1]
    victim.kill()
    t_kill = t.now()   # reaped: every socket of the victim is closed from here on
    cluster.wait_backend_state(1, up=False)
    assert t.wait_completed(t.completed + 300)
    res = t.stop()
    scenario.verify(res, cluster=cluster, allow=DOCUMENTED)
    failed = [r for r in res.requests if r.kind != "ok"]
    late = [r for r in failed if r.t_start > t_kill]
    assert not late, "requests sent after the kill failed:\n" + "\n".join(r.line() for r in late)
    assert len(failed) <= 6, "more failures than requests in flight at the kill"
    after = [r for r in res.requests if r.t_start > t_kill]
    scenario.prove(f"SIGKILL under load cost {len(failed)} request(s) in flight (documented "
                   f"errors only); the backend went down in /stats and all {len(after)} later "
                   f"requests were answered correctly")


@pytest.mark.cluster(backends=2, lb_args=["-R", "1000", "--health-interval", "60s"])
def test_all_killed_then_one_revived(cluster, scenario):
    """Every backend dead: the exact 500; one revived: served at once (panic routing)."""
    warm = cluster.traffic(clients=2).run(requests=30)
    scenario.verify(warm, cluster=cluster)
    for b in cluster.backends:
        b.kill()
    dead = cluster.traffic(clients=2, keepalive=False).run(requests=20)
    scenario.verify(dead, cluster=cluster, allow=("error500",))
    slowest = max(r.t_end - r.t_start for r in dead.requests)
    assert slowest < scaled(2.5), f"a 500 took {slowest:.2f}s with every backend refusing"
    cluster.backends[0].restart()
    # The next health check is a minute away: only panic routing can serve these at once.
    back = cluster.traffic(clients=1, keepalive=False).run(requests=20)
    scenario.verify(back, cluster=cluster)
    assert back.requests[0].kind == "ok"
    assert cluster.backends[0].served() >= 20
    scenario.prove(f"with every backend dead each of {dead.sent} requests got the exact 500 "
                   f"(slowest {slowest:.2f}s); the revived backend served the very next "
                   f"request before any health check (panic routing)")


@pytest.mark.cluster(backends=3, lb_args=["--server-timeout", "1s", "--health-timeout",
                                          "500ms", "-R", "3"])
def test_frozen_backend(cluster, scenario):
    """A SIGSTOPped backend costs one server timeout, is marked down, and returns when thawed."""
    victim = cluster.backends[0]
    t = cluster.traffic(clients=6, timeout=15).start()
    assert t.wait_completed(60)
    victim.freeze()
    t_freeze = t.now()
    cluster.wait_backend_state(0, up=False)
    assert t.wait_completed(t.completed + 120)
    frozen = t.stop()
    scenario.verify(frozen, cluster=cluster, allow=("ok", "error500"))
    slowest = max(r.t_end - r.t_start for r in frozen.requests)
    # 500 within one server timeout (+ one retry of an idempotent request elsewhere).
    assert slowest < scaled(3.0), f"a request took {slowest:.2f}s behind a frozen backend"
    # Normal answers take milliseconds; one that met the frozen backend waited for the
    # server timeout or for the health check that judged the backend down (500 ms).
    stuck = [r for r in frozen.requests if r.t_end - r.t_start > 0.25 and r.t_end > t_freeze]
    assert stuck, "no request waited on the frozen backend: the scenario proved nothing"
    victim.thaw()
    cluster.wait_backend_state(0, up=True, timeout=15)
    before = victim.served()
    healed = cluster.traffic(clients=4).run(requests=90)
    scenario.verify(healed, cluster=cluster)
    assert victim.served() > before, "the thawed backend got no traffic"
    errors = frozen.counts().get("error500", 0)
    scenario.prove(f"SIGSTOP under load: {len(stuck)} requests waited on the frozen backend, "
                   f"none longer than {slowest:.2f}s (server timeout 1s), {errors} got the "
                   f"exact 500; marked down, then served again once thawed")


@pytest.mark.cluster(backends=3, per_backend={0: ["--crash-after", "15"]})
def test_crash_after_n_requests(cluster, scenario):
    """A backend that crashes after N requests costs only the requests in flight."""
    victim = cluster.backends[0]
    victim.expect_exit(3)   # --crash-mode exit, --crash-status 3 (the defaults)
    t = cluster.traffic(clients=4).start()
    wait_for(lambda: not victim.alive(), 20, what="the backend to crash after 15 requests")
    assert victim.proc.wait(5) == 3
    n = t.completed
    assert t.wait_completed(n + 150)
    res = t.stop()
    scenario.verify(res, cluster=cluster, allow=DOCUMENTED)
    failed = [r for r in res.requests if r.kind != "ok"]
    assert len(failed) <= 4, "more failures than requests in flight at the crash"
    logged = victim.served() + victim.health_checks()
    assert logged <= 15, f"the crashed backend logged {logged} requests, crash-after 15"
    cluster.wait_backend_state(0, up=False)
    scenario.prove(f"a backend dying (exit 3) after its 15th request cost {len(failed)} "
                   f"request(s) in flight; the other {res.sent - len(failed)} were correct")


@pytest.mark.cluster(backends=2, lb_args=["-R", "3", "--health-interval", "300ms"])
def test_recovery_when_dead_backend_returns(cluster, scenario):
    """A dead backend restarted on its old port is checked up and takes traffic again."""
    b = cluster.backends[1]
    old_port = b.port
    b.kill()
    cluster.wait_backend_state(1, up=False)
    alone = cluster.traffic(clients=3).run(requests=60)
    scenario.verify(alone, cluster=cluster)
    b.restart()
    assert b.port == old_port
    cluster.wait_backend_state(1, up=True)
    back = cluster.traffic(clients=3).run(requests=120)
    scenario.verify(back, cluster=cluster)
    share = b.served()
    assert share >= 30, f"the returned backend took only {share} of 120 requests"
    scenario.prove(f"a backend restarted on its old port was seen up by health checks and "
                   f"took {share}/120 of the next requests (fewest total catches it up)")


@pytest.mark.slow
@pytest.mark.cluster(backends=2, lb_args=["--drain-timeout", "5s"],
                     backend_args=["--delay", "700"])
def test_drain_on_sigterm_under_load(cluster, scenario):
    """SIGTERM: requests in flight finish, new ones are refused, exit 0."""
    lb = cluster.balancer
    t = cluster.traffic(clients=6, keepalive="mixed").start()
    assert t.wait_completed(12)
    wait_for(lambda: cluster.stats().get("in_flight", 0) > 0, 5, what="requests in flight")
    t_term = t.now()
    lb.sigterm()
    code = lb.wait_exit(10)
    t_exit = t.now()
    res = t.stop()
    assert code == 0, f"balancer exit status {code} after SIGTERM"
    assert not port_accepts(lb.port)
    in_flight = [r for r in res.requests if r.t_start < t_term - 0.2]
    bad = [r for r in in_flight if r.kind != "ok"]
    assert not bad, "requests in flight at SIGTERM were not finished:\n" + \
        "\n".join(r.line() for r in bad)
    after = [r for r in res.requests if r.t_start >= t_term - 0.2]
    late_ok = [r for r in after if r.kind not in ("ok", "connect", "empty")]
    assert not late_ok, "\n".join(r.line() for r in late_ok)
    scenario.verify(res, cluster=cluster, allow=("ok", "connect", "empty"))
    cut = sum(1 for r in after if r.kind != "ok")
    scenario.prove(f"SIGTERM with requests in flight: all {len(in_flight)} started before it "
                   f"finished correctly, {cut} later ones were refused, exit 0 after "
                   f"{t_exit - t_term:.2f}s")

