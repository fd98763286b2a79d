"""A backend that answers with generated hostile bytes, behind the ASan balancer.

Each example is one plan (see conftest.PlanBackend): a possibly framable answer (1xx
storms, Content-Length / chunked / close-delimited bodies, junk headers, bytes beyond the
body), maybe mutated into something unframable (garbage status line, conflicting or
invalid Content-Length, CL + TE, bad chunk size, over-long head, random bytes, a cut at a
random byte), sent in pieces with short pauses (well inside --server-timeout), ending with
a FIN, an RST, or the connection kept for more requests.

The oracle, per client request (the client keeps its connection alive):
  * a framable answer sent whole and ended by FIN or kept: the client gets exactly the
    framed bytes (never the surplus), and a second request on the same client connection
    gets exactly its own answer (nothing left over was concatenated);
  * an answer the balancer must refuse at the head (CL+TE, conflicting/invalid CL, bad
    status line, head over 64 KiB): exactly the 500 when no 1xx went before;
  * anything else: the exact 500, or a prefix of the backend's bytes and then the close.
"The backend's bytes" are always as the client may get them: connection fields hop by hop
(harness/hop.py, the balancer's default).
After the run the balancer is alive, has no sanitizer report, serves a good request and
holds no more fds than before (pooled idle connections aside) once /stats says at rest."""
import os
import socket

from hypothesis import HealthCheck, given, settings, strategies as st

from harness import ERROR_500
from harness.hop import hop_by_hop

from .conftest import PlanBackend, fds_back_to, read_until, start_lb

SETTINGS = settings(max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "150")),
                    deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])

TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-",
                min_size=1, max_size=12)
HEADER_VALUE = st.binary(max_size=40).map(
    lambda b: bytes(x for x in b if 0x20 <= x < 0x7f).strip())


@st.composite
def answers(draw):
    method = draw(st.sampled_from(["GET", "GET", "GET", "HEAD", "PUT"]))
    req_body = draw(st.binary(min_size=1, max_size=200000)) if method == "PUT" else b""
    early = method == "PUT" and draw(st.booleans())
    version = draw(st.sampled_from([b"HTTP/1.1"] * 5 + [b"HTTP/1.0"]))
    status = draw(st.sampled_from([200, 200, 201, 204, 301, 304, 404, 418, 500, 503, 599]))
    interim = draw(st.sampled_from([0, 0, 0, 1, 2, 3, 60]))
    interim_codes = [draw(st.sampled_from([100, 102, 103])) for _ in range(min(interim, 3))]
    interim_codes += [100] * max(0, interim - 3)
    headers = draw(st.lists(st.tuples(TOKEN, HEADER_VALUE), max_size=4))
    if status in (204, 304):
        framing = "none"
    else:
        framing = draw(st.sampled_from(["cl", "cl", "chunked", "close"]))
    body = draw(st.binary(max_size=3000)) if framing != "none" else b""
    extra = b""
    if framing in ("cl", "chunked", "none"):
        extra = draw(st.sampled_from([b"", b"", b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged",
                                      b"\r\n", b"junk"]))
    ending = draw(st.sampled_from(["fin", "fin", "rst", "keep"]))
    if framing == "close" and ending == "keep":
        ending = "fin"
    mutation = draw(st.sampled_from(["none"] * 6 + [
        "status_garbage", "cl_conflict", "cl_bad", "cl_te", "bad_chunk", "truncate",
        "huge_head", "random_bytes", "cl_dup_same", "big_head_ok"]))

    pre = b"".join(b"HTTP/1.1 %d Continue\r\n\r\n" % c for c in interim_codes)
    status_line = b"%s %d %s\r\n" % (version, status, draw(TOKEN).encode())
    hdr = b"".join(n.encode() + b": " + v + b"\r\n" for n, v in headers)
    head_reject = False
    if mutation == "status_garbage":
        status_line = draw(st.binary(min_size=1, max_size=30).map(
            lambda b: bytes(x for x in b if x not in (10, 13)) or b"x")) + b"\r\n"
        if not status_line.startswith(b"HTTP/"):
            head_reject = True
    if mutation == "huge_head":
        hdr += b"X-Huge: " + b"a" * 70000 + b"\r\n"
        head_reject = True
    if mutation == "big_head_ok":
        hdr += b"X-Big: " + b"b" * draw(st.integers(1000, 30000)) + b"\r\n"
    if framing == "cl":
        framed_body = body
        if mutation == "cl_conflict":
            hdr += b"Content-Length: %d\r\nContent-Length: %d\r\n" % (len(body), len(body) + 1)
            head_reject = True
        elif mutation == "cl_bad":
            hdr += b"Content-Length: " + draw(st.sampled_from(
                [b"abc", b"-1", b"1 2", b"+5", b"0x10", b"99999999999999999999999", b""])) + b"\r\n"
            head_reject = True
        elif mutation == "cl_te":
            hdr += b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(body)
            head_reject = True
        elif mutation == "cl_dup_same":
            hdr += b"Content-Length: %d\r\nContent-Length: %d\r\n" % (len(body), len(body))
        else:
            hdr += b"Content-Length: %d\r\n" % len(body)
    elif framing == "chunked":
        hdr += b"Transfer-Encoding: chunked\r\n"
        if version == b"HTTP/1.0" and method != "HEAD":
            head_reject = True  # chunked is HTTP/1.1 only (RFC 9112 6.1)
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        parts, last = [], 0
        for c in cuts + [len(body)]:
            if c > last:
                parts.append(body[last:c])
            last = c
        framed_body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
        if mutation == "bad_chunk":
            bad = draw(st.sampled_from([b"zz", b"fffffffffffffffffff", b"-1", b""]))
            framed_body = b"%s\r\n%s\r\n0\r\n\r\n" % (bad, body[:5])
    else:
        framed_body = body
    full = pre + status_line + hdr + b"\r\n" + framed_body
    sent = full + extra
    may_whole = False
    if method == "HEAD":
        # No body follows a HEAD answer whatever its fields say (RFC 9112 6.3): what the
        # backend sends after the head is surplus. Only CL+TE is refused outright.
        full = pre + status_line + hdr + b"\r\n"
        if mutation in ("cl_conflict", "cl_bad", "cl_dup_same", "bad_chunk"):
            head_reject, may_whole = False, True
    applies = {"cl_conflict": "cl", "cl_bad": "cl", "cl_te": "cl", "cl_dup_same": "cl",
               "bad_chunk": "chunked"}
    if applies.get(mutation, framing) != framing:
        mutation = "none"  # drew a mutation for another framing: the answer is untouched
    framable = mutation in ("none", "big_head_ok")
    may_whole = may_whole or framable
    if mutation == "truncate" and len(sent) > 1:
        may_whole = method == "HEAD"
        sent = sent[:draw(st.integers(1, len(full) - 1))]
        ending = draw(st.sampled_from(["fin", "rst"]))
    if mutation == "random_bytes":
        sent = draw(st.binary(min_size=1, max_size=500))
        framable = may_whole = False
        ending = draw(st.sampled_from(["fin", "rst"]))
    if not framable and ending == "keep":
        ending = "fin"  # an unframable answer kept open would only cost a server timeout
    # Surplus bytes leave with the last piece of the answer: surplus sent *later*, after
    # the balancer pooled the connection and reused it, cannot be told from an answer to
    # the next request (see README.md; test_late_surplus covers the idle case).
    whole = sent.startswith(full) and len(sent) > len(full)
    body_end = len(full) if whole else len(sent)
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, body_end - 1)), max_size=4))))
    pieces, last = [], 0
    for c in cuts + [body_end]:
        if c > last:
            pieces.append((sent[last:c], draw(st.sampled_from([0, 0, 0.002, 0.02]))))
            last = c
    if whole:
        pieces[-1] = (pieces[-1][0] + sent[len(full):], pieces[-1][1])
    if early and ending != "keep":
        framable = False  # the balancer may fail to send the body before the answer is read
    if version == b"HTTP/1.0" and framing == "chunked" and method != "HEAD":
        framable = may_whole = False
    # What the client may get is the backend's bytes with the connection fields handled
    # hop by hop (harness/hop.py): a body that ends with the close ends the client's
    # connection too, and the answer says so. pieces stay what the backend sends.
    close = framing == "close" and method != "HEAD"
    full, sent = hop_by_hop(full, close=close), hop_by_hop(sent, close=close)
    return dict(pieces=pieces, ending=ending, sent=sent, full=full, framable=framable,
                req_body=req_body, early=early,
                method=method, may_whole=may_whole,
                framing_seen="none" if method == "HEAD" else framing,
                head_reject=head_reject and not pre, framing=framing, mutation=mutation)


def read_answer(sock, want_len=None):
    """Reads want_len bytes (on past an exact 500, which a close follows) or to the close."""
    return read_until(sock, want_len, more_after=ERROR_500)


OK_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"


def judge(plan, got, closed):
    sent, full = plan["sent"], plan["full"]
    clean = plan["framable"] and plan["ending"] in ("fin", "keep")
    if clean:
        assert got == full, f"framable answer not relayed exactly: got {got[:300]!r} " \
                            f"want {full[:300]!r} ({plan['mutation']}, {plan['framing']})"
        return "whole"
    if plan["head_reject"]:
        assert got == ERROR_500, f"unframable head not answered by the exact 500: {got[:300]!r}"
        assert closed, "no close after the 500"
        return "500"
    if got == ERROR_500:
        assert closed, "no close after the 500"
        return "500"
    if plan["may_whole"] and got == full:
        return "whole"
    assert sent.startswith(got), f"client got bytes the backend never sent (patched?): " \
                                 f"{got[:300]!r} vs sent {sent[:300]!r}"
    assert closed, f"a partial answer left the client hanging: {got[:300]!r}"
    assert got, "a close with nothing: expected the 500 when no byte was relayed"
    return "close"


def test_hostile_backend_answers(procs):
    backend = PlanBackend()
    try:
        lb = start_lb(procs, [backend.port], "--server-timeout", "1s", "-R", "50")
        backend.plan("/warm", [(OK_ANSWER, 0)], "keep")
        s = socket.create_connection(("127.0.0.1", lb.port), timeout=5)
        s.sendall(b"GET /warm HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(s, len(OK_ANSWER))[0] == OK_ANSWER
        s.close()
        lb.settle()
        pool0 = sum(b.get("pool_idle", 0) for b in lb.stats()["backends"])
        base = lb.fds() - pool0
        outcomes = {}
        counter = [0]

        @SETTINGS
        @given(plan=answers())
        def one(plan):
            counter[0] += 1
            path = f"/h{counter[0]}"
            backend.plan(path, plan["pieces"], plan["ending"], plan["early"])
            sock = socket.create_connection(("127.0.0.1", lb.port), timeout=5)
            try:
                body = plan["req_body"]
                cl = f"Content-Length: {len(body)}\r\n" if plan["method"] == "PUT" else ""
                sock.sendall(f"{plan['method']} {path} HTTP/1.1\r\nHost: lb\r\n{cl}\r\n"
                             .encode() + body)
                keeps = plan["may_whole"] and plan["framing_seen"] != "close"
                got, closed = read_answer(sock, len(plan["full"]) if keeps else None)
                kind = judge(plan, got, closed)
                outcomes[kind] = outcomes.get(kind, 0) + 1
                if kind == "whole" and keeps and not closed and not plan["early"]:
                    backend.plan(path + "b", [(OK_ANSWER, 0)], "keep")
                    sock.sendall(f"GET {path}b HTTP/1.1\r\nHost: lb\r\n\r\n".encode())
                    got2, _ = read_answer(sock, len(OK_ANSWER))
                    assert got2 == OK_ANSWER, f"second answer on the connection: {got2[:200]!r}"
            finally:
                sock.close()
            lb.assert_alive()

        one()
        print("outcomes", outcomes)
        lb.assert_alive()
        fds_back_to(lb, base)
        backend.plan("/final", [(OK_ANSWER, 0)], "fin")
        s = socket.create_connection(("127.0.0.1", lb.port), timeout=5)
        s.sendall(b"GET /final HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(s, len(OK_ANSWER))[0] == OK_ANSWER
        s.close()
        lb.assert_alive()
    finally:
        backend.close()


def _one(lb, path, want_len=None):
    sock = socket.create_connection(("127.0.0.1", lb.port), timeout=5)
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: lb\r\n\r\n".encode())
        return read_answer(sock, want_len)
    finally:
        sock.close()


def test_timeouts_and_dribbles(procs):
    """Deterministic edges of the server timeout (1 s, inactivity): a dribble whose pieces
    each come within it is relayed whole though it lasts longer in all; silence before any
    byte is the exact 500 within about one timeout; silence after a relayed prefix is that
    prefix and the close."""
    import time
    backend = PlanBackend()
    try:
        lb = start_lb(procs, [backend.port], "--server-timeout", "1s", "-R", "50")
        body = b"0123456789" * 5
        full = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n" + body
        backend.plan("/dribble", [(full[i:i + 20], 0.3) for i in range(0, len(full), 20)], "keep")
        t0 = time.monotonic()
        got, _ = _one(lb, "/dribble", len(full))
        assert got == full and time.monotonic() - t0 > 1.0

        backend.plan("/silent", [], "keep")
        t0 = time.monotonic()
        got, closed = _one(lb, "/silent")
        assert got == ERROR_500 and closed
        assert time.monotonic() - t0 < 3.0

        backend.plan("/half", [(full[:45], 0)], "keep")
        got, closed = _one(lb, "/half")
        assert got == full[:45] and closed
        lb.assert_alive()
    finally:
        backend.close()


def test_late_surplus_on_an_idle_pooled_connection(procs):
    """Surplus bytes that arrive after the answer, while the backend connection idles in
    the pool, make the balancer drop that connection: the next request gets its own
    answer, never the surplus."""
    backend = PlanBackend()
    try:
        lb = start_lb(procs, [backend.port], "--server-timeout", "1s", "-R", "50")
        first = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
        forged = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"
        backend.plan("/a", [(first, 0), (forged, 0.2)], "keep")
        assert _one(lb, "/a", len(first))[0] == first
        pool = lambda: sum(b.get("pool_idle", 0) for b in lb.stats()["backends"])
        from .conftest import wait_for
        wait_for(lambda: pool() == 1, 5, "the connection pooled")
        wait_for(lambda: pool() == 0, 5, "the spoken-out-of-turn connection dropped")
        backend.plan("/b", [(OK_ANSWER, 0)], "keep")
        assert _one(lb, "/b", len(OK_ANSWER))[0] == OK_ANSWER
        lb.assert_alive()
    finally:
        backend.close()


def test_101_switching_protocols_is_not_relayed_as_an_answer(procs):
    """Regression: a `101 Switching Protocols` was relayed as a whole, bodiless answer and
    the client connection kept as HTTP, so the client hung on a connection that its peer
    said had left HTTP (and a 101 backend connection could be pooled). The balancer does
    not tunnel upgraded connections: a 101 is an answer it cannot frame, so the client
    gets the exact 500 and the close, and the backend connection is dropped."""
    backend = PlanBackend()
    try:
        lb = start_lb(procs, [backend.port], "--server-timeout", "1s", "-R", "50")
        h101 = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        backend.plan("/ws1", [(h101 + b"\x81\x02hi", 0)], "fin")
        backend.plan("/ws2", [(h101, 0)], "keep")
        for path, extra in (("/ws1", ""), ("/ws2", "Upgrade: websocket\r\nConnection: Upgrade\r\n")):
            sock = socket.create_connection(("127.0.0.1", lb.port), timeout=5)
            try:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: lb\r\n{extra}\r\n".encode())
                got, closed = read_answer(sock)
            finally:
                sock.close()
            assert (got, closed) == (ERROR_500, True), got
        backend.plan("/after", [(OK_ANSWER, 0)], "keep")
        assert _one(lb, "/after", len(OK_ANSWER))[0] == OK_ANSWER
        assert lb.stats()["backends"][0]["pool_idle"] <= 1
        lb.assert_alive()
    finally:
        backend.close()


def test_put_never_rides_a_pooled_connection(procs):
    """Regression: a PUT could take an idle pooled backend connection that the backend was
    closing at that moment (the keep-alive close race: the peek before reuse cannot see a
    FIN still in flight). Since a PUT is never resent once sent, the client got a 500 for
    a healthy backend (found by test_hostile_mix under load). A non-idempotent request
    now always opens its own connection (HAProxy's http-reuse safe does the same for the
    requests it cannot retry); GET/HEAD still reuse the pool and are resent if it fails."""
    from .conftest import wait_for
    backend = PlanBackend()
    try:
        lb = start_lb(procs, [backend.port], "--server-timeout", "1s", "-R", "50")
        backend.plan("/a", [(OK_ANSWER, 0)], "keep")
        assert _one(lb, "/a", len(OK_ANSWER))[0] == OK_ANSWER
        pool = lambda: lb.stats()["backends"][0]["pool_idle"]
        wait_for(lambda: pool() == 1, 5, "the GET's connection pooled")
        created = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
        backend.plan("/p", [(created, 0)], "keep")
        backend.close_if_reused.add("/p")
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", lb.port), timeout=5)
            try:
                sock.sendall(b"PUT /p HTTP/1.1\r\nHost: lb\r\nContent-Length: 3\r\n\r\nabc")
                got, _ = read_answer(sock, len(created))
            finally:
                sock.close()
            assert got == created
        assert lb.stats()["pool_reuses"] == 0
        # the PUTs' own connections refill only an empty pool: it does not grow
        lb.settle()
        assert pool() == 1
        backend.plan("/b", [(OK_ANSWER, 0)], "keep")  # a GET still takes the pool
        assert _one(lb, "/b", len(OK_ANSWER))[0] == OK_ANSWER
        assert lb.stats()["pool_reuses"] == 1
        lb.assert_alive()
    finally:
        backend.close()
