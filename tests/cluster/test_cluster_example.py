"""The ten-line example of harness/README.md, kept runnable so the README cannot rot."""
import pytest


@pytest.mark.cluster(backends=3, lb_args=["-N", "8", "-R", "5"])
def test_one_backend_dies(cluster, scenario):
    t = cluster.traffic(clients=6).start()          # GET/HEAD/PUT, keep-alive and not
    t.wait_completed(100)
    cluster.backends[1].kill()                      # SIGKILL, reaped before it returns
    cluster.wait_backend_state(1, up=False)         # polls the balancer's /stats
    t.wait_completed(t.completed + 200)
    scenario.verify(t.stop(), cluster=cluster, allow=("ok", "error500", "partial"),
                    proved="a dead backend costs only the requests in flight on it")
