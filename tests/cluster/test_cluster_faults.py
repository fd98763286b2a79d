"""Backends that misbehave without dying: slow, lying or flapping health checks, resets in
the middle of an answer, a closed or stalled listener. Each scenario first probes the fault
directly on the backend (so a fault that is not applied yet skips with its name instead of
proving nothing), then asserts the traffic invariant plus its subject."""
import time

import pytest

from harness import Workload, backend_entry, port_accepts
from cluster_helpers import StatsWatcher, raw_get, require_fault, wait_first_checks

pytestmark = pytest.mark.cluster


@pytest.mark.slow
@pytest.mark.cluster(backends=3, per_backend={0: ["--delay", "300"]}, lb_args=["-R", "2"])
def test_slow_backend_stays_healthy(cluster, scenario):
    """A slow backend whose health checks still pass stays up and keeps serving."""
    slow = cluster.backends[0]
    t0 = time.monotonic()
    assert slow.healthcheck()[0] == 200
    require_fault(time.monotonic() - t0 >= 0.28, "--delay")
    wait_first_checks(cluster)   # before it, /stats may not call anybody up yet
    with StatsWatcher(cluster) as w:
        res = cluster.traffic(clients=4).run(requests=120)
    scenario.verify(res, cluster=cluster)
    assert all(w.states(0)), "the slow backend was marked down although it answers in time"
    entry = cluster.backend_stats(0)
    assert entry.get("checks_failed", 0) == 0, entry
    slow_answers = [r for r in res.requests if r.t_end - r.t_start >= 0.29]
    assert slow.served() > 0 and slow_answers
    scenario.prove(f"a backend 300 ms slow (health checks included) stayed up in all "
                   f"{len(w.samples)} /stats samples and served {slow.served()} requests, "
                   f"all correct")


@pytest.mark.cluster(backends=3, lb_args=["-R", "2"], per_backend={
    0: ["--health-total", "0", "--health-errors", "0"], 2: ["--health-malformed"]})
def test_lying_health_checks(cluster, scenario):
    """A backend lying TOTAL 0 attracts traffic; a malformed health body gets none."""
    liar, honest, broken = cluster.backends
    status, body = liar.healthcheck()
    require_fault(status == 200 and body.split(b"\n")[-1].strip() == b"0", "--health-total")
    status, body = broken.healthcheck()
    require_fault(not (status == 200 and body.replace(b"\n", b"").isdigit()),
                  "--health-malformed")
    res = cluster.traffic(clients=2).run(requests=120)
    scenario.verify(res, cluster=cluster)
    served = cluster.served()
    assert served[2] == 0, "a backend with a malformed health answer got traffic"
    assert not cluster.backend_stats(2)["state"] == "up"
    assert served[0] > served[1], f"the backend reporting TOTAL 0 did not attract traffic: " \
                                  f"{served}"
    scenario.prove(f"a backend claiming TOTAL 0 drew {served[0]} of {res.sent} requests "
                   f"(honest one {served[1]}); one with a malformed health body got none")


@pytest.mark.slow
@pytest.mark.cluster(backends=3, lb_args=["--health-interval", "100ms", "-R", "2"],
                     per_backend={0: ["--health-flap", "800"]})
def test_flapping_health_check(cluster, scenario):
    """A flapping health check flips the backend in /stats without losing requests."""
    flapper = cluster.backends[0]
    statuses = set()
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline and len(statuses) < 2:
        statuses.add(flapper.healthcheck()[0])
        time.sleep(0.05)
    require_fault(statuses == {200, 500}, "--health-flap")
    wait_first_checks(cluster)
    with StatsWatcher(cluster, interval=0.03) as w:
        res = cluster.traffic(clients=3, rate=40).run(duration=3)
    scenario.verify(res, cluster=cluster)
    states = w.states(0)
    flips = sum(1 for a, b in zip(states, states[1:]) if a != b)
    assert flips >= 2, f"the flapping backend did not flip up/down in /stats ({flips} flips)"
    assert all(w.states(1)) and all(w.states(2))
    scenario.prove(f"a health check flapping every 400 ms flipped the backend {flips} times "
                   f"in /stats; no request was lost across the flips")


@pytest.mark.cluster(backends=3, per_backend={
    0: ["--reset-rate", "1", "--reset-at", "3000"],
    1: ["--truncate-rate", "1", "--truncate-at", "3000"]})
def test_backend_resets_mid_response(cluster, scenario):
    """A reset or a FIN mid-answer closes the client connection; the answer is never patched."""
    data, exc = raw_get(cluster.backends[0].port, "large")
    require_fault(isinstance(exc, ConnectionResetError) and 0 < len(data) <= 3000,
                  "--reset-rate/--reset-at")
    data, exc = raw_get(cluster.backends[1].port, "large")
    require_fault(exc is None and 0 < len(data) <= 3000, "--truncate-rate/--truncate-at")
    wl = Workload(cluster.files, mix={"GET": 8, "HEAD": 1, "PUT": 1})
    res = cluster.traffic(clients=4, workload=wl).run(requests=240)
    scenario.verify(res, cluster=cluster, allow=("ok", "error500", "partial"))
    partial = res.of("partial")
    assert partial, "no answer was cut mid-way: the scenario proved nothing"
    for r in partial:
        assert r.sample.startswith(b"HTTP/1.1 200 OK\r\n"), r.line()
        assert r.received < len(r.expect) + 100, r.line()
    scenario.prove(f"backends resetting (RST) or closing (FIN) after 3000 answer bytes: "
                   f"{len(partial)} answers were closed mid-way, never patched; the other "
                   f"{res.sent - len(partial)} were whole and correct or the exact 500")


@pytest.mark.cluster(backends=2, per_backend={0: ["--garbage-rate", "1", "--scope", "others"]})
def test_backend_answers_garbage(cluster, scenario):
    """Garbage instead of an answer never reaches a client: the exact 500 or another backend."""
    data, _ = raw_get(cluster.backends[0].port, "tiny")
    require_fault(data and not data.startswith(b"HTTP/1.1 "), "--garbage-rate")
    res = cluster.traffic(clients=4).run(requests=160)
    scenario.verify(res, cluster=cluster, allow=("ok", "error500"))
    errors = res.counts().get("error500", 0)
    # Garbage answers are not counted by the fakeserver, so its reported TOTAL stays low and
    # fewest-total keeps choosing it: many 500s are the rule working, not a fault.
    assert errors > 0, "no request met the garbage: the scenario proved nothing"
    scenario.prove(f"a backend sending random bytes instead of answers: no client saw a "
                   f"byte of it ({errors} exact 500s, {res.counts()['ok']} correct answers)")


@pytest.mark.cluster(backends=3, per_backend={0: ["--refuse"], 1: ["--stall"]},
                     lb_args=["--health-timeout", "500ms", "--connect-timeout", "500ms"])
def test_refused_and_stalled_listeners(cluster, scenario):
    """Refusing and stalled listeners are marked down; traffic goes elsewhere."""
    refused, stalled, good = cluster.backends
    require_fault(not port_accepts(refused.port), "--refuse")
    data, exc = raw_get(stalled.port, "tiny", timeout=0.5)
    require_fault(data == b"" and exc is not None, "--stall")
    res = cluster.traffic(clients=4).run(requests=120)
    scenario.verify(res, cluster=cluster)
    stats = cluster.stats()
    assert backend_entry(stats, refused.port)["state"] != "up"
    assert backend_entry(stats, stalled.port)["state"] != "up"
    assert cluster.served() == {0: 0, 1: 0, 2: res.sent}
    slowest = max(r.t_end - r.t_start for r in res.requests)
    scenario.prove(f"a refusing and a stalled listener were marked down by the start-up "
                   f"check; all {res.sent} requests went to the healthy backend "
                   f"(slowest {slowest:.2f}s)")
