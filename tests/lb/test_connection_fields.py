"""Connection fields are hop-by-hop by default (RFC 9110 7.6.1, as in HAProxy and nginx);
--verbatim-connection relays them as they are. lb/README.md, "Connections", is the rule.

Default: a request's Connection, Keep-Alive and Proxy-Connection lines never reach the
backend (an HTTP/1.0 request gets `Connection: keep-alive` instead), so a client's
`Connection: close` ends the client's connection and not the backend's, which is pooled
(`pool_reuses` grows). The answer loses the backend's connection fields and says
`Connection: close` when the client's connection ends after it. Verbatim: every byte as
sent, and a `Connection: close` request costs a backend connection.
"""
import socket

import pytest

from harness.recorder import OK_ANSWER, RecordingBackend

from .conftest import raw_exchange, scaled, wait_for

CLOSE_REQ = b"GET /x HTTP/1.1\r\nHost: lb\r\nConnection: close\r\nX-Tag: %d\r\n\r\n"
STRIPPED = b"GET /x HTTP/1.1\r\nHost: lb\r\nX-Tag: %d\r\n\r\n"
OK_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


@pytest.fixture
def backend():
    b = RecordingBackend()
    yield b
    b.close()


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


def closed_after(sock, timeout=5.0):
    """True when the balancer closes the connection (EOF or reset) with no more bytes."""
    sock.settimeout(scaled(timeout))
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def pool_reuses(rig, n):
    return wait_for(lambda: rig.stats()["pool_reuses"] == n, what=f"pool_reuses == {n}")


# -- a client's Connection: close --------------------------------------------------------
def test_default_close_client_keeps_the_backend_connection(rig, backend):
    rig.balancer("0", str(backend.port))
    for i in range(4):
        # raw_exchange reads to EOF: the client's connection is closed after its answer
        assert raw_exchange(rig.port, CLOSE_REQ % i) == OK_CLOSE
    assert backend.received_by_conn() == [b"".join(STRIPPED % i for i in range(4))]
    pool_reuses(rig, 3)
    assert rig.stats()["backends"][0]["pool_idle"] == 1


def test_verbatim_close_client_costs_a_backend_connection(rig, backend):
    rig.balancer("--verbatim-connection", "0", str(backend.port))
    for i in range(3):
        assert raw_exchange(rig.port, CLOSE_REQ % i) == OK_ANSWER
    backend.wait_for(lambda: len(backend.received_by_conn()) == 3, 10,
                     what="three backend connections")
    assert backend.received_by_conn() == [CLOSE_REQ % i for i in range(3)]
    st = rig.stats()
    assert st["pool_reuses"] == 0 and st["backends"][0]["pool_idle"] == 0


def test_backend_keepalive_is_an_accepted_no_op(rig, backend):
    rig.balancer("--backend-keepalive", "0", str(backend.port))
    for i in range(2):
        assert raw_exchange(rig.port, CLOSE_REQ % i) == OK_CLOSE
    assert backend.received_by_conn() == [STRIPPED % 0 + STRIPPED % 1]
    pool_reuses(rig, 1)


def test_every_connection_field_is_hop_by_hop(rig):
    # nginx names the connection in every answer; Keep-Alive and Proxy-Connection go too.
    backend = RecordingBackend(b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nServer: x\r\n"
                               b"Keep-Alive: timeout=5\r\nconnection:Keep-Alive \r\n"
                               b"Content-Length: 2\r\n\r\nok")
    try:
        rig.balancer("0", str(backend.port))
        req = (b"GET /x HTTP/1.1\r\nKeep-Alive: 300\r\nHost: lb\r\nProxy-Connection: keep-alive"
               b"\r\nConnection: keep-alive\r\n\r\n")
        s = socket.create_connection(("127.0.0.1", rig.port), timeout=scaled(10))
        try:
            s.sendall(req + CLOSE_REQ % 1)
            want = b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 2\r\n\r\nok"
            want_last = b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 2\r\n" \
                        b"Connection: close\r\n\r\nok"
            assert recv_exactly(s, len(want) + len(want_last)) == want + want_last
            assert closed_after(s)
        finally:
            s.close()
        assert backend.received() == b"GET /x HTTP/1.1\r\nHost: lb\r\n\r\n" + STRIPPED % 1
    finally:
        backend.close()


def test_verbatim_relays_every_connection_field(rig):
    answer = (b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
              b"Content-Length: 2\r\n\r\nok")
    backend = RecordingBackend(answer)
    try:
        rig.balancer("--verbatim-connection", "0", str(backend.port))
        req = b"GET /x HTTP/1.1\r\nHost: lb\r\nKeep-Alive: 300\r\nConnection: close\r\n\r\n"
        assert raw_exchange(rig.port, req) == answer
        assert backend.received() == req
    finally:
        backend.close()


# -- pipelined requests after a Connection: close ----------------------------------------
@pytest.mark.parametrize("mode", ["default", "verbatim"])
def test_requests_pipelined_after_a_close_are_never_processed(rig, backend, mode):
    """RFC 9112 9.6: nothing after a request with `Connection: close` is a request. Its
    answer comes back, then the close; the bytes that followed it are dropped with the
    client's connection (those already read are freed with its buffer, the rest go with
    the socket) and never reach a backend."""
    opts = ["--verbatim-connection"] if mode == "verbatim" else []
    rig.balancer(*opts, "0", str(backend.port))
    after = b"GET /after HTTP/1.1\r\nHost: lb\r\n\r\nPOST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
    got = raw_exchange(rig.port, CLOSE_REQ % 7 + after)
    assert got == (OK_CLOSE if mode == "default" else OK_ANSWER)
    sent = STRIPPED % 7 if mode == "default" else CLOSE_REQ % 7
    assert backend.received() == sent
    assert [r.target for r in backend.requests()] == ["/x"]
    if mode == "default":
        assert rig.stats()["backends"][0]["pool_idle"] == 1  # the backend's connection lives on
        assert raw_exchange(rig.port, CLOSE_REQ % 8) == OK_CLOSE
        pool_reuses(rig, 1)
        assert backend.received() == sent + STRIPPED % 8
    else:
        assert rig.stats()["backends"][0]["pool_idle"] == 0


# -- a backend that answers Connection: close --------------------------------------------
def closing_backend():
    return RecordingBackend(lambda req: (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                         b"Connection: close\r\n\r\nok", "close"))


@pytest.mark.parametrize("mode", ["default", "verbatim"])
def test_backend_answering_close_keeps_the_client_connection(rig, mode):
    """That backend connection is never pooled; the client's connection is the client's
    and goes on (HAProxy's http-keep-alive). By default the backend's field is not relayed."""
    backend = closing_backend()
    try:
        opts = ["--verbatim-connection"] if mode == "verbatim" else []
        rig.balancer(*opts, "0", str(backend.port))
        want = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" if mode == "default" else
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        s = socket.create_connection(("127.0.0.1", rig.port), timeout=scaled(10))
        try:
            for i in range(3):
                s.sendall(b"GET /k%d HTTP/1.1\r\nHost: lb\r\n\r\n" % i)
                assert recv_exactly(s, len(want)) == want
        finally:
            s.close()
        backend.wait_for(lambda: len(backend.received_by_conn()) == 3, 10,
                         what="three backend connections")
        st = rig.stats()
        assert st["pool_reuses"] == 0 and st["backends"][0]["pool_idle"] == 0
        assert st["responses"] == 3
    finally:
        backend.close()


def test_backend_close_and_client_close_together(rig):
    backend = closing_backend()
    try:
        rig.balancer("0", str(backend.port))
        assert raw_exchange(rig.port, CLOSE_REQ % 1) == OK_CLOSE  # one field, not two
        assert backend.received() == STRIPPED % 1
    finally:
        backend.close()


# -- HTTP/1.0 clients ----------------------------------------------------------------------
def test_http10_client_without_keep_alive(rig, backend):
    rig.balancer("0", str(backend.port))
    req = b"GET /old HTTP/1.0\r\nHost: lb\r\n\r\n"
    for _ in range(2):
        assert raw_exchange(rig.port, req) == OK_CLOSE
    # The backend is asked for keep-alive, so its connection is pooled for the next one.
    fwd = b"GET /old HTTP/1.0\r\nHost: lb\r\nConnection: keep-alive\r\n\r\n"
    assert backend.received_by_conn() == [fwd + fwd]
    pool_reuses(rig, 1)


def test_http10_client_that_asked_for_keep_alive(rig, backend):
    rig.balancer("0", str(backend.port))
    req = b"GET /old HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: lb\r\n\r\n"
    want = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"
    s = socket.create_connection(("127.0.0.1", rig.port), timeout=scaled(10))
    try:
        for _ in range(2):  # the connection stays open because the answer said so
            s.sendall(req)
            assert recv_exactly(s, len(want)) == want
    finally:
        s.close()
    fwd = b"GET /old HTTP/1.0\r\nHost: lb\r\nConnection: keep-alive\r\n\r\n"
    assert backend.received_by_conn() == [fwd + fwd]


def test_http10_verbatim(rig, backend):
    rig.balancer("--verbatim-connection", "0", str(backend.port))
    req = b"GET /old HTTP/1.0\r\nHost: lb\r\n\r\n"
    assert raw_exchange(rig.port, req) == OK_ANSWER
    assert backend.received() == req


# -- upgrades --------------------------------------------------------------------------------
def test_upgrade_request_is_relayed_as_it_is(rig, backend):
    """A Connection field naming another option (here Upgrade) is not the balancer's to
    take over: that request, and its answer, keep their connection fields. A backend that
    declines the upgrade answers normally; one that accepts it sends a 101, which the
    balancer does not tunnel (README: the 500, tests/hostile)."""
    rig.balancer("0", str(backend.port))
    req = (b"GET /ws HTTP/1.1\r\nHost: lb\r\nConnection: Upgrade, close\r\n"
           b"Upgrade: websocket\r\n\r\n")
    assert raw_exchange(rig.port, req) == OK_ANSWER
    assert backend.received() == req
    assert rig.stats()["backends"][0]["pool_idle"] == 0  # it asked the backend to close
