"""New backend connections whose connect does not finish at once.

The balancer sends a request on a new backend connection right after connect(2) (on
loopback the handshake is over by then); when the kernel answers EAGAIN the connect is
still going on, and it waits for it as before. Loopback finishes every handshake at once,
so these tests make one that cannot: a backend whose accept queue is full drops the SYN
(the client retries it after about a second). /proc/net/tcp shows the balancer's
connection in SYN-SENT, the proof that the wait is what is tested.
"""
import socket
import threading
import time

from harness import ERROR_500

from .conftest import raw_exchange, scaled, wait_for

GET = b"GET /f HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n"
QUIET = ["-R", "100000", "--health-interval", "600s"]
SYN_SENT = "02"


class FullQueueBackend:
    """A listener with a backlog of 0 and one connection queued, never accepted: further
    SYNs are dropped until drain() takes the queued one."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.filler = socket.create_connection(("127.0.0.1", self.port), timeout=scaled(5))
        self.served = []

    def drain_and_serve(self):
        """Accepts the filler, then serves one request on the next connection (in a thread)."""
        self.sock.settimeout(scaled(10))
        first, _ = self.sock.accept()
        first.close()

        def serve():
            conn, _ = self.sock.accept()
            with conn:
                conn.settimeout(scaled(10))
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                self.served.append(head)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        return t

    def close(self):
        self.filler.close()
        self.sock.close()


def syn_sent_to(port):
    """Sockets in SYN-SENT toward 127.0.0.1:port (the kernel's own table)."""
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == SYN_SENT and remote == "0100007F:%04X" % port:
                n += 1
    return n


def test_a_connect_still_in_progress_is_waited_for(rig):
    be = FullQueueBackend()
    try:
        rig.balancer(*QUIET, "--connect-timeout", "8s", "0", str(be.port))
        # the start-up probe's SYN is dropped too: it times out and the backend is down,
        # which a single backend survives (panic routing still tries it)
        wait_for(lambda: rig.stats()["health_rounds_done"] == 1, what="start-up round")
        result = {}
        client = threading.Thread(target=lambda: result.update(out=raw_exchange(rig.port, GET)),
                                  daemon=True)
        client.start()
        wait_for(lambda: syn_sent_to(be.port) >= 1, what="the balancer's connect in SYN-SENT")
        server = be.drain_and_serve()
        client.join(scaled(15))
        server.join(scaled(5))
        assert result["out"].startswith(b"HTTP/1.1 200 OK\r\n"), result
        assert result["out"].endswith(b"\r\n\r\nok\n")
        assert len(be.served) == 1 and be.served[0].startswith(b"GET /f HTTP/1.1\r\n")
    finally:
        be.close()


def test_a_connect_that_never_finishes_ends_at_the_connect_timeout(rig):
    be = FullQueueBackend()
    try:
        rig.balancer(*QUIET, "--connect-timeout", "400ms", "--health-timeout", "300ms", "0",
                     str(be.port))
        wait_for(lambda: rig.stats()["health_rounds_done"] == 1, what="start-up round")
        failures = rig.stats()["backends"][0]["failures"]
        t0 = time.monotonic()
        assert raw_exchange(rig.port, GET) == ERROR_500
        took = time.monotonic() - t0
        assert 0.35 <= took < scaled(3), took
        assert rig.stats()["backends"][0]["failures"] > failures
    finally:
        be.close()
