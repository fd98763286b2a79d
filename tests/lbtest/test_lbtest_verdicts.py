"""Nothing can hang lbtest: a balancer that will not start, one that dies, and one that holds
every client forever each get their verdict, their process group is gone, and the next cell
runs."""
import os
import sys

from harness.lbtest import catalogue, cell as cell_mod, subjects
from harness.lbtest.catalogue import Entry
from lbtest_helpers import build_balancer, need_binaries  # noqa: F401 - a fixture

# The port of the course command line: the first argument that is not an option's value.
PORT_OF = """
args, port = sys.argv[1:], None
while port is None:
    a = args.pop(0)
    if a in ("-N", "-R"):
        args.pop(0)
    else:
        port = int(a)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
s.listen(64)
"""

# Accepts connections and never answers (it keeps reading).
SILENT = PORT_OF + """
def hold(c):
    while c.recv(65536):
        pass
while True:
    threading.Thread(target=hold, args=(s.accept()[0],), daemon=True).start()
"""

# Exits with status 3 at the first byte of the first request.
DIES = PORT_OF + """
while True:
    c = s.accept()[0]
    if c.recv(1):
        sys.exit(3)
"""


def python_balancer(folder, name, program):
    (folder / f"{name}.py").write_text("import socket, sys, threading\n" + program)
    return build_balancer(folder, name, f'exec {sys.executable} {folder / name}.py "$@"\n')


def gone(pid):
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def run_cell(tmp_path, entry, balancer, **shape):
    e = catalogue.by_name([entry])[0]
    if shape:
        e = Entry(e.name, e.rule, e.seed, e.run, **dict(dict(backends=e.backends,
                                                             lb_args=e.lb_args), **shape))
    cell = cell_mod.Cell(e, subjects.resolve(str(balancer)), tmp_path / f"cell-{balancer.name}")
    return cell, cell.run()


def test_a_balancer_that_refuses_to_start(need_binaries, tmp_path):
    usage = build_balancer(tmp_path, "usage", 'echo "usage: lb PORT SERVER..." >&2; exit 2\n')
    _cell, out = run_cell(tmp_path, "kill-idle", usage)
    assert out.verdict == "no-start"
    assert "exited (exit 2) before listening" in out.reasons[0]
    assert "it said: usage: lb PORT SERVER..." in out.reasons[0]   # its stderr


def test_a_balancer_that_never_listens(need_binaries, tmp_path, monkeypatch):
    monkeypatch.setattr(cell_mod, "READY_DEADLINE", 1.0)
    idle = build_balancer(tmp_path, "idle", "exec sleep 60\n")
    cell, out = run_cell(tmp_path, "kill-idle", idle)
    assert out.verdict == "no-start"
    assert "did not listen on port" in out.reasons[0] and "within 1 s" in out.reasons[0]
    assert gone(cell.lb.pid)


def test_a_balancer_that_dies(need_binaries, tmp_path):
    dies = python_balancer(tmp_path, "dies", DIES)
    cell, out = run_cell(tmp_path, "kill-idle", dies)
    assert out.verdict == "crash"
    assert out.reasons[0].startswith("the balancer exited by itself (exit 3) at t=")
    assert gone(cell.lb.pid)


def test_a_cell_past_its_deadline_is_a_hang_and_everything_is_killed(need_binaries, tmp_path):
    """The deadline of a cell is absolute: the balancer and servers are killed by process
    group, the verdict is `hang`, and run() returns."""
    silent = python_balancer(tmp_path, "silent", SILENT)
    cell, out = run_cell(tmp_path, "kill-idle", silent, deadline=2.0)
    assert out.verdict == "hang"
    assert "did not finish within its 2 s deadline" in out.reasons[0]
    assert out.seconds < 2.0 + 10
    assert gone(cell.lb.pid)
    assert all(gone(b.proc.pid) for b in cell.backends)
