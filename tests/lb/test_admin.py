"""The admin API on the stats port (issue 17, part 2): GET/POST /backends, PATCH and DELETE
/backends/HOST:PORT, every answer and error code; drain, remove and add under load with
nothing lost; the loopback-only rule and --admin-open; --threads 2 variants; and the course
defaults (no stats port: no admin API, SIGHUP still ends the balancer)."""
import http.client
import signal
import socket
import threading

import pytest

from .conftest import Load, course_requests, scaled, wait_for


def name(proc):
    return f"127.0.0.1:{proc.port}"


def state(rig, who):
    b = rig.backend(who)
    return b and b["state"]


def start(rig, n=2, *extra, fs_args=()):
    """n fakeservers behind a balancer with a stats port; waits until all are up."""
    fs = [rig.fakeserver(*fs_args) for _ in range(n)]
    rig.balancer(*extra, "0", *[str(f.port) for f in fs])
    wait_for(lambda: rig.states() == ["up"] * n, what="all up")
    return fs


def test_get_backends_lists_the_table_as_stats_does(rig):
    a, b = start(rig)
    status, obj, headers = rig.admin("GET", "/backends")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) > 0
    assert [x["name"] for x in obj["backends"]] == [name(a), name(b)]
    assert [x["address"] for x in obj["backends"]] == [name(a), name(b)]
    stats = rig.stats()
    assert list(obj["backends"][0]) == list(stats["backends"][0])
    assert [x["weight"] for x in obj["backends"]] == [1, 1]
    assert stats["admin_changes"] == 0 and stats["reloads"] == 0 and stats["reload_errors"] == 0


@pytest.mark.parametrize("threads", [1, 2])
def test_post_adds_a_backend_probed_at_once(rig, threads):
    (a,) = start(rig, 1, "--threads", str(threads), "--health-interval", "60s")
    c = rig.fakeserver()
    status, b, headers = rig.admin("POST", "/backends", {"server": str(c.port), "weight": 3})
    assert status == 201 and headers["Content-Type"] == "application/json"
    assert b["name"] == name(c) and b["weight"] == 3
    assert b["state"] in ("unknown", "down", "up")
    # The first probe goes at once, not after the 60 s interval.
    wait_for(lambda: state(rig, name(c)) == "up", timeout=10, what="added backend up")
    assert rig.stats()["admin_changes"] == 1
    for _ in range(20):
        assert rig.get()[0] == 200
    wait_for(lambda: rig.backend(name(c))["forwarded"] > 0, what="traffic to the added one")


def test_post_errors(rig):
    (a,) = start(rig, 1)
    for body, words in [
        ("{", "bad JSON"),
        ("", "bad JSON"),
        ({"server": str(a.port), "colour": "red"}, "unknown field 'colour'"),
        ({"weight": 2}, "'server' is required"),
        ({"server": "70000"}, "field 'server'"),
        ({"server": "9", "weight": 0}, "'weight' out of range"),
        ({"server": "9", "weight": 257}, "'weight' out of range"),
        ({"server": "9", "weight": "2"}, "integer"),
        ({"server": "9", "state": "drain"}, "unknown field 'state'"),
        ({"server": "no-such-host.invalid:80"}, ""),
    ]:
        status, obj, headers = rig.admin("POST", "/backends", body)
        assert status == 400, (body, obj)
        assert headers["Content-Type"] == "application/json"
        assert words in obj["error"] and "\n" not in obj["error"], (body, obj)
    status, obj, _ = rig.admin("POST", "/backends", {"server": str(a.port)})
    assert status == 409 and "already in the table" in obj["error"]
    status, obj, _ = rig.admin("POST", "/backends", "x" * 4097)
    assert status == 413 and "4096" in obj["error"]
    status, obj, _ = rig.admin("PUT", "/backends", {"server": "9"})
    assert status == 405 and obj["error"]
    status, obj, _ = rig.admin("POST", f"/backends/{a.port}", {"server": "9"})
    assert status == 405 and obj["error"]
    status, obj, _ = rig.admin("GET", "/backends/x:y")
    assert status == 404 and obj == {"error": "unknown backend"}
    status, obj, _ = rig.admin("GET", "/backends?state=up")  # a query is ignored
    assert status == 200 and [b["name"] for b in obj["backends"]] == [name(a)]
    # Not the admin API: the stats port's old 404.
    c = http.client.HTTPConnection("127.0.0.1", rig.stats_port, timeout=scaled(5))
    c.request("GET", "/backendsX")
    r = c.getresponse()
    assert r.status == 404 and r.read() == b"not found\n"
    c.close()
    assert rig.stats()["admin_changes"] == 0
    assert [b["address"] for b in rig.stats()["backends"]] == [name(a)]


def test_post_refused_when_the_table_is_full(rig):
    (a,) = start(rig, 1, "--health-interval", "60s")
    # Nothing listens on these: probes are refused at once and they stay down.
    for i in range(127):
        status, obj, _ = rig.admin("POST", "/backends", {"server": f"127.0.0.3:{20000 + i}"})
        assert status == 201, obj
    status, obj, _ = rig.admin("POST", "/backends", {"server": "127.0.0.3:21000"})
    assert status == 409 and "full" in obj["error"]
    assert len(rig.stats()["backends"]) == 128
    assert rig.get()[0] == 200  # the one that is up still serves


def test_patch_weight_and_state(rig):
    a, b = start(rig, 2, "--policy", "rr")
    status, obj, _ = rig.admin("PATCH", f"/backends/{b.port}", {"weight": 4})
    assert status == 200 and obj["weight"] == 4 and obj["name"] == name(b)
    assert rig.backend(name(b))["weight"] == 4
    before = rig.forwarded()
    for _ in range(50):
        assert rig.get()[0] == 200
    sent = [x - y for x, y in zip(rig.forwarded(), before)]
    assert sent == [10, 40]  # smooth weighted round robin over 1:4, 50 = 10 rounds
    status, obj, _ = rig.admin("PATCH", f"/backends/{name(b)}", {"state": "drain"})
    assert status == 200 and obj["state"] == "draining"
    status, obj, _ = rig.admin("PATCH", f"/backends/{name(b)}",
                               {"state": "ready", "weight": 1})
    assert status == 200 and obj["state"] == "up" and obj["weight"] == 1
    for body, words in [({}, "nothing to change"), ({"state": "up"}, "'state' must be"),
                        ({"server": "1"}, "unknown field"), ("[", "bad JSON")]:
        status, obj, _ = rig.admin("PATCH", f"/backends/{b.port}", body)
        assert status == 400 and words in obj["error"], (body, obj)
    status, obj, _ = rig.admin("PATCH", "/backends/127.0.0.1:1", {"weight": 2})
    assert status == 404 and obj["error"] == "unknown backend"
    status, obj, _ = rig.admin("DELETE", "/backends/1")
    assert status == 404
    assert rig.stats()["admin_changes"] == 3


@pytest.mark.parametrize("threads", [1, 2])
def test_drain_under_load_loses_nothing_and_sends_it_nothing_new(rig, threads):
    a, b, c = start(rig, 3, "--threads", str(threads), "--health-interval", "200ms",
                    "--policy", "rr", fs_args=("--delay", "20"))
    load = Load(rig.port, clients=6)
    load.wait_more(60)
    status, obj, _ = rig.admin("PATCH", f"/backends/{b.port}", {"state": "drain"})
    assert status == 200 and obj["state"] == "draining"
    # Requests in flight when the answer was given finish, its pooled connections close;
    # none start after it. With --threads 2 another loop's /stats copy may be up to one
    # publication period old, so the first copy showing both at 0 is the drained state
    # (before the drain b always had a request or an idle connection: 6 clients, 20 ms).
    def drained():
        now = rig.backend(name(b))
        return now if now["in_flight"] == 0 and now["pool_idle"] == 0 else None
    settled = wait_for(drained, what="drained: nothing in flight, no idle connection")
    checks = settled["checks_ok"]
    load.wait_more(100)
    later = rig.backend(name(b))
    assert later["forwarded"] == settled["forwarded"]
    assert later["state"] == "draining" and later["pool_idle"] == 0
    # Health checks go on while it is drained.
    wait_for(lambda: rig.backend(name(b))["checks_ok"] > checks, what="probes of the drained")
    load.end()
    status, obj, _ = rig.admin("PATCH", f"/backends/{b.port}", {"state": "ready"})
    assert status == 200 and obj["state"] in ("up", "unknown")
    for _ in range(9):
        assert rig.get()[0] == 200
    wait_for(lambda: rig.backend(name(b))["forwarded"] > later["forwarded"], what="back in")


def test_drain_with_one_loop_is_exact_at_the_answer(rig):
    a, b = start(rig, 2, "--policy", "rr", fs_args=("--delay", "30"))
    load = Load(rig.port, clients=4)
    load.wait_more(40)
    status, obj, _ = rig.admin("PATCH", f"/backends/{b.port}", {"state": "drain"})
    assert status == 200
    # One loop: the answer shows the state at the change; a request chosen before it may
    # still connect (counted as forwarded then), none chosen after.
    bound = obj["forwarded"] + obj["in_flight"]
    load.wait_more(100)
    assert rig.backend(name(b))["forwarded"] <= bound
    load.end()


@pytest.mark.parametrize("threads", [1, 2])
def test_remove_under_load(rig, threads):
    a, b, c = start(rig, 3, "--threads", str(threads), "--policy", "rr",
                    fs_args=("--delay", "20"))
    load = Load(rig.port, clients=6)
    load.wait_more(60)
    status, obj, _ = rig.admin("DELETE", f"/backends/{name(b)}")
    assert status == 202 and obj["state"] == "draining" and obj["name"] == name(b)
    wait_for(lambda: rig.backend(name(b)) is None, what="removed from the table")
    status, obj, _ = rig.admin("GET", "/backends")
    assert [x["name"] for x in obj["backends"]] == [name(a), name(c)]
    seen = len(course_requests(b.courselog))
    load.wait_more(100)
    assert len(course_requests(b.courselog)) == seen  # a removed backend gets nothing new
    load.end()
    status, obj, _ = rig.admin("PATCH", f"/backends/{b.port}", {"weight": 2})
    assert status == 404
    # Its slot is reused by a later add, which starts afresh.
    status, obj, _ = rig.admin("POST", "/backends", {"server": name(b)})
    assert status == 201 and obj["forwarded"] == 0
    assert rig.stats()["admin_changes"] == 2


def test_patch_of_a_backend_being_removed_is_a_conflict(rig):
    a = rig.fakeserver()
    slow = rig.fakeserver("--delay", "1500")
    rig.balancer("--policy", "rr", "--health-timeout", "3s", "0", str(a.port), str(slow.port))
    wait_for(lambda: rig.states() == ["up", "up"], what="up")
    answers = []
    t = threading.Thread(target=lambda: answers.extend(rig.get() for _ in range(2)))
    t.start()
    wait_for(lambda: rig.backend(name(slow))["in_flight"] == 1, what="a request on slow")
    status, obj, _ = rig.admin("DELETE", f"/backends/{slow.port}")
    assert status == 202 and obj["in_flight"] == 1 and obj["state"] == "draining"
    status, obj, _ = rig.admin("PATCH", f"/backends/{slow.port}", {"state": "ready"})
    assert status == 409 and "being removed" in obj["error"]
    status, obj, _ = rig.admin("DELETE", f"/backends/{slow.port}")
    assert status == 202
    t.join(scaled(20))
    assert [x[0] for x in answers] == [200, 200]  # the one in flight finished
    wait_for(lambda: rig.backend(name(slow)) is None, what="removed")


@pytest.mark.parametrize("threads", [1, 2])
def test_add_under_load_takes_traffic(rig, threads):
    a, b = start(rig, 2, "--threads", str(threads), "--policy", "leastconn",
                 fs_args=("--delay", "10"))
    load = Load(rig.port, clients=6)
    load.wait_more(50)
    c = rig.fakeserver("--delay", "10")
    status, obj, _ = rig.admin("POST", "/backends", {"server": name(c)})
    assert status == 201
    wait_for(lambda: state(rig, name(c)) == "up", what="added backend up")
    wait_for(lambda: rig.backend(name(c))["forwarded"] >= 20, what="traffic to the added one")
    load.end()
    assert len(course_requests(c.courselog)) >= 20


def test_slow_start_ramps_an_added_backend(rig):
    """The fewest rule sends a new backend (TOTAL 0) every request until it catches up with
    one that reports 100000; --slow-start gates its share from its first healthy probe."""
    shares = {}
    for ramp in ("0", "30s"):
        a = rig.fakeserver("-t", "100000")
        extra = ["--slow-start", ramp] if ramp != "0" else []
        rig.balancer(*extra, "0", str(a.port))
        wait_for(lambda: rig.states() == ["up"], what="up")
        c = rig.fakeserver()
        assert rig.admin("POST", "/backends", {"server": name(c)})[0] == 201
        wait_for(lambda: state(rig, name(c)) == "up", what="added backend up")
        for _ in range(60):
            assert rig.get()[0] == 200
        shares[ramp] = rig.backend(name(c))["forwarded"] / 60
        rig.lb.stop()
    assert shares["0"] > 0.9, shares
    assert shares["30s"] < 0.5, shares


def non_loopback_address():
    """An address of this host that is not a loopback one, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a source address
        addr = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if addr.startswith("127.") else addr


@pytest.mark.parametrize("open_flag", [False, True])
def test_admin_is_loopback_only_unless_admin_open(rig, open_flag):
    addr = non_loopback_address()
    if addr is None:
        pytest.skip("this host has no non-loopback address to connect from")
    a = rig.fakeserver()
    rig.balancer(*(["--admin-open"] if open_flag else []), "0", str(a.port))
    wait_for(lambda: rig.states() == ["up"], what="up")
    # A connection to that address comes from it: the peer is not loopback.
    for method, path, body in [("GET", "/backends", None),
                               ("POST", "/backends", {"server": "9"}),
                               ("PATCH", f"/backends/{a.port}", {"weight": 2}),
                               ("DELETE", "/backends/9", None)]:
        status, obj, headers = rig.admin(method, path, body, host=addr)
        if open_flag:
            assert status != 403, (method, obj)
        else:
            assert status == 403, (method, obj)
            assert obj == {"error": "admin API is loopback-only (see --admin-open)"}
            assert headers["Content-Type"] == "application/json"
    # /stats stays open to every peer; loopback peers always reach the admin API.
    c = http.client.HTTPConnection(addr, rig.stats_port, timeout=scaled(5))
    c.request("GET", "/stats")
    assert c.getresponse().status == 200
    c.close()
    assert rig.admin("GET", "/backends")[0] == 200
    assert rig.stats()["admin_changes"] == (3 if open_flag else 0)


def test_course_defaults_have_no_admin_and_sighup_still_ends_it(rig):
    a = rig.fakeserver()
    lb = rig.balancer("0", str(a.port), stats=False)
    assert "stats" not in lb.ready
    assert rig.get()[0] == 200
    lb.expect_exit(-signal.SIGHUP)
    lb.signal(signal.SIGHUP)
    assert lb.wait(scaled(10)) == -signal.SIGHUP


def test_metrics_count_admin_changes(rig):
    a, b = start(rig, 2)
    assert rig.admin("PATCH", f"/backends/{b.port}", {"weight": 2})[0] == 200
    c = http.client.HTTPConnection("127.0.0.1", rig.stats_port, timeout=scaled(5))
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    assert "lb_admin_changes_total 1\n" in text
    assert "lb_reloads_total 0\n" in text and "lb_reload_errors_total 0\n" in text
