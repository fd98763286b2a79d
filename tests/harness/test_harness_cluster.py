"""Cluster handles and fixtures against the project's binaries (skipped when they are not
built): traffic and the invariant, kill and restart on the old port, freeze, live faults,
/stats entries, teardown verdicts, and the scenario table with and without xdist."""
import os
import re
import signal
import subprocess
import sys

import pytest

from harness import ProcessError, backend_entry, bin_path, is_up, port_accepts, wait_for
from harness.cluster import ControlError


@pytest.fixture
def cluster3(cluster_factory):
    return cluster_factory(backends=3)


def test_start_traffic_and_invariant(cluster3):
    c = cluster3
    ports = {b.port for b in c.backends}
    assert len(ports) == 3 and c.port not in ports
    assert all(b.control_port for b in c.backends)
    res = c.traffic(clients=4).run(requests=150)
    rep = c.check(res)
    rep.assert_ok()
    assert res.counts()["ok"] == 150
    served = c.served()
    assert sum(served.values()) == 150 and all(served.values())
    landed = [r for r in res.requests if r.method == "PUT"]
    assert landed and all(sum((b.dir / r.name).exists() for b in c.backends) == 1
                          for r in landed)


def test_kill_restart_on_the_old_port(cluster3):
    c = cluster3
    b = c.backends[1]
    old_port, old_pid = b.port, b.pid
    assert b.kill() == -signal.SIGKILL and not b.alive()
    assert not port_accepts(old_port)
    res = c.traffic(clients=2, keepalive=False).run(requests=30)
    c.check(res).assert_ok()
    assert b.served() == 0 or all(r.kind == "ok" for r in res.requests)
    b.restart()
    assert b.port == old_port and b.pid != old_pid and port_accepts(old_port)
    assert len(b.course_logs) == 2 and len(b.lives) == 2
    wait_for(lambda: b.healthcheck()[0] == 200, 5, what="restarted backend answering")


def test_freeze_thaw_and_health(cluster3):
    b = cluster3.backends[0]
    status, body = b.healthcheck()      # the balancer's checks came first: TOTAL counts them
    assert status == 200 and re.fullmatch(rb"0\n\d+", body), body
    b.freeze()
    with pytest.raises(OSError):
        from harness.cluster import http_request
        http_request(b.port, "GET", "/healthcheck", timeout=0.5)
    b.thaw()
    assert b.healthcheck()[0] == 200


def test_live_faults_through_the_control_port(cluster3):
    b = cluster3.backends[2]
    before = b.faults()["generation"]
    after = b.set_faults(error_rate=1.0)
    assert after["generation"] > before and after["faults"]["error-rate"] == 1.0
    from harness.cluster import http_request
    assert http_request(b.port, "GET", "/tiny")[0] == 500
    b.reset_faults()
    assert http_request(b.port, "GET", "/tiny") == (200, cluster3.files["tiny"])
    with pytest.raises(ControlError):
        b.set_faults(no_such_fault=1)


def test_stats_entries_by_backend(cluster3):
    c = cluster3
    c.traffic(clients=1).run(requests=3)
    stats = c.stats()
    for b in c.backends:
        assert backend_entry(stats, b.port) is not None
    assert is_up(c.backend_stats(0))


def test_crash_is_expected_but_an_unexplained_death_fails_teardown(cluster_factory):
    c = cluster_factory(backends=2)
    assert c.backends[0].crash() == -signal.SIGABRT
    os.kill(c.backends[1].pid, signal.SIGKILL)   # behind the harness's back
    c.backends[1].proc.wait(5)
    problems = c.stop()
    assert len(problems) == 1 and "fs1-0" in problems[0] and "SIGKILL" in problems[0]


def test_fakeserver_and_balancer_fixtures(fakeserver, balancer):
    fakeserver.dir.joinpath("hello").write_bytes(b"hi")
    lb = balancer(fakeserver)
    from harness.cluster import http_request
    assert http_request(lb.port, "GET", "/hello") == (200, b"hi")


TABLE_TEST = '''
import pytest

@pytest.mark.cluster(backends=2)
def test_small_scenario(cluster, scenario):
    res = cluster.traffic(clients=2).run(requests=20)
    scenario.verify(res, cluster=cluster, proved="two fakeservers answer twenty requests")

@pytest.mark.cluster(backends=1)
def test_failing_scenario(cluster, scenario):
    cluster.backends[0].set_faults(error_rate=1.0)
    res = cluster.traffic(clients=1).run(requests=5)
    scenario.verify(res, cluster=cluster, proved="cannot prove this")
'''


@pytest.mark.parametrize("xdist", [False, True])
def test_scenario_table_and_failure_logs(tmp_path, xdist):
    try:
        bin_path("fakeserver"), bin_path("loadbalancer")
    except ProcessError as exc:
        pytest.skip(str(exc))
    (tmp_path / "test_table.py").write_text(TABLE_TEST)
    env = dict(os.environ, PYTHONPATH=str(__import__("harness").repo_root()))
    argv = [sys.executable, "-m", "pytest", "-p", "harness.plugin", "--lb-table",
            "-p", "no:cacheprovider", "test_table.py"] + (["-n", "2"] if xdist else [])
    out = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120).stdout
    assert "cluster scenarios" in out, out
    table = out[out.index("cluster scenarios"):]
    row = [ln for ln in table.splitlines() if ln.startswith("small_scenario")]
    assert row and "two fakeservers answer twenty requests" in row[0], out
    assert "PASS" in row[0] and " 20 " in row[0] and "ok=20" in row[0], out
    bad = [ln for ln in table.splitlines() if ln.startswith("failing_scenario")]
    assert bad and "500=5" in bad[0] and "FAIL" in bad[0], out
    assert "(not proved)" in bad[0], out
    assert "1/2 scenarios passed; 25 requests sent" in out, out
    if not xdist:   # the failing test printed every log (with -n they go to the report)
        assert "===== fs0-0" in out and "===== lb-0" in out and "course log" in out
