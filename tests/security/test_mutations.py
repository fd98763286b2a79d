"""Seeded mutations of legal requests, thrown at one balancer from 20 threads: whatever the
bytes, each connection ends in a 4xx (refused), a 408 (incomplete head), an answer relayed
from the backend, or waits for a declared body; never a silent close, a 5xx or bytes that
are not an answer; and the balancer survives with clean sanitizer logs. A cheap,
live complement to the parser fuzzers of fuzz/."""
import random
import re
import threading

from harness.hop import hop_by_hop
from harness.lbopts import HEADER_TIMEOUT, opt

from .rawhttp import connect, read_until_close, scaled

SEEDS = [
    b"GET /a HTTP/1.1\r\nHost: lb\r\n\r\n",
    b"POST /b HTTP/1.1\r\nHost: lb\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /c HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
    b"PUT /d HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
]
TOKENS = [b"\r\n", b"\n", b"\r", b" ", b"\t", b":", b"\x00", b"\x7f", b"\xff", b"0", b"-",
          b"Content-Length: 1\r\n", b"Transfer-Encoding: chunked\r\n", b"chunked", b",",
          b";", b"\r\n\r\n", b"HTTP/1.1", b"99999999999999999999", b"f" * 17]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            del data[min(pos, len(data) - 1)]
        elif op == 1:
            data[pos:pos] = rng.choice(TOKENS)
        elif op == 2 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        else:
            cut = rng.randrange(len(data) + 1)
            data[pos:pos] = data[cut:cut + rng.randint(1, 12)]
    return bytes(data)


def test_two_hundred_mutations_leave_the_balancer_standing(recorded_lb):
    cl = recorded_lb([opt(HEADER_TIMEOUT, 300)])
    rng = random.Random(8)
    cases = [mutate(rng, rng.choice(SEEDS)) for _ in range(200)]
    odd = []
    lock = threading.Lock()

    def worker(chunk):
        for raw in chunk:
            sock = connect(cl.port)
            try:
                sock.sendall(raw)
                data, closed = read_until_close(sock, scaled(1))
            except OSError:
                continue
            finally:
                sock.close()
            statuses = re.findall(rb"HTTP/1\.[01] (\d{3}) ", data)
            # Open and silent is legal (a declared body still to come); closed and silent
            # is not (a refusal carries a 4xx); any answer is a relayed 200 or a 4xx.
            fine = (bool(statuses) == bool(data)) and not (closed and not data) and all(
                s == b"200" or s.startswith(b"4") for s in statuses)
            if not fine:
                with lock:
                    odd.append((raw, data[:200], closed))

    threads = [threading.Thread(target=worker, args=(cases[i::20],)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(scaled(120))
    assert cl.lb.alive(), "balancer died"
    cl.sentinel()
    assert not odd, f"{len(odd)} odd outcomes, e.g. {odd[:3]}"


ANSWERS = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX: y\r\n\r\n",
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
]


def test_two_hundred_mutated_answers_are_relayed_or_cut_never_patched(recorded_lb):
    """The backend answers each request with a seeded mutation of a legal answer and closes.
    The client gets a prefix of exactly those bytes (relayed as they are, connection fields
    aside, then the close), or
    a whole balancer-made 5xx when nothing was relayed yet: never a mix."""
    from harness.lbopts import SERVER_TIMEOUT
    rng = random.Random(5)
    table = [mutate(rng, rng.choice(ANSWERS)) for _ in range(200)]

    def answer(req):
        m = re.match(rb"GET /m(\d+) ", req.raw)
        if m:
            return (table[int(m.group(1))], "close")
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    cl = recorded_lb([opt(SERVER_TIMEOUT, 400)], answer=answer)
    odd = []
    lock = threading.Lock()

    def worker(k):
        for i in range(k, len(table), 20):
            sock = connect(cl.port)
            try:
                sock.sendall(b"GET /m%d HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n" % i)
                data, closed = read_until_close(sock, scaled(3))
            except OSError:
                continue
            finally:
                sock.close()
            made = re.match(rb"HTTP/1\.1 5\d\d [^\r]*\r\nContent-Length: 0\r\n\r\n\Z", data)
            # relayed as sent, but for the connection fields: this client asked for the close
            if not (closed and (hop_by_hop(table[i], close=True).startswith(data) or made)):
                with lock:
                    odd.append((table[i], data[:150], closed))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(scaled(120))
    assert cl.lb.alive(), "balancer died"
    cl.sentinel()
    assert not odd, f"{len(odd)} patched or hung answers, e.g. {odd[:3]}"
