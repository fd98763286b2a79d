"""The workers' cache of small files (fakeserver/filecache.h) never serves a stale file.

Each worker keeps the fd of a small file it served, validated by a stat of the name made after
the request was read (one stat serves every request read before it), and once the file's
ctime is older than the settle time (3 s) a copy of its bytes.
Whatever changes the file between two GETs on one keep-alive connection (so the same worker
and the same cache answer both) - a PUT through the server, an outside writer in place, a
rename over it, a truncation, a chmod, an unlink, a growth past the cache's size limit - the
second GET answers what a fresh open would, byte for byte, for young files (read from the
cached fd) and for settled ones (served from the copy).
"""
import os
import time

import pytest

from fs_helpers import Reader, poll_until, request_bytes

SETTLE_S = 3.0  # FS_FCACHE_SETTLE_NS in fakeserver/filecache.h
SLOTS = 8  # FS_FCACHE_SLOTS


def get(sock, reader, name, head=False):
    sock.sendall(f"{'HEAD' if head else 'GET'} /{name} HTTP/1.1\r\n\r\n".encode())
    return reader.response(head=head)


def ok(body):
    return (200, {"Content-Length": str(len(body))}, body)


def write_in_place(path, data):
    """Rewrites the bytes without a new inode (same size: only the times change)."""
    with open(path, "r+b") as f:
        f.write(data)


def settle(paths):
    """Waits until every file's ctime is past the settle time, so the cache keeps copies."""
    poll_until(lambda: all(time.time() - os.stat(p).st_ctime > SETTLE_S + 0.3 for p in paths),
               timeout=SETTLE_S + 10, what="files older than the settle time")


@pytest.mark.parametrize("settled", [False, True], ids=["young", "settled"])
def test_every_change_is_seen_by_the_next_get(start, settled):
    files = {n: n.encode() * 64 for n in ("inplace", "put", "renamed", "chmod", "gone", "grow",
                                           "shrink")}
    srv = start("-N", "1", "-l", "log.txt", files=files)
    if settled:
        settle([srv.path(n) for n in files])
    with srv.connect() as s:
        r = Reader(s)
        for name, body in files.items():  # twice: a miss, then a hit
            assert get(s, r, name) == ok(body)
            assert get(s, r, name) == ok(body)
            assert get(s, r, name, head=True)[:2] == ok(body)[:2]

        write_in_place(srv.path("inplace"), b"I" * 448)
        assert get(s, r, "inplace") == ok(b"I" * 448)

        s.sendall(request_bytes("PUT", "/put", b"P" * 192))  # same size, new inode
        assert r.response()[0] == 201
        assert get(s, r, "put") == ok(b"P" * 192)

        tmp = srv.path("tmp")
        tmp.write_bytes(b"R" * 448)
        os.replace(tmp, srv.path("renamed"))
        assert get(s, r, "renamed") == ok(b"R" * 448)

        os.chmod(srv.path("chmod"), 0o077)
        assert get(s, r, "chmod") == (403, {"Content-Length": "0"}, b"")
        os.chmod(srv.path("chmod"), 0o644)
        assert get(s, r, "chmod") == ok(files["chmod"])

        os.unlink(srv.path("gone"))
        assert get(s, r, "gone") == (404, {"Content-Length": "0"}, b"")
        srv.path("gone").write_bytes(b"back")
        assert get(s, r, "gone") == ok(b"back")

        big = bytes(i % 251 for i in range(100000))  # past the cache's limit: streamed
        with open(srv.path("grow"), "ab") as f:
            f.write(big)
        assert get(s, r, "grow") == ok(files["grow"] + big)

        os.truncate(srv.path("shrink"), 0)
        assert get(s, r, "shrink") == ok(b"")
    # the log entries of a miss and of a hit (from the fd, or from the copy) are the same
    entry = log_entry("inplace", files["inplace"])
    assert srv.path("log.txt").read_text().startswith(entry * 2)


def log_entry(name, body):
    """The course log's entry for a GET (contract section 3)."""
    lines = [f"GET /{name} length {len(body)}\n"]
    for off in range(0, len(body), 20):
        lines.append("%08d" % off + "".join(" %02x" % b for b in body[off:off + 20]) + "\n")
    return "".join(lines) + "========\n"


@pytest.mark.parametrize("workers", [1, 4])
def test_get_after_put_on_other_connections(start, workers):
    """A PUT on one connection is seen at once by GETs on every other connection, whether
    they reach the same worker's cache (one stat then serves the GETs that arrived in one
    loop round: they are all sent before any answer is read) or other workers' caches."""
    srv = start("-N", str(workers), files={"f": b"0" * 100})
    conns = [srv.connect() for _ in range(8)]
    try:
        readers = [Reader(c) for c in conns]
        for c, r in zip(conns, readers):
            assert get(c, r, "f") == ok(b"0" * 100)
        for i in range(1, 6):
            body = str(i).encode() * 100
            writer = conns[i % len(conns)]
            writer.sendall(request_bytes("PUT", "/f", body))
            assert readers[i % len(conns)].response()[0] == 201
            for c in conns:
                c.sendall(b"GET /f HTTP/1.1\r\n\r\n")
            for r in readers:
                assert r.response() == ok(body)
    finally:
        for c in conns:
            c.close()


def test_cached_fds_are_bounded(start):
    """More names than slots: every answer right, and at most SLOTS fds held by the cache."""
    files = {f"n{i}": f"body {i}".encode() for i in range(3 * SLOTS)}
    srv = start("-N", "1", files=files)
    fd_dir = f"/proc/{srv.proc.pid}/fd"
    with srv.connect() as s:
        r = Reader(s)
        assert get(s, r, "n0") == ok(files["n0"])
        base = len(os.listdir(fd_dir))  # the connection and one cached fd
        for _ in range(2):
            for name, body in files.items():
                assert get(s, r, name) == ok(body)
        assert len(os.listdir(fd_dir)) == base + SLOTS - 1
