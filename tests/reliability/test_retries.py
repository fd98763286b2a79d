"""Safe retries (issue 8): when a backend resets or closes before any byte of the answer,
an idempotent request (GET, HEAD) is retried once on another backend; a PUT whose bytes
were sent is never retried. Backends are named so that the faulty one is chosen first
(equal counts: the first named wins, CONTRACT.md section 2)."""
import pytest

from .backend import expected_body
from .conftest import Rig, request


@pytest.mark.parametrize("fault", ["reset", "close"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_idempotent_request_is_retried_on_another_backend(rig, fault, method):
    bad = rig.backend("--mode", fault)
    good = rig.backend()
    rig.balancer()
    status, body, sock = request(rig.lb.port, method, "/retry-me")
    sock.close()
    assert status == 200, f"{method} after a {fault} got {status} {body!r}"
    if method == "GET":
        assert body == expected_body("/retry-me")
    assert f"{method} /retry-me" in Rig.requests_of(bad), "the faulty backend was not tried first"
    assert Rig.requests_of(good).count(f"{method} /retry-me") == 1


@pytest.mark.parametrize("fault", ["reset", "close"])
def test_put_is_never_retried_after_its_bytes_were_sent(rig, fault):
    bad = rig.backend("--mode", fault)
    good = rig.backend()
    rig.balancer()
    outcome = None
    try:
        status, body, sock = request(rig.lb.port, "PUT", "/once", body=b"x" * 1000)
        sock.close()
        outcome = (status, body)
    except ConnectionError as exc:  # a close without an answer is the other honest outcome
        outcome = ("closed", str(exc))
    assert Rig.requests_of(bad) == ["PUT /once"]
    assert "PUT /once" not in Rig.requests_of(good), f"PUT retried: client saw {outcome}"
    assert outcome[0] in (500, 502, 503, "closed"), f"PUT after {fault}: {outcome}"


def test_get_is_retried_at_most_once(rig):
    first = rig.backend("--mode", "reset")
    second = rig.backend("--mode", "reset")
    third = rig.backend()
    rig.balancer()
    try:
        status, _body, sock = request(rig.lb.port, "GET", "/twice")
        sock.close()
    except ConnectionError:
        status = "closed"
    tries = sum(Rig.requests_of(b).count("GET /twice") for b in (first, second, third))
    assert tries == 2, f"GET tried {tries} times (one retry expected), answer {status}"
    assert status in (500, 502, 503, "closed")



def test_retry_budget_stops_a_retry_storm(rig):
    # Every backend resets every request. Without a budget each GET costs two backend
    # attempts (a retry storm doubles the load on a sick cluster); the balancer's budget
    # (lb/README.md: resends under one per five requests, with a burst of 10) keeps the
    # extra load a fraction.
    for _ in range(3):
        rig.backend("--mode", "reset")
    rig.balancer("--eject-after=0")
    n = 60
    for i in range(n):
        try:
            _s, _b, sock = request(rig.lb.port, "GET", f"/storm{i}")
            sock.close()
        except ConnectionError:
            pass
    attempts = sum(len(Rig.requests_of(b)) for b in rig.backends)
    assert n <= attempts <= n + n // 5 + 10, f"{attempts} backend attempts for {n} requests"
