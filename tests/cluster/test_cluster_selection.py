"""Where requests go: the fewest-total rule with counts preset through -e/-t (reported by
/healthcheck), and the queue beyond -N. Sequential PUTs of fresh names make the choice
visible: the backend whose directory holds each file is the one the balancer chose."""
import time

import pytest

from harness import Workload
from cluster_helpers import (StatsWatcher, fewest_total_order, landing_order,
                             wait_first_checks)

pytestmark = pytest.mark.cluster
# Only the start-up health check: later checks would add their own +1 to every TOTAL.
QUIET = ["-R", "100000", "--health-interval", "60s"]
PUTS = dict(mix={"PUT": 1}, put_sizes=(10, 200))


def presets(cluster):
    """(ERRORS, TOTAL) of each backend once the start-up health check has reported."""
    wait_first_checks(cluster)
    return [(e["errors"], e["total"]) for e in
            (cluster.backend_stats(i) for i in range(len(cluster.backends)))]


@pytest.mark.cluster(backends=3, lb_args=QUIET, per_backend={
    0: ["-e", "0", "-t", "25"], 1: ["-e", "0", "-t", "10"], 2: ["-e", "8", "-t", "10"]})
def test_errors_and_totals_shift_traffic(cluster, scenario):
    """TOTAL and ERRORS reported by /healthcheck (-e/-t) decide where traffic goes."""
    reported = presets(cluster)
    assert reported == [(0, 25), (0, 10), (8, 10)], f"/stats shows {reported}"
    wl = Workload(cluster.files, **PUTS)
    res = cluster.traffic(clients=1, keepalive=True, workload=wl).run(requests=45)
    scenario.verify(res, cluster=cluster)
    got = landing_order(cluster, res)
    want = fewest_total_order(reported, 45)
    assert got == want, f"selection order\n got  {got}\n want {want}"
    first_to_0 = got.index(0)
    scenario.prove(f"TOTAL 25 kept backend 0 idle for {first_to_0} requests; at equal TOTAL "
                   f"the one reporting 0 ERRORS won every tie over the one reporting 8 "
                   f"(order matched the rule for all 45)")


@pytest.mark.cluster(backends=4, lb_args=QUIET, per_backend={
    0: ["-e", "2", "-t", "4"], 1: ["-e", "0", "-t", "4"], 2: ["-e", "0", "-t", "4"],
    3: ["-e", "0", "-t", "6"]})
def test_selection_order_with_preset_counts(cluster, scenario):
    """The exact selection order: fewest TOTAL, fewer ERRORS, named first."""
    reported = presets(cluster)
    assert reported == [(2, 4), (0, 4), (0, 4), (0, 6)], f"/stats shows {reported}"
    wl = Workload(cluster.files, **PUTS)
    res = cluster.traffic(clients=1, keepalive=False, workload=wl).run(requests=24)
    scenario.verify(res, cluster=cluster)
    got = landing_order(cluster, res)
    want = fewest_total_order(reported, 24)
    assert got[:4] == [1, 2, 0, 1], f"tie-breaks wrong: {got[:4]}"
    assert got == want, f"selection order\n got  {got}\n want {want}"
    scenario.prove("fewest TOTAL, then fewer ERRORS, then the backend named first: the "
                   "exact order of 24 sequential requests over 4 preset backends")


@pytest.mark.cluster(backends=2, lb_args=["-N", "2"], backend_args=["--delay", "400"])
def test_queue_beyond_N(cluster, scenario):
    """Requests beyond -N wait in the queue; none is refused and at most N run at once."""
    wl = Workload(cluster.files, mix={"GET": 1})
    with StatsWatcher(cluster, interval=0.02) as w:
        t0 = time.monotonic()
        res = cluster.traffic(clients=10, keepalive=False, workload=wl).run(requests=10)
        elapsed = time.monotonic() - t0
    scenario.verify(res, cluster=cluster, min_ok=10)
    most = w.max_of("in_flight")
    queued = w.max_of("queued_now")
    assert most <= 2, f"{most} requests in flight with -N 2"
    assert queued >= 5, f"at most {queued} requests seen waiting in the queue"
    assert elapsed >= 5 * 0.4 - 0.1, f"10 requests of 400 ms, 2 at a time, took {elapsed:.2f}s"
    scenario.prove(f"10 simultaneous requests with -N 2: never more than {most} in flight, "
                   f"up to {queued} queued, none refused; all answered in {elapsed:.1f}s")
