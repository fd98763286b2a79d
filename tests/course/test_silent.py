"""Both binaries are silent drop-ins (contract sections 2 and 3): nothing on stdout or stderr
on success unless the READY line is asked for (`--ready`, or PORT 0); SIGTERM releases the
port first, so the next process binds it at once.

These tests start the binaries the way a course script does (a fixed port, no READY line),
learn readiness by polling the port, and stop them by PID."""
import os
import signal
import socket
import subprocess
import time

import pytest

from harness.process import bin_path, scaled
from harness.ports import free_port


def wait_port(port, proc, deadline=10.0):
    """Polls until something accepts on 127.0.0.1:port; fails if proc exited first."""
    end = time.monotonic() + scaled(deadline)
    while time.monotonic() < end:
        assert proc.poll() is None, f"exited with {proc.returncode}: {proc.stderr.read()!r}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.01)
    raise AssertionError(f"nothing listens on port {port}")


def get(port, path="/f"):
    with socket.create_connection(("127.0.0.1", port), timeout=scaled(10)) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def spawn(argv, cwd):
    return subprocess.Popen([bin_path(argv[0]), *argv[1:]], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def stop(proc):
    """SIGTERM by PID; returns (exit status, stdout, stderr)."""
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=scaled(20))
    return proc.returncode, out, err


@pytest.fixture
def www(tmp_path):
    (tmp_path / "f").write_bytes(b"hello\n")
    return tmp_path


@pytest.fixture
def backend(www):
    port = free_port()
    proc = spawn(["fakeserver", str(port)], www)
    wait_port(port, proc)
    yield port
    stop(proc)


def test_fakeserver_prints_nothing_on_success(www):
    port = free_port()
    proc = spawn(["fakeserver", str(port), "-N", "2", "-l", "log"], www)
    wait_port(port, proc)
    assert get(port) == b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"
    assert get(port, "/nope") == b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    assert stop(proc) == (0, b"", b"")


def test_balancer_prints_nothing_on_success(www, backend):
    port = free_port()
    proc = spawn(["loadbalancer", str(port), str(backend), "-N", "2", "-R", "3"], www)
    wait_port(port, proc)
    for _ in range(5):  # the client asked for close: its answer says so (hop-by-hop)
        assert get(port) == \
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n"
    assert stop(proc) == (0, b"", b"")


@pytest.mark.parametrize("binary", ["fakeserver", "loadbalancer"])
def test_ready_line_only_when_asked(www, backend, binary):
    port = free_port()
    extra = [str(backend)] if binary == "loadbalancer" else []
    proc = spawn([binary, "--ready", str(port), *extra], www)
    line = proc.stdout.readline().decode()
    want = f"READY port={port}" + (f" control=0 pid={proc.pid}" if binary == "fakeserver" else "")
    assert line == want + "\n"
    code, out, err = stop(proc)
    assert (code, out, err) == (0, b"", b"")


@pytest.mark.parametrize("binary", ["fakeserver", "loadbalancer"])
def test_port_zero_implies_the_ready_line(www, backend, binary):
    extra = [str(backend)] if binary == "loadbalancer" else []
    proc = spawn([binary, "0", *extra], www)
    fields = dict(kv.split("=") for kv in proc.stdout.readline().decode().split()[1:])
    assert int(fields["port"]) > 0
    assert get(int(fields["port"])).startswith(b"HTTP/1.1 200 OK\r\n")
    assert stop(proc) == (0, b"", b"")


@pytest.mark.parametrize("binary", ["fakeserver", "loadbalancer"])
def test_restart_on_the_same_port_at_once(www, backend, binary):
    """Kill and start again on the same port with no pause, ten times: the new process never
    meets "address in use" (stderr stays empty) and serves."""
    port = free_port()
    extra = [str(backend)] if binary == "loadbalancer" else []
    for _ in range(10):
        proc = spawn([binary, str(port), *extra], www)
        wait_port(port, proc)
        assert get(port).startswith(b"HTTP/1.1 200 OK\r\n")
        proc.send_signal(signal.SIGTERM)  # no wait: the next one starts at once
        nxt = spawn([binary, str(port), *extra], www)
        out, err = proc.communicate(timeout=scaled(20))
        assert (proc.returncode, out, err) == (0, b"", b"")
        wait_port(port, nxt)
        assert get(port).startswith(b"HTTP/1.1 200 OK\r\n")
        assert stop(nxt) == (0, b"", b"")


def test_a_port_held_by_another_server_still_fails(www):
    """Waiting out a predecessor is bounded: a port someone keeps is an error, one line."""
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        t0 = time.monotonic()
        r = subprocess.run([bin_path("fakeserver"), str(port)], cwd=www, capture_output=True,
                           timeout=scaled(20))
        assert r.returncode != 0 and r.stdout == b""
        assert b"in use" in r.stderr and len(r.stderr.splitlines()) == 1
        assert time.monotonic() - t0 >= 1.5  # it did wait for a predecessor to leave
    finally:
        holder.close()
