"""One child process of a test: started in its own process group, ready when it prints
its READY line, logged to a file, and ended by PID/process group only.

A `Process` never guesses: `start()` returns once the child printed `READY k=v ...` on
stdout (the values land in `.ready`), or raises `ProcessError` with the child's log if it
exited or stayed silent past the deadline. `start()` is `spawn()` then `wait_ready()`, so a
cluster can spawn every member first and then wait on each, noticing one that died while
the others started. `stop()` sends a signal, waits, and returns the exit status;
`check_log()` finds sanitizer and Valgrind reports; `close()` (teardown) stops the process
and judges its exit status against what the test expected (`expect_exit()`, `stop_exits`).

Environment:
  LBTEST_BIN              directory of the project binaries; unset: build/bin of this
                          checkout, then PATH (see bin_path)
  LBTEST_WRAP             command prefix for every project binary (e.g. a valgrind line)
  LBTEST_WRAP_<NAME>      prefix for one binary only, NAME its upper-cased name
                          (LBTEST_WRAP_LOADBALANCER, LBTEST_WRAP_FAKESERVER); set but empty
                          means "no wrapper" for that binary
  LBTEST_TIMEOUT_SCALE    multiplies every harness deadline (default 1, or 10 when a
                          wrapper runs valgrind); TEST_TIMEOUT_SCALE is read as a fallback
"""
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from .timing import scaled, timeout_scale, under_valgrind  # noqa: F401 (re-exported)

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "ERROR SUMMARY: ",  # Valgrind; judged by count below
    "definitely lost:",
    "FILE DESCRIPTORS:",
)


SIGTERM = signal.SIGTERM


class ProcessError(RuntimeError):
    pass


def repo_root():
    """The checkout this harness was imported from (an editable install points here too)."""
    return Path(__file__).resolve().parent.parent


def bin_path(name):
    """Path of a project binary, looked up in this order:
    1. $LBTEST_BIN/name when LBTEST_BIN is set (and nowhere else: an explicit choice);
    2. build/bin/name of the checkout the harness comes from (repo_root()), as `make` builds;
    3. the first `name` on PATH (an installed build)."""
    if os.environ.get("LBTEST_BIN"):
        path = Path(os.environ["LBTEST_BIN"]) / name
        if not path.exists():
            raise ProcessError(f"{path} does not exist: run `make` first, or point "
                               f"LBTEST_BIN at the directory that holds {name}")
        return str(path)
    path = repo_root() / "build" / "bin" / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found:
        return found
    raise ProcessError(f"{name} not found: not in {path.parent} and not on PATH; run `make` "
                       f"first (or set LBTEST_BIN to the directory that holds it)")


def wrapper(name=None):
    """Command prefix for project binaries: $LBTEST_WRAP_<NAME> if set, else $LBTEST_WRAP."""
    if name:
        key = "LBTEST_WRAP_" + Path(name).name.upper().replace("-", "_")
        if key in os.environ:
            return shlex.split(os.environ[key])
    return shlex.split(os.environ.get("LBTEST_WRAP", ""))


def describe_status(code):
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


# The project's binaries are silent unless asked (course scripts compare all they print):
# a Process started by name asks for the READY line with this option.
PROJECT_BINARIES = ("loadbalancer", "fakeserver", "faultproxy")
READY_OPTION = "--ready"


def asking_ready(argv):
    """argv with READY_OPTION right after argv[0] (where `--` cannot have ended the options),
    unless it is there already."""
    argv = list(argv)
    return argv if READY_OPTION in argv else argv[:1] + [READY_OPTION] + argv[1:]


def shell_status_hint(code):
    """For an exit status of 128+N: the note that a shell or wrapper reports a child
    killed by signal N that way, so the process died of the signal instead of handling it."""
    if code is None or not 128 < code < 128 + 65:
        return ""
    try:
        name = signal.Signals(code - 128).name
    except ValueError:
        return ""
    return (f" ({code} is 128+{code - 128}: what a shell or wrapper exits with when {name} "
            f"killed the process it ran, i.e. the signal was not handled)")


class Process:
    """A child process with a READY line. `argv[0]` may be a project binary name; the
    project's binaries started by name are asked for their READY line (`--ready`)."""

    def __init__(self, argv, name=None, cwd=None, log_dir=None, env=None, wrap=True,
                 prefix=()):
        argv = [str(a) for a in argv]
        self.binary = argv[0] if "/" not in argv[0] else None
        if "/" not in argv[0]:
            if argv[0] in PROJECT_BINARIES:
                argv = asking_ready(argv)
            argv[0] = bin_path(argv[0])
            if wrap:
                argv = wrapper(self.binary) + argv
        # prefix: runs it elsewhere, e.g. `ip netns exec NS` (which execs: same PID, same
        # process group, so signals and teardown are unchanged).
        self.argv = [str(a) for a in prefix] + argv
        self.name = name or Path(argv[0]).name
        self.cwd = str(cwd) if cwd else None
        self.log_dir = Path(log_dir) if log_dir else Path(self.cwd or ".")
        self.log_path = self.log_dir / f"{self.name}.log"
        self.env = dict(os.environ, **(env or {}))
        self.popen = None
        self.ready = {}
        self.stdout_lines = []
        self.returncode = None
        self._reader = None
        self._log = None
        self._closing = False
        self._ready_event = threading.Event()
        self._ready_line = None
        # Exit statuses the test accepts if the process ends before teardown (None: any
        # death before teardown is a failure) and at teardown after SIGTERM.
        self.expected_exits = None
        self.stop_exits = {0, -signal.SIGTERM}
        self.killed_by_test = False

    # -- life cycle -------------------------------------------------------------------
    def start(self, timeout=20.0, expect_ready=True):
        self.spawn()
        if expect_ready:
            self.wait_ready(timeout)
        return self

    def spawn(self):
        """Starts the child in its own session/process group; returns at once."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab", buffering=0)
        self._log.write(f"$ {shlex.join(self.argv)}\n".encode())
        self._ready_event.clear()
        self._ready_line = None
        self.ready = {}
        self.returncode = None
        self.killed_by_test = False
        self.popen = subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=self._log, start_new_session=True)
        self._start_reader()
        return self

    def wait_ready(self, timeout=20.0):
        """Waits for the READY line (deadline scaled by timeout_scale()); raises
        ProcessError with the log if the child exits first or stays silent."""
        deadline = time.monotonic() + scaled(timeout)
        while not self._ready_event.wait(0.02):
            if self._exited():
                self._ready_event.wait(0.5)  # the pump may still hold the last line
                if self._ready_line:
                    break
                self.wait(2)
                raise ProcessError(f"{self.name} exited ({describe_status(self.returncode)}) "
                                   f"before READY:\n{self.log()}")
            if time.monotonic() > deadline:
                self.kill()
                self.wait(5)
                raise ProcessError(f"{self.name} did not print READY within "
                                   f"{scaled(timeout):.0f}s. {self.ready_hint()}\n"
                                   f"{self.log()}")
        line = self._ready_line
        self.ready = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
        return self

    def ready_hint(self):
        """What wait_ready() waits for, and how this child is made to print it: the text a
        reader of a READY timeout needs first."""
        wanted = ("It waits for a line on stdout that starts with 'READY', with key=value "
                  "pairs after it (port=P first)")
        if self.binary == "loadbalancer":
            how = ("'READY port=P' (plus 'stats=S' with --stats-port): the balancer prints "
                   "it, flushed, only when asked with --ready or when PORT is 0")
        elif self.binary == "fakeserver":
            how = ("'READY port=P control=C pid=PID': the fakeserver prints it, flushed, "
                   "only when asked with --ready or when PORT is 0")
        else:
            how = "the child must print it itself and flush stdout (a pipe is block-buffered)"
        return f"{wanted}; {how}. Command: {shlex.join(self.argv)}"

    def stop_rule(self):
        """The rule close() judges the exit status after SIGTERM by, in words."""
        if self.stop_exits == {0}:
            return ("SIGTERM must make it drain and exit 0 (the contract: stop accepting, "
                    "let requests in flight finish within a bound, exit 0)")
        said = " or ".join(describe_status(c) for c in sorted(self.stop_exits, reverse=True))
        return f"after SIGTERM the test accepts {said}"

    def _start_reader(self):
        popen, log = self.popen, self._log

        def pump():
            for raw in popen.stdout:
                text = raw.decode(errors="replace").rstrip("\n")
                self.stdout_lines.append(text)
                try:
                    log.write(f"[stdout] {text}\n".encode())
                except ValueError:
                    pass
                if self._ready_line is None and text.startswith("READY"):
                    self._ready_line = text
                    self._ready_event.set()
        self._reader = threading.Thread(target=pump, daemon=True, name=f"pump-{self.name}")
        self._reader.start()

    @property
    def pid(self):
        return self.popen.pid

    @property
    def port(self):
        return int(self.ready["port"])

    def _exited(self):
        """Whether the child has exited, without reaping it: while it is an unreaped zombie
        its PID, which is also its process-group ID, cannot be reused (pid_max may be as low
        as 32768 on a busy machine), so signalling the group stays safe until _reap()."""
        if self.popen.returncode is not None:
            return True
        try:
            info = os.waitid(os.P_PID, self.popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def _reap(self):
        """Kills what is left in the group (the zombie leader still holds the group ID),
        then reaps the leader."""
        if self.popen.returncode is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.popen.wait()
        self.returncode = self.popen.returncode

    def alive(self):
        return self.popen is not None and not self._exited()

    def signal(self, sig):
        """Signals the child's whole process group (its own, from start_new_session)."""
        if self.alive():
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        """SIGKILL to the process group. The test asked for this death: it is expected."""
        self.killed_by_test = True
        self.signal(signal.SIGKILL)

    def freeze(self):
        self.signal(signal.SIGSTOP)

    def thaw(self):
        self.signal(signal.SIGCONT)

    def wait(self, timeout=10.0):
        """Waits up to timeout for the exit; returns the status (None: still running)."""
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        while not self._exited():
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.005)
        self._reap()
        if self._reader:
            self._reader.join(2)
        return self.returncode

    def expect_exit(self, *codes):
        """Declares that the process may end by itself before teardown with one of codes
        (negative: killed by that signal). With no codes, any status is accepted."""
        self.expected_exits = set(codes) if codes else "any"

    def stop(self, sig=SIGTERM, timeout=10.0):
        """Signals, waits up to timeout, then SIGKILLs. Returns the exit status."""
        if self.popen is None:
            return None
        if self.alive():
            self.killed_by_test = self.killed_by_test or self._closing is False
            self.signal(signal.SIGCONT)
            self.signal(sig)
            if self.wait(scaled(timeout)) is None:
                self.kill()
                self.wait(5)
        else:
            self.wait(1)   # reaps, killing leftovers in its group first
        return self.returncode

    def close(self):
        """Teardown: stops the process if it runs and returns a list of problems with its
        exit status: a death before teardown that the test neither caused (kill/stop) nor
        declared (expect_exit), or a status after SIGTERM outside stop_exits."""
        problems = []
        if self.popen is None:
            return problems
        died_before = not self.alive()
        if died_before:
            self.wait(1)
            problems += self._judge_early_death()
        else:
            ended_by_test = self.killed_by_test
            self._closing = True
            code = self.stop()
            self._closing = False
            if code not in self.stop_exits and not ended_by_test:
                problems.append(f"exit status after SIGTERM at teardown: "
                                f"{describe_status(code)}, but {self.stop_rule()}"
                                f"{shell_status_hint(code)}")
        try:
            self._log.close()
        except Exception:
            pass
        return problems

    def _judge_early_death(self):
        code = self.returncode
        if self.killed_by_test or self.expected_exits == "any":
            return []
        if self.expected_exits and code in self.expected_exits:
            return []
        return [f"died before teardown: {describe_status(code)} (not expected by the test)"]

    # -- logs -------------------------------------------------------------------------
    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def check_log(self):
        """Returns a list of sanitizer/Valgrind problems found in the log."""
        return log_problems(self.log())


def log_problems(text):
    """The lines of a process's log (stderr, or a Valgrind --log-file) that report a
    sanitizer finding, Valgrind errors or a definite leak."""
    problems = []
    for line in text.splitlines():
        if "ERROR SUMMARY: " in line and "ERROR SUMMARY: 0 errors" not in line:
            problems.append(line)
        elif "definitely lost:" in line and " 0 bytes in 0 blocks" not in line:
            problems.append(line)
        elif any(m in line for m in SANITIZER_MARKERS[:3]):
            problems.append(line)
    return problems
