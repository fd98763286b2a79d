"""Hostile clients in front of the ASan balancer and a fakeserver: random bytes, valid
requests split at random points with pauses, pipelining, mutated requests, and abrupt
closes (FIN or RST) in the middle of a request or of a response.

Per example: a whole valid exchange gets exactly the fakeserver's answers in order; an
aborted one costs nothing (no answer is owed); random or mutated bytes followed by the
client's half-close get zero or more well-framed answers and then the close, within a
bound (never a hang, never bytes outside a framed answer). After the run the balancer is
alive, sanitizer-clean, at rest by /stats, holds no extra fd and serves a good request."""
import os
import re
import socket
import time

from hypothesis import HealthCheck, given, settings, strategies as st

from .conftest import fds_back_to, read_until, rst_close, start_lb

SETTINGS = settings(max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "150")),
                    deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
SMALL = bytes(range(256)) * 4 + b"tail\n"
BIG_LEN = 512 * 1024


def answer_for(req):
    line = req.split(b"\r\n", 1)[0]
    method, target = line.split(b" ")[:2]
    if target == b"/f":
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(SMALL)
        return head if method == b"HEAD" else head + SMALL
    if method == b"PUT":
        return b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


@st.composite
def valid_requests(draw):
    n = draw(st.integers(1, 3))
    reqs = []
    for _ in range(n):
        kind = draw(st.sampled_from(["get", "head", "put", "missing"]))
        if kind == "get":
            reqs.append(b"GET /f HTTP/1.1\r\nHost: lb\r\n\r\n")
        elif kind == "head":
            reqs.append(b"HEAD /f HTTP/1.1\r\n\r\n")
        elif kind == "missing":
            reqs.append(b"GET /nope HTTP/1.1\r\nUser-Agent: h\r\n\r\n")
        else:
            body = draw(st.binary(max_size=2000))
            name = draw(st.sampled_from([b"p1", b"p2", b"p3"]))
            reqs.append(b"PUT /%s HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (name, len(body), body))
    return reqs


def split_send(sock, data, cuts, pause):
    last = 0
    for c in sorted(set(cuts)) + [len(data)]:
        if c > last:
            sock.sendall(data[last:c])
            if pause:
                time.sleep(pause)
            last = c


RESP = re.compile(rb"HTTP/1\.1 [1-5]\d\d [^\r\n]*\r\n((?:[!-9;-~]+:[^\r\n]*\r\n)*)\r\n")


def well_framed(data):
    """Splits data into Content-Length-framed answers; asserts nothing is left over."""
    n = 0
    while data:
        m = RESP.match(data)
        assert m, f"bytes that are no framed answer: {data[:200]!r}"
        cl = re.search(rb"(?im)^content-length: *(\d+)\r$", m.group(1))
        length = int(cl.group(1)) if cl else 0
        assert len(data) >= m.end() + length, f"short answer: {data[:200]!r}"
        data = data[m.end() + length:]
        n += 1
    return n


CASES = st.sampled_from(["whole", "whole", "whole", "halfclose", "abort_req", "abort_resp",
                         "random", "mutated"])


def test_hostile_clients(procs, tmp_path):
    root = tmp_path / "files"
    root.mkdir()
    (root / "f").write_bytes(SMALL)
    (root / "big").write_bytes(os.urandom(BIG_LEN))
    fs = procs.start(["fakeserver", "0", "-N", "2", "-L"], name="fs", cwd=root)
    lb = start_lb(procs, [fs.ready["port"]], "--server-timeout", "2s")
    s = socket.create_connection(("127.0.0.1", lb.port), timeout=5)
    s.sendall(b"GET /f HTTP/1.1\r\n\r\n")
    assert read_until(s, len(answer_for(b"GET /f x")))[0] == answer_for(b"GET /f x")
    s.close()
    lb.settle()
    base = lb.fds() - sum(b.get("pool_idle", 0) for b in lb.stats()["backends"])
    seen = {}

    @SETTINGS
    @given(case=CASES, reqs=valid_requests(), cuts=st.lists(st.integers(1, 4000), max_size=4),
           pause=st.sampled_from([0, 0, 0.002, 0.01]), rst=st.booleans(), data=st.data())
    def one(case, reqs, cuts, pause, rst, data):
        seen[case] = seen.get(case, 0) + 1
        raw = b"".join(reqs)
        sock = socket.create_connection(("127.0.0.1", lb.port), timeout=5)
        try:
            if case in ("whole", "halfclose"):
                split_send(sock, raw, [c % len(raw) for c in cuts], pause)
                want = b"".join(answer_for(r) for r in reqs)
                if case == "halfclose":
                    sock.shutdown(socket.SHUT_WR)
                    got, closed = read_until(sock)
                    assert closed, "no close after the client's half-close"
                else:
                    got, _ = read_until(sock, len(want))
                assert got == want, f"got {got[:300]!r} want {want[:300]!r}"
            elif case == "abort_req":
                at = data.draw(st.integers(1, max(1, len(raw) - 1)))
                split_send(sock, raw[:at], [c % at for c in cuts], pause)
            elif case == "abort_resp":
                sock.sendall(b"GET /big HTTP/1.1\r\n\r\n")
                read_until(sock, data.draw(st.integers(1, BIG_LEN // 2)))
            else:
                raw = raw.replace(b"HEAD ", b"GET ")  # answers judged without methods
                if case == "random":
                    junk = data.draw(st.binary(min_size=1, max_size=400))
                    raw = data.draw(st.sampled_from([b"", raw])) + junk
                else:
                    i = data.draw(st.integers(0, len(raw) - 1))
                    raw = raw[:i] + bytes([data.draw(st.integers(0, 255))]) + raw[i + 1:]
                split_send(sock, raw, [c % len(raw) for c in cuts], pause)
                if data.draw(st.booleans()):
                    sock.shutdown(socket.SHUT_WR)
                    got, closed = read_until(sock)
                    assert closed, f"no close after junk and half-close: {got[:200]!r}"
                    well_framed(got)
        finally:
            if rst:
                rst_close(sock)
            else:
                sock.close()
        lb.assert_alive()

    one()
    print("cases", seen)
    lb.assert_alive()
    fds_back_to(lb, base)
    s = socket.create_connection(("127.0.0.1", lb.port), timeout=5)
    s.sendall(b"GET /f HTTP/1.1\r\n\r\n")
    assert read_until(s, len(answer_for(b"GET /f x")))[0] == answer_for(b"GET /f x")
    s.close()
    assert fs.alive()


def test_aborts_while_queued_and_in_flight(procs, tmp_path):
    """-N 1 in front of a slow backend: of eight clients, every other one leaves (RST or
    FIN) while queued or in flight; the others get exact answers in FIFO order's time,
    and the balancer ends at rest with no extra fd."""
    import threading
    root = tmp_path / "files"
    root.mkdir()
    (root / "f").write_bytes(SMALL)
    fs = procs.start(["fakeserver", "0", "-N", "2", "-L", "--delay", "150"], name="fs", cwd=root)
    lb = start_lb(procs, [fs.ready["port"]], "-N", "1")
    lb.settle()
    base = lb.fds()
    want = answer_for(b"GET /f x")
    results = {}

    def client(i):
        s = socket.create_connection(("127.0.0.1", lb.port), timeout=5)
        s.sendall(b"GET /f HTTP/1.1\r\n\r\n")
        if i % 2:
            time.sleep(0.05 * (i % 4))
            rst_close(s) if i % 4 == 1 else s.close()
            return
        results[i] = read_until(s, len(want))[0]
        s.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results == {i: want for i in range(0, 8, 2)}
    lb.assert_alive()
    fds_back_to(lb, base)
    s = lb.stats()
    assert s["queued_now"] == 0 and s["in_flight"] == 0
