"""Each fault of the catalogue in the proxy's HTTP mode, seen on the wire, against a
fakeserver upstream and an nginx upstream (the `upstream` fixture runs every test twice)."""
import time

import pytest

from harness.faultproxy import FaultProxy
from fp_wire import BIG, SMALL, Reader, connect, get_raw, request, timed, without_date


def upstream_counters(upstream):
    """The fakeserver upstream's /counters (None for nginx, which has none)."""
    if upstream.kind != "fakeserver":
        return None
    fake = FaultProxy.__new__(FaultProxy)  # the same control API as the proxy's
    fake.control = upstream.control
    return fake.counters()


def upstream_requests(upstream):
    c = upstream_counters(upstream)
    return c and c["requests"]


def test_unfaulted_answers_pass_byte_for_byte_with_keepalive(proxy, upstream):
    px = proxy()
    with connect(upstream.port) as s:  # the same requests straight to the upstream
        s.sendall(get_raw("/f") + get_raw("/big"))
        r = Reader(s)
        direct = [r.response()[3], r.response()[3]]
    with connect(px.port) as s:
        r = Reader(s)
        got = []
        for target in ("/f", "/big", "/f", "/nope"):
            s.sendall(get_raw(target))
            got.append(r.response())
    assert [without_date(g[3]) for g in got[:2]] == [without_date(d) for d in direct]
    assert got[0][2] == SMALL and got[1][2] == BIG and got[2][2] == SMALL
    assert got[3][0] == 404
    assert px.counters()["connections"] == 1
    if upstream.kind == "fakeserver":  # the proxy used one kept-alive upstream connection
        assert upstream_counters(upstream)["connections"] == 2  # and ours, direct


def test_pipelined_requests_and_put_bodies_pass(proxy, upstream):
    px = proxy()
    body = b"x" * 5000
    put = (f"PUT /newfile HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    with connect(px.port) as s:
        s.sendall(get_raw("/f") + put + get_raw("/f"))
        r = Reader(s)
        a, b, c = r.response(), r.response(), r.response()
    assert a[2] == SMALL and c[2] == SMALL
    if upstream.kind == "fakeserver":
        assert b[0] == 201 and (upstream.log_dir.parent / "upstream" / "newfile").read_bytes() == body
    else:
        assert b[0] == 405  # nginx serves no PUT: its own answer passes through


def test_delay_and_jitter_hold_the_head(proxy, upstream):
    px = proxy("--delay", "300", "--delay-jitter", "100", "--seed", "3")
    for _ in range(3):
        (st, _, body, _), took = timed(request, px.port, "/f")
        assert st == 200 and body == SMALL and 0.29 <= took < 2.0


def test_slow_body_paces_the_real_body(proxy):
    px = proxy("--slow-body", "40000")
    (st, _, body, _), took = timed(request, px.port, "/big")
    assert st == 200 and body == BIG
    assert took >= 0.8  # 40960 bytes at 40000 B/s after the head


def test_error_status_answers_without_asking_the_upstream(proxy, upstream):
    px = proxy("--error-rate", "1", "--error-status", "503")
    before = upstream_requests(upstream)
    with connect(px.port) as s:
        s.sendall(get_raw("/f") + get_raw("/big"))
        r = Reader(s)
        raw = [r.response()[3], r.response()[3]]  # keep-alive holds
    assert raw == [b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"] * 2
    assert upstream_requests(upstream) == before


def test_hang_reads_and_never_answers(proxy):
    px = proxy("--hang-rate", "1")
    with connect(px.port, timeout=0.6) as s:
        s.sendall(get_raw("/f"))
        with pytest.raises(TimeoutError):
            s.recv(100)


@pytest.mark.parametrize("kind", ["reset", "truncate"])
@pytest.mark.parametrize("at", [0, 17, 200])
def test_cut_at_byte_n_of_the_real_answer(proxy, upstream, kind, at):
    direct = request(upstream.port, "/big")[3]
    px = proxy(f"--{kind}-rate", "1", f"--{kind}-at", str(at))
    with connect(px.port) as s:
        s.sendall(get_raw("/big"))
        data, how = Reader(s).until_close()
    assert len(data) == at
    if upstream.kind == "fakeserver":
        assert data == direct[:at]
    else:  # nginx's Date may have moved on a second: the status line is the same
        assert data[:17] == direct[:min(at, 17)]
    assert how == ("reset" if kind == "reset" else "eof")


def test_garbage_is_seeded(proxy, upstream):
    a = proxy("--garbage-rate", "1", "--garbage-bytes", "100", "--seed", "9")
    b = proxy("--garbage-rate", "1", "--garbage-bytes", "100", "--seed", "9")
    got = []
    for px in (a, b):
        with connect(px.port) as s:
            s.sendall(get_raw("/f"))
            got.append(Reader(s).until_close()[0])
    assert len(got[0]) == 100 and got[0] == got[1]


def test_health_faults_rewrite_the_real_health_answer(proxy, upstream):
    px = proxy()
    st, _, real, _ = request(px.port, "/healthcheck")
    assert st == 200
    errors, total = (int(x) for x in real.split(b"\n"))
    px.set_faults(health_errors=5)
    st, hdrs, body, _ = request(px.port, "/healthcheck")
    assert st == 200 and body.split(b"\n")[0] == b"5" and int(hdrs["content-length"]) == len(body)
    assert int(body.split(b"\n")[1]) >= total
    px.set_faults(health_errors=None, health_total=99)
    assert request(px.port, "/healthcheck")[2].split(b"\n")[1] == b"99"
    px.set_faults(health_total=None, health_malformed=True)
    assert request(px.port, "/healthcheck")[:3:2] == (200, b"healthy?\n")
    px.set_faults(health_malformed=False, health_status=503)
    assert request(px.port, "/healthcheck")[0] == 503
    assert request(px.port, "/f")[2] == SMALL  # other requests untouched


def test_health_flap_alternates(proxy):
    px = proxy("--health-flap", "400")
    seen = set()
    deadline = time.monotonic() + 3
    while len(seen) < 2 and time.monotonic() < deadline:
        seen.add(request(px.port, "/healthcheck")[0])
        time.sleep(0.05)
    assert seen == {200, 500}


def test_scopes_prefix_method_health_and_header(proxy):
    px = proxy("--error-rate", "1", "--scope-prefix", "/bi")
    assert request(px.port, "/f")[0] == 200 and request(px.port, "/big")[0] == 500
    px.set_faults(scope_prefix=None, scope_method="HEAD")
    assert request(px.port, "/f")[0] == 200 and request(px.port, "/f", method="HEAD")[0] == 500
    px.set_faults(scope_method=None, scope="health")
    assert request(px.port, "/f")[0] == 200 and request(px.port, "/healthcheck")[0] == 500
    px.set_faults(scope="others", scope_header="X-Chaos: yes")
    assert request(px.port, "/f")[0] == 200
    assert request(px.port, "/f", headers={"X-Chaos": "no"})[0] == 200
    assert request(px.port, "/f", headers={"x-chaos": "yes"})[0] == 500
    px.set_faults(scope_header="X-Chaos")
    assert request(px.port, "/f", headers={"X-Chaos": "no"})[0] == 500
    st, body = px.control_call("PATCH", "/faults", {"scope-header": "Bad Name: x"})
    assert st == 400 and "scope-header" in body["error"]


def test_same_seed_same_decisions_as_the_fakeserver(proxy, procs, tmp_path):
    """The seed rule is the fakeserver's: request N meets the same fate in both."""
    px = proxy("--error-rate", "0.5", "--seed", "7")
    (tmp_path / "fs").mkdir()
    (tmp_path / "fs" / "f").write_bytes(SMALL)
    fs = procs.start(["fakeserver", "0", "--error-rate", "0.5", "--seed", "7"], name="ref",
                     cwd=tmp_path / "fs")
    ours = [request(px.port, "/f")[0] for _ in range(24)]
    ref = [request(int(fs.ready["port"]), "/f")[0] for _ in range(24)]
    assert ours == ref and 200 in ours and 500 in ours


def test_timeline_changes_faults_at_request_n(proxy, tmp_path):
    tl = tmp_path / "tl.txt"
    tl.write_text("after 2 error-rate=1 error-status=502\nafter 4 reset\n")
    px = proxy("--timeline", str(tl))
    assert [request(px.port, "/f")[0] for _ in range(6)] == [200, 200, 502, 502, 200, 200]
    assert px.control_call("GET", "/faults")[1]["generation"] == 2


def test_fault_header_and_no_keepalive(proxy, upstream):
    px = proxy("--fault-header", "--delay", "10", "--no-keepalive")
    with connect(px.port) as s:
        s.sendall(get_raw("/big"))
        r = Reader(s)
        st, hdrs, body, _ = r.response()
        assert r.until_close() == (b"", "eof")  # closed after the answer
    assert st == 200 and body == BIG and hdrs["x-fault"] == "delay" and hdrs["x-seq"] == "1"


def test_counters_and_control_report_the_new_fields(proxy):
    px = proxy("--error-rate", "1")
    request(px.port, "/f")
    c = px.counters()
    assert c["requests"] == 1 and c["faults"]["error"] == 1 and c["responses"]["500"] == 1
    faults = px.control_call("GET", "/faults")[1]["faults"]
    for name in ("scope-header", "tcp-latency-up", "tcp-limit-down", "tcp-rate"):
        assert name in faults


def test_chunked_answers_pass_through(proxy, upstream):
    if upstream.kind != "nginx":
        pytest.skip("the fakeserver never answers chunked")
    px = proxy("--fault-header")
    with connect(px.port) as s:
        r = Reader(s)
        for _ in range(2):
            s.sendall(get_raw("/chunked/text", {"Accept-Encoding": "gzip"}))
            st, hdrs, body, _ = r.response()
            assert st == 200 and hdrs.get("transfer-encoding") == "chunked" and body
            assert hdrs["x-seq"]


def test_unreachable_upstream_is_a_502(procs):
    from harness.faultproxy import free_port, start_proxy
    px = start_proxy(procs, free_port())
    assert request(px.port, "/f")[0] == 502


def test_large_bodies_stream_both_ways(proxy, upstream):
    import hashlib
    huge = hashlib.sha256(b"seed").digest() * (8 << 15)  # 8 MiB
    root = upstream.docroot if upstream.kind == "nginx" else upstream.log_dir.parent / "upstream"
    (root / "huge").write_bytes(huge)
    px = proxy()
    with connect(px.port, timeout=30) as s:
        r = Reader(s)
        s.sendall(get_raw("/huge"))
        st, _, body, _ = r.response()
        assert st == 200 and body == huge
        s.sendall(get_raw("/f", method="HEAD"))
        st, hdrs, _, _ = r.response(head_only=True)
        assert st == 200 and int(hdrs["content-length"]) == len(SMALL)
        if upstream.kind == "fakeserver":
            s.sendall(f"PUT /up HTTP/1.1\r\nContent-Length: {len(huge)}\r\n\r\n".encode() + huge)
            assert r.response()[0] == 201
            assert (root / "up").read_bytes() == huge


def test_http10_client_gets_its_close(proxy, upstream):
    px = proxy()
    with connect(px.port) as s:
        s.sendall(b"GET /f HTTP/1.0\r\n\r\n")
        data, how = Reader(s).until_close()
    assert how == "eof"
    if upstream.kind == "nginx":
        assert data.endswith(SMALL)
    else:  # the course server accepts HTTP/1.1 only: its 400 passes through
        assert data == b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"


def test_capacity_waits_or_refuses(proxy):
    import threading
    px = proxy("--capacity", "1", "--delay", "500", "--scope-prefix", "/big")
    slow = threading.Thread(target=request, args=(px.port, "/big"))
    slow.start()
    time.sleep(0.15)  # /big holds the one slot for 500 ms
    (st, _, body, _), took = timed(request, px.port, "/f")
    slow.join()
    assert st == 200 and body == SMALL and took >= 0.25
    assert request(px.port, "/healthcheck")[0] == 200  # health checks are exempt
    px.set_faults(capacity_mode="refuse")
    slow = threading.Thread(target=request, args=(px.port, "/big"))
    slow.start()
    time.sleep(0.15)
    assert request(px.port, "/f")[0] == 503
    slow.join()
    assert px.counters()["faults"]["capacity"] == 2
