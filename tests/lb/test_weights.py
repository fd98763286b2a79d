"""Weights (`SERVER,weight=W`): each policy's share follows the weights, and equal weights
(or none) keep the course rule exactly. Shares are counted by /stats "forwarded" over 3,000
requests on keep-alive connections, with health checks only at start (-R large, a long
interval), so every TOTAL stays what the fakeservers reported then (0)."""
import http.client
import threading

import pytest

from .conftest import scaled, wait_for
from .test_selection import QUIET, expected, picks

N = 3000


def drive(port, n, clients=2):
    """n GETs over `clients` keep-alive connections at once; returns the statuses seen."""
    statuses = []
    lock = threading.Lock()

    def worker(count):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=scaled(10))
        got = []
        for _ in range(count):
            c.request("GET", "/f")
            r = c.getresponse()
            r.read()
            got.append(r.status)
        c.close()
        with lock:
            statuses.extend(got)

    threads = [threading.Thread(target=worker, args=(n // clients,)) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


@pytest.mark.parametrize("policy", ["fewest", "rr"])
def test_weights_1_2_3_over_3000_requests(rig, policy):
    ports = [rig.fakeserver().port for _ in range(3)]
    rig.balancer(*QUIET, "--policy", policy, "0",
                 *(f"{p},weight={w}" for p, w in zip(ports, (1, 2, 3))))
    wait_for(lambda: all(s == "up" for s in rig.states()), what="backends up")
    statuses = drive(rig.port, N)
    assert statuses == [200] * N  # every request got its one answer
    got = rig.forwarded()
    assert sum(got) == N
    assert [b["weight"] for b in rig.stats()["backends"]] == [1, 2, 3]
    # Both rules are exact here (every TOTAL starts at 0, nothing fails): 500, 1000, 1500.
    # The tolerance, 1% of the requests, only allows for the two clients' interleaving.
    for share, want in zip(got, (N // 6, N // 3, N // 2)):
        assert abs(share - want) <= N // 100, got


def test_equal_weights_are_the_course_rule(rig):
    """weight=1 everywhere (and a mix of written and default 1) picks exactly as no weights:
    the contract's rule, simulated, request by request."""
    presets = [(0, 10), (0, 4), (2, 6), (0, 6)]
    ports = [rig.fakeserver("-e", str(e), "-t", str(t)).port for e, t in presets]
    rig.balancer(*QUIET, "0", f"{ports[0]},weight=1", str(ports[1]), f"{ports[2]},weight=1",
                 str(ports[3]))
    wait_for(lambda: all(s == "up" for s in rig.states()), what="backends up")
    assert picks(rig, 14) == expected(presets, 14)


def test_fewest_divides_the_reported_total_by_the_weight(rig):
    """A backend of weight 4 reporting TOTAL 40 is as loaded as one of weight 1 at 10."""
    a = rig.fakeserver("-t", "10").port
    b = rig.fakeserver("-t", "40").port
    rig.balancer(*QUIET, "0", str(a), f"{b},weight=4")
    wait_for(lambda: all(s == "up" for s in rig.states()), what="backends up")
    # 10/1 = 40/4: a wins the tie by order; then b (40/4 < 11/1) four times, then a again.
    assert picks(rig, 6) == [0, 1, 1, 1, 1, 0]
