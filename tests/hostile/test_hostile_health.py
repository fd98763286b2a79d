"""Hostile health-check answers: the probe's answer is generated (good or bad bodies,
statuses, framings, 1xx heads, splits with pauses, FIN/RST/kept open) while requests flow
with -R 1 (a round per forwarded request). After the round that saw the answer, the
backend's state is `up` exactly for a valid `HTTP/1.1 200` with `ERRORS\\nTOTAL`
(0 <= ERRORS <= TOTAL) framed by Content-Length or the close; requests are still served
(panic rule when down); no crash, no sanitizer report, no fd left behind."""
import os
import socket

from hypothesis import HealthCheck, given, settings, strategies as st

from harness import ERROR_500

from .conftest import PlanBackend, fds_back_to, start_lb, wait_for
from .test_hostile_backends import OK_ANSWER, read_answer

SETTINGS = settings(max_examples=max(1, int(os.environ.get("HOSTILE_EXAMPLES", "150")) // 3),
                    deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@st.composite
def health_answers(draw):
    errors = draw(st.integers(0, 50))
    total = draw(st.integers(0, 60))
    body = b"%d\n%d" % (errors, total) + draw(st.sampled_from([b"", b"\n"]))
    good = errors <= total
    kind = draw(st.sampled_from(["cl", "cl", "close", "bad_status", "bad_body", "short", "1xx"]))
    if kind == "bad_body":
        body = draw(st.sampled_from([b"x\n1", b"1\n", b"-1\n3", b"1 2", b"", b"1\n2\n3",
                                     b"99999999999999999999999\n1"]))
        good = False
    status = b"200 OK"
    if kind == "bad_status":
        status = draw(st.sampled_from([b"500 Internal Server Error", b"201 Created", b"404 x"]))
        good = False
    head = b"HTTP/1.1 " + status + b"\r\n"
    if kind == "1xx":
        head = b"HTTP/1.1 100 Continue\r\n\r\n" + head  # what a probe does with it is open
        good = None
    if kind == "close":
        data, ending = head + b"\r\n" + body, draw(st.sampled_from(["fin", "rst"]))
        if ending == "rst":
            good = None if good else good  # an RST may cut the answer before it is read
    else:
        data = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        ending = draw(st.sampled_from(["keep", "fin", "rst"]))
        if ending == "rst":
            good = None if good else good
    if kind == "short":
        data = data[:draw(st.integers(1, len(data) - 1))]
        ending = draw(st.sampled_from(["fin", "rst", "keep"]))
        good = False
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=3))))
    pieces, last = [], 0
    for c in cuts + [len(data)]:
        if c > last:
            pieces.append((data[last:c], draw(st.sampled_from([0, 0, 0.01]))))
            last = c
    return dict(pieces=pieces, ending=ending, good=good)


def test_hostile_health_answers(procs):
    backend = PlanBackend()
    try:
        lb = start_lb(procs, [backend.port], "-R", "1", "--health-timeout", "300ms",
                      "--server-timeout", "1s")
        backend.plan("/r", [(OK_ANSWER, 0)], "keep")
        lb.settle()
        base = lb.fds() - lb.stats()["backends"][0]["pool_idle"]
        seen = {}

        @SETTINGS
        @given(h=health_answers())
        def one(h):
            backend.health = (h["pieces"], h["ending"])
            sock = socket.create_connection(("127.0.0.1", lb.port), timeout=5)
            try:
                sock.sendall(b"GET /r HTTP/1.1\r\nHost: lb\r\n\r\n")
                assert read_answer(sock, len(OK_ANSWER))[0] == OK_ANSWER
            finally:
                sock.close()
            started = lb.stats()["health_rounds_started"]
            wait_for(lambda: lb.stats()["health_rounds_done"] >= started, 5, "the round")
            # the round asked for by that request may be queued behind one in flight
            started = lb.stats()["health_rounds_started"]
            wait_for(lambda: lb.stats()["health_rounds_done"] >= started, 5, "the round")
            state = lb.stats()["backends"][0]["state"]
            key = f"{h['good']}->{state}"
            seen[key] = seen.get(key, 0) + 1
            if h["good"] is not None:
                assert state == ("up" if h["good"] else "down"), (h, state)
            lb.assert_alive()

        one()
        print("health outcomes", seen)
        backend.health = ([(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n0\n0", 0)], "keep")
        lb.assert_alive()
        fds_back_to(lb, base)
    finally:
        backend.close()


def test_a_request_stays_when_there_is_nowhere_to_move(procs):
    """Regression (found by test_hostile_health_answers): a probe that marks the only
    backend down moved its in-flight idempotent requests off it, and with nowhere else to
    go they got the 500 although the backend was about to answer. A request now moves
    only to another healthy backend; otherwise it stays (server timeout still applies)."""
    backend = PlanBackend()
    try:
        backend.health = ([(ERROR_500, 0)], "keep")
        lb = start_lb(procs, [backend.port], "-R", "1", "--server-timeout", "2s")
        backend.plan("/slow", [(OK_ANSWER, 0.4)], "keep")
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", lb.port), timeout=5)
            try:
                sock.sendall(b"GET /slow HTTP/1.1\r\nHost: lb\r\n\r\n")
                assert read_answer(sock, len(OK_ANSWER))[0] == OK_ANSWER
            finally:
                sock.close()
        assert lb.stats()["backends"][0]["state"] == "down"
        lb.assert_alive()
    finally:
        backend.close()
