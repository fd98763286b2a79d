"""The fakeserver as a drop-in for the course httpserver: contract section 3, byte for byte."""
import os
import socket
import subprocess
import threading
import time

import pytest

from harness.process import bin_path, scaled
from fs_helpers import Reader, exact, raw_exchange, recv_exact, request_bytes

# Error answers are empty, as the course server's (contract section 3).
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
FORBIDDEN = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"


def test_ready_line(start):
    srv = start()
    line = srv.proc.stdout_lines[0]
    assert line == f"READY port={srv.port} control=0 pid={srv.proc.pid}"


def test_get_head_exact_bytes(start):
    srv = start(files={"a": b"hello\n"})
    raw = b"GET /a HTTP/1.1\r\n\r\n"
    assert raw_exchange(srv.port, raw + b"HEAD /a HTTP/1.1\r\nConnection: close\r\n\r\n") == \
        exact(200, "OK", b"hello\n") + b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n"


def test_missing_file_404(start):
    srv = start()
    assert raw_exchange(srv.port, b"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n") == NOT_FOUND
    assert raw_exchange(srv.port, b"HEAD /nope HTTP/1.1\r\nConnection: close\r\n\r\n") == NOT_FOUND


def test_error_bodies_on_request(start):
    """--error-bodies: the reason phrase and a newline as the body; HEAD carries the length
    of the body it does not send."""
    srv = start("--error-bodies")
    assert raw_exchange(srv.port, b"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n") == \
        exact(404, "Not Found", b"Not Found\n")
    assert raw_exchange(srv.port, b"HEAD /nope HTTP/1.1\r\nConnection: close\r\n\r\n") == \
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\n"
    assert raw_exchange(srv.port, b"GET /a.b HTTP/1.1\r\nConnection: close\r\n\r\n") == \
        exact(400, "Bad Request", b"Bad Request\n")


def test_put_new_and_overwrite_201(start):
    srv = start(files={"old": b"0123456789"})
    for name, body in (("new", b"abc"), ("old", b"xy"), ("old", b"")):
        raw = request_bytes("PUT", f"/{name}", body, {"Connection": "close"})
        assert raw_exchange(srv.port, raw) == exact(201, "Created")
        assert srv.path(name).read_bytes() == body


@pytest.mark.parametrize("target", [
    "/", "/" + "a" * 28, "/a.b", "/a/b", "/a%20", "/a b", "a", "/a?x", "/-é",
])
def test_bad_names_400(start, target):
    srv = start(files={"a": b"x"})
    got = raw_exchange(srv.port, f"GET {target} HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
    assert got == BAD


def test_longest_name_ok(start):
    name = "Az09_-" + "q" * 21
    assert len(name) == 27
    srv = start(files={name: b"ok"})
    assert srv.request("GET", "/" + name)[2] == b"ok"


@pytest.mark.parametrize("line", [
    b"DELETE /a HTTP/1.1", b"POST /a HTTP/1.1", b"get /a HTTP/1.1",
    b"GET /a HTTP/1.0", b"GET /a HTTP/2.0", b"GET /a HTTP/1.2",
])
def test_bad_method_or_version_400(start, line):
    srv = start(files={"a": b"x"})
    assert raw_exchange(srv.port, line + b"\r\nConnection: close\r\n\r\n") == BAD


def test_garbage_head_400_and_close(start):
    srv = start()
    assert raw_exchange(srv.port, b"this is not http\r\n\r\n") == BAD
    assert raw_exchange(srv.port, b"GET /a HTTP/1.1\r\nX: " + b"y" * 9000 + b"\r\n\r\n") == BAD


def test_put_without_length_400(start):
    srv = start()
    assert raw_exchange(srv.port, b"PUT /a HTTP/1.1\r\nConnection: close\r\n\r\n") == BAD
    assert not srv.path("a").exists()


def test_forbidden_by_owner_bits(start):
    srv = start(files={"secret": b"s", "ro": b"keep"})
    os.chmod(srv.path("secret"), 0o077)  # group/other may, the owner may not
    os.chmod(srv.path("ro"), 0o444)
    assert raw_exchange(srv.port, b"GET /secret HTTP/1.1\r\nConnection: close\r\n\r\n") == FORBIDDEN
    assert raw_exchange(srv.port, b"HEAD /secret HTTP/1.1\r\nConnection: close\r\n\r\n") == FORBIDDEN
    raw = request_bytes("PUT", "/ro", b"new!", {"Connection": "close"})
    assert raw_exchange(srv.port, raw) == FORBIDDEN
    assert srv.path("ro").read_bytes() == b"keep"
    os.mkdir(srv.path("dir"))
    assert raw_exchange(srv.port, b"GET /dir HTTP/1.1\r\nConnection: close\r\n\r\n") == FORBIDDEN


def test_put_keeps_mode_of_overwritten_file(start):
    srv = start(files={"m": b"1"})
    os.chmod(srv.path("m"), 0o600)
    assert srv.request("PUT", "/m", b"22")[0] == 201
    assert srv.path("m").stat().st_mode & 0o777 == 0o600


def test_keep_alive_many_requests(start):
    srv = start(files={"k": b"keep"})
    with srv.connect() as s:
        r = Reader(s)
        for i in range(100):
            s.sendall(request_bytes("PUT", f"/f{i % 3}", str(i).encode()))
            assert r.response()[0] == 201
            s.sendall(b"GET /k HTTP/1.1\r\n\r\n")
            assert r.response() == (200, {"Content-Length": "4"}, b"keep")


def test_pipelined_requests(start):
    srv = start(files={"a": b"A", "b": b"BB"})
    raw = b"GET /a HTTP/1.1\r\n\r\n" * 5 + b"GET /b HTTP/1.1\r\n\r\n" + b"GET /zz HTTP/1.1\r\n\r\n"
    res = srv.exchange(raw, count=7)
    assert [r[2] for r in res] == [b"A"] * 5 + [b"BB", b""]
    assert res[-1][0] == 404


def test_put_body_split_in_many_pieces(start):
    srv = start(files={"a": b"x"})
    body = bytes(range(256)) * 4
    raw = request_bytes("PUT", "/split", body)
    with srv.connect() as s:
        for i in range(0, len(raw), 7):
            s.sendall(raw[i:i + 7])
        s.sendall(b"GET /split HTTP/1.1\r\n\r\n")
        r = Reader(s)
        assert r.response()[0] == 201
        assert r.response()[2] == body


def test_idle_keepalive_does_not_starve_others(start):
    srv = start("-N", "1", files={"a": b"A"})
    idle = [srv.connect() for _ in range(20)]
    for s in idle:
        s.sendall(b"GET /a HTTP/1.1\r\n")  # an unfinished head on the only worker
    t0 = time.monotonic()
    for _ in range(20):
        assert srv.request("GET", "/a")[2] == b"A"
    assert time.monotonic() - t0 < scaled(5)
    for s in idle:
        s.close()


@pytest.mark.parametrize("n", [1, 3, 8])
def test_thread_shape_n_plus_one(start, n):
    srv = start("-N", n)
    # workers start before READY; the count must be exact and stable
    assert len(os.listdir(f"/proc/{srv.proc.pid}/task")) == n + 1
    srv.request("GET", "/x")
    assert len(os.listdir(f"/proc/{srv.proc.pid}/task")) == n + 1


def test_threads_exist_once_the_port_accepts(tmp_path):
    """A course script polls the port, not a READY line, and then counts /proc/PID/task:
    the workers must exist before the port accepts (they were started after the bind, and
    a tight poll saw 2 of 9 threads in almost every run)."""
    for _ in range(10):
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        holder.close()
        proc = subprocess.Popen([bin_path("fakeserver"), str(port), "-N", "8"], cwd=tmp_path,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + scaled(10)
            while True:
                assert proc.poll() is None and time.monotonic() < deadline
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    pass
            assert len(os.listdir(f"/proc/{proc.pid}/task")) == 9
        finally:
            proc.terminate()
            proc.wait(timeout=scaled(20))


def test_default_four_workers(start):
    srv = start()
    assert len(os.listdir(f"/proc/{srv.proc.pid}/task")) == 5


BAD_ARGS = [
    [], ["1234", "1235"], ["-N", "0", "0"], ["-N", "x", "0"], ["0", "-N"], ["0", "-l"],
    ["0", "-Q"], ["0", "--nope"], ["0", "-e", "5", "-t", "3"], ["70000"], ["-1"], ["abc"],
    ["0", "-e", "-1"], ["0", "--delay", "x"], ["0", "--error-rate", "1.5"], ["0", "--delay"],
    ["0", "-N", "2000"], ["0", "--control-port", "99999"],
]


@pytest.mark.parametrize("args", BAD_ARGS, ids=[" ".join(a) or "none" for a in BAD_ARGS])
def test_bad_arguments(tmp_path, args):
    p = subprocess.run([bin_path("fakeserver"), *args], cwd=tmp_path, capture_output=True,
                       timeout=20)
    assert p.returncode != 0
    assert p.stdout == b""
    lines = [l for l in p.stderr.decode().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("fakeserver: ")


def test_options_anywhere(start):
    srv = start("-N", "2", "-L", "-e", "1", "-t", "2", files={"a": b"A"})
    assert srv.request("GET", "/healthcheck")[2] == b"1\n2"


def test_busy_port_fails(start, tmp_path):
    srv = start()
    p = subprocess.run([bin_path("fakeserver"), str(srv.port)], cwd=tmp_path,
                       capture_output=True, timeout=20)
    assert p.returncode != 0 and b"READY" not in p.stdout


def test_help_lists_faults():
    p = subprocess.run([bin_path("fakeserver"), "--help"], capture_output=True, timeout=20)
    assert p.returncode == 0
    for name in ("--delay", "--error-rate", "--crash-after", "--seed", "--slow-body",
                 "--reset-at", "--truncate-at", "--refuse", "--stall", "--capacity",
                 "--health-flap", "--control-port"):
        assert name.encode() in p.stdout
    assert b"(default" in p.stdout


# ---- healthcheck and log -----------------------------------------------------------

def test_healthcheck_404_without_logging(start):
    srv = start()
    assert raw_exchange(srv.port, b"GET /healthcheck HTTP/1.1\r\nConnection: close\r\n\r\n") == NOT_FOUND


def test_healthcheck_403_for_head_and_put(start):
    srv = start("-L")
    assert raw_exchange(srv.port, b"HEAD /healthcheck HTTP/1.1\r\nConnection: close\r\n\r\n") == FORBIDDEN
    raw = request_bytes("PUT", "/healthcheck", b"1\n1", {"Connection": "close"})
    assert raw_exchange(srv.port, raw) == FORBIDDEN
    assert not srv.path("healthcheck").exists()


def test_healthcheck_counts(start):
    srv = start("-L", "-e", "2", "-t", "5", files={"a": b"A"})
    assert raw_exchange(srv.port, b"GET /healthcheck HTTP/1.1\r\nConnection: close\r\n\r\n") == \
        exact(200, "OK", b"2\n5")
    srv.request("GET", "/a")        # ok
    srv.request("GET", "/missing")  # error
    srv.request("DELETE", "/a")     # error
    # 5 preset + 1 health + 3 = 9; errors 2 + 2
    assert srv.request("GET", "/healthcheck")[2] == b"4\n9"
    assert srv.request("GET", "/healthcheck")[2] == b"4\n10"
    assert not any(srv.dir.iterdir()) or list(p.name for p in srv.dir.iterdir()) == ["a"]


def test_log_file_exact(start):
    body = bytes(range(45))
    srv = start("-l", "log.txt", files={"g": b"hello\n"})
    log = srv.path("log.txt")
    log.write_bytes(b"")
    res = srv.exchange(
        request_bytes("PUT", "/p", body) + b"GET /g HTTP/1.1\r\n\r\n" + b"HEAD /g HTTP/1.1\r\n\r\n"
        + b"GET /zz HTTP/1.1\r\n\r\n" + b"GET /healthcheck HTTP/1.1\r\n\r\n"
        + request_bytes("PUT", "/e", b""), count=6)
    assert [r[0] for r in res] == [201, 200, 200, 404, 200, 201]
    expected = (
        "PUT /p length 45\n"
        "00000000 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13\n"
        "00000020 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 20 21 22 23 24 25 26 27\n"
        "00000040 28 29 2a 2b 2c\n"
        "========\n"
        "GET /g length 6\n"
        "00000000 68 65 6c 6c 6f 0a\n"
        "========\n"
        "HEAD /g length 6\n"
        "========\n"
        "FAIL: GET /zz HTTP/1.1 --- response 404\n"
        "========\n"
        "GET /healthcheck length 3\n"
        "00000000 31 0a 34\n"
        "========\n"
        "PUT /e length 0\n"
        "========\n")
    assert log.read_text() == expected


def test_log_truncated_at_start(start, tmp_path):
    d = tmp_path / "fs1"
    d.mkdir()
    (d / "log.txt").write_text("old junk\n")
    srv = start("-l", "log.txt", name="fs1")
    assert srv.path("log.txt").read_bytes() == b""


def test_log_entry_before_answer_ends(start):
    """Scripts kill the server right after the answer and read the log."""
    srv = start("-l", "log.txt", files={"a": b"A" * 1000})
    for i in range(20):
        assert srv.request("GET", "/a")[0] == 200
        assert srv.path("log.txt").read_text().count("========\n") == i + 1


def test_dash_L_counts_without_writing(start):
    srv = start("-L", files={"a": b"A"})
    srv.request("GET", "/a")
    srv.request("GET", "/b")
    assert srv.request("GET", "/healthcheck")[2] == b"1\n2"
    assert sorted(p.name for p in srv.dir.iterdir()) == ["a"]


def test_concurrent_log_entries_never_interleave(start):
    srv = start("-l", "log.txt", "-N", "4", files={f"f{i}": bytes([i]) * 500 for i in range(4)})

    def client(i):
        with srv.connect() as s:
            r = Reader(s)
            for _ in range(25):
                s.sendall(f"GET /f{i} HTTP/1.1\r\n\r\n".encode())
                assert r.response()[0] == 200

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = srv.path("log.txt").read_text().split("========\n")[:-1]
    assert len(entries) == 100
    for e in entries:
        lines = e.splitlines()
        i = int(lines[0].split()[1][2:])
        byte = f"{i:02x}"
        assert lines[0] == f"GET /f{i} length 500"
        assert len(lines) == 1 + 25
        for k, line in enumerate(lines[1:]):
            assert line == f"{k * 20:08d}" + f" {byte}" * 20


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_out_of_descriptors_pauses_then_recovers(start):
    import resource
    srv = start("-N", "1", files={"a": b"A"})
    resource.prlimit(srv.proc.pid, resource.RLIMIT_NOFILE, (40, 40))
    socks = []
    for _ in range(60):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        socks.append(s)
    t0 = cpu_ticks(srv.proc.pid)
    time.sleep(0.5)  # measuring idle CPU needs wall time to pass
    assert cpu_ticks(srv.proc.pid) - t0 < 25 * scaled(1)  # not spinning on the listener
    for s in socks:
        s.close()
    deadline = time.monotonic() + scaled(10)
    while True:
        try:
            assert srv.request("GET", "/a", timeout=2)[2] == b"A"
            break
        except (OSError, EOFError):
            assert time.monotonic() < deadline


def test_many_connections_on_two_workers(start):
    srv = start("-N", "2", files={"a": b"A" * 100})
    socks = [srv.connect() for _ in range(400)]
    for s in socks:
        s.sendall(b"GET /a HTTP/1.1\r\n\r\n")
    for s in socks:
        assert Reader(s).response()[2] == b"A" * 100
        s.close()


def test_expect_100_continue_is_not_answered_by_default(start):
    """As the course server: no interim answer; the client sends its body after its own
    wait (curl: one second) and gets the final answer alone."""
    srv = start(files={"ro": b"keep"})
    os.chmod(srv.path("ro"), 0o444)
    with srv.connect() as s:
        s.sendall(b"PUT /new HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        s.settimeout(0.3)
        with pytest.raises(socket.timeout):
            s.recv(1)  # nothing, not even a 100, before the body
        s.settimeout(scaled(10))
        s.sendall(b"body")
        assert Reader(s).response() == (201, {"Content-Length": "0"}, b"")  # first answer
    assert srv.path("new").read_bytes() == b"body"
    raw = b"PUT /ro HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nbody"
    assert raw_exchange(srv.port, raw) == FORBIDDEN
    assert srv.path("ro").read_bytes() == b"keep"


def test_expect_100_continue_on_request(start):
    srv = start("--send-continue", files={"ro": b"keep"})
    os.chmod(srv.path("ro"), 0o444)
    with srv.connect() as s:
        s.sendall(b"PUT /new HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert recv_exact(s, 25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"body")
        assert Reader(s).response() == (201, {"Content-Length": "0"}, b"")
    assert srv.path("new").read_bytes() == b"body"
    # an answer decided before the body: sent at once, no body read, connection closed
    with srv.connect() as s:
        s.sendall(b"PUT /ro HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert Reader(s).read_all() == FORBIDDEN
    assert srv.path("ro").read_bytes() == b"keep"


def test_fifo_is_forbidden_not_a_hang(start):
    srv = start(files={"a": b"A"})
    os.mkfifo(srv.path("pipe"))
    assert raw_exchange(srv.port, b"GET /pipe HTTP/1.1\r\nConnection: close\r\n\r\n", timeout=5) == FORBIDDEN
    assert srv.request("GET", "/a")[2] == b"A"
