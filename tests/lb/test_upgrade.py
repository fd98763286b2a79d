"""Upgraded connections: after a backend's `101 Switching Protocols` to a request with an
Upgrade field, the balancer relays both directions byte for byte until either side closes,
under --tunnel-timeout, counted in /stats "tunnels", never pooled; an upgrade the backend
declines continues as plain HTTP on the same connection.

The backend is harness/upgrade.py's EchoBackend, not the fakeserver (which has no protocol
to switch to): it answers health checks, plain GETs, and an upgrade with a 101 and then an
echo of every byte until the client closes (or with a 200 when told to decline)."""
import http.client
import socket
import threading
import time

import pytest

from harness.upgrade import UPGRADE, EchoBackend, open_tunnel, recv_exactly

from .conftest import scaled, wait_for


@pytest.fixture
def echo():
    backends = []

    def make(**kw):
        backends.append(EchoBackend(**kw))
        return backends[-1]

    yield make
    for b in backends:
        b.close()


def plain_clients(port, n, bad):
    """n GETs on one keep-alive connection; each must get exactly its one answer."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=scaled(10))
    for _ in range(n):
        c.request("GET", "/f")
        r = c.getresponse()
        body = r.read()
        if (r.status, body) != (200, b"hello\n"):
            bad.append((r.status, body))
    c.close()


def test_echo_through_the_balancer_while_others_do_plain_http(rig, echo):
    a, b = echo(), echo()
    rig.balancer("-N", "8", "0", str(a.port), str(b.port))
    wait_for(lambda: rig.states() == ["up", "up"], what="backends up")
    bad = []
    plain = [threading.Thread(target=plain_clients, args=(rig.port, 150, bad)) for _ in range(2)]
    for t in plain:
        t.start()
    s, rest = open_tunnel(rig.port, early=b"early")
    assert rest + recv_exactly(s, 5 - len(rest)) == b"early"  # sent with the head
    for i in range(20):
        msg = b"ping %d" % i
        s.sendall(msg)
        assert recv_exactly(s, len(msg)) == msg
    big = bytes(range(256)) * 2048  # 512 KiB each way: backpressure in both directions
    sender = threading.Thread(target=s.sendall, args=(big,))
    sender.start()
    assert recv_exactly(s, len(big)) == big
    sender.join()
    for t in plain:
        t.join()
    assert bad == []  # every plain request got one answer, the tunnel took nothing of them
    st = rig.stats()
    assert st["tunnels"] == 1 and st["responses"] >= 300
    s.close()
    wait_for(lambda: a.closed_tunnels + b.closed_tunnels == 1, what="backend side closed")
    wait_for(lambda: rig.stats()["in_flight"] == 0, what="tunnel ended")
    st = rig.stats()
    assert st["aborted"] == 0 and st["replies_500"] == 0
    assert all(x["pool_idle"] <= 2 and x["state"] == "up" for x in st["backends"])


def test_the_backend_closing_ends_the_tunnel(rig, echo):
    a = echo()
    rig.balancer("0", str(a.port))
    wait_for(lambda: rig.states() == ["up"], what="backend up")
    s, _ = open_tunnel(rig.port)
    s.sendall(b"x")
    assert recv_exactly(s, 1) == b"x"
    s.sendall(b"bye")  # the backend closes: the client connection closes after its bytes
    assert s.recv(100) == b""
    s.close()
    assert rig.states() == ["up"]


def test_tunnel_timeout_not_server_timeout(rig, echo):
    a = echo()
    rig.balancer("--server-timeout", "300ms", "--tunnel-timeout", "1500ms", "0", str(a.port))
    wait_for(lambda: rig.states() == ["up"], what="backend up")
    s, _ = open_tunnel(rig.port)
    time.sleep(0.8)  # idle beyond the server timeout: the tunnel lives on
    s.sendall(b"still")
    assert recv_exactly(s, 5) == b"still"
    t0 = time.monotonic()
    assert s.recv(100) == b""  # idle past the tunnel timeout: closed
    assert time.monotonic() - t0 >= 1.2
    s.close()
    st = rig.stats()
    assert st["tunnels"] == 1 and st["backends"][0]["state"] == "up"
    assert st["backends"][0]["failures"] == 0  # a tunnel's timeout is no backend failure


def test_a_declined_upgrade_continues_as_plain_http(rig, echo):
    a = echo(decline=True)
    rig.balancer("0", str(a.port))
    wait_for(lambda: rig.states() == ["up"], what="backend up")
    s = socket.create_connection(("127.0.0.1", rig.port), timeout=scaled(10))
    s.sendall(UPGRADE)
    got = b""
    while not got.endswith(b"declined\n"):
        data = s.recv(65536)
        assert data, got
        got += data
    assert got.startswith(b"HTTP/1.1 200 ")
    s.sendall(b"GET /f HTTP/1.1\r\nHost: lb\r\n\r\n")  # the same connection goes on
    got = b""
    while not got.endswith(b"hello\n"):
        data = s.recv(65536)
        assert data, got
        got += data
    assert got.startswith(b"HTTP/1.1 200 ")
    s.close()
    assert rig.stats()["tunnels"] == 0
