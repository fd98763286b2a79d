"""Clients that vanish at every point of a request: right after connecting, half-way
through a head, after the request went to a backend, and while a large answer is being
written. The balancer survives each, closes the backend side, and keeps serving."""
import socket
import struct

from .rawhttp import connect

# Larger than every socket buffer on the way (loopback autotuning holds several MB each):
# with 4 MB the balancer sometimes read the whole answer before it saw the client's reset,
# then legitimately pooled the finished backend connection, and the test failed (about 1
# run in 10 on 2026-11-25, with the old and the new recording backend alike).
BIG = b"HTTP/1.1 200 OK\r\nContent-Length: 32000000\r\n\r\n" + b"z" * 32000000


def _reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_connect_and_reset_flood(recorded_lb):
    cl = recorded_lb()
    for i in range(300):
        s = connect(cl.port)
        if i % 3 == 1:
            s.sendall(b"GET /half HTTP/1.1\r\nHo")
        _reset(s)
    assert cl.lb.alive()
    sent = cl.sentinel()
    assert cl.backend.received() == sent


def test_client_reset_while_its_request_waits_on_the_backend(recorded_lb):
    # The backend never answers /wait; the client gives up with a RST. The balancer must
    # drop the backend connection (not keep it forever) and go on serving.
    cl = recorded_lb(answer=lambda req: None if req.raw.startswith(b"GET /wait ")
                 else b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    s = connect(cl.port)
    s.sendall(b"GET /wait HTTP/1.1\r\nHost: lb\r\n\r\n")
    cl.backend.wait_received(lambda d: b"/wait" in d, 5)
    _reset(s)
    waiting = [c for c in cl.backend.connections() if b"/wait" in c.data]
    assert waiting and waiting[0].wait_closed(5), \
        "backend connection kept after its client left"
    cl.sentinel()


def test_client_leaves_during_a_large_answer(recorded_lb):
    cl = recorded_lb(answer=lambda req: BIG if req.raw.startswith(b"GET /big ")
                 else b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    for _ in range(5):
        s = connect(cl.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /big HTTP/1.1\r\nHost: lb\r\n\r\n")
        s.recv(1000)
        _reset(s)
    big_conns = [c for c in cl.backend.connections() if b"/big" in c.data]
    cl.backend.wait_for(lambda: all(c.closed_by_peer.is_set() for c in big_conns), 5,
                        what="every backend connection of a departed client to close")
    assert cl.lb.alive()
    cl.sentinel()
