"""Slowloris: a client that trickles its head gets 408 and a close once the header timeout
(a documented option) has run out since its first byte, however steadily it trickles.
A client that keeps to the timeout is served."""
import select
import time

from harness.lbopts import HEADER_TIMEOUT, opt
from harness.recorder import OK_ANSWER

from .rawhttp import connect, read_one_response, read_until_close, scaled

TIMEOUT_MS = 600
CONTROL_TIMEOUT_MS = 5000


def _lb(recorded_lb):
    return recorded_lb([opt(HEADER_TIMEOUT, TIMEOUT_MS)])


def test_trickled_head_gets_408_and_close(recorded_lb):
    cl = _lb(recorded_lb)
    sock = connect(cl.port)
    head = b"GET /slow HTTP/1.1\r\nHost: lb\r\n" + b"X-Drip: " + b"a" * 200
    t0 = time.monotonic()
    closed_at = None
    try:
        for byte in head:  # one byte every 20 ms until the answer, far beyond the timeout
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            readable, _, _ = select.select([sock], [], [], 0.02)
            if readable or time.monotonic() - t0 > scaled(3):
                break
        data, closed = read_until_close(sock, scaled(3))
        closed_at = time.monotonic() - t0
    finally:
        sock.close()
    assert data.startswith(b"HTTP/1.1 408 ") or data.startswith(b"HTTP/1.0 408 "), data
    assert closed, "connection left open after 408"
    assert closed_at < scaled(3) + TIMEOUT_MS / 1000.0, f"closed only after {closed_at:.2f}s"
    sent = cl.sentinel()
    assert cl.backend.received() == sent


def test_silent_half_head_is_closed_within_the_timeout(recorded_lb):
    cl = _lb(recorded_lb)
    sock = connect(cl.port)
    try:
        t0 = time.monotonic()
        sock.sendall(b"GET /half HTTP/1.1\r\nHost: lb\r\n")
        data, closed = read_until_close(sock, scaled(5))
        took = time.monotonic() - t0
    finally:
        sock.close()
    assert closed, "half head never timed out"
    assert data.startswith(b"HTTP/1.1 408 ") or data.startswith(b"HTTP/1.0 408 "), data
    assert TIMEOUT_MS / 1000.0 * 0.8 <= took < scaled(5), f"took {took:.2f}s"
    sent = cl.sentinel()
    assert cl.backend.received() == sent


def test_control_head_within_the_timeout_is_served(recorded_lb):
    """A head sent in pieces (about 100 ms of pauses) well within the header timeout is
    assembled and served: the 408s above come from the timeout, not from the trickling.
    The timeout here is 50 times the trickle, not the 600 ms above: under a heavy load the
    client's 20 ms pauses and the balancer's wake-ups can stretch to hundreds of ms, and
    what this control asserts is the assembly, not a race against the scheduler."""
    cl = recorded_lb([opt(HEADER_TIMEOUT, int(scaled(CONTROL_TIMEOUT_MS)))])
    req = b"GET /steady HTTP/1.1\r\nHost: lb\r\n\r\n"
    sock = connect(cl.port)
    try:
        for i in range(0, len(req), 8):  # the whole head in about 100 ms
            sock.sendall(req[i:i + 8])
            time.sleep(0.02)
        answer, _ = read_one_response(sock, scaled(10))
    finally:
        sock.close()
    assert answer == OK_ANSWER
    assert cl.backend.wait_received(lambda d: d == req, 5) == req


def test_many_slow_clients_do_not_block_a_fast_one(recorded_lb):
    cl = _lb(recorded_lb)
    slow = []
    try:
        for _ in range(50):
            s = connect(cl.port)
            s.sendall(b"GET /s HTTP/1.1\r\n")
            slow.append(s)
        cl.sentinel()  # served at once while 50 half heads wait
        for s in slow:
            data, closed = read_until_close(s, scaled(5))
            assert closed and b" 408 " in data[:13], data
    finally:
        for s in slow:
            s.close()


def test_stalled_body_is_cut_and_the_backend_not_blamed(recorded_lb):
    """Slow POST: a client sends its head and 5 of 1000 body bytes, then nothing. After the
    inactivity timeout the balancer closes the client (a 408 or silently) and the backend
    connection, and does not count it against the backend (it stays up, not failed)."""
    import json
    import urllib.request
    from harness.lbopts import SERVER_TIMEOUT, STATS_PORT
    cl = recorded_lb([opt(SERVER_TIMEOUT, 500), opt(STATS_PORT, 0)])
    sock = connect(cl.port)
    try:
        sock.sendall(b"POST /slow HTTP/1.1\r\nHost: lb\r\nContent-Length: 1000\r\n\r\nhello")
        t0 = time.monotonic()
        data, closed = read_until_close(sock, scaled(5))
        took = time.monotonic() - t0
    finally:
        sock.close()
    assert closed, "a stalled body holds its connection forever"
    assert data == b"" or data.startswith(b"HTTP/1.1 408 "), data
    assert took < scaled(4), f"cut after {took:.2f}s"
    conns = cl.backend.connections()
    assert all(c.wait_closed(5) for c in conns), "backend connection kept"
    url = f"http://127.0.0.1:{cl.lb.ready['stats']}/stats"
    backend = json.loads(urllib.request.urlopen(url, timeout=scaled(5)).read())["backends"][0]
    assert backend["state"] == "up" and not backend.get("failures"), backend
    cl.sentinel()
