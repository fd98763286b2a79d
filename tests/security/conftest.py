"""Fixtures for the hostile-client suites: a recording backend behind a real balancer.

`recorded_lb(opts)` starts one RecordingBackend (harness/recorder.py) and a balancer (project
binary, via the harness's `procs`, so sanitizer reports fail the test) in front of it. Its
helpers state the two halves of every assertion in issue 8: what the client got, and what
the backend got. A backend whose answer function raised fails the test at teardown.

Not a harness Cluster (whose backends are fakeserver processes): the point here is the
backend's record of every byte. The fixture has a name of its own so that the plugin's
`cluster` fixture stays what harness/README.md says it is in every suite.
"""
import itertools

import pytest

from harness.recorder import OK_ANSWER, RecordingBackend

from .rawhttp import connect, exchange, read_one_response, scaled

_seq = itertools.count()


class RecordedLB:
    """A balancer (`lb`, a harness Process) in front of one RecordingBackend (`backend`)."""

    def __init__(self, procs, backend, lb):
        self.procs = procs
        self.backend = backend
        self.lb = lb
        self.port = lb.port

    def send(self, pieces, timeout=None, pause=0.0):
        return exchange(self.port, pieces, timeout=timeout, pause=pause)

    def sentinel(self):
        """A legal GET on a fresh connection, answered 200 through the balancer.

        Proves the balancer still serves, and, because one event loop forwards in order,
        that anything an earlier vector would have forwarded has reached the backend by now.
        (An unanswerable leftover of a vector on a pooled backend connection would also
        hold the sentinel's answer back, which fails the test too.)
        Returns the exact bytes sent."""
        req = b"GET /sentinel-%d HTTP/1.1\r\nHost: lb\r\n\r\n" % next(_seq)
        sock = connect(self.port)
        try:
            sock.sendall(req)
            answer, rest = read_one_response(sock, scaled(10))
        finally:
            sock.close()
        assert answer == OK_ANSWER, f"sentinel answered {answer!r}"
        # The backend records bytes before it answers: the answer proves they are in.
        return req

    def assert_refused(self, raw, statuses=None, pause=0.0):
        """raw is refused with one 4xx answer and a close; no byte of it reaches the backend."""
        mark = self.backend.mark()
        res = self.send(raw, pause=pause)
        ok = statuses or range(400, 500)
        assert res.status in ok, f"expected a 4xx in {list(ok)[:3]}..., got {res!r} for {raw!r}"
        assert res.data.count(b"HTTP/1.") == 1, f"more than one answer: {res.data!r}"
        assert res.closed, f"connection left open after {res.status} for {raw!r}"
        assert self.lb.alive(), "balancer exited"
        sent = self.sentinel()
        got = self.backend.received_since(mark)
        assert got == sent, f"bytes reached the backend for {raw!r}:\n{got!r}"
        return res

    def assert_forwarded(self, raw):
        """A legal request reaches the backend byte for byte and its answer comes back."""
        sock = connect(self.port)
        try:
            sock.sendall(raw)
            answer, _ = read_one_response(sock, scaled(10))
        finally:
            sock.close()
        assert answer == OK_ANSWER, f"answer {answer!r} for {raw!r}"
        got = self.backend.wait_received(lambda d: d == raw, 5)
        assert got == raw, f"backend got {got!r}\nexpected     {raw!r}"


@pytest.fixture
def recorded_lb(procs):
    made = []

    def make(opts=(), answer=None):
        backend = RecordingBackend(answer=answer)
        made.append(backend)
        lb = procs.start(["loadbalancer", *opts, "0", str(backend.port)], name="lb",
                         timeout=scaled(20))
        return RecordedLB(procs, backend, lb)

    yield make
    for b in made:
        b.close()
    for b in made:
        assert not b.errors(), f"the backend's answer function raised: {b.errors()}"


def refused_or_forwarded(cl, raw):
    """For shapes the RFC leaves to the recipient (e.g. `CHUNKED` in capitals): either a
    clean refusal, or the message framed exactly as the backend would frame it (forwarded
    byte for byte, answered once). Any third outcome is a desync."""
    from .rawhttp import Result, read_until_close
    sock = connect(cl.port)
    try:
        sock.sendall(raw)
        answer, rest = read_one_response(sock, scaled(10))
        if answer.startswith(b"HTTP/1.1 4"):
            more, closed = read_until_close(sock, scaled(5))
            res = Result(answer + rest + more, closed)
        else:
            res = Result(answer + rest, False)
    finally:
        sock.close()
    if res.status is not None and 400 <= res.status < 500:
        assert res.closed and res.data.count(b"HTTP/1.") == 1, repr(res)
        sent = cl.sentinel()
        assert cl.backend.received() == sent, f"{raw!r} refused but bytes reached the backend"
        return "refused"
    assert res.data.startswith(OK_ANSWER) and res.data.count(b"HTTP/1.") == 1, \
        f"neither refused nor forwarded once: {res!r} for {raw!r}"
    got = cl.backend.wait_received(lambda d: d == raw, 5)
    assert got == raw, f"backend got {got!r}, client sent {raw!r}"
    return "forwarded"
