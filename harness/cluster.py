"""Cluster: N fakeservers behind one balancer, on ephemeral ports, each process in its own
process group and working directory, with handles to hurt and heal them.

    c = Cluster(tmp_path, backends=3, lb_args=["-N", "4", "-R", "5"]).start()
    c.seed(files)                      # the GET targets, on every backend
    c.backends[1].kill()               # SIGKILL; .freeze()/.thaw(), .crash(), .restart()
    c.backends[0].set_faults(delay=200)  # live, through the fakeserver's control port
    c.stats()                          # the balancer's /stats JSON
    problems = c.stop()                # teardown: exit statuses and sanitizer reports

Start-up spawns every fakeserver first and then waits on each READY line (a member that dies
during start-up is noticed at once), then starts the balancer on their ports. Each process
writes stdout/stderr to ROOT/logs/NAME.log; a fakeserver's course log (-l) goes to
ROOT/courselogs/NAME-K.log, one file per incarnation K, so a restart never truncates the
evidence of the previous life. Working directories are ROOT/NAME; PUTs land there.

The binaries default to the project's (`fakeserver`, `loadbalancer`, found by
harness.process.bin_path and run under the LBTEST_WRAP* wrappers); `fakeserver_cmd` and
`balancer_cmd` may name other programs that speak the same command line and READY line.
"""
import collections
import json
import signal
import socket
import time
from pathlib import Path

from .process import Process, ProcessError
from .timing import scaled, timeout_scale, wait_for
from .wire import fetch
from . import traffic as traffic_mod


class ControlError(RuntimeError):
    pass


class ControlUnavailable(ControlError):
    """The fakeserver in use has no working control port (--control-port)."""


_CONTROL_SUPPORT = {}


def control_supported(cmd, root):
    """Whether `cmd` (a fakeserver command) opens a control port: probed once per command
    by starting it with `--control-port 0` and reading its READY line."""
    key = tuple(cmd)
    if key not in _CONTROL_SUPPORT:
        proc = Process(list(cmd) + ["0", "-L", "--control-port", "0"], name="control-probe",
                       cwd=root, log_dir=root)
        try:
            proc.start(timeout=10)
            _CONTROL_SUPPORT[key] = proc.ready.get("control", "0") not in ("", "0")
        except ProcessError:
            _CONTROL_SUPPORT[key] = False
        finally:
            proc.close()
    return _CONTROL_SUPPORT[key]


def http_request(port, method, path, body=None, host="127.0.0.1", timeout=5.0):
    """One exchange on a fresh connection (harness.wire.fetch); body: bytes, or an object
    sent as JSON. Returns (status, body bytes)."""
    fields = ()
    if body is not None and not isinstance(body, bytes):
        body, fields = json.dumps(body).encode(), [("Content-Type", "application/json")]
    answer = fetch(port, method, path, body=body or b"", fields=fields, host=host,
                   timeout=timeout)
    return answer.status, answer.body


def fault_key(name):
    """Python keyword -> the fakeserver's fault name (same as its long option, no dashes)."""
    return name.replace("_", "-")


# Balancer deadlines that must stretch when the binaries run slower (valgrind): a fakeserver
# under valgrind may need more than the default 1 s to answer its first health check.
SCALED_LB_OPTIONS = {"--connect-timeout": 1000, "--server-timeout": 5000,
                     "--health-timeout": 1000, "--queue-timeout": 10000,
                     "--header-timeout": 10000, "--drain-timeout": 10000}


def parse_ms(text):
    text = str(text)
    if text.endswith("ms"):
        return float(text[:-2])
    if text.endswith("s"):
        return float(text[:-1]) * 1000
    return float(text)


def scale_lb_args(args, scale=None):
    """Multiplies the balancer's deadline options by the timeout scale, adding the
    defaults that are not given, so a slow run (valgrind) keeps the same meaning."""
    scale = timeout_scale() if scale is None else scale
    if scale == 1.0:
        return list(args)
    out, given = [], set()
    args = list(args)
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, val = a.partition("=")
        if name in SCALED_LB_OPTIONS and (eq or i + 1 < len(args)):
            if not eq:
                i += 1
                val = args[i]
            out += [name, f"{int(parse_ms(val) * scale)}ms"]
            given.add(name)
        else:
            out.append(a)
        i += 1
    for name, default in SCALED_LB_OPTIONS.items():
        if name not in given:
            out += [name, f"{int(default * scale)}ms"]
    return out


def port_accepts(port, host="127.0.0.1", timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Member:
    """Common part of a fakeserver or balancer handle: one Process at a time."""

    def __init__(self, cluster, name, cmd, args):
        self.cluster = cluster
        self.name = name
        self.cmd = list(cmd)
        self.args = [str(a) for a in args]
        self.dir = cluster.root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = None
        self.lives = []          # every Process this member ran, oldest first
        self.frozen = False      # SIGSTOPped by freeze(), until thaw() or its death

    def _spawn(self, argv, ready_timeout):
        proc = Process(self.cmd + argv, name=f"{self.name}-{len(self.lives)}", cwd=self.dir,
                       log_dir=self.cluster.root / "logs", env=self.cluster.env)
        self.lives.append(proc)
        self.proc = proc
        self.frozen = False
        proc.spawn()
        return proc

    @property
    def pid(self):
        return self.proc.pid

    @property
    def port(self):
        return self.proc.port

    @property
    def addr(self):
        return ("127.0.0.1", self.port)

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def kill(self):
        """SIGKILL to its process group; returns once it is reaped."""
        self.proc.kill()
        self.thaw()
        self.proc.wait(10)
        return self.proc.returncode

    def freeze(self):
        """SIGSTOP: the kernel still accepts its connections, nothing answers them."""
        self.proc.freeze()
        self.frozen = True

    def thaw(self):
        self.proc.thaw()
        self.frozen = False

    def signal(self, sig):
        self.proc.signal(sig)

    def wait_exit(self, timeout=10.0):
        code = self.proc.wait(scaled(timeout))
        if code is None:
            raise AssertionError(f"{self.name} still running after {timeout}s")
        return code

    def logs(self):
        return [p.log_path for p in self.lives]


class Backend(Member):
    """A fakeserver: PORT 0 the first time, its old port on restart(). `last_faults`: the
    faults its control port reported after the last change made through this handle."""

    def __init__(self, cluster, index, cmd, args, logging=True, control=True, name=None):
        super().__init__(cluster, name or f"fs{index}", cmd, args)
        self.index = index
        self.logging = logging
        self.control = control
        self._port = 0
        self.course_logs = []
        self.last_faults = {}

    def spawn(self, port=None):
        port = self._port if port is None else port
        argv = [str(port)]
        if self.logging:
            log = self.cluster.root / "courselogs" / f"{self.name}-{len(self.lives)}.log"
            log.parent.mkdir(exist_ok=True)
            self.course_logs.append(log)
            argv += ["-l", str(log)]
        if self.control:
            argv += ["--control-port", "0"]
        return self._spawn(argv + self.args, self.cluster.ready_timeout)

    def wait_ready(self):
        self.proc.wait_ready(self.cluster.ready_timeout)
        self._port = self.proc.port
        if self.control and self.proc.ready.get("control", "0") in ("", "0"):
            raise ProcessError(f"{self.name}: READY line has no control= port "
                               f"({self.proc.stdout_lines[:1]}); the fakeserver lacks "
                               f"--control-port")
        return self

    def start(self, port=None):
        self.spawn(port)
        return self.wait_ready()

    @property
    def port(self):
        return self._port

    @property
    def control_port(self):
        return int(self.proc.ready["control"])

    def crash(self, sig=signal.SIGABRT):
        """Makes the process die as a crash would (SIGABRT by default); returns its status."""
        self.proc.expect_exit(-sig)
        self.proc.signal(sig)
        self.proc.thaw()
        self.proc.wait(10)
        return self.proc.returncode

    def expect_exit(self, *codes):
        """The current life may end by itself (a crash fault) with one of these statuses."""
        self.proc.expect_exit(*codes)

    def restart(self, extra_args=None):
        """Starts a new life on the same port and directory (after kill/crash/stop)."""
        if self.alive():
            self.proc.stop()
        if extra_args is not None:
            self.args = [str(a) for a in extra_args]
        # The old port may linger in the kernel a moment after a SIGKILL; retry briefly.
        deadline = time.monotonic() + scaled(5)
        while True:
            try:
                return self.start(self._port)
            except ProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, sig=signal.SIGTERM):
        return self.proc.stop(sig)

    # -- control port ---------------------------------------------------------------------
    def control_call(self, method, path, body=None):
        if not self.control:
            raise ControlUnavailable(f"{self.name} runs without a control port (the "
                                     f"fakeserver in use does not offer --control-port)")
        status, data = http_request(self.control_port, method, path, body)
        try:
            obj = json.loads(data) if data else {}
        except ValueError:
            obj = {"raw": data.decode(errors="replace")}
        if status >= 300:
            raise ControlError(f"{self.name}: {method} {path} {body} -> {status} {obj}")
        if path == "/faults" and isinstance(obj.get("faults"), dict):
            self.last_faults = obj["faults"]
        return obj

    def faults(self):
        return self.control_call("GET", "/faults")

    def set_faults(self, **faults):
        """Changes the named faults live, keeping the others (PATCH). Names as the long
        options, with '_' for '-': set_faults(delay=200, error_rate=0.5); None puts one
        back to its default."""
        return self.control_call("PATCH", "/faults",
                                 {fault_key(k): v for k, v in faults.items()})

    def replace_faults(self, **faults):
        """Replaces every fault at once (unnamed ones return to their defaults)."""
        return self.control_call("PUT", "/faults",
                                 {fault_key(k): v for k, v in faults.items()})

    def reset_faults(self):
        return self.control_call("DELETE", "/faults")

    def counters(self):
        return self.control_call("GET", "/counters")

    # -- direct access ------------------------------------------------------------------
    def healthcheck(self):
        """GET /healthcheck straight to the backend: (status, body bytes)."""
        return http_request(self.port, "GET", "/healthcheck")

    def files(self):
        return {p.name: p for p in self.dir.iterdir() if p.is_file()}

    def requests(self):
        """Counter of (method, name) over the requests this backend logged (every life,
        FAIL entries included), health checks excluded."""
        total = traffic_mod.parse_course_logs(self.course_logs)
        return collections.Counter({key: n for key, n in total.items()
                                    if key[1] != "healthcheck"})

    def served(self):
        """How many requests this backend logged (every life), health checks excluded."""
        return sum(self.requests().values())

    def health_checks(self):
        total = traffic_mod.parse_course_logs(self.course_logs)
        return total[("GET", "healthcheck")]


class Balancer(Member):
    """The balancer: PORT 0, the backends' ports, its arguments (deadlines scaled), and a
    stats port when `stats` is true; "auto": when the balancer in use accepts --stats-port
    (a balancer that refuses it is started again without)."""

    def __init__(self, cluster, cmd, args, stats=True):
        super().__init__(cluster, "lb", cmd, args)
        self.stats_on = stats

    def start(self, backend_ports):
        argv = ["0"] + [str(p) for p in backend_ports] + scale_lb_args(self.args)
        if not self.stats_on:
            return self._start(argv)
        try:
            self._start(argv + ["--stats-port", "0"])
        except ProcessError:
            if self.stats_on != "auto":
                raise
            self.proc.expect_exit()   # it refused the option: not a death to judge
            self.stats_on = False
            return self._start(argv)
        if "stats" not in self.proc.ready:
            raise ProcessError(f"lb: READY line has no stats= port ({self.proc.stdout_lines[:1]})")
        return self

    def _start(self, argv):
        proc = self._spawn(argv, self.cluster.ready_timeout)
        proc.stop_exits = {0}   # the contract: SIGTERM drains and exits 0 (stop_rule())
        proc.wait_ready(self.cluster.ready_timeout)
        return self

    @property
    def stats_port(self):
        """The stats port from the READY line, None without one."""
        stats = self.proc.ready.get("stats")
        return int(stats) if stats and stats != "0" else None

    def stats(self):
        status, data = http_request(self.stats_port, "GET", "/stats")
        if status != 200:
            raise AssertionError(f"/stats answered {status}: {data[:200]!r}")
        return json.loads(data)

    def metrics(self):
        status, data = http_request(self.stats_port, "GET", "/metrics")
        if status != 200:
            raise AssertionError(f"/metrics answered {status}: {data[:200]!r}")
        return data.decode()

    def sigterm(self):
        """SIGTERM from the test: the balancer must drain and exit 0 (judged at teardown)."""
        self.proc.expect_exit(0)
        self.proc.signal(signal.SIGTERM)

    def stop(self, sig=signal.SIGTERM):
        return self.proc.stop(sig)


def backend_entry(stats, port):
    """The /stats entry of the backend on `port` (matched on its address), or None."""
    entries = stats.get("backends", stats) if isinstance(stats, dict) else stats
    for entry in entries:
        addr = str(entry.get("address") or entry.get("addr") or entry.get("name") or "")
        if addr.rsplit(":", 1)[-1] == str(port) or entry.get("port") == port:
            return entry
    return None


def is_up(entry):
    if entry is None:
        return False
    for key in ("state", "status"):
        if key in entry:
            return str(entry[key]).lower() in ("up", "healthy", "ok")
    return bool(entry.get("healthy", entry.get("up")))


class Cluster:
    """See the module docstring. Arguments:
    root            a directory of its own (tmp_path)
    backends        number of fakeservers
    names           their names (default fs0, fs1, ...; also their directories' names)
    lb_args         extra balancer arguments (e.g. ["-N", "2", "-R", "3"])
    backend_args    extra arguments for every fakeserver
    per_backend     {index: [args]} added for one fakeserver (e.g. ["-e", "5", "-t", "9"])
    logging         fakeservers log (-l, needed for /healthcheck and the duplicate check)
    control         fakeservers open a control port (--control-port 0); "auto" (default):
                    when the fakeserver in use supports it
    stats           the balancer opens its stats port (--stats-port 0); "auto": when
                    the balancer in use accepts the option
    """

    def __init__(self, root, backends=3, lb_args=(), backend_args=(), per_backend=None,
                 logging=True, control="auto", stats=True, fakeserver_cmd=("fakeserver",),
                 balancer_cmd=("loadbalancer",), ready_timeout=20.0, env=None, files=None,
                 names=None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.ready_timeout = ready_timeout
        self.env = env
        per_backend = per_backend or {}
        names = list(names) if names else [None] * backends
        backends = len(names)
        if control == "auto":
            control = backends > 0 and control_supported(fakeserver_cmd, self.root)
        self.control = control
        self.lb_args = [str(a) for a in lb_args]
        self.backends = [
            Backend(self, i, fakeserver_cmd, list(backend_args) + list(per_backend.get(i, [])),
                    logging=logging, control=control, name=name)
            for i, name in enumerate(names)]
        self.balancer = Balancer(self, balancer_cmd, lb_args, stats=stats)
        self.files = dict(files) if files is not None else traffic_mod.default_files()
        self.started = False
        self.stopped = False
        self.runs = []           # every Traffic driven through traffic()

    # -- life cycle -------------------------------------------------------------------
    def start(self, balancer=True):
        self.seed(self.files)
        for b in self.backends:
            b.spawn()
        for b in self.backends:
            b.wait_ready()
        self.started = True
        if balancer:
            self.balancer.start([b.port for b in self.backends])
        return self

    def members(self):
        return self.backends + [self.balancer]

    def backend(self, name):
        """The Backend called `name`."""
        return next(b for b in self.backends if b.name == name)

    def processes(self):
        return [p for m in self.members() for p in m.lives]

    def stop(self):
        """Stops the balancer first (SIGTERM, must exit 0), then every fakeserver; returns a
        list of problems: unexpected exit statuses and sanitizer/Valgrind reports."""
        if self.stopped:
            return []
        self.stopped = True
        problems = []
        for m in [self.balancer] + self.backends:
            for proc in m.lives:
                problems += [f"{proc.name}: {p}" for p in proc.close()]
        for proc in self.processes():
            problems += [f"{proc.name}: {p}" for p in proc.check_log()]
        return problems

    def dump(self, course_tail=30):
        """Every process's log, and the tail of every course log."""
        out = []
        for proc in self.processes():
            out.append(f"===== {proc.name} ({proc.log_path}) =====\n{proc.log()}")
        for b in self.backends:
            for path in b.course_logs:
                try:
                    lines = [ln for ln in path.read_text(errors="replace").splitlines()
                             if ln and not ln[0].isdigit() and ln != "========"]
                except FileNotFoundError:
                    continue
                out.append(f"===== course log {path} (last {course_tail} of {len(lines)} "
                           f"entries, hex dumps left out) =====\n"
                           + "\n".join(lines[-course_tail:]))
        return "\n".join(out)

    # -- data -------------------------------------------------------------------------
    def seed(self, files, backends=None):
        """Writes name -> bytes into every backend's working directory (or the given
        indexes)."""
        for b in self.backends if backends is None else [self.backends[i] for i in backends]:
            for name, data in files.items():
                (b.dir / name).write_bytes(data)

    @property
    def addr(self):
        return self.balancer.addr

    @property
    def port(self):
        return self.balancer.port

    def traffic(self, clients=4, keepalive="mixed", workload=None, **kw):
        """A Traffic driver against the balancer with this cluster's files."""
        workload = workload or traffic_mod.Workload(self.files)
        t = traffic_mod.Traffic(self.addr, workload, clients=clients, keepalive=keepalive, **kw)
        self.runs.append(t)
        return t

    @property
    def retries(self):
        """The balancer's --retries (idempotent retries on another backend; default 1)."""
        args = self.lb_args
        for i, a in enumerate(args):
            if a == "--retries" and i + 1 < len(args):
                return int(args[i + 1])
            if a.startswith("--retries="):
                return int(a.split("=", 1)[1])
        return 1

    def check(self, result, allow=("ok",), min_ok=0):
        """The invariant over a traffic Result, with this cluster's directories and logs.
        A GET/HEAD may reach backends up to 1 + retries times (the balancer retries an
        idempotent request whose backend failed before answering); a PUT at most once."""
        logs = [p for b in self.backends for p in b.course_logs]
        return traffic_mod.check(result, allow=allow, backend_dirs=[b.dir for b in self.backends],
                                 course_logs=logs, idempotent_copies=1 + self.retries,
                                 min_ok=min_ok,
                                 population=[r for t in self.runs for r in t.requests])

    def served(self):
        """{backend index: requests it logged, health checks excluded}."""
        return {b.index: b.served() for b in self.backends}

    def stats(self):
        return self.balancer.stats()

    def backend_stats(self, index):
        return backend_entry(self.stats(), self.backends[index].port)

    def wait_backend_state(self, index, up, timeout=10.0):
        """Polls /stats until backend `index` is up (or down)."""
        return wait_for(lambda: is_up(self.backend_stats(index)) == up, timeout,
                        what=f"backend {index} to be {'up' if up else 'down'} in /stats")

    wait_for = staticmethod(wait_for)

