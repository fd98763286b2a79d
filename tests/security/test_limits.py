"""Size limits on what a client may send: head size and field count (431 or 400), body size
(413). Each limit is a documented option (lb/README.md); the tests set small values and
probe both sides of each bound, and also check the defaults refuse an absurd head."""
import pytest

from harness.lbopts import MAX_BODY, MAX_HEAD, MAX_HEADERS, opt

HEAD_LIMIT = 2048
FIELD_LIMIT = 20
BODY_LIMIT = 1000
LIMIT_BYTES = 24 << 20   # the address space of the memory-exhaustion test


def _head_of(size):
    """A GET whose head is exactly `size` bytes."""
    start = b"GET /big HTTP/1.1\r\nHost: lb\r\nX-Pad: "
    end = b"\r\n\r\n"
    return start + b"a" * (size - len(start) - len(end)) + end


def _fields(n):
    return b"GET /many HTTP/1.1\r\n" + b"".join(b"X-F%d: v\r\n" % i for i in range(n - 1)) \
        + b"Host: lb\r\n\r\n"


def test_default_limits_refuse_a_megabyte_head(recorded_lb):
    cl = recorded_lb()
    cl.assert_refused(_head_of(1 << 20), statuses=(400, 431))


def test_default_limits_refuse_ten_thousand_fields(recorded_lb):
    cl = recorded_lb()
    cl.assert_refused(_fields(10000), statuses=(400, 431))


def test_head_over_limit_is_refused(recorded_lb):
    cl = recorded_lb([opt(MAX_HEAD, HEAD_LIMIT)])
    cl.assert_refused(_head_of(HEAD_LIMIT + 1), statuses=(400, 431))


def test_head_at_limit_is_forwarded(recorded_lb):
    cl = recorded_lb([opt(MAX_HEAD, HEAD_LIMIT)])
    cl.assert_forwarded(_head_of(HEAD_LIMIT))


def test_head_over_limit_sent_slowly_is_refused(recorded_lb):
    cl = recorded_lb([opt(MAX_HEAD, HEAD_LIMIT)])
    raw = _head_of(HEAD_LIMIT * 2)
    pieces = [raw[i:i + 512] for i in range(0, len(raw), 512)]
    cl.assert_refused(pieces, statuses=(400, 431), pause=0.02)


def test_too_many_fields_is_refused(recorded_lb):
    cl = recorded_lb([opt(MAX_HEADERS, FIELD_LIMIT)])
    cl.assert_refused(_fields(FIELD_LIMIT + 1), statuses=(400, 431))


def test_fields_at_limit_are_forwarded(recorded_lb):
    cl = recorded_lb([opt(MAX_HEADERS, FIELD_LIMIT)])
    cl.assert_forwarded(_fields(FIELD_LIMIT))


def test_content_length_over_limit_is_413(recorded_lb):
    cl = recorded_lb([opt(MAX_BODY, BODY_LIMIT)])
    raw = b"PUT /f HTTP/1.1\r\nHost: lb\r\nContent-Length: %d\r\n\r\n" % (BODY_LIMIT + 1)
    cl.assert_refused(raw + b"b" * (BODY_LIMIT + 1), statuses=(413,))


def test_huge_content_length_is_413_before_the_body(recorded_lb):
    # The client announces 1 TB and sends nothing more: refused from the head alone.
    cl = recorded_lb([opt(MAX_BODY, BODY_LIMIT)])
    cl.assert_refused(b"PUT /f HTTP/1.1\r\nHost: lb\r\nContent-Length: 1000000000000\r\n\r\n",
                      statuses=(413,))


def test_chunked_over_limit_is_413(recorded_lb):
    cl = recorded_lb([opt(MAX_BODY, BODY_LIMIT)])
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (BODY_LIMIT + 1, b"c" * (BODY_LIMIT + 1))
    raw = b"PUT /f HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    cl.assert_refused(raw, statuses=(413,))


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_body_at_limit_is_forwarded(recorded_lb, framing):
    cl = recorded_lb([opt(MAX_BODY, BODY_LIMIT)])
    data = b"d" * BODY_LIMIT
    if framing == "length":
        raw = b"PUT /f HTTP/1.1\r\nHost: lb\r\nContent-Length: %d\r\n\r\n" % BODY_LIMIT + data
    else:
        raw = (b"PUT /f HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"%x\r\n%s\r\n0\r\n\r\n" % (BODY_LIMIT, data))
    cl.assert_forwarded(raw)


# -- connection-level limits ---------------------------------------------------------------
def test_idle_keepalive_connection_is_closed_after_the_idle_timeout(recorded_lb):
    import time
    from harness.lbopts import IDLE_TIMEOUT
    from .rawhttp import connect, read_one_response, read_until_close, scaled
    cl = recorded_lb([opt(IDLE_TIMEOUT, 500)])
    sock = connect(cl.port)
    try:
        sock.sendall(b"GET /idle HTTP/1.1\r\nHost: lb\r\n\r\n")
        read_one_response(sock, scaled(10))
        t0 = time.monotonic()
        data, closed = read_until_close(sock, scaled(5))
        took = time.monotonic() - t0
    finally:
        sock.close()
    assert closed and data == b"", f"idle connection: closed={closed} data={data!r}"
    assert 0.4 <= took < scaled(5), f"closed after {took:.2f}s (idle timeout 0.5 s)"


def test_max_conns_pauses_the_listener_and_resumes(recorded_lb):
    from harness.lbopts import MAX_CONNS
    from harness.recorder import OK_ANSWER
    from .rawhttp import connect, read_one_response, scaled
    cl = recorded_lb([opt(MAX_CONNS, 5)])
    held = [connect(cl.port) for _ in range(5)]
    extra = None
    try:
        for s in held:  # each one half a request: accepted and waiting for its head
            s.sendall(b"GET /held HTTP/1.1\r\n")
        extra = connect(cl.port)  # completes in the kernel's backlog
        extra.sendall(b"GET /extra HTTP/1.1\r\nHost: lb\r\n\r\n")
        held[0].sendall(b"Host: lb\r\n\r\n")
        assert read_one_response(held[0], scaled(10))[0] == OK_ANSWER
        held.pop(0).close()  # one slot frees: the paused listener must take `extra`
        answer, _ = read_one_response(extra, scaled(10))
        assert answer == OK_ANSWER
    finally:
        for s in held + ([extra] if extra else []):
            s.close()
    cl.sentinel()


def test_fd_exhaustion_is_survived(procs):
    """EMFILE: the balancer runs with 48 fds and gets 100 connections at once. It must not
    crash or spin; once the flood is gone it serves again."""
    import shutil
    from harness.process import bin_path
    from harness.recorder import RecordingBackend
    from .rawhttp import connect, scaled
    from .conftest import RecordedLB
    prlimit = shutil.which("prlimit")
    if not prlimit:
        import pytest
        pytest.skip("prlimit (util-linux) not installed")
    backend = RecordingBackend()
    try:
        lb = procs.start([prlimit, "--nofile=48:48", bin_path("loadbalancer"), "0",
                          str(backend.port)], name="lb-emfile", timeout=scaled(20))
        cl = RecordedLB(procs, backend, lb)
        flood = []
        try:
            for _ in range(100):
                s = connect(cl.port)
                s.sendall(b"GET /flood HTTP/1.1\r\n")
                flood.append(s)
        finally:
            for s in flood:
                s.close()
        assert lb.alive(), "balancer died of EMFILE"
        cl.sentinel()
    finally:
        backend.close()


def _flood(port, count, payload, deadline):
    """Opens `count` connections to port at once and sends payload on each as soon as it
    is established; returns the sockets (the caller closes them). Non-blocking on purpose:
    once the balancer's accept queue is full, each handshake waits for a SYN retransmission
    (1 s, then 3 s...), which a connect-then-the-next loop pays one connection after the
    other (minutes on a loaded machine); here they are paid side by side. Stops at the
    deadline, or at the first socket this process cannot open."""
    import errno
    import selectors
    import socket
    import time
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(count):
        try:
            s = socket.socket()
        except OSError:
            break
        s.setblocking(False)
        socks.append(s)
        if s.connect_ex(("127.0.0.1", port)) not in (0, errno.EINPROGRESS):
            continue   # refused at once: that is survival too
        sel.register(s, selectors.EVENT_WRITE)
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.1):
            sel.unregister(key.fileobj)
            if key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                try:
                    key.fileobj.send(payload)
                except OSError:
                    pass   # reset by the balancer: survival too
    sel.close()
    return socks


@pytest.mark.plain_build
def test_memory_exhaustion_is_survived(procs):
    """ENOMEM: the balancer runs in a 24 MiB address space and gets 3000 connections each
    holding 12 KB of an unfinished head (more than it can buffer). It must not crash; once
    the flood is gone it serves again and exits 0 on SIGTERM. Needs a build without ASan
    (which reserves terabytes of address space) and without a valgrind wrapper."""
    import resource
    import shutil
    import time
    import pytest
    from harness.process import bin_path, under_valgrind
    from harness.recorder import OK_ANSWER, RecordingBackend
    from harness.timing import wait_for
    from .rawhttp import connect, read_one_response, scaled
    lb_bin = bin_path("loadbalancer")
    with open(lb_bin, "rb") as f:
        if b"__asan_init" in f.read():
            pytest.skip("ASan build: an address-space limit cannot be set; `make test` runs "
                        "this test against build/bin (LBTEST_BIN=$PWD/build/bin)")
    if under_valgrind() or not shutil.which("prlimit"):
        pytest.skip("under valgrind, or prlimit missing")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4000:
        pytest.skip(f"this process may open only {hard} fds")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(8192, hard)), hard))
    backend = RecordingBackend()
    flood = []
    try:
        lb = procs.start([shutil.which("prlimit"), f"--as={LIMIT_BYTES}", "--nofile=8192:8192",
                          lb_bin, "0", str(backend.port)], name="lb-enomem", timeout=scaled(20))
        flood = _flood(lb.port, 3000, b"GET /x HTTP/1.1\r\nX: " + b"a" * 12000,
                       time.monotonic() + scaled(30))

        def peak_kib():   # prlimit execs the balancer: the PID is the balancer's
            status = open(f"/proc/{lb.pid}/status").read()
            return int(status.split("VmPeak:")[1].split()[0])
        # The flood is what it claims: the balancer's address space reached the limit.
        wait_for(lambda: peak_kib() >= 0.9 * (LIMIT_BYTES >> 10), 30,
                 "the balancer's address space to reach its 24 MiB limit")
        assert lb.alive(), "balancer died of memory exhaustion"
        for s in flood:
            s.close()
        flood = []

        def served():
            sock = connect(lb.port)
            try:
                sock.sendall(b"GET /after HTTP/1.1\r\nHost: lb\r\n\r\n")
                return read_one_response(sock, scaled(10))[0] == OK_ANSWER
            finally:
                sock.close()
        # The balancer first works through the closes of the flood; then it serves.
        wait_for(served, 60, "a request served after the flood")
        assert lb.alive() and lb.stop() == 0
    finally:
        for s in flood:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        backend.close()
