"""One child process of a test: started in its own process group, ready when it prints
its READY line, logged to a file, and ended by PID/process group only.

A `Process` never guesses: `start()` returns once the child printed `READY k=v ...` on
stdout (the values land in `.ready`), or raises `ProcessError` with the child's log if it
exited or stayed silent past the deadline. `stop()` sends a signal, waits, and returns the
exit status; `check_log()` finds sanitizer and Valgrind reports.
"""
import os
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "ERROR SUMMARY: ",  # Valgrind; judged by count below
    "definitely lost:",
    "FILE DESCRIPTORS:",
)


class ProcessError(RuntimeError):
    pass


def repo_root():
    return Path(__file__).resolve().parent.parent


def bin_path(name):
    """Path of a project binary: $LBTEST_BIN/name, else build/bin/name."""
    base = os.environ.get("LBTEST_BIN") or str(repo_root() / "build" / "bin")
    path = Path(base) / name
    if not path.exists():
        raise ProcessError(f"{path} does not exist: run `make` first (or set LBTEST_BIN)")
    return str(path)


def wrapper():
    """Command prefix for project binaries, from $LBTEST_WRAP (e.g. a valgrind line)."""
    return shlex.split(os.environ.get("LBTEST_WRAP", ""))


class Process:
    """A child process with a READY line. `argv[0]` may be a project binary name."""

    def __init__(self, argv, name=None, cwd=None, log_dir=None, env=None, wrap=True):
        argv = [str(a) for a in argv]
        if "/" not in argv[0]:
            argv[0] = bin_path(argv[0])
            if wrap:
                argv = wrapper() + argv
        self.argv = argv
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

    # -- life cycle -------------------------------------------------------------------
    def start(self, timeout=20.0, expect_ready=True):
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab", buffering=0)
        self._log.write(f"$ {shlex.join(self.argv)}\n".encode())
        self.popen = subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=self._log, start_new_session=True)
        if not expect_ready:
            self._start_reader()
            return self
        deadline = time.monotonic() + timeout
        line = self._read_ready_line(deadline)
        self.ready = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
        self._start_reader()
        return self

    def _read_ready_line(self, deadline):
        # A helper thread reads the first line so that the deadline holds even if the child
        # neither writes nor exits.
        box = {}
        t = threading.Thread(target=lambda: box.setdefault("line", self.popen.stdout.readline()),
                             daemon=True)
        t.start()
        t.join(max(0.0, deadline - time.monotonic()))
        line = box.get("line")
        if line is None or not line.startswith(b"READY"):
            if line is None:
                self.kill()
            self.wait(5)
            raise ProcessError(f"{self.name} did not print READY (got {line!r}):\n{self.log()}")
        text = line.decode().strip()
        self._log.write(f"[stdout] {text}\n".encode())
        self.stdout_lines.append(text)
        return text

    def _start_reader(self):
        def pump():
            for raw in self.popen.stdout:
                text = raw.decode(errors="replace").rstrip("\n")
                self.stdout_lines.append(text)
                try:
                    self._log.write(f"[stdout] {text}\n".encode())
                except ValueError:
                    break
        self._reader = threading.Thread(target=pump, daemon=True)
        self._reader.start()

    @property
    def pid(self):
        return self.popen.pid

    @property
    def port(self):
        return int(self.ready["port"])

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig):
        """Signals the child's whole process group (its own, from start_new_session)."""
        if self.alive():
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        self.signal(signal.SIGKILL)

    def freeze(self):
        self.signal(signal.SIGSTOP)

    def thaw(self):
        self.signal(signal.SIGCONT)

    def wait(self, timeout=10.0):
        try:
            self.returncode = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        if self._reader:
            self._reader.join(2)
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signals, waits up to timeout, then SIGKILLs. Returns the exit status."""
        if self.popen is None:
            return None
        if self.alive():
            self.signal(signal.SIGCONT)
            self.signal(sig)
            if self.wait(timeout) is None:
                self.kill()
                self.wait(5)
        else:
            self.wait(1)
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)  # leftovers in its group
        except (ProcessLookupError, PermissionError):
            pass
        return self.returncode

    def close(self):
        self.stop()
        try:
            self._log.close()
        except Exception:
            pass

    # -- logs -------------------------------------------------------------------------
    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def check_log(self):
        """Returns a list of sanitizer/Valgrind problems found in the log."""
        problems = []
        for line in self.log().splitlines():
            if "ERROR SUMMARY: " in line and "ERROR SUMMARY: 0 errors" not in line:
                problems.append(line)
            elif "definitely lost:" in line and " 0 bytes in 0 blocks" not in line:
                problems.append(line)
            elif any(m in line for m in SANITIZER_MARKERS[:3]):
                problems.append(line)
        return problems
