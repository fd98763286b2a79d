"""/stats and /metrics with --threads N describe the whole process, not the first loop.

Every loop counts on its own; the stats port sums the first loop (live) and the snapshots
the other loops publish every 50 ms, so the tests poll (bounded) until the sums settle and
then demand exact equality with what was sent and with the fakeservers' own counters.
"""
import http.client
import json
import re

import pytest

from .conftest import request, scaled, wait_for

QUIET = ("-R", "1000000", "--health-interval", "600s")  # only the start-up round per loop
OLD_TOP_KEYS = ["policy", "backends", "health_rounds_started", "health_rounds_done", "clients",
                "in_flight", "queued_now", "accepted", "requests", "responses", "replies_500",
                "replies_4xx", "replies_503", "retries", "pool_reuses", "aborted", "queued"]
OLD_BACKEND_KEYS = ["address", "state", "total", "errors", "load", "in_flight", "failures",
                    "forwarded", "checks_ok", "checks_failed", "last_check", "last_check_ms_ago",
                    "pool_idle"]


def http_get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=scaled(5))
    try:
        c.request("GET", path)
        r = c.getresponse()
        assert r.status == 200, (path, r.status)
        return r.read().decode()
    finally:
        c.close()


def control_requests(fs):
    """Requests the fakeserver itself counted (health checks included)."""
    return json.loads(http_get(int(fs.ready["control"]), "/counters"))["requests"]


def metrics(rig):
    """The exposition as {(name, backend or None): value}; checks every line's shape and
    that each family is declared once."""
    text = http_get(int(rig.lb.ready["stats"]), "/metrics")
    out, types = {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            types.append(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        m = re.match(r'^([a-z_0-9]+)(?:\{backend="([^"]+)"\})? (\d+)$', line)
        assert m, line
        assert m.group(1) == types[-1], f"{line} outside its family"
        out[(m.group(1), m.group(2))] = int(m.group(3))
    assert len(types) == len(set(types)), "a family declared twice"
    return out


def settled(rig, n):
    st = rig.stats()
    return st if (st["accepted"], st["requests"], st["responses"]) == (n, n, n) else None


def wait_all_up(rig, threads):
    def ok():
        st = rig.stats()
        return (len(st["loops"]) == threads
                and all(loop["health_rounds_done"] >= 1 for loop in st["loops"])
                and all(b["state"] == "up" and b["up_in_loops"] == threads
                        for b in st["backends"]))
    wait_for(ok, what="every backend up in every loop")


@pytest.mark.parametrize("threads", [2, 3])
def test_counters_and_forwarded_sum_over_loops(rig, threads):
    fss = [rig.fakeserver("--control-port", "0") for _ in range(2)]
    rig.balancer(*QUIET, "--threads", str(threads), "--policy", "rr", "0",
                 *(str(fs.port) for fs in fss))
    wait_all_up(rig, threads)
    sent = 60 * threads
    for _ in range(sent):  # a fresh connection each: SO_REUSEPORT spreads them by 4-tuple
        assert request(rig.port, "GET", "/f")[:2] == (200, b"hello\n")
    st = wait_for(lambda: settled(rig, sent), what=f"/stats to count {sent} requests")
    assert st["threads"] == threads
    assert st["replies_500"] == st["replies_4xx"] == st["retries"] == st["aborted"] == 0
    assert st["health_rounds_done"] == st["health_rounds_started"] == threads
    loops = st["loops"]
    assert all(loop["accepted"] > 0 for loop in loops), loops  # the kernel used every loop
    assert sum(loop["requests"] for loop in loops) == sent
    assert sum(loop["responses"] for loop in loops) == sent
    assert sum(b["forwarded"] for b in st["backends"]) == sent
    for fs, b in zip(fss, st["backends"]):
        assert b["address"] == f"127.0.0.1:{fs.port}"
        assert b["checks_ok"] == threads and b["checks_failed"] == 0
        assert control_requests(fs) == b["forwarded"] + b["checks_ok"]
        assert b["in_flight"] == 0 and b["failures"] == 0
    assert settled(rig, sent), "counts moved after they settled"
    m = metrics(rig)
    assert m[("lb_threads", None)] == threads
    assert m[("lb_requests_total", None)] == st["requests"] == sent
    assert m[("lb_responses_total", None)] == st["responses"]
    assert m[("lb_connections_accepted_total", None)] == st["accepted"]
    assert m[("lb_health_rounds_total", None)] == st["health_rounds_done"]
    assert m[("lb_spliced_bytes_total", None)] == st["spliced_bytes"]
    assert m[("lb_pool_reuses_total", None)] == st["pool_reuses"]
    for b in st["backends"]:
        assert m[("lb_backend_forwarded_total", b["address"])] == b["forwarded"]
        assert m[("lb_backend_up", b["address"])] == 1
        assert m[("lb_backend_up_loops", b["address"])] == threads


def test_killed_backend_is_down_once_every_loop_judged_it(rig):
    threads = 2
    a, b = rig.fakeserver(), rig.fakeserver()
    rig.balancer("-R", "1000000", "--health-interval", "100ms", "--threads", str(threads), "0",
                 str(a.port), str(b.port))
    wait_all_up(rig, threads)
    a.kill()
    assert a.wait(scaled(5)) is not None

    def a_down_everywhere():
        st = rig.stats()
        ba = st["backends"][0]
        return st if ba["state"] == "down" and ba["up_in_loops"] == 0 else None
    st = wait_for(a_down_everywhere, what="the killed backend down in every loop")
    ba, bb = st["backends"]
    assert ba["checks_failed"] >= threads
    assert bb["state"] == "up" and bb["up_in_loops"] == threads
    m = metrics(rig)
    assert m[("lb_backend_up", ba["address"])] == 0
    assert m[("lb_backend_up_loops", ba["address"])] == 0
    assert m[("lb_backend_up", bb["address"])] == 1
    before = st["backends"][0]["forwarded"]
    for _ in range(10):
        assert request(rig.port, "GET", "/f")[:2] == (200, b"hello\n")
    st = wait_for(lambda: settled(rig, 10), what="/stats to count 10 requests")
    assert st["backends"][0]["forwarded"] == before


def test_one_thread_keeps_the_old_document(rig):
    a = rig.fakeserver()
    rig.balancer(*QUIET, "0", str(a.port))
    wait_all_up(rig, 1)
    assert rig.get("/f")[0] == 200
    st = settled(rig, 1)  # one loop is read live: exact at once
    assert st, rig.stats()
    assert list(st)[:len(OLD_TOP_KEYS)] == OLD_TOP_KEYS
    assert list(st["backends"][0])[:len(OLD_BACKEND_KEYS)] == OLD_BACKEND_KEYS
    assert st["threads"] == 1 and st["backends"][0]["up_in_loops"] == 1
    assert st["loops"] == [{"accepted": 1, "requests": 1, "responses": 1, "clients": st["clients"],
                            "health_rounds_done": st["health_rounds_done"]}]
    m = metrics(rig)
    assert m[("lb_threads", None)] == 1 and m[("lb_requests_total", None)] == 1


def test_backend_down_in_one_loop_only_is_not_up(rig):
    """No periodic checks: a killed backend is found down by each loop's own failed connect,
    one loop at a time, which shows the in-between state: down, yet up in the other loop."""
    threads = 2
    a, b = rig.fakeserver(), rig.fakeserver()
    rig.balancer(*QUIET, "--policy", "rr", "--threads", str(threads), "0", str(a.port),
                 str(b.port))
    wait_all_up(rig, threads)
    a.kill()
    assert a.wait(scaled(5)) is not None
    seen = []
    for sent in range(1, 200):
        assert request(rig.port, "GET", "/f")[:2] == (200, b"hello\n")  # b answers a retry
        st = wait_for(lambda: settled(rig, sent), what=f"/stats to count {sent} requests")
        ba = st["backends"][0]
        assert ba["failures"] == threads - ba["up_in_loops"]  # one failed connect per loop
        seen.append(ba["up_in_loops"])
        if ba["up_in_loops"] == 1:
            assert ba["state"] == "down" and st["backends"][1]["state"] == "up"
            m = metrics(rig)
            assert m[("lb_backend_up", ba["address"])] == 0
            assert m[("lb_backend_up_loops", ba["address"])] == 1
        if ba["up_in_loops"] == 0:
            break
    assert seen[-1] == 0 and 1 in seen, seen
