"""Raw HTTP on sockets for the fault proxy's tests: exact bytes, timings, resets."""
import socket
import time

from harness.process import scaled


def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=scaled(timeout))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def get_raw(target, headers=None, method="GET"):
    lines = [f"{method} {target} HTTP/1.1", "Host: x"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError(self.buf)
        self.buf += chunk

    def response(self, head_only=False):
        """(status, headers (lower-case names), body, raw bytes) of one answer framed by
        Content-Length or chunked."""
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\r\n\r\n") + 4
        head = self.buf[:i].decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            if line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        if head_only or status in (204, 304) or 100 <= status < 200:
            raw, self.buf = self.buf[:i], self.buf[i:]
            return status, hdrs, b"", raw
        if hdrs.get("transfer-encoding", "").endswith("chunked"):
            pos, body = i, b""
            while True:
                while b"\r\n" not in self.buf[pos:]:
                    self.fill()
                j = self.buf.index(b"\r\n", pos)
                size = int(self.buf[pos:j].split(b";")[0], 16)
                while len(self.buf) < j + 2 + size + 2:
                    self.fill()
                body += self.buf[j + 2:j + 2 + size]
                pos = j + 2 + size + 2
                if size == 0:
                    break
            raw, self.buf = self.buf[:pos], self.buf[pos:]
            return status, hdrs, body, raw
        n = int(hdrs.get("content-length", "0"))
        while len(self.buf) < i + n:
            self.fill()
        raw, self.buf = self.buf[:i + n], self.buf[i + n:]
        return status, hdrs, raw[i:], raw

    def until_close(self):
        """Every byte until the peer closes; returns (bytes, 'eof' or 'reset')."""
        how = "eof"
        try:
            while True:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    break
                self.buf += chunk
        except ConnectionResetError:
            how = "reset"
        data, self.buf = self.buf, b""
        return data, how


def request(port, target, headers=None, method="GET", timeout=10):
    with connect(port, timeout) as s:
        s.sendall(get_raw(target, headers, method))
        return Reader(s).response(head_only=(method == "HEAD"))


def timed(fn, *a, **kw):
    t0 = time.monotonic()
    r = fn(*a, **kw)
    return r, time.monotonic() - t0


def without_date(raw):
    """An answer without its Date line (nginx's changes every second)."""
    return b"\r\n".join(l for l in raw.split(b"\r\n") if not l.lower().startswith(b"date:"))
