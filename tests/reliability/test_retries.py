"""Safe retries (issue 8): when a backend resets or closes before any byte of the answer,
an idempotent request (GET, HEAD) is retried once on another backend; a PUT whose bytes
were sent is never retried. Backends are named so that the faulty one is chosen first
(equal counts: the first named wins, CONTRACT.md section 2)."""
import collections

import pytest

from harness import fetch

from .conftest import FAULTS, small_files

FILES = small_files("retry-me", "twice")


@pytest.mark.parametrize("fault", ["reset", "close"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_idempotent_request_is_retried_on_another_backend(cluster_factory, fault, method):
    c = cluster_factory(backends=2, per_backend={0: FAULTS[fault]}, files=FILES)
    bad, good = c.backends
    answer = fetch(c.port, method, "/retry-me")
    assert answer.status == 200, f"{method} after a {fault} got {answer.raw[:200]!r}"
    if method == "GET":
        assert answer.body == FILES["retry-me"]
    assert bad.requests()[(method, "retry-me")], "the faulty backend was not tried first"
    assert good.requests()[(method, "retry-me")] == 1


@pytest.mark.parametrize("fault", ["reset", "close"])
def test_put_is_never_retried_after_its_bytes_were_sent(cluster_factory, fault):
    c = cluster_factory(backends=2, per_backend={0: FAULTS[fault]}, files=FILES)
    bad, good = c.backends
    try:
        outcome = fetch(c.port, "PUT", "/once", body=b"x" * 1000).status
    except ConnectionError as exc:  # a close without an answer is the other honest outcome
        outcome = f"closed ({exc})"
    assert bad.requests() == collections.Counter({("PUT", "once"): 1})
    assert not good.requests()[("PUT", "once")], f"PUT retried: client saw {outcome}"
    assert outcome in (500, 502, 503) or str(outcome).startswith("closed"), \
        f"PUT after {fault}: {outcome}"


def test_get_is_retried_at_most_once(cluster_factory):
    c = cluster_factory(backends=3, per_backend={0: FAULTS["reset"], 1: FAULTS["reset"]},
                        files=FILES)
    try:
        status = fetch(c.port, "GET", "/twice").status
    except ConnectionError:
        status = "closed"
    tries = sum(b.requests()[("GET", "twice")] for b in c.backends)
    assert tries == 2, f"GET tried {tries} times (one retry expected), answer {status}"
    assert status in (500, 502, 503, "closed")


def test_retry_budget_stops_a_retry_storm(cluster_factory):
    # Every backend resets every request. Without a budget each GET costs two backend
    # attempts (a retry storm doubles the load on a sick cluster); the balancer's budget
    # (lb/README.md: resends under one per five requests, with a burst of 10) keeps the
    # extra load a fraction.
    n = 60
    c = cluster_factory(backends=3, backend_args=FAULTS["reset"], lb_args=["--eject-after=0"],
                        files=small_files(*(f"storm{i}" for i in range(n))))
    for i in range(n):
        try:
            fetch(c.port, "GET", f"/storm{i}")
        except ConnectionError:
            pass
    attempts = sum(b.served() for b in c.backends)
    assert n <= attempts <= n + n // 5 + 10, f"{attempts} backend attempts for {n} requests"
