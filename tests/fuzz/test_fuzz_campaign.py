"""`make fuzz` as a newcomer runs it: from a clone under /tmp (where afl-cmin refuses to
work unless AFL_ALLOW_TMP is set), with one target and a short FUZZ_TIME; and interrupted
(Ctrl-C, or a SIGTERM to make alone), with nothing it started left running.

Leftovers are judged only among the processes this test started: every descendant of the
`make` it spawned, seen while it ran (PID plus start time, so a reused PID is not mistaken
for a survivor). Skips where AFL++ is not installed (ci/deps.sh fuzz installs it).
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TARGET = "health"          # lbcore only: the quickest target to build
SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", ".hypothesis", "demo-out", "bench-out"}

pytestmark = pytest.mark.slow


def tracked_files():
    """The files a clone would have (plus new, not yet committed ones): git's list when this
    is a checkout, else every file outside build trees and caches."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=REPO, capture_output=True,
                             check=True, timeout=30).stdout
        return [Path(p.decode()) for p in out.split(b"\0") if p]
    except (OSError, subprocess.SubprocessError):
        files = []
        for path in REPO.rglob("*"):
            rel = path.relative_to(REPO)
            if path.is_file() and not (SKIP_DIRS & set(rel.parts)) and \
                    not rel.parts[0].startswith("build") and rel.parts[:2] != ("fuzz", "out"):
                files.append(rel)
        return files


@pytest.fixture(scope="module")
def clone():
    missing = [t for t in ("afl-fuzz", "afl-cmin", "afl-clang-fast", "cmake", "make")
               if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (as root: apt-get install -y afl++ "
                    "clang cmake make)")
    dest = Path(tempfile.mkdtemp(prefix="lb-fuzz-clone-", dir="/tmp"))
    for rel in tracked_files():
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    yield dest
    shutil.rmtree(dest, ignore_errors=True)


def start_make_fuzz(clone, fuzz_time, log):
    env = dict(os.environ, TARGETS=TARGET, FUZZ_TIME=str(fuzz_time), JOBS="1")
    return subprocess.Popen(["make", "--no-print-directory", "fuzz"], cwd=clone, env=env,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def proc_table():
    """{pid: (ppid, start time in ticks, state, comm, process group, session)} of every
    process now."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2:].split()
        table[int(entry.name)] = (int(rest[1]), int(rest[19]), rest[0], comm, int(rest[2]),
                                  int(rest[3]))
    return table


class Seen:
    """Every process under one root, as seen by repeated looks: (pid, start time) -> name.
    A process that left the tree between two looks (orphaned when its parent died) is still
    found through the process groups and sessions of the processes seen: a member of one of
    them that started after that group's leader belongs to the run."""

    def __init__(self, root):
        self.root, self.procs, self.groups = root, {}, {}

    def look(self):
        table = proc_table()
        children = {}
        for pid, row in table.items():
            children.setdefault(row[0], []).append(pid)
        todo = [self.root]
        while todo:
            pid = todo.pop()
            if pid in table:
                row = table[pid]
                self.procs[(pid, row[1])] = row[3]
                for leader in (row[4], row[5]):
                    if leader == pid:       # a group or session this process leads
                        self.groups.setdefault(pid, row[1])
                todo += children.get(pid, [])
        return table

    def running(self):
        """(pid, start time) -> name of the run's processes still running (not zombies)."""
        table = proc_table()
        left = {}
        for pid, row in table.items():
            if row[2] == "Z":
                continue
            mine = (pid, row[1]) in self.procs or any(
                leader in self.groups and row[1] >= self.groups[leader]
                for leader in (row[4], row[5]))
            if mine:
                left[(pid, row[1])] = row[3]
        return left


@pytest.mark.timeout(420)
def test_fuzz_campaign_runs_from_a_clone_under_tmp(clone, tmp_path):
    assert str(clone).startswith("/tmp/")
    out_path = tmp_path / "make-fuzz.log"
    began = time.monotonic()
    with open(out_path, "w") as log:
        proc = start_make_fuzz(clone, 3, log)
        seen = Seen(proc.pid)
        while proc.poll() is None and time.monotonic() < began + 360:
            seen.look()
            time.sleep(0.1)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"make fuzz did not end:\n{out_path.read_text()[-3000:]}")
    elapsed = time.monotonic() - began
    out = out_path.read_text()
    assert proc.returncode == 0, out[-3000:]
    left = seen.running()
    assert left == {}, f"still running after make fuzz ended: {left}"
    assert "failed" not in out and "refuse" not in out, out[-3000:]
    row = re.search(rf"^{TARGET}\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", out, re.M)
    assert row, out[-3000:]
    execs, _paths, kept, crashes, _hangs = map(int, row.groups())
    assert execs > 0 and kept > 0 and crashes == 0, row.group(0)
    corpus = clone / "fuzz" / "out" / TARGET / "corpus"
    assert len(list(corpus.iterdir())) == kept, "afl-cmin's corpus is the one counted"
    # the durations it states are the ones it took
    done = re.search(r"done in (\d+)s: builds (\d+)s, 1 target\(s\) (\d+)s", out)
    assert done, out[-3000:]
    assert int(done.group(1)) <= elapsed + 1, (done.group(0), elapsed)
    plan = re.search(r"plus about (\d+)s per target .*: about (\d+)s from now", out)
    assert plan and int(plan.group(2)) == 3 + int(plan.group(1)), out[-3000:]


def interrupt_when_fuzzing(clone, tmp_path, how):
    """Starts `make fuzz` for a long FUZZ_TIME, waits until afl-fuzz is fuzzing (its fork
    server runs), interrupts it `how`, and returns (exit status, output, every descendant
    seen, descendants still running once make has ended)."""
    out_path = tmp_path / f"make-fuzz-{how}.log"
    fuzzing_since = None
    with open(out_path, "w") as log:
        proc = start_make_fuzz(clone, 600, log)
        seen = Seen(proc.pid)
        deadline = time.monotonic() + 240
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                table = seen.look()
                fuzzers = {pid for (pid, _s), comm in seen.procs.items() if comm == "afl-fuzz"}
                if fuzzing_since is None and any(row[0] in fuzzers for row in table.values()):
                    fuzzing_since = time.monotonic()
                if fuzzing_since and time.monotonic() - fuzzing_since > 1.0:
                    break
                time.sleep(0.05)
            assert fuzzing_since, "afl-fuzz never started:\n" + out_path.read_text()[-3000:]
            if how == "ctrl-c":      # a terminal sends SIGINT to the foreground group
                os.killpg(proc.pid, signal.SIGINT)
            else:                    # `kill PID`, or a CI timeout signalling make alone
                proc.send_signal(signal.SIGTERM)
            end = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < end:
                seen.look()
                time.sleep(0.05)
            code = proc.poll()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    left = seen.running()
    for key in left:                 # do not leave them to the next test either
        try:
            os.kill(key[0], signal.SIGKILL)
        except ProcessLookupError:
            pass
    return code, out_path.read_text(), seen.procs, left


@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm-to-make"])
def test_interrupted_fuzz_campaign_leaves_no_process(clone, tmp_path, how):
    code, out, seen, left = interrupt_when_fuzzing(clone, tmp_path, how)
    assert code is not None, f"make fuzz still ran 30 s after the interruption:\n{out[-3000:]}"
    assert "afl-fuzz" in seen.values(), "the test must have interrupted a running afl-fuzz"
    assert left == {}, f"still running after make fuzz ended: {left}\n{out[-3000:]}"
    assert code != 0 and "interrupted by SIG" in out, out[-3000:]
    assert f"interrupted by SIG{'INT' if how == 'ctrl-c' else 'TERM'}" in out


@pytest.mark.timeout(300)
def test_a_failing_afl_tool_is_reported_with_its_reason(clone, tmp_path):
    """An afl-cmin that refuses (as AFL++'s does in /tmp without AFL_ALLOW_TMP) is reported
    with the reason from its log, not only "failed (see LOG)"; a missing compiler is named
    with the package to install."""
    stand_in = tmp_path / "bin"
    stand_in.mkdir()
    (stand_in / "afl-cmin").write_text(
        "#!/bin/sh\necho 'corpus minimization tool for afl++ (awk version)'\necho\n"
        "echo '[-] Error: do not use this script in /tmp or /var/tmp.' >&2\nexit 1\n")
    (stand_in / "afl-cmin").chmod(0o755)
    env = dict(os.environ, TARGETS=TARGET, FUZZ_TIME="1", JOBS="1",
               PATH=f"{stand_in}:{os.environ['PATH']}")
    out = subprocess.run(["ci/fuzz.sh"], cwd=clone, env=env, capture_output=True, text=True,
                         timeout=240, start_new_session=True)
    assert re.search(rf"afl-cmin failed for {TARGET}: \[-\] Error: do not use this script "
                     rf"in /tmp or /var/tmp\. \(log: \S+/cmin\.log\)", out.stderr), out.stderr
    env["AFL_CC"] = "no-such-afl-clang-fast"
    out = subprocess.run(["ci/fuzz.sh"], cwd=clone, env=env, capture_output=True, text=True,
                         timeout=60, start_new_session=True)
    assert out.returncode == 2
    assert "no-such-afl-clang-fast not found: AFL++ is not installed (as root: apt-get " \
           "install -y afl++ clang)" in out.stderr
