#!/usr/bin/env python3
"""A scriptable backend for the reliability suites and the soak, run as its own process so
that tests can SIGKILL and SIGSTOP it like a real server.

    backend.py [--port P] [--mode ok|reset|close|hang|chaos] [--fault-rate F] [--seed S]
               [--delay-ms MS] [--log FILE] [--health ok|fail]

Serves GET/HEAD/PUT on any path with keep-alive: GET answers `expected_body(path)`, PUT
reads its Content-Length body and answers 201. `GET /healthcheck` always gets the contract's
`ERRORS\\nTOTAL` answer (unless --health fail), so a backend can be healthy for the checker
while it mistreats requests. Modes for every other request, after reading it whole:
  reset  RST before any byte of the answer     close  FIN before any byte
  hang   never answer (the socket stays open)  chaos  per request, from (seed, sequence):
         reset, close, truncate (FIN half way through the body) or delay, with --fault-rate
--log appends one line per request before its answer: `METHOD PATH` (flushed), which is how
tests see where every request went and that no PUT landed twice.
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


def expected_body(path):
    """The body a GET of path answers: deterministic, path-specific, 40 to 1000 bytes."""
    digest = hashlib.sha256(path.encode()).hexdigest().encode()
    return (path.encode() + b"\n" + digest + b"\n") * (1 + digest[0] % 8)


class Server:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.seq = 0
        self.total = 0
        self.log = open(args.log, "a", buffering=1) if args.log else None

    def next_action(self):
        with self.lock:
            self.seq += 1
            self.total += 1
            seq = self.seq
        mode = self.args.mode
        if mode != "chaos":
            return mode
        rng = random.Random(self.args.seed * 1_000_003 + seq)
        if rng.random() >= self.args.fault_rate:
            return "ok"
        return rng.choice(["reset", "close", "truncate", "delay"])

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


def answer(srv, sock, method, path, action):
    if path == "/healthcheck":
        if srv.args.health == "fail":
            sock.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
            return True
        body = b"0\n%d" % srv.total
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        return False  # the checker uses fresh connections
    if action == "reset":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False
    if action == "close":
        return False
    if action == "hang":
        while sock.recv(65536):
            pass
        return False
    if action == "delay":
        time.sleep(0.05)
    if srv.args.delay_ms:
        time.sleep(srv.args.delay_ms / 1000.0)
    if method == "PUT":
        sock.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        return True
    body = expected_body(path)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    if action == "truncate":  # half the answer, then FIN (a HEAD answer has no body)
        whole = head if method == "HEAD" else head + body
        sock.sendall(whole[:len(whole) // 2])
        return False
    sock.sendall(head if method == "HEAD" else head + body)
    return True


def serve(srv, sock):
    buf = b""
    try:
        while True:
            req = read_request(sock, buf)
            if req is None:
                return
            method, path, _body, buf = req
            action = "ok" if path == "/healthcheck" else srv.next_action()
            if path != "/healthcheck":
                srv.record(method, path)
            if not answer(srv, sock, method, path, action):
                return
    except (OSError, ValueError, IndexError):
        return
    finally:
        sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", default="ok", choices=["ok", "reset", "close", "hang", "chaos"])
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--delay-ms", type=float, default=0.0, help="before every answer")
    ap.add_argument("--log")
    ap.add_argument("--health", default="ok", choices=["ok", "fail"])
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
