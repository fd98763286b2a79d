"""Helpers shared by the cluster scenarios (fixtures come from harness.plugin). A plain
module, not conftest.py: another suite's conftest would shadow `from conftest import`."""
import socket
import threading
import time

import pytest

from harness import scaled, is_up


def require_control(cluster):
    if not cluster.control:
        pytest.skip("needs the fakeserver's control port (--control-port), which the "
                    "fakeserver in use does not offer yet")


def require_admin(cluster):
    """Skips, saying why, when the balancer in use has no admin API (GET /backends on its
    stats port answers 404: issue 17's part 2 is not in this build)."""
    status, _ = cluster.admin.call("GET", "/backends")
    if status == 404:
        pytest.skip("needs the balancer's admin API (GET/POST/PATCH/DELETE /backends on the "
                    "stats port), which this loadbalancer does not offer yet")


def require_lb_option(option):
    """Skips, naming the option, when `loadbalancer --help` does not list it (a feature
    the balancer in use does not have yet)."""
    import subprocess
    from harness import bin_path
    out = subprocess.run([str(bin_path("loadbalancer")), "--help"], capture_output=True,
                         text=True, timeout=scaled(10))
    if option not in out.stdout + out.stderr:
        pytest.skip(f"needs the balancer's {option}, which this loadbalancer does not "
                    f"offer yet (not in its --help)")


def under_load(cluster, change, clients=6, before=150, after=300):
    """`change(traffic)` made while `clients` keep sending: once `before` requests have
    been answered, then `after` more once it returned. Returns (the Result, what change
    returned, when it returned on the traffic's clock)."""
    t = cluster.traffic(clients=clients).start()
    assert t.wait_completed(before), "traffic did not get going"
    value = change(t)
    t_changed = t.now()
    assert t.wait_completed(t.completed + after), "traffic stalled after the change"
    return t.stop(), value, t_changed


def require_fault(ok, fault):
    """Skips, naming the fault, when a direct probe of a fakeserver showed the fault option
    is accepted but not applied (the catalogue is landing piece by piece)."""
    if not ok:
        pytest.skip(f"fakeserver fault {fault} is not applied yet (probed directly on the "
                    f"backend before the scenario)")


def raw_get(port, name, timeout=2.0):
    """One GET on a fresh connection: (bytes received, the exception that ended it)."""
    data, exc = b"", None
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=scaled(timeout)) as s:
            s.sendall(f"GET /{name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        exc = e
    return data, exc


class StatsWatcher:
    """Polls the balancer's /stats in the background and keeps every sample."""

    def __init__(self, cluster, interval=0.05):
        self.cluster = cluster
        self.interval = interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), self.cluster.stats()))
            except Exception:  # noqa: BLE001 - the balancer may be busy or gone
                pass
            self._stop.wait(self.interval)

    def states(self, index):
        port = self.cluster.backends[index].port
        from harness import backend_entry
        return [is_up(backend_entry(s, port)) for _, s in self.samples]

    def max_of(self, key):
        return max((s.get(key, 0) for _, s in self.samples), default=0)


def wait_first_checks(cluster, timeout=10):
    """Waits until the start-up health check has judged every backend (/stats counts a
    check, passed or failed, for each)."""
    from harness import wait_for

    def judged():
        for i in range(len(cluster.backends)):
            e = cluster.backend_stats(i)
            if e.get("checks_ok", 0) + e.get("checks_failed", 0) < 1:
                return False
        return True
    wait_for(judged, timeout, what="the start-up health check to judge every backend")


def landing_order(cluster, result):
    """For sequential PUTs: the index of the backend each one landed on, in sending order."""
    order = []
    for r in sorted(result.of("ok", method="PUT"), key=lambda r: r.t_start):
        holders = [b.index for b in cluster.backends if (b.dir / r.name).exists()]
        order.append(holders[0] if len(holders) == 1 else None)
    return order


def fewest_total_order(presets, n):
    """The contract's choice for n sequential requests: among healthy backends the fewest
    TOTAL (reported + sent since), ties to fewer ERRORS, then to the backend named first.
    presets: [(errors, total)] as reported by the start-up health check."""
    totals = [t for _, t in presets]
    errors = [e for e, _ in presets]
    order = []
    for _ in range(n):
        pick = min(range(len(presets)), key=lambda i: (totals[i], errors[i], i))
        order.append(pick)
        totals[pick] += 1
    return order
