"""Timelines: fault changes scheduled at times and request counts."""
import socket
import subprocess
import time

import pytest

from harness.process import bin_path, scaled


def write(tmp_path, text):
    p = tmp_path / "scenario.tl"
    p.write_text(text)
    return p


def test_after_request_counts(start, tmp_path):
    tl = write(tmp_path, "# errors for requests 4..6, then normal\n"
                         "after 3 error-rate=1 error-status=503\n"
                         "after 6 reset\n")
    srv = start("--timeline", tl, files={"f": b"F"})
    got = [srv.request("GET", "/f")[0] for _ in range(9)]
    assert got == [200, 200, 200, 503, 503, 503, 200, 200, 200]


def test_at_times(start, tmp_path):
    k = scaled(1)  # wider windows when the binary runs slower (valgrind)
    tl = write(tmp_path, f"at {int(300 * k)}ms refuse=1\n"
                         f"at {0.7 * k:.3f}s refuse=0 delay=1   # back\n")
    srv = start("--timeline", tl, "--control-port", "0", files={"f": b"F"})
    t0 = time.monotonic()
    refused = False
    while time.monotonic() - t0 < 3 * k and not refused:
        try:
            socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
        except ConnectionRefusedError:
            refused = True
        except TimeoutError:
            pass
        time.sleep(0.01)  # a bounded poll, gentle on the accept queue
    assert refused
    while time.monotonic() - t0 < 5 * k:
        _, f = srv.ctl("GET", "/faults")
        if f["generation"] >= 2:
            break
    assert f["faults"]["delay"] == 1 and not f["faults"]["refuse"]
    assert srv.request("GET", "/f")[0] == 200


def test_crash_scheduled(start, tmp_path):
    tl = write(tmp_path, "after 2 crash-rate=1 crash-status=4\n")
    srv = start("--timeline", tl, files={"f": b"F"})
    assert srv.request("GET", "/f")[0] == 200
    assert srv.request("GET", "/f")[0] == 200
    try:
        srv.request("GET", "/f", timeout=2)
    except (ConnectionError, EOFError):
        pass
    assert srv.proc.wait(10) == 4


@pytest.mark.parametrize("text,needle", [
    ("sometime 5 delay=1\n", "sometime"),
    ("at 5 delay=x\n", "delay"),
    ("after -1 delay=1\n", "after"),
    ("at 5 nope=1\n", "nope"),
    ("at 5 delay\n", "name=value"),
    ("at 5q delay=1\n", "at 5q"),
])
def test_bad_timeline_refused_before_binding(tmp_path, text, needle):
    tl = write(tmp_path, "# fine\n\n" + text)
    p = subprocess.run([bin_path("fakeserver"), "0", "--timeline", str(tl)], capture_output=True,
                       timeout=20)
    assert p.returncode != 0 and p.stdout == b""
    err = p.stderr.decode()
    assert err.startswith("fakeserver: ") and needle in err and "scenario.tl:3" in err


def test_missing_timeline_file(tmp_path):
    p = subprocess.run([bin_path("fakeserver"), "0", "--timeline", str(tmp_path / "no")],
                       capture_output=True, timeout=20)
    assert p.returncode != 0 and b"cannot read timeline" in p.stderr
