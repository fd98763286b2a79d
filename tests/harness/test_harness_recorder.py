"""harness.recorder.RecordingBackend on its own (no C binaries): what it answers, what it
records (raw bytes per connection, parsed requests, arrival order), how it tells probes
apart, its bounded waits and its stop."""
import socket
import struct
import threading
import time

import pytest

from harness.process import scaled
from harness.recorder import (OK_ANSWER, OK_HEAD, RecordingBackend, Request, health_answer,
                              request_end)

PROBE = b"GET /healthcheck HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n"


@pytest.fixture
def recorder():
    made = []

    def make(**kw):
        r = RecordingBackend(**kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=scaled(5))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


def read_to_eof(sock):
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def assert_silent(sock, seconds=0.2):
    """Nothing arrives within seconds (the peer neither answered nor closed)."""
    sock.settimeout(seconds)
    with pytest.raises(socket.timeout):
        sock.recv(1)
    sock.settimeout(scaled(5))


# -- framing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("data, end", [
    (b"GET / HTTP/1.1\r\nHost: a\r\n", None),
    (b"GET / HTTP/1.1\r\n\r\nGET /2", 18),
    (b"PUT /f HTTP/1.1\r\nContent-Length: 3\r\n\r\nab", None),
    (b"PUT /f HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET", 41),
    (b"PUT /f HTTP/1.1\r\ncontent-length: 1\r\nContent-Length: 9\r\n\r\nxy", 58),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nX", 60),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\nT: v\r\n\r\n",
     70),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n", None),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", None),
    (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\nrest", 39),
])
def test_request_end_frames_like_a_lenient_backend(data, end):
    assert request_end(data) == end


def test_request_parses_fields_and_survives_junk():
    r = Request(b"PUT /a%20b HTTP/1.1\r\nHost: lb\r\nX-Y:  v w \r\nx-y: 2\r\n\r\nbody", 3, 7)
    assert (r.method, r.target, r.version, r.body) == ("PUT", "/a%20b", "HTTP/1.1", b"body")
    assert r.fields == [("Host", "lb"), ("X-Y", "v w"), ("x-y", "2")]
    assert r.header("x-y") == "v w" and r.header("absent", "d") == "d"
    assert (r.conn, r.seq) == (3, 7)
    odd = Request(b"\xff\x00junk\r\n\r\n")
    assert (odd.method, odd.target, odd.version) == ("\xff\x00junk", "", "")


# -- answers and records ---------------------------------------------------------------------
def test_default_answers_and_parsed_requests_on_one_keepalive_connection(recorder):
    rec = recorder()
    assert rec.port > 0 and rec.addr == ("127.0.0.1", rec.port)
    reqs = [b"GET /a HTTP/1.1\r\nHost: lb\r\n\r\n",
            b"HEAD /b HTTP/1.1\r\nHost: lb\r\n\r\n",
            b"PUT /c HTTP/1.1\r\nHost: lb\r\nContent-Length: 5\r\n\r\nhello"]
    s = connect(rec.port)
    try:
        s.sendall(reqs[0])
        assert read_exactly(s, len(OK_ANSWER)) == OK_ANSWER
        s.sendall(reqs[1])
        assert read_exactly(s, len(OK_HEAD)) == OK_HEAD
        s.sendall(reqs[2])
        assert read_exactly(s, len(OK_ANSWER)) == OK_ANSWER
        assert_silent(s)  # nothing beyond the three answers, connection kept
    finally:
        s.close()
    assert rec.received() == b"".join(reqs)
    assert rec.received_by_conn() == [b"".join(reqs)]
    got = rec.requests()
    assert [r.raw for r in got] == reqs
    assert [(r.method, r.target, r.body) for r in got] == [
        ("GET", "/a", b""), ("HEAD", "/b", b""), ("PUT", "/c", b"hello")]
    assert [r.seq for r in got] == [0, 1, 2] and {r.conn for r in got} == {0}
    (conn,) = rec.connections()
    assert conn.data == b"".join(reqs) and [r.raw for r in conn.requests] == reqs
    assert conn.wait_closed(5)
    assert rec.probes() == 0 and rec.errors() == []


def test_requests_split_byte_by_byte_and_pipelined_are_framed_alike(recorder):
    rec = recorder(answer=lambda req: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                   % (len(req.target), req.target.encode()))
    chunked = b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"
    one = b"GET /one HTTP/1.1\r\nHost: lb\r\n\r\n"
    s = connect(rec.port)
    try:
        for i in range(len(chunked)):
            s.sendall(chunked[i:i + 1])
        assert read_exactly(s, 40) == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n/c"
        s.sendall(one * 3)
        assert read_exactly(s, 3 * 42) == b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n/one" * 3
    finally:
        s.close()
    assert [r.raw for r in rec.requests()] == [chunked, one, one, one]
    assert rec.requests()[0].body == b"2\r\nab\r\n0\r\n\r\n"


def test_an_incomplete_request_is_recorded_not_answered(recorder):
    rec = recorder()
    s = connect(rec.port)
    try:
        s.sendall(b"PUT /f HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        rec.wait_received(lambda d: d.endswith(b"abc"), 5)
        assert_silent(s)
    finally:
        s.close()
    assert rec.received() == b"PUT /f HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"
    assert rec.requests() == []


def test_fixed_answer_bytes_go_to_every_request(recorder):
    fixed = b"HTTP/1.1 204 No Content\r\n\r\n"
    rec = recorder(answer=fixed)
    s = connect(rec.port)
    try:
        s.sendall(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n")
        assert read_exactly(s, 2 * len(fixed)) == fixed * 2
    finally:
        s.close()


def test_answer_none_keeps_reading_and_close_tuple_closes(recorder):
    def answer(req):
        if req.target == "/quiet":
            return None
        if req.target == "/last":
            return (OK_ANSWER, "close")
        return OK_ANSWER
    rec = recorder(answer=answer)
    s = connect(rec.port)
    try:
        s.sendall(b"GET /quiet HTTP/1.1\r\n\r\n")
        rec.wait_for(lambda: len(rec.requests()) == 1, 5, what="the quiet request")
        assert_silent(s)
        s.sendall(b"GET /last HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n")
        assert read_to_eof(s) == OK_ANSWER  # the answer, then the backend's FIN
        # the request after the close is recorded, not answered, and the connection is
        # not taken for one the peer closed
        rec.wait_for(lambda: len(rec.requests()) == 3, 5, what="the request after the close")
        assert not rec.connections()[0].wait_closed(0.1)
    finally:
        s.close()
    assert [r.target for r in rec.requests()] == ["/quiet", "/last", "/after"]
    assert rec.connections()[0].wait_closed(5)


def test_an_answer_function_that_raises_is_reported_and_drops_the_connection(recorder):
    def answer(req):
        raise ValueError("boom")
    rec = recorder(answer=answer)
    s = connect(rec.port)
    try:
        s.sendall(b"GET /x HTTP/1.1\r\n\r\n")
        assert read_to_eof(s) == b""
    finally:
        s.close()
    ((req, exc),) = rec.errors()
    assert req.target == "/x" and isinstance(exc, ValueError)


# -- health probes ---------------------------------------------------------------------------
def test_a_probe_connection_is_answered_closed_and_left_out(recorder):
    rec = recorder(health=(3, 7))
    s = connect(rec.port)
    try:
        s.sendall(PROBE)
        assert read_to_eof(s) == health_answer(3, 7)
        assert health_answer(3, 7) == b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n3\n7"
    finally:
        s.close()
    rec.wait_for(lambda: rec.probes() == 1, 5, what="one probe")
    assert rec.received() == b"" and rec.received_by_conn() == [] and rec.requests() == []
    assert rec.connections() == []
    assert [c.data for c in rec.connections(probes=True)] == [PROBE]


@pytest.mark.parametrize("first", [
    b"GET /f HTTP/1.1\r\nHost: lb\r\n\r\n",  # an exact probe after a request
    b"",                                      # a probe with one field too many
], ids=["after_a_request", "one_field_too_many"])
def test_a_healthcheck_that_is_not_the_whole_connection_is_an_ordinary_request(recorder, first):
    rec = recorder()
    probe = PROBE if first else b"GET /healthcheck HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n"
    s = connect(rec.port)
    try:
        s.sendall(first + probe)
        n = 2 if first else 1
        assert read_exactly(s, n * len(OK_ANSWER)) == OK_ANSWER * n
    finally:
        s.close()
    assert rec.received() == first + probe and rec.probes() == 0
    assert rec.requests()[-1].target == "/healthcheck"


# -- arrival order and waits -----------------------------------------------------------------
def test_mark_and_received_since_follow_arrival_order_across_connections(recorder):
    rec = recorder()
    a, b = connect(rec.port), connect(rec.port)
    try:
        a.sendall(b"GET /a1 HTTP/1.1\r\n\r\n")
        read_exactly(a, len(OK_ANSWER))
        m = rec.mark()
        b.sendall(b"GET /b1 HTTP/1.1\r\n\r\n")
        read_exactly(b, len(OK_ANSWER))
        probe = connect(rec.port)
        probe.sendall(PROBE)
        assert read_to_eof(probe) == health_answer(0, 0)
        probe.close()
        a.sendall(b"GET /a2 HTTP/1.1\r\n\r\n")
        read_exactly(a, len(OK_ANSWER))
    finally:
        a.close()
        b.close()
    assert rec.probes() == 1  # and its bytes are in neither record below
    assert rec.received_since(m) == b"GET /b1 HTTP/1.1\r\n\r\nGET /a2 HTTP/1.1\r\n\r\n"
    # received() groups by connection in accept order, received_since() by arrival
    assert rec.received() == (b"GET /a1 HTTP/1.1\r\n\r\nGET /a2 HTTP/1.1\r\n\r\n"
                              b"GET /b1 HTTP/1.1\r\n\r\n")
    assert [c.index for c in rec.connections()] == [0, 1]


def test_wait_received_returns_at_once_or_the_last_value_at_the_deadline(recorder):
    rec = recorder()
    t0 = time.monotonic()
    assert rec.wait_received(lambda d: d == b"never", 0.3) == b""
    waited = time.monotonic() - t0
    assert scaled(0.3) <= waited < scaled(0.3) + 1.0, waited
    s = connect(rec.port)
    try:
        threading.Timer(0.1, s.sendall, args=(b"GET /late HTTP/1.1\r\n\r\n",)).start()
        t0 = time.monotonic()
        got = rec.wait_received(lambda d: b"/late" in d, 5)
        assert got == b"GET /late HTTP/1.1\r\n\r\n"
        assert time.monotonic() - t0 < scaled(2)  # woken by the arrival, not the deadline
    finally:
        s.close()


def test_wait_for_returns_the_value_or_names_what_it_waited_for(recorder):
    rec = recorder()
    assert rec.wait_for(lambda: rec.port, 1) == rec.port
    with pytest.raises(AssertionError, match="waiting for a request that never comes"):
        rec.wait_for(lambda: rec.requests(), 0.2, what="a request that never comes")


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_closed_by_peer_is_set_by_a_close_or_a_reset(recorder, how):
    rec = recorder(answer=lambda req: None)
    s = connect(rec.port)
    s.sendall(b"GET /x HTTP/1.1\r\n\r\n")
    (conn,) = rec.wait_for(lambda: rec.connections(), 5, what="the connection")
    assert not conn.wait_closed(0.1)
    if how == "rst":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    assert conn.wait_closed(5)
    assert conn.data == b"GET /x HTTP/1.1\r\n\r\n"


def test_concurrent_clients_are_all_recorded_exactly(recorder):
    rec = recorder()
    clients, each = 16, 25
    failures = []

    def client(k):
        try:
            s = connect(rec.port)
            try:
                for i in range(each):
                    s.sendall(b"GET /c%d-%d HTTP/1.1\r\n\r\n" % (k, i))
                    assert read_exactly(s, len(OK_ANSWER)) == OK_ANSWER
            finally:
                s.close()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(scaled(30))
    assert not failures, failures
    reqs = rec.requests()
    assert len(reqs) == clients * each
    assert sorted(r.seq for r in reqs) == list(range(clients * each))
    assert sorted(r.target for r in reqs) == sorted(
        f"/c{k}-{i}" for k in range(clients) for i in range(each))
    for conn in rec.connections():  # each connection holds one client's requests, in order
        targets = [r.target for r in conn.requests]
        k = targets[0].split("-")[0]
        assert targets == [f"{k}-{i}" for i in range(each)]
    assert len(rec.received()) == sum(len(r.raw) for r in reqs)


# -- stop ------------------------------------------------------------------------------------
def test_close_ends_every_connection_and_the_listener_and_is_idempotent():
    with RecordingBackend(answer=lambda req: None) as rec:
        port = rec.port
        s = connect(port)
        s.sendall(b"GET /open HTTP/1.1\r\n\r\n")
        (conn,) = rec.wait_for(lambda: rec.connections(), 5, what="the connection")
        t0 = time.monotonic()
        rec.close()
        assert time.monotonic() - t0 < 1.5
        assert not conn.thread.is_alive() and not rec.thread.is_alive()
        assert not conn.closed_by_peer.is_set()  # the backend closed it, not the peer
        s.settimeout(scaled(5))
        assert read_to_eof(s) == b""
        s.close()
        rec.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert rec.received() == b"GET /open HTTP/1.1\r\n\r\n"  # records outlive the stop


def test_starting_and_stopping_is_cheap():
    # every security test starts one: a stop that waited for the accept loop's 0.1 s poll
    # cost the suite 20 s
    t0 = time.monotonic()
    for _ in range(20):
        RecordingBackend().close()
    assert time.monotonic() - t0 < 1.0
