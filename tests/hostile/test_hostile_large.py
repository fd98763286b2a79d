"""Hostile backends and clients meet the splice relay: answers of 16 KiB to 600 KiB.

The balancer relays the rest of a body by splice(2) through a 64 KiB pipe once its head and
first read (at most 16 KiB) went to the client and at least 16 KiB are still to come by
Content-Length, or once a close-delimited body filled that first window (lb/README.md,
"Relay"). The small answers of the other hostile suites never get there. Here:

* `test_large_answer_cut_at_a_random_offset`: the backend declares a large Content-Length
  (or frames the body by the close) and sends a random prefix of it in pieces with pauses,
  then a FIN, an RST, or silence (the connection kept: the server timeout runs out). Sizes
  straddle the thresholds (16 KiB as a Content-Length; 32 KiB, where what is left after a
  16 KiB first read crosses 16 KiB) or lie anywhere up to 600 KiB, sometimes after 1xx
  interim answers. Oracle: a whole
  Content-Length answer is relayed exactly and the client connection serves its next
  request; a whole close-delimited one ended by FIN is relayed exactly, then the close;
  silence after a prefix gives exactly that prefix, then the close; a FIN or an RST after a
  prefix gives a prefix of the backend's bytes and the close (or the exact 500 when an RST
  left no byte to relay). Never a byte the backend did not send.
* `test_bytes_beyond_a_large_body`: the answer is whole, and bytes follow it in the same
  segment as its last bytes (junk, a forged second answer): the client gets exactly the
  framed answer, and its next request (sent after the answer, or pipelined with the first)
  gets exactly its own answer, never the surplus. This is the one `MSG_PEEK` at the end of
  a spliced answer (`splice_peek_beyond`) under test.
* `test_slow_reader_of_a_large_answer`: a client reads a large answer in small pieces with
  pauses (the pipe fills, the backend is not read until the client takes bytes), and may
  leave part way (FIN or RST): what it reads is exact.

Every test ends as the other hostile suites do (balancer alive, sanitizer-clean, at rest by
/stats, fds back to their base: a pipe kept after a failure would show, a good request
served) and checks that /stats `spliced_bytes` grew, so the splice path was really met."""
import os
import random
import socket
import time

from hypothesis import HealthCheck, given, settings, strategies as st

from harness import ERROR_500

from .conftest import PlanBackend, fds_back_to, read_until, rst_close, start_lb
from .test_hostile_backends import OK_ANSWER, read_answer

SETTINGS = settings(max_examples=max(1, int(os.environ.get("HOSTILE_EXAMPLES", "150")) // 5),
                    deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])
KIB = 1024
SIZES = st.one_of(st.integers(16 * KIB - 64, 16 * KIB + 64),    # Content-Length threshold
                  st.integers(32 * KIB - 512, 32 * KIB + 512),  # 16 KiB left after the first read
                  st.integers(20 * KIB, 600 * KIB))
PAUSES = st.sampled_from([0, 0, 0.002, 0.02])
# 1xx answers before the final head: relayed, then the large answer's head is awaited
INTERIM = st.sampled_from([b"", b"", b"", b"HTTP/1.1 100 Continue\r\n\r\n",
                           b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" * 3])
SERVER_TIMEOUT = "500ms"


class Blob(bytes):
    """Bytes that print short: a falsifying example shows sizes, not 600 KiB."""

    def __repr__(self):
        return f"<{len(self)} bytes {bytes(self[:16])!r}...>"


def make_body(seed, size):
    return Blob(random.Random(seed).randbytes(size))


def head_for(framing, size):
    if framing == "cl":
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size
    # Its connection field stands last, where the balancer puts the one it sends (a body
    # that ends with the close ends the client's connection too, and the answer says so):
    # so the client gets exactly these bytes. harness/hop.py models the general case.
    return b"HTTP/1.1 200 OK\r\nX-Framing: close\r\nConnection: close\r\n\r\n"


def split(draw, data, max_cuts=4):
    """data in pieces at drawn cut points, each with a drawn pause before it."""
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=max_cuts))))
    pieces, last = [], 0
    for c in cuts + [len(data)]:
        if c > last:
            pieces.append((Blob(data[last:c]), draw(PAUSES)))
            last = c
    return pieces


class Harness:
    """A PlanBackend behind the balancer, its fd base and spliced_bytes at the start."""

    def __init__(self, procs, server_timeout=SERVER_TIMEOUT):
        self.backend = PlanBackend()
        self.lb = start_lb(procs, [self.backend.port], "--server-timeout", server_timeout,
                           "-R", "50")
        self.backend.plan("/warm", [(OK_ANSWER, 0)], "keep")
        assert self.get("/warm", len(OK_ANSWER))[0] == OK_ANSWER
        self.lb.settle()
        s = self.lb.stats()
        self.base = self.lb.fds() - sum(b.get("pool_idle", 0) for b in s["backends"])
        self.spliced0 = s["spliced_bytes"]
        self.n = 0

    def path(self, prefix):
        self.n += 1
        return f"/{prefix}{self.n}"

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.lb.port), timeout=5)

    def get(self, path, want_len=None):
        sock = self.connect()
        try:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: lb\r\n\r\n".encode())
            return read_answer(sock, want_len)
        finally:
            sock.close()

    def second_answer_ok(self, sock, path):
        """The next request on the same client connection gets exactly its own answer."""
        self.backend.plan(path + "n", [(OK_ANSWER, 0)], "keep")
        sock.sendall(f"GET {path}n HTTP/1.1\r\nHost: lb\r\n\r\n".encode())
        got, _ = read_answer(sock, len(OK_ANSWER))
        assert got == OK_ANSWER, f"next answer on the connection: {got[:200]!r}"

    def finish(self, min_spliced):
        self.lb.assert_alive()
        fds_back_to(self.lb, self.base)
        self.backend.plan("/final", [(OK_ANSWER, 0)], "fin")
        assert self.get("/final", len(OK_ANSWER))[0] == OK_ANSWER
        spliced = self.lb.stats()["spliced_bytes"] - self.spliced0
        assert spliced >= min_spliced, f"splice path not met: spliced_bytes grew by {spliced}"
        self.lb.assert_alive()
        return spliced

    def close(self):
        self.backend.close()


# -- a large answer cut at a random offset -----------------------------------------------
@st.composite
def cut_plans(draw):
    framing = draw(st.sampled_from(["cl", "cl", "cl", "close"]))
    size = draw(SIZES)
    body = make_body(draw(st.integers(0, 2**32)), size)
    head = draw(INTERIM) + head_for(framing, size)
    full = head + body
    # where the backend stops: anywhere in the body, often at its very end (whole)
    cut = draw(st.one_of(st.just(size), st.integers(0, size)))
    ending = draw(st.sampled_from(["fin", "fin", "rst", "rst", "stall"]))
    if framing == "close" and ending == "stall" and cut == size:
        ending = "fin"  # silence at the end of a close-delimited body is just a stall
    sent = Blob(full[:len(head) + cut])
    return dict(framing=framing, size=size, cut=cut, ending=ending, full=Blob(full), sent=sent,
                pieces=split(draw, sent))


def judge_cut(plan, got, closed):
    full, sent, ending = plan["full"], plan["sent"], plan["ending"]
    whole_cl = plan["framing"] == "cl" and sent == full and ending != "rst"
    if whole_cl:
        assert got == full, f"whole answer not relayed exactly: {len(got)} of {len(full)} " \
                            f"bytes, prefix ok: {full.startswith(got)}"
        return "whole"
    if sent == full and got == full:
        return "whole"  # an RST after the whole answer: relayed whole, the client may stay
    if got == ERROR_500:
        assert ending == "rst", f"the 500 after a {ending} that left bytes to relay"
        assert closed, "no close after the 500"
        return "500"
    assert sent.startswith(got), f"bytes the backend never sent: got {len(got)} bytes, " \
                                 f"first difference at {_diff(got, sent)}"
    assert closed, f"a cut answer left the client hanging after {len(got)} bytes"
    if plan["framing"] == "close" and ending == "fin":
        assert got == sent, f"close-delimited body ended by FIN: {len(got)} of {len(sent)}"
        return "whole-close"
    if ending == "stall":
        assert got == sent, f"silence after {len(sent)} bytes: only {len(got)} relayed"
    return "prefix"


def _diff(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def test_large_answer_cut_at_a_random_offset(procs):
    h = Harness(procs)
    try:
        outcomes = {}

        @SETTINGS
        @given(plan=cut_plans())
        def one(plan):
            path = h.path("cut")
            h.backend.plan(path, plan["pieces"], "keep" if plan["ending"] == "stall"
                           else plan["ending"])
            sock = h.connect()
            try:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: lb\r\n\r\n".encode())
                whole_cl = plan["framing"] == "cl" and plan["sent"] == plan["full"]
                got, closed = read_until(sock, len(plan["full"]) if whole_cl else None)
                kind = judge_cut(plan, got, closed)
                key = f"{plan['framing']} {plan['ending']} {kind}"
                outcomes[key] = outcomes.get(key, 0) + 1
                if kind == "whole" and whole_cl and plan["ending"] != "rst":
                    h.second_answer_ok(sock, path)
            finally:
                sock.close()
            h.lb.assert_alive()

        one()
        print("outcomes", outcomes)
        h.finish(min_spliced=1)
    finally:
        h.close()


# -- bytes beyond a large body ---------------------------------------------------------
SURPLUS = st.sampled_from([b"junk", b"\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged",
                           b"x" * 3000])


@st.composite
def surplus_plans(draw):
    size = draw(SIZES)
    body = make_body(draw(st.integers(0, 2**32)), size)
    full = Blob(draw(INTERIM) + head_for("cl", size) + body)
    surplus = draw(SURPLUS)
    # The surplus leaves in one send with the answer's last bytes (at most 1 KiB of them),
    # so it is in the socket when the body's last byte is: a surplus sent later cannot be
    # told from the next answer on a pooled connection (README.md, "A limit of pooling").
    tail = draw(st.integers(1, 1024))
    pieces = split(draw, full[:-tail], max_cuts=3) + [(Blob(full[-tail:] + surplus),
                                                       draw(PAUSES))]
    return dict(full=full, pieces=pieces, ending=draw(st.sampled_from(["keep", "fin"])),
                pipelined=draw(st.booleans()))


def test_bytes_beyond_a_large_body(procs):
    h = Harness(procs)
    try:
        @SETTINGS
        @given(plan=surplus_plans())
        def one(plan):
            path = h.path("sur")
            h.backend.plan(path, plan["pieces"], plan["ending"])
            h.backend.plan(path + "n", [(OK_ANSWER, 0)], "keep")
            sock = h.connect()
            try:
                req = f"GET {path} HTTP/1.1\r\nHost: lb\r\n\r\n".encode()
                if plan["pipelined"]:
                    sock.sendall(req + f"GET {path}n HTTP/1.1\r\nHost: lb\r\n\r\n".encode())
                    want = plan["full"] + OK_ANSWER
                    got, _ = read_answer(sock, len(want))
                    assert got == want, f"pipelined: {len(got)} bytes, first difference at " \
                                        f"{_diff(got, want)} of {len(want)}: " \
                                        f"{got[len(plan['full']):][:120]!r}"
                else:
                    sock.sendall(req)
                    got, _ = read_answer(sock, len(plan["full"]))
                    assert got == plan["full"], f"{len(got)} of {len(plan['full'])} bytes"
                    h.second_answer_ok(sock, path)
            finally:
                sock.close()
            h.lb.assert_alive()

        one()
        h.finish(min_spliced=1)
    finally:
        h.close()


# -- a slow reader of a large answer -----------------------------------------------------
@st.composite
def slow_reads(draw):
    framing = draw(st.sampled_from(["cl", "cl", "close"]))
    size = draw(st.integers(20 * KIB, 512 * KIB))
    body = make_body(draw(st.integers(0, 2**32)), size)
    full = Blob(head_for(framing, size) + body)
    return dict(framing=framing, full=full, pieces=split(draw, full, max_cuts=2),
                ending="keep" if framing == "cl" else "fin",
                chunk=draw(st.sampled_from([4096, 8192, 16384])),
                pause=draw(st.sampled_from([0.0005, 0.002, 0.005])),
                leave_at=draw(st.one_of(st.none(), st.integers(1, len(full) - 1))),
                rst=draw(st.booleans()))


SLOW_SETTINGS = settings(SETTINGS, max_examples=max(1, SETTINGS.max_examples // 2))


def test_slow_reader_of_a_large_answer(procs):
    h = Harness(procs, server_timeout="3s")  # slowness is tested here, not the timeout
    try:
        @SLOW_SETTINGS
        @given(plan=slow_reads())
        def one(plan):
            path = h.path("slow")
            h.backend.plan(path, plan["pieces"], plan["ending"])
            full = plan["full"]
            stop = plan["leave_at"] if plan["leave_at"] is not None else len(full)
            sock = h.connect()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # a small window
            try:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: lb\r\n\r\n".encode())
                sock.settimeout(4)
                got = b""
                # Pauses between reads stay far inside the server timeout: the client is
                # slow, never silent for the backend's deadline.
                deadline = time.monotonic() + 60
                while len(got) < stop and time.monotonic() < deadline:
                    d = sock.recv(min(plan["chunk"], stop - len(got)))
                    if not d:
                        break
                    got += d
                    time.sleep(plan["pause"])
                assert full.startswith(got), f"bytes not sent: first difference at " \
                                             f"{_diff(got, full)}"
                assert len(got) == stop, f"read {len(got)} of {stop} bytes, then a close"
                if plan["leave_at"] is None and plan["framing"] == "close":
                    assert read_until(sock)[1], "no close after a close-delimited answer"
                elif plan["leave_at"] is None:
                    h.second_answer_ok(sock, path)
            finally:
                rst_close(sock) if plan["rst"] else sock.close()
            h.lb.assert_alive()

        one()
        h.finish(min_spliced=1)
    finally:
        h.close()
