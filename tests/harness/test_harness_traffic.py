"""The traffic driver and the invariant checker, against in-process raw servers that
misbehave on purpose: each outcome kind must be produced and judged exactly."""
import threading

import pytest

from harness import ERROR_500, Traffic, Workload, check, default_files
from harness_rawserver import RawServer, answer, reset

FILES = default_files()


def correct(store):
    def behaviour(conn, method, name, body, n):
        if method == "PUT":
            store[name] = body
            answer(conn, 201, reason="Created")
        elif method == "HEAD":
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {len(FILES[name])}\r\n\r\n"
                         .encode())
        else:
            answer(conn, 200, FILES[name])
        return True
    return behaviour


@pytest.fixture
def server():
    made = []

    def make(behaviour):
        s = RawServer(behaviour)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


@pytest.mark.parametrize("keepalive", [True, False, "mixed"])
def test_correct_server_gives_only_ok(server, keepalive, tmp_path):
    store = {}
    srv = server(correct(store))
    res = Traffic(srv.addr, Workload(FILES), clients=4, keepalive=keepalive).run(requests=120)
    assert res.sent == 120
    assert res.counts() == {"ok": 120}
    for name, body in store.items():
        (tmp_path / name).write_bytes(body)
    puts = res.of("ok", method="PUT")
    assert puts, "the default mix sends PUTs"
    check(res, backend_dirs=[tmp_path]).assert_ok()
    if keepalive is True:
        assert srv.count == 120 and any(r.reused for r in res.requests)


def test_wrong_body_is_never_allowed(server):
    def behaviour(conn, method, name, body, n):
        answer(conn, 200, b"x" * len(FILES[name]) if method == "GET" else b"")
        return True
    srv = server(behaviour)
    res = Traffic(srv.addr, Workload(FILES, mix={"GET": 1}), clients=1).run(requests=10)
    # "empty" has no bytes, so an all-x body of length 0 is right; every other is wrong.
    assert res.counts()["wrong"] == sum(1 for r in res.requests if r.expect)
    rep = check(res, allow=("ok", "wrong"))
    assert not rep.ok and "wrong" in rep.violations[0]


def test_exact_500_is_error500_and_other_500_is_status(server):
    def behaviour(conn, method, name, body, n):
        if n % 2:
            conn.sendall(ERROR_500)
        else:
            answer(conn, 500, b"oops", reason="Internal Server Error")
        return True
    srv = server(behaviour)
    res = Traffic(srv.addr, Workload(FILES, mix={"GET": 1}), clients=1, keepalive=True) \
        .run(requests=10)
    assert res.counts() == {"error500": 5, "status": 5}
    assert check(res, allow=("error500", "status")).ok
    assert not check(res, allow=("error500",)).ok


def test_reset_mid_answer_is_partial_and_before_is_empty(server):
    def behaviour(conn, method, name, body, n):
        if n % 2:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
        reset(conn)
        return False
    srv = server(behaviour)
    res = Traffic(srv.addr, Workload(FILES, mix={"GET": 1}), clients=1, keepalive=False) \
        .run(requests=6)
    assert res.counts() == {"partial": 3, "empty": 3}
    rep = check(res, allow=("ok", "partial"))
    assert len(rep.violations) == 3 and all(v.startswith("empty") for v in rep.violations)


def test_two_answers_to_one_request_are_caught(server):
    def behaviour(conn, method, name, body, n):
        answer(conn, 200, FILES[name], extra=ERROR_500 if n == 2 else b"")
        return True
    srv = server(behaviour)
    res = Traffic(srv.addr, Workload(FILES, mix={"GET": 1}), clients=1, keepalive=True) \
        .run(requests=5)
    rep = check(res)
    assert not rep.ok
    assert any("extra bytes" in v for v in rep.violations)


def test_silent_server_times_out_and_is_a_violation(server):
    gate = threading.Event()

    def behaviour(conn, method, name, body, n):
        gate.wait(10)
        return False
    srv = server(behaviour)
    res = Traffic(srv.addr, Workload(FILES, mix={"GET": 1}), clients=2, timeout=0.5) \
        .run(requests=2)
    gate.set()
    assert res.counts() == {"timeout": 2}
    assert not check(res, allow=("ok", "error500", "partial")).ok


def test_connect_refused_is_recorded():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()   # nobody listens there now
    res = Traffic(("127.0.0.1", port), Workload(FILES), clients=2).run(requests=4)
    assert res.counts() == {"connect": 4}
    assert check(res, allow=("connect",)).ok


def test_put_landing_on_two_backends_is_a_duplicate(tmp_path, server):
    store = {}
    srv = server(correct(store))
    res = Traffic(srv.addr, Workload(FILES, mix={"PUT": 1}), clients=2).run(requests=6)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    for name, body in store.items():
        (a / name).write_bytes(body)
    first = sorted(store)[0]
    (b / first).write_bytes(store[first])
    rep = check(res, backend_dirs=[a, b])
    assert [v for v in rep.violations if "landed on backend 0, backend 1" in v]
    (b / first).unlink()
    (a / first).write_bytes(b"torn")
    rep = check(res, backend_dirs=[a, b])
    assert any("stored 4 bytes" in v for v in rep.violations)


def test_course_log_accounting_catches_a_duplicated_request(tmp_path, server):
    store = {}
    srv = server(correct(store))
    res = Traffic(srv.addr, Workload(FILES, mix={"GET": 1}), clients=1).run(requests=3)
    names = [r.name for r in res.requests]
    log = tmp_path / "fs.log"
    entries = [f"GET /{n} length {len(FILES[n])}\n========\n" for n in names]
    log.write_text("GET /healthcheck length 3\n00000000 30 0a 30\n========\n"
                   + "".join(entries))
    assert check(res, course_logs=[log]).ok
    log.write_text("".join(entries) + entries[0])
    rep = check(res, course_logs=[log])
    assert any("logged 2 times" in v or "duplicated" in v for v in rep.violations)
    log.write_text("".join(entries[1:]))
    rep = check(res, course_logs=[log])
    assert any("logged only" in v for v in rep.violations)


def test_background_run_stops_cleanly(server):
    srv = server(correct({}))
    t = Traffic(srv.addr, Workload(FILES), clients=3, rate=200).start()
    assert t.wait_completed(30, timeout=10)
    res = t.stop()
    assert res.sent >= 30 and res.counts() == {"ok": res.sent}
    assert not res.stuck
