"""Bugs the scenarios found, kept as exact reproductions so they stay fixed. (While a bug is
open its test carries xfail(strict=True): it turns into a failure the day the bug is fixed,
and then the marker goes.)"""
import pytest

from harness import Workload

pytestmark = pytest.mark.cluster


@pytest.mark.cluster(backends=1)
def test_large_puts_from_connection_close_clients(cluster, scenario):
    """Large PUTs from Connection: close clients all land (no stale pooled connection)."""
    # Found by the scenarios at 6bb91ec: the balancer parked backend connections that the
    # backend was about to close (the request said Connection: close), the next PUT reused
    # one, met the reset and answered 500; /stats showed pool_reuses == failures == 500s.
    wl = Workload(cluster.files, mix={"PUT": 1}, put_sizes=(100_000, 100_000))
    res = cluster.traffic(clients=1, keepalive=False, workload=wl).run(requests=40)
    scenario.verify(res, cluster=cluster,
                    proved="40 sequential 100 KB PUTs from Connection: close clients all "
                           "landed once (no stale pooled backend connection reused)")
