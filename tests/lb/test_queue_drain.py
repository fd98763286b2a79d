"""The queue beyond -N (FIFO, never refused before the queue timeout, 503 after it) and the
SIGTERM/SIGINT drain (requests in flight finish, no new connection, exit 0)."""
import http.client
import os
import signal
import socket
import threading
import time

from .conftest import request, scaled, wait_for

QUIET = ["-R", "100000", "--health-interval", "600s"]


def run_concurrently(rig, paths, results):
    """Starts one client thread per path, each only once the balancer has parsed the one
    before (its /stats `requests` count), so the arrival order is the list's order."""
    port, arrived = rig.port, rig.stats()["requests"]
    threads = []
    for i, path in enumerate(paths):
        def go(i=i, path=path):
            t0 = time.monotonic()
            try:
                status, body, _ = request(port, "GET", path, timeout=20)
            except OSError as e:
                status, body = repr(e), b""
            results[i] = (status, body, time.monotonic() - t0, time.monotonic())
        t = threading.Thread(target=go)
        t.start()
        threads.append(t)
        arrived += 1
        wait_for(lambda n=arrived: rig.stats()["requests"] >= n, what=f"request {i} to arrive")
    return threads


def test_requests_beyond_n_wait_in_fifo_order(rig):
    a = rig.fakeserver("--delay", "300", "--scope", "others")
    rig.balancer(*QUIET, "-N", "1", "0", str(a.port))
    wait_for(lambda: rig.states() == ["up"], what="up")
    results = [None] * 4
    for t in run_concurrently(rig, ["/f"] * 4, results):
        t.join(scaled(20))
    assert all(r[0] == 200 and r[1] == b"hello\n" for r in results), results
    finished = [r[3] for r in results]
    assert finished == sorted(finished), "answers out of arrival order"
    assert finished[-1] - finished[0] >= 0.8  # one at a time, 300 ms each
    st = rig.stats()
    assert st["queued"] == 3 and st["replies_503"] == 0


def test_queue_timeout_gives_503(rig):
    a = rig.fakeserver("--delay", "1500", "--scope", "others")
    rig.balancer(*QUIET, "-N", "1", "--queue-timeout", "300", "0", str(a.port))
    wait_for(lambda: rig.states() == ["up"], what="up")
    results = [None] * 2
    for t in run_concurrently(rig, ["/f", "/f"], results):
        t.join(scaled(20))
    assert results[0][0] == 200
    assert results[1][0] == 503
    assert 0.25 <= results[1][2] < scaled(1.4)  # before the first answer (1.5 s)


def test_sigterm_drains_requests_in_flight(rig):
    a = rig.fakeserver("--delay", "700", "--scope", "others")
    rig.balancer(*QUIET, "0", str(a.port))
    wait_for(lambda: rig.states() == ["up"], what="up")
    # An idle keep-alive client: one answered request (/healthcheck is not delayed), then
    # silence. (A connection that never sent a byte is not a client yet: with the deferred
    # accept it waits in the kernel, not in the balancer.)
    conn = http.client.HTTPConnection("127.0.0.1", rig.port, timeout=scaled(5))
    conn.request("GET", "/healthcheck")
    assert conn.getresponse().read() is not None
    idle = conn.sock
    results = [None]
    threads = run_concurrently(rig, ["/f"], results)
    wait_for(lambda: rig.stats()["in_flight"] == 1, what="request in flight")
    rig.lb.signal(signal.SIGTERM)
    idle.settimeout(scaled(5))
    assert idle.recv(1) == b""  # idle clients are closed at once
    idle.close()
    threads[0].join(scaled(10))
    assert results[0][0] == 200 and results[0][1] == b"hello\n"
    assert rig.lb.wait(scaled(5)) == 0
    refused = socket.socket()
    try:
        assert refused.connect_ex(("127.0.0.1", rig.port)) != 0
    finally:
        refused.close()


def test_sigint_with_nothing_in_flight_exits_zero_at_once(rig):
    a = rig.fakeserver()
    rig.balancer("0", str(a.port))
    assert rig.get("/f")[0] == 200
    t0 = time.monotonic()
    rig.lb.signal(signal.SIGINT)
    assert rig.lb.wait(scaled(5)) == 0
    assert time.monotonic() - t0 < scaled(1)


def test_drain_is_bounded(rig):
    a = rig.fakeserver("--delay", "5000", "--scope", "others")
    rig.balancer(*QUIET, "--drain-timeout", "300", "0", str(a.port))
    wait_for(lambda: rig.states() == ["up"], what="up")
    results = [None]
    threads = run_concurrently(rig, ["/f"], results)
    wait_for(lambda: rig.stats()["in_flight"] == 1, what="request in flight")
    t0 = time.monotonic()
    rig.lb.signal(signal.SIGTERM)
    assert rig.lb.wait(scaled(5)) == 0
    assert time.monotonic() - t0 < scaled(3)  # not the backend's 5 s
    threads[0].join(scaled(10))


def test_threads_serve_and_drain(rig):
    a = rig.fakeserver()
    rig.balancer("--threads", "3", "0", str(a.port))
    for _ in range(20):
        assert rig.get("/f")[:2] == (200, b"hello\n")
    assert len(os.listdir(f"/proc/{rig.lb.pid}/task")) == 3
    rig.lb.signal(signal.SIGTERM)
    assert rig.lb.wait(scaled(5)) == 0
