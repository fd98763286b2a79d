"""Every fault of the catalogue, observed on the wire."""
import errno
import os
import signal
import socket
import threading
import time

import pytest

from fs_helpers import Reader, exact, poll_until, raw_exchange, recv_exact, request_bytes
from harness.process import scaled

BODY = bytes(range(256)) * 4  # 1024 bytes
GET = b"GET /f HTTP/1.1\r\n\r\n"
HEAD_200 = b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n"


def read_until_reset(sock, timeout=5):
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data, "reset"
        if not chunk:
            return data, "eof"
        data += chunk


def test_delay_with_jitter_in_bounds(start):
    srv = start("--delay", "200", "--delay-jitter", "200", files={"f": BODY})
    for _ in range(3):
        t0 = time.monotonic()
        assert srv.request("GET", "/f")[0] == 200
        assert 0.19 <= time.monotonic() - t0 < scaled(1.5)


def test_slow_body_rate(start):
    srv = start("--slow-body", "2048", files={"f": BODY})
    with srv.connect() as s:
        t0 = time.monotonic()
        s.sendall(GET)
        head = recv_exact(s, len(HEAD_200))
        t_head = time.monotonic() - t0
        body = recv_exact(s, 1024)
        took = time.monotonic() - t0
    assert head == HEAD_200 and body == BODY
    assert t_head < scaled(0.45)  # the head leaves at once; only the body is paced
    assert 0.4 <= took < scaled(2.0)  # 1024 bytes at 2048 B/s


def test_error_status_any(start):
    srv = start("--error-rate", "1", "--error-status", "503", files={"f": BODY})
    assert raw_exchange(srv.port, b"GET /f HTTP/1.1\r\nConnection: close\r\n\r\n") == \
        exact(503, "Service Unavailable")


def test_hang_never_answers(start):
    srv = start("--hang-rate", "1", "--control-port", "0", files={"f": BODY})
    with srv.connect() as s:
        s.sendall(GET)
        s.settimeout(0.5)
        with pytest.raises(socket.timeout):
            s.recv(10)
    st, counters = srv.ctl("GET", "/counters")
    assert counters["faults"]["hang"] == 1 and counters["responses"] == {}


@pytest.mark.parametrize("at", [0, 10, 45, 500])
def test_reset_at_exact_byte(start, at):
    srv = start("--reset-rate", "1", "--reset-at", at, files={"f": BODY})
    with srv.connect() as s:
        s.sendall(GET)
        data, how = read_until_reset(s)
    assert how == "reset"
    assert data == (HEAD_200 + BODY)[:at]


@pytest.mark.parametrize("at", [0, 7, 41, 1000])
def test_truncate_at_exact_byte(start, at):
    srv = start("--truncate-rate", "1", "--truncate-at", at, files={"f": BODY})
    with srv.connect() as s:
        s.sendall(GET)
        data, how = read_until_reset(s)
    assert how == "eof"
    assert data == (HEAD_200 + BODY)[:at]


def test_truncate_big_file_mid_sendfile(start):
    big = os.urandom(300_000)
    srv = start("--truncate-rate", "1", "--truncate-at", 200_041, files={"f": big})
    with srv.connect() as s:
        s.sendall(GET)
        data, how = read_until_reset(s)
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(big)}\r\n\r\n".encode()
    assert how == "eof" and data == (head + big)[:200_041]


def test_garbage_instead_of_answer(start):
    srv = start("--garbage-rate", "1", "--garbage-bytes", "100", "--seed", "5", files={"f": BODY})
    with srv.connect() as s:
        s.sendall(GET)
        data, how = read_until_reset(s)
    assert len(data) == 100 and not data.startswith(b"HTTP/")
    with srv.connect() as s:  # the same seed and sequence would give the same bytes
        s.sendall(GET)
        data2, _ = read_until_reset(s)
    assert len(data2) == 100 and data2 != data


def test_crash_rate_exits_with_status(start):
    srv = start("--crash-rate", "1", "--crash-status", "7", files={"f": BODY})
    with srv.connect() as s:
        s.sendall(GET)
        data, _ = read_until_reset(s)
    assert data == b""
    assert srv.proc.wait(10) == 7


def test_crash_mode_abort(start):
    srv = start("--crash-rate", "1", "--crash-mode", "abort", files={"f": BODY},
                )
    with srv.connect() as s:
        s.sendall(GET)
        read_until_reset(s)
    assert srv.proc.wait(10) == -signal.SIGABRT


def test_crash_at_time(start):
    t0 = time.monotonic()
    srv = start("--crash-at", "400")
    assert srv.proc.wait(10) == 3
    assert 0.3 <= time.monotonic() - t0 < scaled(5)


def test_refuse_and_stall_live(start):
    srv = start("--control-port", "0", files={"f": BODY})
    srv.ctl("PATCH", "/faults", {"refuse": True})
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=2)
    srv.ctl("PATCH", "/faults", {"refuse": False, "stall": True})
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=2)  # the backlog takes it
    s.sendall(GET)
    s.settimeout(0.4)
    with pytest.raises(socket.timeout):
        s.recv(10)
    srv.ctl("PATCH", "/faults", {"stall": False})
    s.settimeout(5)
    r = Reader(s)
    assert r.response()[2] == BODY  # accepted and answered once the stall ends
    s.close()


def test_refuse_from_start(start):
    srv = start("--refuse")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=2)


def test_slow_read_of_request_body(start):
    srv = start("--slow-read", "4000")
    body = b"z" * 2000
    t0 = time.monotonic()
    assert srv.request("PUT", "/up", body)[0] == 201
    took = time.monotonic() - t0
    assert 0.4 <= took < scaled(3)
    assert srv.path("up").read_bytes() == body


def test_capacity_wait_serialises(start):
    srv = start("--capacity", "1", "--delay", "300", "-N", "4", files={"f": BODY})
    results = []

    def one():
        t0 = time.monotonic()
        results.append((srv.request("GET", "/f")[0], time.monotonic() - t0))

    threads = [threading.Thread(target=one) for _ in range(3)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r[0] for r in results] == [200, 200, 200]
    assert time.monotonic() - t0 >= 0.85  # three delays of 0.3 s, one at a time


def test_capacity_refuse_503(start):
    srv = start("--capacity", "1", "--capacity-mode", "refuse", "--delay", "400",
                "--control-port", "0", files={"f": BODY})
    first = srv.connect()
    first.sendall(GET)
    # the first request holds the only slot (its delay keeps it there 0.4 s)
    poll_until(lambda: srv.ctl("GET", "/counters")[1]["inflight"] == 1, scaled(5),
               "the first request in flight")
    st = srv.request("GET", "/f")[0]
    assert st == 503
    assert Reader(first).response()[0] == 200
    first.close()


# ---- health-check faults -------------------------------------------------------------

def health(srv):
    return raw_exchange(srv.port, b"GET /healthcheck HTTP/1.1\r\nConnection: close\r\n\r\n")


def test_health_status(start):
    srv = start("-L", "--health-status", "503")
    assert health(srv) == exact(503, "Service Unavailable")


def test_health_delay_only_on_health(start):
    srv = start("-L", "--health-delay", "600", files={"f": BODY})
    t0 = time.monotonic()
    assert srv.request("GET", "/f")[0] == 200
    assert time.monotonic() - t0 < scaled(0.5)
    t0 = time.monotonic()
    assert health(srv) == exact(200, "OK", b"0\n1")
    assert time.monotonic() - t0 >= 0.58


def test_health_malformed_and_false_counts(start):
    srv = start("-L", "--health-malformed")
    got = health(srv)
    assert got.startswith(b"HTTP/1.1 200 OK\r\n") and not got.endswith(b"0\n0")
    srv2 = start("-L", "--health-errors", "0", "--health-total", "1000")
    assert health(srv2) == exact(200, "OK", b"0\n1000")


def test_health_flap(start):
    srv = start("-L", "--health-flap", "400")
    seen = set()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len(seen) < 2:
        seen.add(int(health(srv).split()[1]))
    assert seen == {200, 500}


# ---- scopes, header, identify, seeds ------------------------------------------------

def test_scope_health_only(start):
    srv = start("-L", "--error-rate", "1", "--scope", "health", files={"f": BODY})
    assert srv.request("GET", "/f")[0] == 200
    assert health(srv).startswith(b"HTTP/1.1 500 ")


def test_scope_others_only(start):
    srv = start("-L", "--error-rate", "1", "--scope", "others", files={"f": BODY})
    assert srv.request("GET", "/f")[0] == 500
    assert health(srv).startswith(b"HTTP/1.1 200 ")


def test_scope_method_and_prefix(start):
    srv = start("--error-rate", "1", "--scope-method", "PUT", "--scope-prefix", "/tmp",
                files={"f": BODY})
    assert srv.request("GET", "/f")[0] == 200
    assert srv.request("PUT", "/f", b"x")[0] == 201
    assert srv.request("PUT", "/tmpx", b"x")[0] == 500
    assert srv.request("GET", "/tmpx")[0] == 404


def test_fault_header_and_identify(start):
    srv = start("--fault-header", "--delay", "1", "--identify", "backend-7", files={"f": BODY})
    st, headers, body = srv.request("GET", "/f")
    assert headers["X-Fault"] == "delay" and headers["X-Server"] == "backend-7"
    assert headers["X-Seq"] == "1" and body == BODY
    plain = start(files={"f": BODY})
    assert plain.request("GET", "/f")[1] == {"Content-Length": "1024"}


def decisions(srv, clients=8, each=25):
    """seq -> status, from concurrent clients; X-Seq tells which decision each got."""
    out = {}
    lock = threading.Lock()

    def client():
        with srv.connect() as s:
            r = Reader(s)
            for _ in range(each):
                s.sendall(GET)
                st, h, _ = r.response()
                with lock:
                    out[int(h["X-Seq"])] = (st, h.get("X-Fault"))

    ts = [threading.Thread(target=client) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def test_same_seed_same_decisions_1_and_8_threads(start):
    args = ("--seed", "1234", "--error-rate", "0.3", "--delay-jitter", "3", "--fault-header")
    one = decisions(start("-N", "1", *args, files={"f": BODY}))
    eight = decisions(start("-N", "8", *args, files={"f": BODY}))
    assert len(one) == 200 and one == eight
    assert 20 < sum(1 for v in one.values() if v[0] == 500) < 110


def test_fault_never_corrupts_files(start):
    srv = start("--reset-rate", "0.3", "--truncate-rate", "0.3", "--error-rate", "0.2",
                "--reset-at", "30", "--truncate-at", "20", "--seed", "9", files={"f": BODY})
    for i in range(40):
        try:
            with srv.connect() as s:
                s.sendall(request_bytes("PUT", "/f", BODY if i % 2 else BODY[::-1],
                                        {"Connection": "close"}))
                read_until_reset(s, timeout=2)
        except OSError:
            pass
    assert srv.path("f").read_bytes() in (BODY, BODY[::-1])
    assert sorted(p.name for p in srv.dir.iterdir()) == ["f"]


def test_crash_after_counts_only_scoped_requests(start):
    srv = start("-L", "--crash-after", "2", "--scope", "others", files={"f": BODY})
    for _ in range(5):
        assert health(srv).startswith(b"HTTP/1.1 200 ")  # health checks do not count
    assert srv.request("GET", "/f")[0] == 200
    assert srv.request("GET", "/f")[0] == 200
    assert srv.proc.wait(10) == 3


def test_crash_rate_spares_health_checks_out_of_scope(start):
    srv = start("-L", "--crash-rate", "1", "--scope", "others", files={"f": BODY})
    for _ in range(3):
        assert health(srv).startswith(b"HTTP/1.1 200 ")
    assert srv.proc.alive()


def test_delay_rate_picks_requests(start):
    srv = start("--delay", "250", "--delay-rate", "0.5", "--seed", "3", "--fault-header",
                files={"f": BODY})
    delayed = 0
    with srv.connect() as s:
        r = Reader(s)
        for _ in range(12):
            t0 = time.monotonic()
            s.sendall(GET)
            _, h, _ = r.response()
            slow = time.monotonic() - t0 >= 0.24
            assert slow == (h.get("X-Fault") == "delay")
            delayed += slow
    assert 1 <= delayed <= 11


def test_no_keepalive_closes_after_each_answer(start):
    srv = start("--no-keepalive", files={"f": BODY})
    with srv.connect() as s:
        s.sendall(GET + GET)
        r = Reader(s)
        assert r.response()[2] == BODY
        assert r.read_all() == b""  # the second request is never answered


def test_lifting_capacity_admits_waiters(start):
    srv = start("--capacity", "1", "--hang-rate", "1", "--scope-prefix", "/hang",
                "--control-port", "0", files={"f": BODY})
    hung = srv.connect()
    hung.sendall(b"GET /hang HTTP/1.1\r\n\r\n")  # takes the only slot, forever
    deadline = time.monotonic() + scaled(5)
    while srv.ctl("GET", "/counters")[1]["inflight"] < 1:
        assert time.monotonic() < deadline
    waiting = srv.connect()
    waiting.sendall(GET)
    waiting.settimeout(0.3)
    with pytest.raises(socket.timeout):
        waiting.recv(10)
    srv.ctl("PATCH", "/faults", {"capacity": 0})
    waiting.settimeout(5)
    assert Reader(waiting).response()[2] == BODY
    hung.close()
    waiting.close()


def test_parked_clients_leaving_do_not_hurt(start):
    srv = start("--capacity", "1", "--delay", "200", "-N", "2", files={"f": BODY})
    first = srv.connect()
    first.sendall(GET)
    for _ in range(10):  # park and leave
        s = srv.connect()
        s.sendall(GET)
        s.close()
    assert Reader(first).response()[2] == BODY
    first.close()
    for _ in range(3):
        assert srv.request("GET", "/f")[2] == BODY
