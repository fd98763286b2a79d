"""Hostile answers meet concurrency: two backends sharing the same plans behind a
balancer with -N 2 (so requests queue), several clients at once, each pipelining up to
three requests, some clients leaving after a few bytes of the answers.

Oracle per connection, request by request in order: a framable answer ended cleanly is
relayed whole; a head that must be refused is the exact 500; otherwise the rest of the
stream is the exact 500 or a prefix of that request's backend bytes, then the close.
Nothing is ever answered out of order, twice, or patched. Then: alive, at rest, no fd
leak, a good request served."""
import os
import socket
import threading

from hypothesis import HealthCheck, given, settings, strategies as st

from harness import ERROR_500

from .conftest import PlanBackend, fds_back_to, rst_close, start_lb
from .test_hostile_backends import OK_ANSWER, answers, read_answer

SETTINGS = settings(max_examples=max(1, int(os.environ.get("HOSTILE_EXAMPLES", "150")) // 3),
                    deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


def judge_stream(plans, got, closed):
    rem = got
    for plan in plans:
        clean = plan["framable"] and plan["ending"] in ("fin", "keep")
        if rem == ERROR_500 and not clean:
            assert closed
            return
        if plan["head_reject"]:
            assert rem == ERROR_500, f"refusable head not answered by the 500: {rem[:200]!r}"
            return
        if plan["may_whole"] and rem.startswith(plan["full"]):
            rem = rem[len(plan["full"]):]
            if plan["framing_seen"] == "close":
                assert closed and not rem
                return
            continue
        assert not clean, f"clean answer not relayed whole: {rem[:200]!r} vs {plan['full'][:200]!r}"
        assert plan["sent"].startswith(rem), f"patched/concatenated: {rem[:200]!r}"
        assert closed, f"partial answer without a close: {rem[:200]!r}"
        return
    assert not rem, f"bytes after the last answer: {rem[:200]!r}"


def test_hostile_mix(procs):
    plans, lock = {}, threading.Lock()
    backends = [PlanBackend(plans, lock), PlanBackend(plans, lock)]
    try:
        lb = start_lb(procs, [b.port for b in backends], "--server-timeout", "1s", "-N", "2")
        backends[0].plan("/warm", [(OK_ANSWER, 0)], "fin")
        assert _get(lb, "/warm") == OK_ANSWER
        lb.settle()
        base = lb.fds() - sum(b.get("pool_idle", 0) for b in lb.stats()["backends"])
        counter = [0]

        @SETTINGS
        @given(clients=st.lists(st.tuples(st.lists(answers(), min_size=1, max_size=3),
                                          st.sampled_from(["read", "read", "read", "leave"]),
                                          st.booleans()),
                                min_size=1, max_size=4))
        def one(clients):
            errors = []

            def run(cplans, mode, rst):
                paths = []
                for plan in cplans:
                    with lock:
                        counter[0] += 1
                        path = f"/m{counter[0]}"
                    backends[0].plan(path, plan["pieces"], plan["ending"])
                    paths.append(path)
                sock = socket.create_connection(("127.0.0.1", lb.port), timeout=5)
                try:
                    sock.sendall(b"".join(f"{p['method']} {path} HTTP/1.1\r\nHost: lb\r\n\r\n"
                                          .encode() for p, path in zip(cplans, paths)))
                    if mode == "leave":
                        sock.settimeout(2)
                        try:
                            sock.recv(7)
                        except OSError:
                            pass
                        return
                    whole = all(p["may_whole"] and p["framing_seen"] != "close" for p in cplans)
                    want = sum(len(p["full"]) for p in cplans) if whole else None
                    got, closed = read_answer(sock, want)
                    judge_stream(cplans, got, closed)
                except AssertionError as e:
                    errors.append(e)
                finally:
                    rst_close(sock) if rst else sock.close()

            threads = [threading.Thread(target=run, args=c) for c in clients]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            if errors:
                raise errors[0]
            lb.assert_alive()

        one()
        lb.assert_alive()
        fds_back_to(lb, base)
        backends[1].plan("/final", [(OK_ANSWER, 0)], "fin")
        assert _get(lb, "/final") == OK_ANSWER
    finally:
        for b in backends:
            b.close()


def _get(lb, path):
    s = socket.create_connection(("127.0.0.1", lb.port), timeout=5)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\n\r\n".encode())
        return read_answer(s, len(OK_ANSWER))[0]
    finally:
        s.close()
