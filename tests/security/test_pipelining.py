"""Pipelining and half-close: a keep-alive client may send many requests in one write and
may shut its sending side once its request is out. Each request is routed on its own and
every answer comes back whole, once, in order. A request's `Connection: close` is hop-by-hop:
it ends the client's connection (its answer says so) and never reaches the backend."""
import re
import socket
import threading

from .rawhttp import connect, read_until_close, scaled


def _echo_path(req):
    path = req.target.encode("latin-1")
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(path), path)


def test_fifty_pipelined_requests_answered_in_order(recorded_lb):
    cl = recorded_lb(answer=_echo_path)
    reqs = [b"GET /p%d HTTP/1.1\r\nHost: lb\r\n\r\n" % i for i in range(50)]
    last = b"GET /last HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n"
    res = cl.send(b"".join(reqs) + last, timeout=scaled(20))
    bodies = re.findall(rb"HTTP/1\.1 200 OK\r\nContent-Length: \d+\r\n\r\n(/p\d+)", res.data)
    assert bodies == [b"/p%d" % i for i in range(50)], res.data[-300:]
    assert res.data.endswith(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n"
                             b"\r\n/last"), res.data[-300:]
    got = cl.backend.received()
    forwarded_last = b"GET /last HTTP/1.1\r\nHost: lb\r\n\r\n"
    assert sorted(got.split(b"\r\n\r\n")[:-1]) == sorted(r[:-4] for r in reqs + [forwarded_last])


def test_pipelined_post_bodies_are_not_split_or_merged(recorded_lb):
    cl = recorded_lb(answer=_echo_path)
    reqs = [b"POST /b%d HTTP/1.1\r\nHost: lb\r\nContent-Length: %d\r\n\r\n%s"
            % (i, i + 1, b"x" * (i + 1)) for i in range(10)]
    reqs += [b"POST /c HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"3\r\nabc\r\n0\r\n\r\n"]
    last = b"GET /end HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n"
    res = cl.send(b"".join(reqs) + last, timeout=scaled(20))
    paths = re.findall(rb"\r\n\r\n(/b\d+|/c|/end)", res.data)
    assert paths == [b"/b%d" % i for i in range(10)] + [b"/c", b"/end"], res.data[-300:]
    got = cl.backend.received()
    forwarded_last = b"GET /end HTTP/1.1\r\nHost: lb\r\n\r\n"
    for r in reqs + [forwarded_last]:
        assert r in got, f"{r!r} did not reach the backend whole"
    assert len(got) == sum(len(r) for r in reqs + [forwarded_last])


def test_half_closed_client_still_gets_its_answer(recorded_lb):
    cl = recorded_lb()
    sock = connect(cl.port)
    try:
        sock.sendall(b"GET /half HTTP/1.1\r\nHost: lb\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        data, closed = read_until_close(sock, scaled(10))
    finally:
        sock.close()
    assert data == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", data
    assert closed


def test_bytes_sent_after_connection_close_do_not_cost_the_answer(recorded_lb):
    """A client that sends on after its `Connection: close` request (RFC 9112 9.6 says it
    must not) leaves unread bytes in the balancer's socket when the balancer closes. A bare
    close() would then reset the connection and drop what was still queued; the balancer
    shuts its side first, so the answer arrives whole with its FIN, and the extra bytes
    never reach the backend."""
    release = threading.Event()

    def held(req):
        release.wait(scaled(10))  # answers once the client's extra bytes are in
        return b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"

    cl = recorded_lb(answer=held)
    sock = connect(cl.port)
    try:
        sock.sendall(b"GET /first HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
        cl.backend.wait_for(lambda: len(cl.backend.requests()) == 1, what="/first forwarded")
        sock.sendall(b"GET /second HTTP/1.1\r\nHost: lb\r\n\r\n")
        release.set()
        data, closed = read_until_close(sock, scaled(10))
    finally:
        sock.close()
    assert data == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfirst" \
        or data == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst", data
    assert closed
    assert [r.target for r in cl.backend.requests()] == ["/first"]
