"""Relay: keep-alive clients whose requests land on different backends, pipelining, byte-
for-byte answers, and 100 MiB PUT/GET streamed with flat memory."""
import hashlib
import http.client
import socket
import threading

from .conftest import scaled, wait_for

QUIET = ["-R", "100000", "--health-interval", "600s"]


def test_keepalive_requests_land_on_different_backends(rig):
    a, b = rig.fakeserver(), rig.fakeserver()
    rig.balancer(*QUIET, "0", str(a.port), str(b.port))
    wait_for(lambda: rig.states() == ["up", "up"], what="up")
    conn = http.client.HTTPConnection("127.0.0.1", rig.port, timeout=scaled(10))
    seen = []
    for _ in range(6):
        before = rig.forwarded()
        conn.request("GET", "/f")
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, b"hello\n")
        after = rig.forwarded()
        seen.append([i for i in range(2) if after[i] != before[i]][0])
    conn.close()
    assert seen == [0, 1, 0, 1, 0, 1]
    assert rig.stats()["accepted"] == 1  # one client connection for all six


def test_pipelined_requests_are_answered_in_order(rig):
    files = {"a": b"AAAA", "b": b"BBBBBBBB", "c": b"C"}
    a = rig.fakeserver(files=files)
    b = rig.fakeserver(files=files)
    rig.balancer(*QUIET, "0", str(a.port), str(b.port))
    wait_for(lambda: rig.states() == ["up", "up"], what="up")
    s = socket.create_connection(("127.0.0.1", rig.port), timeout=scaled(10))
    s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data == (b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nAAAA"
                    b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nBBBBBBBB"
                    # the answer that ends the connection says so (hop-by-hop fields)
                    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nC")


def test_head_and_404_are_relayed_byte_for_byte(rig):
    a = rig.fakeserver("--error-bodies", files={"f": b"x" * 1000})  # a 404 with a body
    rig.balancer(*QUIET, "0", str(a.port))
    wait_for(lambda: rig.states() == ["up"], what="up")
    s = socket.create_connection(("127.0.0.1", rig.port), timeout=scaled(10))
    s.sendall(b"HEAD /f HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    want = (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nNot Found\n")
    data = b""
    while len(data) < len(want):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data == want


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssWatch:
    def __init__(self, pid):
        self.pid = pid
        self.peak = rss_kib(pid)
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, rss_kib(self.pid))

    def done(self):
        self.stop.set()
        self.t.join(2)
        return self.peak


def test_100_mib_put_and_get_stream_with_flat_memory(rig):
    size = 100 * 1024 * 1024
    block = bytes(range(256)) * 4096  # 1 MiB
    a = rig.fakeserver(log=False)  # -L: counts without a 100 MiB hex log
    rig.balancer(*QUIET, "0", str(a.port))
    wait_for(lambda: rig.states() == ["up"], what="up")
    base = rss_kib(rig.lb.pid)
    watch = RssWatch(rig.lb.pid)

    conn = http.client.HTTPConnection("127.0.0.1", rig.port, timeout=scaled(60))
    conn.putrequest("PUT", "/big")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    for _ in range(size // len(block)):
        conn.send(block)
    r = conn.getresponse()
    assert r.status == 201 and r.read() == b""

    conn.request("GET", "/big")
    r = conn.getresponse()
    assert r.status == 200 and int(r.getheader("Content-Length")) == size
    h, got = hashlib.sha256(), 0
    while True:
        chunk = r.read(1 << 20)
        if not chunk:
            break
        h.update(chunk)
        got += len(chunk)
    conn.close()
    peak = watch.done()
    assert got == size
    assert h.hexdigest() == hashlib.sha256(block * (size // len(block))).hexdigest()
    assert peak - base < 16 * 1024, f"RSS grew {peak - base} KiB while streaming 100 MiB"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def test_half_closed_client_gets_its_answer_without_a_busy_loop(rig):
    """The client sends its request and shuts its sending side (nc -N, scripts): it still
    gets the whole answer, then the close; waiting on a slow backend costs no CPU."""
    a = rig.fakeserver("--delay", "600", "--scope", "others")
    rig.balancer(*QUIET, "0", str(a.port))
    wait_for(lambda: rig.states() == ["up"], what="up")
    s = socket.create_connection(("127.0.0.1", rig.port), timeout=scaled(10))
    s.sendall(b"GET /f HTTP/1.1\r\nHost: x\r\n\r\n")
    s.shutdown(socket.SHUT_WR)
    cpu0 = cpu_seconds(rig.lb.pid)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data == b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"
    assert cpu_seconds(rig.lb.pid) - cpu0 < 0.3, "the balancer spun while waiting"
