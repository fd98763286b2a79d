"""Byte-for-byte by default; --backend-keepalive drops a client's `Connection: close`
toward the backend so the backend connection is pooled (the client still gets its close)."""
import pytest

from harness.recorder import RecordingBackend

from .conftest import raw_exchange

REQ = b"GET /x HTTP/1.1\r\nHost: lb\r\nConnection: close\r\nX-Tag: %d\r\n\r\n"


@pytest.fixture
def backend():
    b = RecordingBackend()
    yield b
    b.close()


def test_default_forwards_connection_close_unchanged(rig, backend):
    rig.balancer("0", str(backend.port))
    for i in range(2):
        assert raw_exchange(rig.port, REQ % i).endswith(b"\r\n\r\nok")
    backend.wait_for(lambda: len(backend.received_by_conn()) == 2, 10,
                     what="two backend connections")
    assert backend.received_by_conn() == [REQ % 0, REQ % 1]
    assert rig.stats()["pool_reuses"] == 0


def test_backend_keepalive_strips_it_and_reuses_the_connection(rig, backend):
    rig.balancer("--backend-keepalive", "0", str(backend.port))
    for i in range(3):
        # the client's connection is still closed after its answer: raw_exchange reads to EOF
        answer = raw_exchange(rig.port, REQ % i)
        assert answer == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    stripped = b"".join(b"GET /x HTTP/1.1\r\nHost: lb\r\nX-Tag: %d\r\n\r\n" % i for i in range(3))
    assert backend.received_by_conn() == [stripped]
    assert rig.stats()["pool_reuses"] == 2


def test_backend_keepalive_answer_says_close_even_when_backend_says_keep_alive(rig):
    # nginx and most servers name the connection in every answer: the client that asked
    # for a close must read `close`, not the backend's `keep-alive` (once, not twice).
    backend = RecordingBackend(b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nServer: x\r\n"
                               b"connection:Keep-Alive \r\nContent-Length: 2\r\n\r\nok")
    try:
        rig.balancer("--backend-keepalive", "0", str(backend.port))
        for i in range(2):
            answer = raw_exchange(rig.port, REQ % i)
            assert answer == (b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 2\r\n"
                              b"Connection: close\r\n\r\nok")
        assert rig.stats()["pool_reuses"] == 1
    finally:
        backend.close()
