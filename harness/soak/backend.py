#!/usr/bin/env python3
"""The soak's chaos backend: a Python stand-in for the fakeserver, kept for what the C
binary cannot do. Run as its own process so that the soak can SIGKILL and SIGSTOP it.

    backend.py [--port P] [--fault-rate F] [--seed S] [--log FILE]

Why not the fakeserver (which every suite uses as its fault backend):
- bodies for any path: the soak sends every request to a path of its own (100,000 and
  more per run), and the answer is a function of the path alone, so nothing is seeded and
  any client can check any answer;
- close-delimited answers: `/C-` paths answer without Content-Length, `Connection: close`,
  then FIN, the balancer's other way into its splice relay; the fakeserver always frames by
  Content-Length;
- one seeded draw per request among four faults, a reset or a FIN before any byte, a FIN
  half way through a small answer or at a seeded offset anywhere in a large body, or a
  50 ms delay; the fakeserver cuts at one fixed byte count per fault;
- a one-line request log (`METHOD PATH`, flushed before the answer), where the
  fakeserver's course log would hex-dump gigabytes of bodies.

Serves GET/HEAD/PUT on any path with keep-alive: GET answers `expected_body(path)`, PUT
reads its Content-Length body and answers 201. Paths that start with `/L-` get a large body
(about 16 KiB to 600 KiB, `large_size(path)`, so the balancer's splice relay carries it)
framed by Content-Length; paths that start with `/C-` get the same large body
close-delimited. `GET /healthcheck` always gets the contract's `ERRORS\nTOTAL` answer, so
a backend is healthy for the checker while it mistreats requests. Every other request,
after it was read whole, meets a fault with probability --fault-rate (drawn from the seed
and the request's sequence number). --log appends `METHOD PATH` per request before its
answer: how the soak sees where a lost request went and that no PUT landed twice.
Prints `READY port=P pid=PID`.
"""
import argparse
import hashlib
import os
import random
import socket
import struct
import sys
import threading
import time


SPLICE_MIN = 16384  # lb/exchange.c LB_SPLICE_MIN: what is left of a body after the first read
WINDOW = 16384      # lb LB_WINDOW: the first read of an answer (head and body start)
LARGE_PREFIXES = ("/L-", "/C-")  # large body by Content-Length, large close-delimited body


def is_large(path):
    return path.startswith(LARGE_PREFIXES)


def close_delimited(path):
    return path.startswith("/C-")


def large_size(path):
    """The size of a large body: a function of the path. One in eight sits within 64 bytes
    of 16 KiB (the splice threshold as a Content-Length), one in eight within 512 bytes of
    32 KiB (where what is left after a 16 KiB first read crosses the threshold), the rest
    log-uniform from 20 KiB to 600 KiB."""
    d = hashlib.sha256(b"size:" + path.encode()).digest()
    x = int.from_bytes(d[1:9], "big")
    if d[0] % 8 == 0:
        return SPLICE_MIN - 64 + x % 129
    if d[0] % 8 == 1:
        return SPLICE_MIN + WINDOW - 512 + x % 1025
    return int(20 * 1024 * 30 ** ((x % 1_000_000) / 1_000_000))


def large_body(path, size):
    """4 KiB blocks, each `PATH BLOCKNO ` then the path's digest repeated: cheap to make,
    and a byte lost, doubled or moved shows (block numbers and the pattern's phase)."""
    p = path.encode()
    fill = hashlib.sha256(p).hexdigest().encode() * 64
    blocks = [(b"%s %d " % (p, i) + fill)[:4095] + b"\n" for i in range(size // 4096 + 1)]
    return b"".join(blocks)[:size]


def expected_body(path):
    """The body a GET of path answers: deterministic, path-specific, 40 to 1000 bytes, or
    large_size(path) bytes for a large path."""
    if is_large(path):
        return large_body(path, large_size(path))
    digest = hashlib.sha256(path.encode()).hexdigest().encode()
    return (path.encode() + b"\n" + digest + b"\n") * (1 + digest[0] % 8)


def answer_head(path, body_len):
    """The head of a 200 answer to GET/HEAD of path."""
    if close_delimited(path):
        return b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % body_len


class Server:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.seq = 0
        self.total = 0
        self.log = open(args.log, "a", buffering=1) if args.log else None

    def next_action(self):
        """(action, where): where in [0, 1) is the seeded cut point of a large truncation."""
        with self.lock:
            self.seq += 1
            self.total += 1
            seq = self.seq
        rng = random.Random(self.args.seed * 1_000_003 + seq)
        if rng.random() >= self.args.fault_rate:
            return "ok", 0.5
        return rng.choice(["reset", "close", "truncate", "delay"]), rng.random()

    def record(self, method, path):
        if self.log:
            with self.lock:
                self.log.write(f"{method} {path}\n")
                self.log.flush()


def read_request(sock, buf):
    """Returns (method, path, body, rest) or None at EOF. Lenient: a test backend."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path = lines[0].split(" ")[:2]
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return method, path, rest[:length], rest[length:]


def answer(srv, sock, method, path, action, where=0.5):
    if path == "/healthcheck":
        body = b"0\n%d" % srv.total
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        return False  # the checker uses fresh connections
    if action == "reset":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False
    if action == "close":
        return False
    if action == "delay":
        time.sleep(0.05)
    if method == "PUT":
        sock.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        return True
    body = expected_body(path)
    head = answer_head(path, len(body))
    whole = head if method == "HEAD" else head + body
    if action == "truncate":  # part of the answer, then FIN (a HEAD answer has no body)
        # Half of a small answer; a large one anywhere from its head's end to its last
        # byte, so the cut lands in the first (copied) window or in the spliced rest.
        cut = len(whole) // 2
        if is_large(path) and method != "HEAD":
            cut = len(head) + int(where * len(body))
        sock.sendall(whole[:cut])
        return False
    sock.sendall(whole)
    return not close_delimited(path)


def serve(srv, sock):
    buf = b""
    try:
        while True:
            req = read_request(sock, buf)
            if req is None:
                return
            method, path, _body, buf = req
            action, where = ("ok", 0.5) if path == "/healthcheck" else srv.next_action()
            if path != "/healthcheck":
                srv.record(method, path)
            if not answer(srv, sock, method, path, action, where):
                return
    except (OSError, ValueError, IndexError):
        return
    finally:
        sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--log")
    args = ap.parse_args()
    srv = Server(args)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", args.port))
    lsock.listen(512)
    print(f"READY port={lsock.getsockname()[1]} pid={os.getpid()}", flush=True)
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(srv, conn), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
