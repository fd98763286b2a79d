"""Faults changed while traffic runs, through the fakeservers' control port (generation
numbers tell the test when a change is in force)."""
import pytest

from harness import wait_for
from cluster_helpers import require_control

pytestmark = pytest.mark.cluster


@pytest.mark.cluster(backends=3, lb_args=["-R", "3", "--health-interval", "200ms",
                                          "--server-timeout", "1s", "--health-timeout",
                                          "500ms"])
def test_live_refuse_and_stall_then_heal(cluster, scenario):
    """Listeners closed and stalled live are marked down; healed, they take traffic again."""
    require_control(cluster)
    refuser, staller, _ = cluster.backends
    t = cluster.traffic(clients=4, timeout=15).start()
    assert t.wait_completed(60)
    g = refuser.set_faults(refuse=True)["generation"]
    assert g >= 1 and refuser.faults()["faults"]["refuse"] is True
    staller.set_faults(stall=True)
    cluster.wait_backend_state(0, up=False)
    cluster.wait_backend_state(1, up=False)
    n = t.completed
    assert t.wait_completed(n + 100)
    at_down = (refuser.served(), staller.served())
    refuser.reset_faults()
    staller.reset_faults()
    cluster.wait_backend_state(0, up=True)
    cluster.wait_backend_state(1, up=True)
    assert t.wait_completed(t.completed + 150)
    res = t.stop()
    scenario.verify(res, cluster=cluster, allow=("ok", "error500"))
    gained = (refuser.served() - at_down[0], staller.served() - at_down[1])
    assert gained[0] > 0 and gained[1] > 0, f"healed backends got no traffic: {gained}"
    errors = res.counts().get("error500", 0)
    scenario.prove(f"refuse and stall switched on live: both marked down, {errors} exact "
                   f"500s (requests caught in the stalled backlog); switched off: both back "
                   f"up and serving ({gained[0]} and {gained[1]} requests)")


@pytest.mark.cluster(backends=2, lb_args=["-R", "2", "--health-interval", "300ms"])
def test_live_health_report_shifts_traffic(cluster, scenario):
    """A TOTAL reported live through /healthcheck moves traffic away and back."""
    require_control(cluster)
    busy, other = cluster.backends
    first = cluster.traffic(clients=2).run(requests=60)
    scenario.verify(first, cluster=cluster)
    busy.set_faults(health_total=1_000_000)   # claims a million requests served
    wait_for(lambda: cluster.backend_stats(0)["total"] >= 1_000_000, 10,
             what="the balancer to read the inflated TOTAL")
    before = busy.served()
    shifted = cluster.traffic(clients=2).run(requests=80)
    scenario.verify(shifted, cluster=cluster)
    during = busy.served() - before
    busy.reset_faults()
    wait_for(lambda: cluster.backend_stats(0)["total"] < 1_000_000, 10,
             what="the balancer to read the true TOTAL again")
    before = busy.served()
    back = cluster.traffic(clients=2).run(requests=80)
    scenario.verify(back, cluster=cluster)
    after = busy.served() - before
    assert during <= 2, f"{during} requests went to the backend reporting TOTAL 1000000"
    assert after > 0
    scenario.prove(f"a backend reporting TOTAL 1000000 live got {during} of 80 requests; "
                   f"reporting its true count again, {after} of 80")
