"""The first faults: --delay, --error-rate, --crash-after, --seed."""
import socket
import time

from fs_helpers import Reader, exact, raw_exchange
from harness.process import scaled


def test_delay_before_head(start):
    srv = start("--delay", "300", files={"a": b"A"})
    t0 = time.monotonic()
    assert srv.request("GET", "/a")[2] == b"A"
    took = time.monotonic() - t0
    assert 0.28 <= took < scaled(2.0)


def test_delay_does_not_block_other_connections(start):
    srv = start("-N", "1", "--delay", "400", files={"a": b"A"})
    socks = []
    t0 = time.monotonic()
    for _ in range(10):
        s = srv.connect()
        s.sendall(b"GET /a HTTP/1.1\r\n\r\n")
        socks.append(s)
    for s in socks:
        assert Reader(s).response()[2] == b"A"
        s.close()
    assert time.monotonic() - t0 < scaled(2.0)  # ten delays of 0.4 s overlapped on one worker


def test_error_rate_one_answers_500(start):
    srv = start("--error-rate", "1", "-l", "log.txt", files={"a": b"A"})
    got = raw_exchange(srv.port, b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert got == exact(500, "Internal Server Error")
    assert srv.path("log.txt").read_text() == "FAIL: GET /a HTTP/1.1 --- response 500\n========\n"


def test_error_rate_put_never_touches_file(start):
    srv = start("--error-rate", "1", files={"a": b"A"})
    assert srv.request("PUT", "/a", b"changed")[0] == 500
    assert srv.path("a").read_bytes() == b"A"
    assert sorted(p.name for p in srv.dir.iterdir()) == ["a"]


def statuses(srv, n):
    out = []
    with srv.connect() as s:
        r = Reader(s)
        for _ in range(n):
            s.sendall(b"GET /a HTTP/1.1\r\n\r\n")
            out.append(r.response()[0])
    return out


def test_seed_reproducible_and_rate_plausible(start):
    a = start("--error-rate", "0.3", "--seed", "42", files={"a": b"A"})
    b = start("--error-rate", "0.3", "--seed", "42", "-N", "8", files={"a": b"A"})
    c = start("--error-rate", "0.3", "--seed", "43", files={"a": b"A"})
    sa, sb, sc = statuses(a, 200), statuses(b, 200), statuses(c, 200)
    assert sa == sb
    assert sa != sc
    assert 30 <= sa.count(500) <= 90


def test_crash_after_n(start):
    srv = start("--crash-after", "3", files={"a": b"A"})
    for _ in range(3):
        assert srv.request("GET", "/a")[2] == b"A"
    assert srv.proc.wait(10) == 3
    try:
        socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    assert refused
