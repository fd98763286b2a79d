"""A Cluster made of fakeservers already running elsewhere (issue 19, part 2): the harness is
given addresses and control ports, not processes, and kill/freeze become control-port
faults (refuse; stall + hang). "Elsewhere" is another host here: each fakeserver runs in a
network namespace of its own, started by the test, not by the Cluster, with its control port
bound to its host's address (`--control-bind`), as on another machine; the balancer and the
clients run where the test runs. A second variant does the same on loopback (no root)."""
import pytest

from harness import ProcessError, default_files
from harness import netns

pytestmark = pytest.mark.cluster

LB = ["--connect-timeout", "500ms", "--server-timeout", "1000ms",
      "--health-interval", "300ms", "--health-timeout", "500ms", "-R", "5"]


@pytest.fixture
def elsewhere(request, tmp_path):
    """make(count) -> ["HOST:PORT/CONTROL", ...] of fakeservers started outside the Cluster,
    each on its own host when the test is parametrized with "hosts"."""
    mode = request.param
    hosts = None
    if mode == "hosts":
        reason = netns.unavailable_reason()
        if reason:
            pytest.skip(f"hosts: {reason}")
        hosts = netns.Hosts()
    procs = request.getfixturevalue("procs")

    def make(count):
        specs = []
        for i in range(count):
            d = tmp_path / f"remote{i}"
            d.mkdir()
            for name, data in default_files().items():
                (d / name).write_bytes(data)
            host = hosts.add(f"r{i}") if hosts else None
            bind = host.ip if host else "127.0.0.1"
            try:
                p = procs.start(["fakeserver", "0", "-L", "--control-port", "0",
                                 "--control-bind", bind], name=f"remote{i}", cwd=d,
                                prefix=host.exec_prefix if host else ())
            except ProcessError as e:
                pytest.skip(f"the fakeserver in use cannot bind its control port elsewhere "
                            f"(--control-bind): {e}")
            specs.append(f"{bind}:{p.port}/{p.ready['control']}")
        return specs
    yield make
    if hosts:
        hosts.close()


@pytest.mark.parametrize("elsewhere", ["hosts", "loopback"], indirect=True)
def test_remote_fakeservers_kill_and_freeze_are_control_faults(elsewhere, cluster_factory,
                                                               scenario):
    """Fakeservers the harness did not start: kill() refuses, freeze() stalls and hangs,
    restart()/thaw() undo it through the control port; the balancer fails over each time."""
    c = cluster_factory(remote=elsewhere(2), lb_args=LB)
    fs0, fs1 = c.backends
    assert fs0.pid is None and fs0.alive() and fs0.ip == c.backends[0].addr[0]
    c.wait_backend_state(0, up=True)
    c.wait_backend_state(1, up=True)
    scenario.verify(c.traffic(clients=2).run(requests=40), cluster=c)
    fs0.kill()
    c.wait_backend_state(0, up=False)
    killed = c.traffic(clients=2).run(requests=40)
    scenario.verify(killed, cluster=c)
    assert fs0.last_faults.get("refuse") in (1, True, "1", "true")
    fs0.restart()
    c.wait_backend_state(0, up=True)
    fs1.freeze()
    c.wait_backend_state(1, up=False)
    frozen = c.traffic(clients=2).run(requests=40)
    scenario.verify(frozen, cluster=c, allow=("ok", "error500"))
    fs1.thaw()
    c.wait_backend_state(1, up=True)
    back = c.traffic(clients=2).run(requests=40)
    scenario.verify(back, cluster=c)
    scenario.prove(f"two fakeservers started outside the Cluster ({fs0.ip}:{fs0.port}, "
                   f"{fs1.ip}:{fs1.port}): kill() as refuse and freeze() as stall+hang through "
                   f"their control ports were marked down and failed over "
                   f"({dict(killed.counts())}, {dict(frozen.counts())}); restart()/thaw() "
                   f"brought them back")
