"""harness.netns: what a hosts=True cluster creates is gone after teardown, whatever the
test did; a killed run's leftovers are swept (only ours, only of dead owners); the control
port inside a member's namespace is reachable from the test."""
import os
import subprocess
import sys
import textwrap

import pytest

from harness import netns
from harness.cluster import Cluster
from harness.process import ProcessError, bin_path

reason = netns.unavailable_reason()
pytestmark = pytest.mark.skipif(reason is not None, reason=f"hosts: {reason}")


def namespaces():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.split()}


def links():
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def test_hosts_close_removes_everything_and_is_idempotent():
    h = netns.Hosts()
    a, b = h.add("lb"), h.add("fs0")
    assert a.ip != b.ip and h.client_ip not in (a.ip, b.ip)
    assert {h.hub, a.ns, b.ns} <= namespaces() and h.test_link in links()
    b.partition()
    assert "lbfault" in b.rules()
    sleeper = subprocess.Popen(a.exec_prefix + ["sleep", "300"], start_new_session=True)
    h.close()
    h.close()
    assert sleeper.wait(10) == -9, "a process left inside a namespace was not ended"
    assert h.leftovers() == []
    assert not ({h.hub, a.ns, b.ns} & namespaces()) and h.test_link not in links()


def test_sweep_removes_only_dead_owners_leftovers():
    """A run killed with SIGKILL leaves its namespaces, its test-side link and a process in
    them: sweep() removes those, and leaves a live run's names and foreign names alone."""
    child = textwrap.dedent("""
        import os, signal, subprocess, sys
        sys.path.insert(0, sys.argv[1])
        from harness import netns
        h = netns.Hosts(); host = h.add("fs0")
        subprocess.Popen(host.exec_prefix + ["sleep", "300"], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(h.hub, host.ns, h.test_link, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run([sys.executable, "-c", child, root], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == -9, p.stderr
    hub, ns, link = p.stdout.split()
    assert {hub, ns} <= namespaces() and link in links(), "the killed run left nothing?"
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                          text=True).stdout.split()
    assert pids, "the sleeper is not running in the leftover namespace"
    foreign = f"notlbt{os.getpid()}x1"
    subprocess.run(["ip", "netns", "add", foreign], check=True)
    live = netns.Hosts()
    try:
        netns.sweep()     # (a concurrent run's session start may have swept them first)
        assert not ({hub, ns} & namespaces()) and link not in links()
        assert live.hub in namespaces() and foreign in namespaces()
        for pid in pids:
            assert not os.path.exists(f"/proc/{pid}") or \
                open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    finally:
        live.close()
        subprocess.run(["ip", "netns", "delete", foreign])


def test_cluster_with_hosts_torn_down_after_a_failure(tmp_path):
    """A hosts cluster whose test fails half-way (a fault still on): stop() ends every
    process and removes every namespace; the control port answers through the namespace."""
    try:
        bin_path("fakeserver"), bin_path("loadbalancer")
    except ProcessError as e:
        pytest.skip(str(e))
    c = Cluster(tmp_path, backends=2, hosts=True)
    names = list(c.hosts.namespaces)
    try:
        c.start()
        b = c.backends[0]
        assert b.ip != "127.0.0.1" and c.addr[0] != "127.0.0.1"
        assert b.set_faults(delay=5)["faults"]["delay"] in (5, "5")
        b.blackhole()
        with pytest.raises(ZeroDivisionError):
            1 / 0          # the test's own failure
    finally:
        problems = c.stop()
    assert not (set(names) & namespaces()), "namespaces left after teardown"
    assert c.hosts.test_link not in links()
    assert all(not p.alive() for p in c.processes())
    assert problems == [], problems
