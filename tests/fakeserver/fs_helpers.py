"""Helpers for the fakeserver suites: start a server in its own directory, talk raw HTTP."""
import json
import socket
import time



class Server:
    def __init__(self, proc):
        self.proc = proc
        self.port = proc.port
        self.control = int(proc.ready.get("control", "0"))
        self.dir = proc.log_dir.parent / proc.name  # the cwd procs.start made

    def path(self, name):
        return self.dir / name

    def connect(self, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def exchange(self, raw, count=1, head=False, timeout=10):
        """Sends raw bytes on a new connection, reads `count` responses."""
        with self.connect(timeout) as s:
            s.sendall(raw)
            r = Reader(s)
            return [r.response(head=head) for _ in range(count)]

    def request(self, method, target, body=b"", headers=None, timeout=10):
        raw = request_bytes(method, target, body, headers)
        return self.exchange(raw, head=(method == "HEAD"), timeout=timeout)[0]

    def ctl(self, method, path, body=None):
        """A control-port request; returns (status, parsed JSON or text)."""
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        raw = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data
        with socket.create_connection(("127.0.0.1", self.control), timeout=10) as s:
            s.sendall(raw)
            st, _, b = Reader(s).response()
        try:
            return st, json.loads(b)
        except ValueError:
            return st, b.decode(errors="replace")


def poll_until(predicate, timeout=10.0, what="condition"):
    """Polls predicate every 10 ms until it is true; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def request_bytes(method, target, body=b"", headers=None):
    lines = [f"{method} {target} HTTP/1.1"]
    hdrs = dict(headers or {})
    if method == "PUT" and "Content-Length" not in hdrs:
        hdrs["Content-Length"] = str(len(body))
    lines += [f"{k}: {v}" for k, v in hdrs.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Reader:
    """Reads whole responses framed by Content-Length from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError(f"connection closed with {self.buf!r} pending")
        self.buf += chunk

    def raw_head(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head + b"\r\n\r\n"

    def response(self, head=False):
        """Returns (status, headers dict, body) of the next response."""
        raw = self.raw_head()
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if line:
                k, v = line.split(":", 1)
                headers[k.strip()] = v.strip()
        n = 0 if head else int(headers.get("Content-Length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def read_all(self):
        try:
            while True:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    break
                self.buf += chunk
        except ConnectionResetError:
            pass
        data, self.buf = self.buf, b""
        return data


def exact(status, reason, body=b""):
    return f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def raw_exchange(port, raw, timeout=10, shut=True):
    """Sends raw bytes, half-closes, returns every byte the server sent until it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
        return data


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


