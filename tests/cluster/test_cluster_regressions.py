"""Bugs the scenarios found, pinned as exact reproductions. A strict xfail turns into a
failure the day the bug is fixed: then drop the marker and keep the test."""
import pytest

from harness import Workload

pytestmark = pytest.mark.cluster


@pytest.mark.xfail(strict=True, reason=(
    "balancer bug: a PUT from a client that sent `Connection: close` is relayed with that "
    "header, so the backend closes its connection after answering; the balancer still parks "
    "that connection in its idle pool, the next PUT reuses it, meets the reset and answers "
    "500 (lb/relay.c relay_fail resends only idempotent requests). /stats shows "
    "pool_reuses == failures == number of 500s."))
@pytest.mark.cluster(backends=1)
def test_large_puts_from_connection_close_clients(cluster, scenario):
    """Large PUTs from Connection: close clients all land (no stale pooled connection)."""
    wl = Workload(cluster.files, mix={"PUT": 1}, put_sizes=(100_000, 100_000))
    res = cluster.traffic(clients=1, keepalive=False, workload=wl).run(requests=40)
    scenario.verify(res, cluster=cluster,
                    proved="40 sequential 100 KB PUTs with Connection: close all land")
