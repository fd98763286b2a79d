"""Both binaries are silent drop-ins (contract sections 2 and 3). Silence on success and the
restart on the same port are proved by the course scripts (test_course_scripts.py: every
script compares all it and its binaries print); here, what a course script does not use:
the READY line only when asked (`--ready`, or PORT 0), and a port another process keeps.

These tests start the binaries on a fixed port, learn readiness by polling the port, and
stop them by PID."""
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
