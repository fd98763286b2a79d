#!/usr/bin/env python3
"""A small course balancer in Python, and the deliberately broken ones lbtest's tests build.

    course_lb.py [--break KIND] [-N n] [-R r] PORT SERVER...

It follows the course contract closely enough to pass lbtest's catalogue: a health round
(GET /healthcheck to every server at once, 1 s deadline) before listening, after every R
forwarded requests and every 3 s; fewest TOTAL (reported + sent since) among healthy
servers, ties to fewer ERRORS then the order named; a refused connect marks the server down
and the request goes to the next choice; every server refusing gets the exact 500; a server
silent for 5 s costs the exact 500 and is marked down; an answer cut after its first byte
closes the client connection; at most N requests at once, the rest wait. One thread per
client connection, one backend connection per request.

--break makes it wrong in one way, for the tests to prove lbtest notices exactly that:
  never-failover    a refused connect is answered with the 500 at once: no next choice, the
                    server stays "healthy" until the next health round
  502-all-down      when no server accepts, `502 Bad Gateway` instead of the exact 500
  drop-mid-answer   answers are buffered whole; a server dying before the end of its answer
                    costs the client its connection, without a byte
"""
import re
import socket
import sys
import threading
import time

ERROR_500 = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
ERROR_502 = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"
ERROR_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
ERROR_503 = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
HEALTH_BODY = re.compile(rb"(\d{1,18})\n(\d{1,18})\n?")
MAX_HEAD = 65536


class Server:
    def __init__(self, index, port):
        self.index, self.port = index, port
        self.healthy, self.total, self.errors, self.sent = False, 0, 0, 0


class Balancer:
    def __init__(self, n, r, servers, broken):
        self.r, self.broken = r, broken
        self.servers = [Server(i, p) for i, p in enumerate(servers)]
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(n)
        self.forwarded = 0
        self.last_round = 0.0
        self.round_running = False

    # -- health -------------------------------------------------------------------------
    def check(self, server):
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1) as s:
                s.settimeout(1)
                s.sendall(f"GET /healthcheck HTTP/1.1\r\nHost: 127.0.0.1:{server.port}"
                          f"\r\n\r\n".encode())
                data, end = b"", time.monotonic() + 1
                while time.monotonic() < end:
                    head, sep, body = data.partition(b"\r\n\r\n")
                    m = re.search(rb"content-length: *(\d+)", head, re.I) if sep else None
                    if m and len(body) >= int(m.group(1)):
                        break
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            data = b""
        head, _, body = data.partition(b"\r\n\r\n")
        m = HEALTH_BODY.fullmatch(body)
        ok = head.startswith(b"HTTP/1.1 200") and m and int(m.group(1)) <= int(m.group(2))
        with self.lock:
            server.healthy = bool(ok)
            if ok:
                server.errors, server.total, server.sent = int(m.group(1)), int(m.group(2)), 0

    def health_round(self):
        with self.lock:
            if self.round_running:
                return
            self.round_running = True
            self.last_round = time.monotonic()
        threads = [threading.Thread(target=self.check, args=(s,)) for s in self.servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with self.lock:
            self.round_running = False
            self.last_round = time.monotonic()

    def timer(self):
        while True:
            time.sleep(0.05)
            if time.monotonic() - self.last_round >= 3.0:
                self.health_round()

    # -- choosing and forwarding ----------------------------------------------------------
    def choose(self, tried):
        with self.lock:
            left = [s for s in self.servers if s.index not in tried]
            healthy = [s for s in left if s.healthy]
            if healthy:
                return min(healthy, key=lambda s: (s.total + s.sent, s.errors, s.index))
            return left[0] if left else None   # every server down: try them in order

    def count_forwarded(self):
        with self.lock:
            self.forwarded += 1
            due = self.forwarded % self.r == 0
        if due:
            threading.Thread(target=self.health_round, daemon=True).start()

    def forward(self, client, raw, method):
        """Sends one request to a server and relays its answer; returns False when the
        client connection must close."""
        tried = set()
        while True:
            server = self.choose(tried)
            if server is None:
                client.sendall(ERROR_502 if self.broken == "502-all-down" else ERROR_500)
                return False
            tried.add(server.index)
            try:
                back = socket.create_connection(("127.0.0.1", server.port), timeout=1)
            except OSError:
                if self.broken == "never-failover":
                    client.sendall(ERROR_500)
                    return False
                with self.lock:
                    server.healthy = False
                continue
            with self.lock:
                server.sent += 1
            self.count_forwarded()
            try:
                result = self.relay(client, back, raw, method)
            finally:
                back.close()
            if result == "retry" and method in ("GET", "HEAD"):
                with self.lock:
                    server.healthy = False
                continue
            if result in ("retry", "timeout"):
                with self.lock:
                    server.healthy = False
                client.sendall(ERROR_500)
                return False
            return result == "done"

    def relay(self, client, back, raw, method):
        """'done', 'cut' (part of the answer relayed, client closed), 'retry' (nothing came
        back), 'timeout' (silent past 5 s)."""
        back.settimeout(5)
        buffered = self.broken == "drop-mid-answer"
        try:
            back.sendall(raw)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = back.recv(65536)
                if not chunk:
                    return "retry" if not data else self.cut(client)
                data += chunk
        except socket.timeout:
            return "timeout"
        except OSError:
            return "retry"
        head, _, body = data.partition(b"\r\n\r\n")
        m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        length = 0 if method == "HEAD" or not m else int(m.group(1))
        out = [head + b"\r\n\r\n" + body] if buffered else []
        if not buffered:
            client.sendall(head + b"\r\n\r\n" + body)
        got = len(body)
        try:
            while got < length:
                chunk = back.recv(min(262144, length - got))
                if not chunk:
                    raise ConnectionError("server closed mid-answer")
                got += len(chunk)
                if buffered:
                    out.append(chunk)
                else:
                    client.sendall(chunk)
        except OSError:
            return self.cut(client)
        if buffered:
            client.sendall(b"".join(out))
        return "done"

    @staticmethod
    def cut(client):
        try:
            client.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return "cut"

    # -- clients ----------------------------------------------------------------------------
    def serve(self, client):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    if len(buf) > MAX_HEAD:
                        client.sendall(ERROR_400)
                        return
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                parts = lines[0].split(b" ")
                fields = {}
                for ln in lines[1:]:
                    name, sep, value = ln.partition(b":")
                    if not sep:
                        client.sendall(ERROR_400)
                        return
                    fields[name.strip().lower()] = value.strip()
                length = fields.get(b"content-length", b"0")
                if (len(parts) != 3 or not parts[2].startswith(b"HTTP/1.")
                        or b"transfer-encoding" in fields or not length.isdigit()):
                    client.sendall(ERROR_400)
                    return
                while len(buf) < int(length):
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                body, buf = buf[:int(length)], buf[int(length):]
                if not self.slots.acquire(timeout=10):
                    client.sendall(ERROR_503)
                    return
                try:
                    keep = self.forward(client, head + b"\r\n\r\n" + body, parts[0].decode())
                finally:
                    self.slots.release()
                if not keep or fields.get(b"connection", b"").lower() == b"close":
                    return
        except OSError:
            pass
        finally:
            client.close()


def parse(argv):
    broken, n, r, positionals = None, 4, 5, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-N", "-R", "--break"):
            if i + 1 >= len(argv):
                sys.exit(f"course_lb: {a} needs a value")
            value = argv[i + 1]
            i += 2
            if a == "--break":
                broken = value
                continue
            if not value.isdigit() or int(value) <= 0:
                sys.exit(f"course_lb: {a} needs a positive number")
            n, r = (int(value), r) if a == "-N" else (n, int(value))
            continue
        positionals.append(a)
        i += 1
    if len(positionals) < 2 or not all(p.isdigit() for p in positionals):
        sys.exit("usage: course_lb.py [--break KIND] [-N n] [-R r] PORT SERVER...")
    return broken, n, r, int(positionals[0]), [int(p) for p in positionals[1:]]


def main():
    broken, n, r, port, servers = parse(sys.argv[1:])
    lb = Balancer(n, r, servers, broken)
    lb.health_round()   # before the first request: nobody can connect yet
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(256)
    threading.Thread(target=lb.timer, daemon=True).start()
    while True:
        client, _ = listener.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=lb.serve, args=(client,), daemon=True).start()


if __name__ == "__main__":
    main()
