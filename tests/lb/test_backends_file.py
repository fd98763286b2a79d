"""--backends-file PATH and SIGHUP (issue 17, part 2): the file at start (alone or after the
command line's SERVERs), a bad file at start (one line, exit 1, nothing bound) and at a
reload (nothing changes, one line on stderr, reload_errors), and a reload that adds, removes
and re-weights under load with nothing lost, with one loop and with two."""
import http.client
import signal
import subprocess

import pytest

from harness.ports import bind_check
from harness.process import bin_path

from .conftest import Load, course_requests, free_port, scaled, wait_for


def name(proc):
    return f"127.0.0.1:{proc.port}"


def write(path, text):
    """Writes the file under another name and renames it: a reload never sees half of it."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.rename(path)


def table(rig):
    return {b["address"]: (b["state"], b["weight"]) for b in rig.stats()["backends"]}


def reload(rig, key="reloads"):
    """SIGHUP, then waits until the counter `key` moved; returns the /stats after it."""
    before = rig.stats()[key]
    rig.lb.signal(signal.SIGHUP)
    return wait_for(lambda: (lambda s: s if s[key] == before + 1 else None)(rig.stats()),
                    what=f"{key} + 1")


def test_the_file_alone_names_the_backends(rig, tmp_path):
    a, b = rig.fakeserver(), rig.fakeserver()
    f = tmp_path / "backends"
    write(f, f"# the pool\n{a.port}\n\n  127.0.0.1:{b.port},weight=3   # heavier\n")
    rig.balancer("--backends-file", f, "0")
    wait_for(lambda: table(rig) == {name(a): ("up", 1), name(b): ("up", 3)}, what="both up")
    assert rig.get()[0] == 200


def test_the_file_follows_the_command_line(rig, tmp_path):
    a, b = rig.fakeserver(), rig.fakeserver()
    f = tmp_path / "backends"
    write(f, f"{b.port}\n")
    rig.balancer("--backends-file", f, "0", str(a.port))
    wait_for(lambda: [x["address"] for x in rig.stats()["backends"]] == [name(a), name(b)],
             what="command line first")


@pytest.mark.parametrize("text,words", [
    (None, "cannot read"),
    ("9001\nnot a server\n", "line 2: one SERVER a line"),
    ("9001,weight=0\n", "line 1: invalid backend"),
    ("9001\n9001\n", "line 2: backend '127.0.0.1:9001' named twice"),
    ("# nothing\n", "no backend"),
    ("{B}\n", "on the command line too"),
])
def test_a_bad_file_at_start_is_refused(tmp_path, text, words):
    port = free_port()
    f = tmp_path / "backends"
    if text is not None:
        write(f, text.replace("{B}", "9002"))
    argv = [bin_path("loadbalancer"), "--backends-file", str(f), str(port)]
    if "{B}" in (text or ""):
        argv.append("9002")
    r = subprocess.run(argv, capture_output=True, timeout=scaled(10), stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and words in lines[0], r.stderr
    bind_check(port)  # nothing was bound


def test_without_a_file_no_server_is_still_an_error(tmp_path):
    r = subprocess.run([bin_path("loadbalancer"), str(free_port())], capture_output=True,
                       timeout=scaled(10), stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and b"no backend SERVER given" in r.stderr


@pytest.mark.parametrize("threads", [1, 2])
def test_sighup_adds_removes_and_reweighs_under_load(rig, tmp_path, threads):
    a, b, c, d = (rig.fakeserver("--delay", "10") for _ in range(4))
    f = tmp_path / "backends"
    write(f, f"{b.port}\n{c.port}\n")
    rig.balancer("--threads", str(threads), "--policy", "rr", "--backends-file", f, "0",
                 str(a.port))
    wait_for(lambda: table(rig) == {name(a): ("up", 1), name(b): ("up", 1),
                                    name(c): ("up", 1)}, what="all up")
    load = Load(rig.port, clients=6)
    load.wait_more(60)
    write(f, f"# c goes, d comes, b weighs 3\n{b.port},weight=3\n{d.port}\n")
    st = reload(rig)
    assert st["reload_errors"] == 0 and st["admin_changes"] == 0
    wait_for(lambda: table(rig) == {name(a): ("up", 1), name(b): ("up", 3),
                                    name(d): ("up", 1)}, what="the file's table")
    seen = len(course_requests(c.courselog))
    wait_for(lambda: rig.backend(name(d))["forwarded"] >= 10, what="traffic to the added one")
    load.wait_more(60)
    assert len(course_requests(c.courselog)) == seen  # removed: nothing new
    load.end()
    # Nothing changed: a reload with the same file changes nothing and still counts.
    st = reload(rig)
    assert st["reloads"] == 2
    assert table(rig) == {name(a): ("up", 1), name(b): ("up", 3), name(d): ("up", 1)}


@pytest.mark.parametrize("text,words", [
    ("9001\n9001\n", "line 2: backend '127.0.0.1:9001' named twice"),
    ("oops here\n", "line 1: one SERVER a line"),
    ("{A}\n", "on the command line too"),
    ("no-such-host.invalid:80\n", "no-such-host.invalid"),
    (None, "cannot read"),
])
def test_a_bad_file_at_reload_changes_nothing(rig, tmp_path, text, words):
    a, b = rig.fakeserver(), rig.fakeserver()
    f = tmp_path / "backends"
    write(f, f"{b.port},weight=2\n")
    rig.balancer("--backends-file", f, "0", str(a.port))
    wait_for(lambda: table(rig) == {name(a): ("up", 1), name(b): ("up", 2)}, what="up")
    if text is None:
        f.unlink()
    else:
        write(f, text.replace("{A}", str(a.port)))
    st = reload(rig, "reload_errors")
    assert st["reloads"] == 0
    assert table(rig) == {name(a): ("up", 1), name(b): ("up", 2)}
    wait_for(lambda: words in rig.lb.log(), what="the reason on stderr")
    line = [x for x in rig.lb.log().splitlines() if "reload refused" in x]
    assert len(line) == 1 and words in line[0]
    assert rig.get()[0] == 200


def test_a_reload_forgets_backends_added_through_the_api(rig, tmp_path):
    a, b = rig.fakeserver(), rig.fakeserver()
    f = tmp_path / "backends"
    write(f, "")
    rig.balancer("--backends-file", f, "0", str(a.port))
    status, obj, _ = rig.admin("POST", "/backends", {"server": name(b)})
    assert status == 201
    wait_for(lambda: table(rig) == {name(a): ("up", 1), name(b): ("up", 1)}, what="b added")
    reload(rig)
    wait_for(lambda: table(rig) == {name(a): ("up", 1)}, what="b forgotten")
    # A command-line SERVER removed through the API comes back at the next reload.
    assert rig.admin("DELETE", f"/backends/{a.port}")[0] == 202
    wait_for(lambda: table(rig) == {}, what="a removed")
    assert rig.get()[0] == 500  # no backend at all: the contract's 500
    reload(rig)
    wait_for(lambda: table(rig) == {name(a): ("up", 1)}, what="a back")


def test_metrics_count_reloads(rig, tmp_path):
    a = rig.fakeserver()
    f = tmp_path / "backends"
    write(f, f"{a.port}\n")
    rig.balancer("--backends-file", f, "0")
    reload(rig)
    write(f, "bad line here\n")
    reload(rig, "reload_errors")
    c = http.client.HTTPConnection("127.0.0.1", rig.stats_port, timeout=scaled(5))
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    assert "lb_reloads_total 1\n" in text and "lb_reload_errors_total 1\n" in text


def test_a_file_without_a_stats_port_reloads_too(rig, tmp_path):
    a, b = rig.fakeserver(), rig.fakeserver()
    f = tmp_path / "backends"
    write(f, f"{a.port}\n")
    rig.balancer("--backends-file", f, "0", stats=False)
    assert rig.get()[0] == 200
    write(f, f"{b.port}\n")
    rig.lb.signal(signal.SIGHUP)
    # No /stats to poll: the fakeservers' own logs tell where requests go.
    def only_b():
        seen = len(course_requests(a.courselog))
        return rig.get()[0] == 200 and len(course_requests(a.courselog)) == seen and \
            len(course_requests(b.courselog)) > 0
    wait_for(only_b, what="requests to b only")
    assert rig.lb.alive()
