"""Big bodies stream through the fakeserver; concurrent PUTs never tear a file."""
import hashlib
import os
import threading

from fs_helpers import Reader, request_bytes

MIB = 1 << 20


def rss_peak_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_100mib_put_and_get_stream(start):
    srv = start("-N", "2")
    srv.request("GET", "/warm")
    base = rss_peak_kib(srv.proc.pid)
    size = 100 * MIB
    chunk = os.urandom(MIB)
    digest = hashlib.sha256()
    with srv.connect(timeout=60) as s:
        s.sendall(f"PUT /big HTTP/1.1\r\nContent-Length: {size}\r\n\r\n".encode())
        for _ in range(size // MIB):
            s.sendall(chunk)
            digest.update(chunk)
        r = Reader(s)
        assert r.response()[0] == 201
        s.sendall(b"GET /big HTTP/1.1\r\n\r\n")
        head = r.raw_head()
        assert head == f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode()
        got = hashlib.sha256(r.buf)
        n = len(r.buf)
        while n < size:
            data = s.recv(4 * MIB)
            assert data
            got.update(data)
            n += len(data)
    assert n == size and got.hexdigest() == digest.hexdigest()
    assert srv.path("big").stat().st_size == size
    grown = rss_peak_kib(srv.proc.pid) - base
    assert grown < 32 * 1024, f"peak RSS grew by {grown} KiB moving 200 MiB"


def test_concurrent_puts_never_tear(start):
    srv = start("-N", "4")
    size = 256 * 1024
    bodies = [bytes([65 + i]) * size for i in range(6)]
    errors = []

    def writer(body):
        try:
            with srv.connect() as s:
                r = Reader(s)
                for _ in range(10):
                    raw = request_bytes("PUT", "/same", body)
                    for i in range(0, len(raw), 50000):
                        s.sendall(raw[i:i + 50000])
                    assert r.response()[0] == 201
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def reader():
        try:
            with srv.connect() as s:
                r = Reader(s)
                for _ in range(30):
                    s.sendall(b"GET /same HTTP/1.1\r\n\r\n")
                    st, _, body = r.response()
                    if st == 200:
                        assert body in bodies, "a torn file was served"
                    else:
                        assert st == 404
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(b,)) for b in bodies]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert srv.path("same").read_bytes() in bodies
    assert sorted(p.name for p in srv.dir.iterdir()) == ["same"]  # no temporary left


def test_client_leaving_mid_put_leaves_nothing(start):
    srv = start(files={"keep": b"original"})
    with srv.connect() as s:
        s.sendall(b"PUT /keep HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + b"x" * 500)
    # a request on another connection is served after the abandoned one was noticed
    for _ in range(50):
        if sorted(p.name for p in srv.dir.iterdir()) == ["keep"]:
            break
        srv.request("GET", "/keep")
    assert sorted(p.name for p in srv.dir.iterdir()) == ["keep"]
    assert srv.path("keep").read_bytes() == b"original"
