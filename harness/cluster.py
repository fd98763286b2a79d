"""Cluster: N fakeservers behind one balancer, on ephemeral ports, each process in its own
process group and working directory, with handles to hurt and heal them.

    c = Cluster(tmp_path, backends=3, lb_args=["-N", "4", "-R", "5"]).start()
    c.seed(files)                      # the GET targets, on every backend
    c.backends[1].kill()               # SIGKILL; .freeze()/.thaw(), .crash(), .restart()
    c.backends[0].set_faults(delay=200)  # live, through the fakeserver's control port
    c.stats()                          # the balancer's /stats JSON
    d = c.add_backend(weight=2)        # a new fakeserver, registered through the admin API
    c.drain(1); c.remove(1); c.reweight(0, 3)   # the admin API (harness/admin.py)
    c.write_backends_file([0, (2, 3)]); c.reload()   # --backends-file and SIGHUP
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

from .admin import Admin
from .process import Process, ProcessError, describe_status
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
        # hosts=True: its own network namespace and address (harness.netns.Host)
        self.host = cluster.hosts.add(name) if cluster.hosts else None

    def _spawn(self, argv, ready_timeout):
        proc = Process(self.cmd + argv, name=f"{self.name}-{len(self.lives)}", cwd=self.dir,
                       log_dir=self.cluster.root / "logs", env=self.cluster.env,
                       prefix=self.host.exec_prefix if self.host else ())
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
    def ip(self):
        """Its address: 127.0.0.1, or its own namespace's address with hosts=True."""
        return self.host.ip if self.host else "127.0.0.1"

    @property
    def addr(self):
        return (self.ip, self.port)

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
        if self.host:   # the control port listens on 127.0.0.1 inside its namespace
            from .netns import in_netns
            status, data = in_netns(self.host.ns, http_request, self.control_port, method,
                                    path, body)
        else:
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
        return http_request(self.port, "GET", "/healthcheck", host=self.ip)

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

    # -- network faults (hosts=True: nft rules and link state in its namespace) ---------
    def _net(self):
        if not self.host:
            raise RuntimeError(f"{self.name}: network faults need its own host "
                               f"(@pytest.mark.cluster(hosts=True))")
        return self.host

    def blackhole(self):
        """Drops every packet sent to it, SYNs too: connects hang (the machine vanished)."""
        self._net().blackhole()

    def partition(self):
        """Drops both ways: established connections freeze mid-answer."""
        self._net().partition()

    def drop_answers(self):
        """One way: requests arrive (handshakes complete), no answer leaves."""
        self._net().drop_answers()

    def reject(self):
        """Resets every TCP segment sent to it: connects are refused at once."""
        self._net().reject()

    def link_down(self):
        """Its link goes down."""
        self._net().link_down()

    def heal(self):
        """Removes its network fault (rules gone, link up)."""
        self._net().heal()


def parse_remote(spec):
    """A fakeserver running elsewhere: "HOST:PORT", "HOST:PORT/CONTROLPORT" or a tuple
    (host, port[, control_port[, control_host]]). Returns (host, port, control addr or
    None); the control host defaults to the server's."""
    if isinstance(spec, str):
        addr, _, control = spec.partition("/")
        host, _, port = addr.rpartition(":")
        spec = (host or "127.0.0.1", int(port)) + ((int(control),) if control else ())
    host, port = spec[0], int(spec[1])
    control = None
    if len(spec) > 2 and spec[2]:
        control = (spec[3] if len(spec) > 3 else host, int(spec[2]))
    return host, port, control


class RemoteBackend(Backend):
    """A fakeserver this harness did not start (another machine, another container): an
    address and, when it was started with `--control-port P --control-bind ADDR`, its
    control port. Process faults become control-port faults: kill() closes its listener
    (refuse: connections are refused), restart() puts every fault back to its default,
    freeze() makes it stall new connections and hang on requests, thaw() undoes that,
    crash() makes the next request kill the process (whoever runs it restarts it). Its
    course log and directory are not here: served() counts nothing, PUTs are not looked
    up in its directory, teardown only resets its faults."""

    def __init__(self, cluster, index, spec, name=None):
        self.cluster = cluster
        self.index = index
        self.name = name or f"fs{index}"
        self._ip, self._port, self._control = parse_remote(spec)
        self.control = self._control is not None
        self.host = None
        self.dir = None
        self.cmd, self.args = [], []
        self.proc = None
        self.lives = []
        self.logging = False
        self.course_logs = []
        self.last_faults = {}
        self.frozen = False

    @property
    def ip(self):
        return self._ip

    @property
    def port(self):
        return self._port

    @property
    def control_port(self):
        return self._control[1]

    @property
    def pid(self):
        return None

    def spawn(self, port=None):
        return None

    def wait_ready(self):
        return self

    def start(self, port=None):
        return self

    def control_call(self, method, path, body=None):
        if not self.control:
            raise ControlUnavailable(f"{self.name}: no control port was given for this remote "
                                     f"fakeserver ({self._ip}:{self._port})")
        status, data = http_request(self._control[1], method, path, body,
                                    host=self._control[0])
        obj = json.loads(data) if data else {}
        if status >= 300:
            raise ControlError(f"{self.name}: {method} {path} {body} -> {status} {obj}")
        if path == "/faults" and isinstance(obj.get("faults"), dict):
            self.last_faults = obj["faults"]
        return obj

    def alive(self):
        try:
            self.faults()
            return True
        except (OSError, ControlError):
            return False

    def kill(self):
        """Its listener closes: every new connection is refused (a dead process, seen from
        the network)."""
        self.set_faults(refuse=True)

    def restart(self, extra_args=None):
        """Back to a healthy server: every fault to its default."""
        self.reset_faults()
        self.frozen = False
        return self

    def freeze(self):
        """Stalls new connections and hangs on requests (a frozen process, seen from the
        network)."""
        self.set_faults(stall=True, hang_rate=1)
        self.frozen = True

    def thaw(self):
        self.set_faults(stall=None, hang_rate=None)
        self.frozen = False

    def crash(self, sig=None):
        """The next request makes the process die (crash-rate 1)."""
        self.set_faults(crash_rate=1)

    def expect_exit(self, *codes):
        pass

    def stop(self, sig=None):
        """Teardown: its faults back to their defaults (the process is not ours)."""
        try:
            self.reset_faults()
        except (OSError, ControlError):
            pass

    def files(self):
        return {}


class Balancer(Member):
    """The balancer: PORT 0, the backends' ports, its arguments (deadlines scaled), and a
    stats port when `stats` is true; "auto": when the balancer in use accepts --stats-port
    (a balancer that refuses it is started again without)."""

    def __init__(self, cluster, cmd, args, stats=True):
        super().__init__(cluster, "lb", cmd, args)
        self.stats_on = stats

    def start(self, backend_ports, backends_file=None, port=0):
        """backend_ports: ports (127.0.0.1) or "host:port" strings; backends_file: a path
        given as --backends-file (the file names the servers then, backend_ports may be
        empty); port: its listening port (0: an ephemeral one)."""
        self._servers = [str(p) for p in backend_ports]
        self._backends_file = backends_file
        argv = [str(port)] + self._servers + scale_lb_args(self.args)
        if backends_file is not None:
            argv += ["--backends-file", str(backends_file)]
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

    def restart(self, args=None):
        """SIGTERM (it must drain and exit 0), then the balancer again on the same port and
        backends, with `args` instead of its arguments when given (e.g. a --slow-start
        added). Its stats port is a new ephemeral one (`stats_port` follows it)."""
        port = self.port
        code = self.proc.stop()
        if code != 0:
            raise ProcessError(f"lb: {describe_status(code)} after SIGTERM, but "
                               f"{self.proc.stop_rule()}")
        if args is not None:
            self.args = [str(a) for a in args]
        return self.start(self._servers, self._backends_file, port=port)

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
        status, data = http_request(self.stats_port, "GET", "/stats", host=self.ip)
        if status != 200:
            raise AssertionError(f"/stats answered {status}: {data[:200]!r}")
        return json.loads(data)

    def metrics(self):
        status, data = http_request(self.stats_port, "GET", "/metrics", host=self.ip)
        if status != 200:
            raise AssertionError(f"/metrics answered {status}: {data[:200]!r}")
        return data.decode()

    @property
    def admin(self):
        """harness.admin.Admin on its stats port."""
        return Admin(self.stats_port, host=self.ip)

    def sigterm(self):
        """SIGTERM from the test: the balancer must drain and exit 0 (judged at teardown)."""
        self.proc.expect_exit(0)
        self.proc.signal(signal.SIGTERM)

    def stop(self, sig=signal.SIGTERM):
        return self.proc.stop(sig)


def backend_entry(stats, port, ip=None):
    """The /stats entry of the backend on `port` (matched on its address; on `ip:port`
    when ip is given, as hosts in namespaces may share a port number), or None."""
    entries = stats.get("backends", stats) if isinstance(stats, dict) else stats
    for entry in entries:
        addr = str(entry.get("address") or entry.get("addr") or entry.get("name") or "")
        if ip is not None and ":" in addr and addr.rsplit(":", 1)[0] != ip:
            continue
        if addr.rsplit(":", 1)[-1] == str(port) or entry.get("port") == port:
            return entry
    return None


def shares_per_interval(forwarded, index, intervals, seconds=1.0):
    """Backend `index`'s share of the requests the balancer forwarded in each of
    `intervals` consecutive windows of `seconds`: forwarded() returns the /stats
    "forwarded" count of every backend, read at each window's edges. A measurement window,
    not a wait: the shares are what happened in it."""
    shares, before = [], forwarded()
    for _ in range(intervals):
        time.sleep(seconds)
        after = forwarded()
        sent = [x - y for x, y in zip(after, before)]
        shares.append(sent[index] / max(1, sum(sent)))
        before = after
    return shares


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
    weights         {index: W}: those backends are named SERVER,weight=W to the balancer
    backends_file   the balancer reads its servers from ROOT/backends.txt
                    (--backends-file), written with every backend at start, instead of
                    its command line; write_backends_file() + reload() change it
    """

    def __init__(self, root, backends=3, lb_args=(), backend_args=(), per_backend=None,
                 logging=True, control="auto", stats=True, fakeserver_cmd=("fakeserver",),
                 balancer_cmd=("loadbalancer",), ready_timeout=20.0, env=None, files=None,
                 names=None, hosts=False, remote=None, backends_file=False,
                 weights=None):
        self.root = Path(root)
        self.backends_file = self.root / "backends.txt" if backends_file else None
        self.weights = dict(weights or {})
        # remote=[spec, ...]: fakeservers already running elsewhere (RemoteBackend), no
        # fakeserver process is started; the balancer still runs here.
        if remote is not None and hosts:
            raise ValueError("remote fakeservers and hosts=True do not mix")
        # hosts=True: every member in its own network namespace (harness.netns); the
        # namespaces are removed by stop(), even when start() failed half-way.
        self.hosts = None
        if hosts:
            from .netns import Hosts
            self.hosts = Hosts()
        self.root.mkdir(parents=True, exist_ok=True)
        self.ready_timeout = ready_timeout
        self.env = env
        per_backend = per_backend or {}
        if remote is not None:
            names = list(names) if names else [None] * len(remote)
            backends = 0
        else:
            names = list(names) if names else [None] * backends
            backends = len(names)
        if control == "auto":
            control = backends > 0 and control_supported(fakeserver_cmd, self.root)
        self.control = control
        self.lb_args = [str(a) for a in lb_args]
        # What add_backend() gives a fakeserver started later: what the first ones got.
        self._new_backend = dict(cmd=fakeserver_cmd, args=list(backend_args), logging=logging,
                                 control=control)
        try:
            self.backends = [
                Backend(self, i, fakeserver_cmd,
                        list(backend_args) + list(per_backend.get(i, [])),
                        logging=logging, control=control, name=name)
                for i, name in enumerate(names)] if remote is None else [
                RemoteBackend(self, i, spec, name=name)
                for i, (spec, name) in enumerate(zip(remote, names))]
            if remote is not None:
                self.control = all(b.control for b in self.backends)
            self.balancer = Balancer(self, balancer_cmd, lb_args, stats=stats)
        except BaseException:
            if self.hosts:
                self.hosts.close()
            raise
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
            servers = [self.server_arg(b) for b in self.backends]
            if self.backends_file:
                self.write_backends_file()
                servers = []
            self.balancer.start(servers, backends_file=self.backends_file)
        return self

    @property
    def by_address(self):
        """Backends are named to the balancer as HOST:PORT (hosts or remote fakeservers),
        not as a bare loopback port."""
        return bool(self.hosts) or any(isinstance(b, RemoteBackend) for b in self.backends)

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
            if isinstance(m, RemoteBackend):
                m.stop()
        for proc in self.processes():
            problems += [f"{proc.name}: {p}" for p in proc.check_log()]
        if self.hosts:
            self.hosts.close()
            problems += [f"left behind after teardown: {n}" for n in self.hosts.leftovers()]
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
            if b.dir is None:        # a remote fakeserver: its files are its owner's
                continue
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
        return traffic_mod.check(result, allow=allow, backend_dirs=[b.dir for b in self.backends if b.dir],
                                 course_logs=logs, idempotent_copies=1 + self.retries,
                                 min_ok=min_ok,
                                 population=[r for t in self.runs for r in t.requests])

    def served(self):
        """{backend index: requests it logged, health checks excluded}."""
        return {b.index: b.served() for b in self.backends}

    def stats(self):
        return self.balancer.stats()

    def forwarded(self):
        """/stats "forwarded" of every backend of `backends` (0 for one the table no
        longer holds)."""
        stats = self.stats()
        return [(backend_entry(stats, b.port, b.ip if self.by_address else None) or {})
                .get("forwarded", 0) for b in self.backends]

    def backend_stats(self, index):
        b = self.backends[index]
        return backend_entry(self.stats(), b.port, b.ip if self.by_address else None)

    def wait_backend_state(self, index, up, timeout=10.0):
        """Polls /stats until backend `index` is up (or down)."""
        return wait_for(lambda: is_up(self.backend_stats(index)) == up, timeout,
                        what=f"backend {index} to be {'up' if up else 'down'} in /stats")

    wait_for = staticmethod(wait_for)

    # -- backends changed while the balancer runs (admin API, backends file) -----------
    def server(self, b):
        """The name the balancer's table gives backend `b` (an index or a Backend):
        "HOST:PORT" (a bare loopback port is printed as 127.0.0.1:PORT)."""
        b = self.backends[b] if isinstance(b, int) else b
        return f"{b.ip}:{b.port}"

    def server_arg(self, b, weight=None):
        """How backend `b` is named on the balancer's command line or in its backends
        file: its port (HOST:PORT for hosts or remote fakeservers), with ",weight=W" when
        `weight` or the cluster's `weights` gives one."""
        b = self.backends[b] if isinstance(b, int) else b
        name = self.server(b) if self.by_address else str(b.port)
        weight = self.weights.get(b.index) if weight is None else weight
        return name if weight is None else f"{name},weight={weight}"

    @property
    def admin(self):
        """harness.admin.Admin of the balancer (its stats port)."""
        return self.balancer.admin

    def add_backend(self, weight=None, name=None, args=(), register=True, wait_up=True):
        """Starts one more fakeserver (the cluster's files seeded, the same arguments as
        the others plus `args`) and, with `register`, adds it to the running balancer
        (register()). Returns its Backend (cluster.backends[-1])."""
        opts = self._new_backend
        b = Backend(self, len(self.backends), opts["cmd"], opts["args"] + list(args),
                    logging=opts["logging"], control=opts["control"], name=name)
        b.admin_entry = None
        self.backends.append(b)
        self.seed(self.files, backends=[b.index])
        b.start()
        if register:
            self.register(b.index, weight=weight, wait_up=wait_up)
        return b

    def register(self, i, weight=None, wait_up=True):
        """POST /backends: backend i joins the running balancer's table ("unknown" until its
        first health check, which is sent at once); with `wait_up`, returns once /stats
        shows it up. The answer to the POST is kept in the handle's `.admin_entry`."""
        b = self.backends[i]
        b.admin_entry = self.admin.add(self.server(b), weight=weight)
        if wait_up:
            self.wait_backend_state(i, up=True)
        return b.admin_entry

    def drain(self, i):
        """PATCH state "drain": no new request to backend i, requests in flight finish."""
        return self.admin.drain(self.server(i))

    def undrain(self, i):
        """PATCH state "ready": backend i takes requests again."""
        return self.admin.ready(self.server(i))

    def reweight(self, i, weight):
        return self.admin.reweight(self.server(i), weight)

    def remove(self, i, wait=True, stop=False):
        """DELETE: backend i is drained, then leaves the table once nothing is in flight
        on it; with `wait`, returns once GET /backends no longer lists it; with `stop`,
        then stops its fakeserver (SIGTERM). Its handle stays in `backends` (its course
        logs and directory still count for the invariant). Returns the DELETE's answer."""
        entry = self.admin.remove(self.server(i))
        if wait:
            self.admin.wait_gone(self.server(i))
        if stop:
            self.backends[i].stop()
        return entry

    def write_backends_file(self, entries=None):
        """Writes the backends file (--backends-file): one line per entry, each an index,
        a Backend, (index or Backend, weight) or a line of text (written as it is);
        default: every backend. Written to a temporary name and renamed, so a reload never
        reads half a file. Returns the path."""
        if self.backends_file is None:
            raise RuntimeError("this cluster's balancer reads no backends file "
                               "(Cluster(..., backends_file=True))")
        lines = []
        for e in range(len(self.backends)) if entries is None else entries:
            if isinstance(e, str):
                lines.append(e)
            elif isinstance(e, tuple):
                lines.append(self.server_arg(e[0], weight=e[1]))
            else:
                lines.append(self.server_arg(e))
        tmp = self.backends_file.with_suffix(".tmp")
        tmp.write_text("# written by harness.cluster.Cluster.write_backends_file\n"
                       + "".join(f"{line}\n" for line in lines))
        tmp.rename(self.backends_file)
        return self.backends_file

    def reload(self, expect_error=False, timeout=10.0):
        """SIGHUP to the balancer's PID: it re-reads its backends file. Returns /stats once
        its `reloads` counter moved (or `reload_errors`, with expect_error: a bad file
        changes nothing)."""
        key = "reload_errors" if expect_error else "reloads"
        before = self.stats().get(key, 0)
        self.balancer.signal(signal.SIGHUP)

        def counted():
            stats = self.stats()
            return stats if stats.get(key, 0) > before else None
        return wait_for(counted, timeout, what=f"/stats {key} to pass {before} after SIGHUP")

