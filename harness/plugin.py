"""pytest plugin: fixtures that own every process a test starts, scaled timeouts, and the
scenario table. Registered as `harness.plugin` by the pytest11 entry point once the harness
is installed (pyproject.toml), and by pytest.ini's `-p harness.plugin` in a plain checkout;
the two use the same name, so pytest registers it once.

Fixtures
  procs            a registry: procs.start(argv, ...) -> ready Process (any binary)
  cluster          a started Cluster (3 fakeservers + balancer); shape from the test's
                   `@pytest.mark.cluster(backends=2, lb_args=[...], ...)` keywords
  cluster_factory  make(**Cluster keywords) -> a started Cluster; several per test allowed
  fakeserver       one started fakeserver handle (Backend), logging and control port on
  balancer         make(*backends, args=[...]) -> a started Balancer in front of the given
                   Backend handles or ports
  scenario         scenario.verify(result, proved="...", allow=...) checks the traffic
                   invariant and records a row of the `--lb-table` report
  fault_proxy      make(upstream_port, *faults, tcp=False) -> a FaultProxy (faultproxy in
                   front of any server: a balancer, a student's server, nginx)
  proxied_backends make(count, files=..., proxy_args=...) -> FaultProxy handles, each in
                   front of its own nginx; hand their .port to `balancer`

Teardown always runs: every process is stopped by PID/process group, exit statuses are
judged (the balancer must exit 0 on SIGTERM; a process that died before teardown must have
been killed by the test or declared with expect_exit()), logs are searched for sanitizer
and Valgrind reports (a report fails the test), and every log is printed when the test
failed. Everything lives under the test's tmp_path and binds port 0: safe under xdist.

Options: --lb-table prints the scenario table at the end; --lb-table-json PATH writes it.
"""
import json
import os
import resource
import textwrap
import time

import pytest

from .cluster import Balancer, Cluster
from .process import Process, ProcessError, bin_path
from .timing import timeout_scale
from . import traffic as traffic_mod


class Procs:
    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.all = []

    def start(self, argv, name=None, cwd=None, timeout=20.0, expect_ready=True, **kw):
        """Starts argv (argv[0] a project binary name or a path); returns a ready Process."""
        name = name or f"{argv[0]}{len(self.all)}"
        cwd = cwd or (self.tmp_path / name)
        cwd.mkdir(parents=True, exist_ok=True)
        proc = Process(argv, name=name, cwd=cwd, log_dir=self.tmp_path / "logs", **kw)
        self.all.append(proc)
        return proc.start(timeout=timeout, expect_ready=expect_ready)

    def teardown(self):
        # Exit statuses are not judged here (tests using procs check them themselves);
        # Cluster handles are strict.
        for proc in reversed(self.all):
            proc.close()
        problems = []
        for proc in self.all:
            problems += [f"{proc.name}: {p}" for p in proc.check_log()]
        return problems

    def dump(self):
        return "\n".join(f"===== {p.name} ({p.log_path}) =====\n{p.log()}" for p in self.all)


# -- configuration ------------------------------------------------------------------------
def pytest_addoption(parser):
    group = parser.getgroup("lbtest", "load balancer harness")
    group.addoption("--lb-table", action="store_true",
                    help="print the table of cluster scenarios at the end")
    group.addoption("--lb-table-json", metavar="PATH",
                    help="write the scenario table as JSON lines to PATH")


def pytest_configure(config):
    # A crash fault must not litter working directories with core files.
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    config._lb_rows = {}
    for line in ("slow: a long scenario (deselect with -m \"not slow\")",
                 "cluster(**shape): a failover scenario run by `make test-cluster`; its "
                 "keywords shape the `cluster` fixture"):
        config.addinivalue_line("markers", line)


def pytest_collection_modifyitems(config, items):
    """Scales every per-test timeout (pytest-timeout) by LBTEST_TIMEOUT_SCALE."""
    scale = timeout_scale()
    if scale == 1.0:
        return
    try:
        base = float(config.getini("timeout") or 0)
    except (ValueError, TypeError):
        base = 0.0
    for item in items:
        marker = item.get_closest_marker("timeout")
        seconds = float(marker.args[0]) if marker and marker.args else base
        if seconds:
            item.add_marker(pytest.mark.timeout(seconds * scale), append=False)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_runtest_setup(item):
    """The first line of a test's docstring says what it sets out to prove (the table shows
    it when the test did not get to say what it proved)."""
    doc = getattr(getattr(item, "function", None), "__doc__", None)
    if doc and doc.strip():
        item.user_properties.append(("lb_intent", doc.strip().splitlines()[0]))


def _failed(request):
    return any(getattr(getattr(request.node, f"rep_{w}", None), "failed", False)
               for w in ("setup", "call"))


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture
def procs(request, tmp_path):
    registry = Procs(tmp_path)
    yield registry
    problems = registry.teardown()
    if _failed(request) or problems:
        print(registry.dump())
    if problems:
        pytest.fail("sanitizer/valgrind reports:\n" + "\n".join(problems), pytrace=False)


def _need_binaries(kw, backends=True, balancer=True):
    """Skips (clearly) when the project binaries are not built, unless the run demands
    them (LBTEST_REQUIRE_BINARIES=1, as ci/test-cluster.sh sets)."""
    names = []
    if backends and tuple(kw.get("fakeserver_cmd", ("fakeserver",))) == ("fakeserver",):
        names.append("fakeserver")
    if balancer and tuple(kw.get("balancer_cmd", ("loadbalancer",))) == ("loadbalancer",):
        names.append("loadbalancer")
    for name in names:
        try:
            bin_path(name)
        except ProcessError as exc:
            if os.environ.get("LBTEST_REQUIRE_BINARIES"):
                raise
            pytest.skip(str(exc))


class _Owned:
    """Clusters and balancers a test started; torn down together."""

    def __init__(self, request, tmp_path):
        self.request = request
        self.tmp_path = tmp_path
        self.clusters = []

    def new_cluster(self, need_backends=True, need_balancer=True, **kw):
        _need_binaries(kw, need_backends, need_balancer)
        root = self.tmp_path / (f"cluster{len(self.clusters)}" if self.clusters else "cluster")
        c = Cluster(root, **kw)
        self.clusters.append(c)
        return c

    def teardown(self):
        problems = []
        for c in self.clusters:
            problems += c.stop()
        if _failed(self.request) or problems:
            for c in self.clusters:
                print(c.dump())
        if problems:
            pytest.fail("teardown found problems:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def _lb_owned(request, tmp_path):
    owned = _Owned(request, tmp_path)
    yield owned
    owned.teardown()


@pytest.fixture
def cluster_factory(_lb_owned):
    """make(**kw) -> a started Cluster (keywords of harness.Cluster)."""
    def make(start=True, **kw):
        c = _lb_owned.new_cluster(**kw)
        return c.start() if start else c
    return make


@pytest.fixture
def cluster(request, cluster_factory):
    """A started Cluster shaped by the test's @pytest.mark.cluster(...) keywords."""
    marker = request.node.get_closest_marker("cluster")
    kw = dict(marker.kwargs) if marker else {}
    return cluster_factory(**kw)


def _shape(request, *keys):
    marker = request.node.get_closest_marker("cluster")
    kw = dict(marker.kwargs) if marker else {}
    return {k: kw[k] for k in keys if k in kw}


@pytest.fixture
def fakeserver(request, _lb_owned):
    """One started fakeserver (a Backend handle: .port, .dir, .set_faults(), .kill()...).
    Honours the cluster marker's fakeserver_cmd, backend_args, logging and control."""
    c = _lb_owned.new_cluster(backends=1, need_balancer=False, **_shape(request, "fakeserver_cmd", "backend_args",
                                                   "logging", "control", "files"))
    c.start(balancer=False)
    return c.backends[0]


@pytest.fixture
def balancer(request, _lb_owned):
    """make(*backends, args=[...], stats=True) -> a started Balancer in front of the given
    Backend handles or port numbers. Honours the cluster marker's balancer_cmd."""
    default_cmd = _shape(request, "balancer_cmd").get("balancer_cmd", ("loadbalancer",))

    def make(*backends, args=(), stats=True, balancer_cmd=default_cmd):
        c = _lb_owned.new_cluster(backends=0, need_backends=False, balancer_cmd=balancer_cmd, stats=stats,
                                  lb_args=list(args), fakeserver_cmd=("unused",))
        ports = [b if isinstance(b, int) else b.port for b in backends]
        return c.balancer.start(ports)
    return make


@pytest.fixture
def fault_proxy(procs):
    """make(upstream_port, *args, tcp=False) -> a started faultproxy (harness.faultproxy)."""
    from .faultproxy import start_proxy
    _need_proxy()

    def make(upstream_port, *args, tcp=False, name=None):
        return start_proxy(procs, upstream_port, *args, tcp=tcp, name=name)
    return make


@pytest.fixture
def proxied_backends(procs, tmp_path):
    """make(count, files={name: bytes}, proxy_args=()) -> FaultProxy handles, each in front
    of its own nginx serving `files` and a static /healthcheck (`0\n0`)."""
    from .faultproxy import nginx_binary, proxied_backends as start_all
    _need_proxy()
    if not nginx_binary():
        pytest.skip("nginx is not installed (ci/deps.sh test installs nginx-light)")

    def make(count, files=None, proxy_args=()):
        return start_all(procs, tmp_path / "proxied", count, files=files, proxy_args=proxy_args)
    return make


def _need_proxy():
    try:
        bin_path("faultproxy")
    except ProcessError as e:
        pytest.skip(str(e))


class Scenario:
    """One row of the scenario table: what the test proved and the traffic it sent."""

    def __init__(self, request):
        self.request = request
        self.sent = 0
        self.kinds = {}
        self.proved = ""
        self.t0 = time.monotonic()

    def add(self, result):
        self.sent += result.sent
        for kind, n in result.counts().items():
            self.kinds[kind] = self.kinds.get(kind, 0) + n
        self._save()

    def verify(self, result, proved=None, allow=("ok",), cluster=None, **kw):
        """Records the run, then asserts the invariant (with the cluster's dirs/logs when
        given). Returns the Report."""
        self.add(result)
        if proved:
            self.prove(proved)
        report = cluster.check(result, allow=allow, **kw) if cluster else \
            traffic_mod.check(result, allow=allow, **kw)
        return report.assert_ok()

    def prove(self, text):
        self.proved = text
        self._save()

    def _save(self):
        props = [p for p in self.request.node.user_properties if p[0] != "lb_scenario"]
        props.append(("lb_scenario", json.dumps({"proved": self.proved, "sent": self.sent,
                                                 "kinds": self.kinds})))
        self.request.node.user_properties[:] = props


@pytest.fixture
def scenario(request):
    return Scenario(request)


# -- the table ------------------------------------------------------------------------------
def pytest_runtest_logreport(report):
    config = getattr(report, "config", None) or _CONFIG.get("config")
    if config is None:
        return
    rows = config._lb_rows
    row = rows.setdefault(report.nodeid, {"outcome": "PASS", "time": 0.0, "data": None})
    row["time"] += getattr(report, "duration", 0.0) or 0.0
    for name, value in getattr(report, "user_properties", []):
        if name == "lb_scenario":
            row["data"] = json.loads(value)
        elif name == "lb_intent":
            row["intent"] = value
    if hasattr(report, "wasxfail"):
        row["outcome"] = "XPASS" if report.passed else "XFAIL"
    elif report.failed:
        row["outcome"] = "FAIL" if report.when == "call" else f"ERROR ({report.when})"
    elif report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        row["outcome"] = "SKIP"
        row["reason"] = reason.replace("Skipped: ", "")


_CONFIG = {}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    _CONFIG["config"] = session.config


def _kinds_text(kinds):
    order = list(traffic_mod.KINDS) + ["unfinished"]
    label = {"error500": "500"}
    return " ".join(f"{label.get(k, k)}={kinds[k]}" for k in order if kinds.get(k))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    rows = [(nodeid, row) for nodeid, row in config._lb_rows.items()
            if row["data"] is not None or "/cluster/" in nodeid or "intent" in row]
    if not rows:
        return
    path = config.getoption("--lb-table-json")
    if path:
        with open(path, "w") as f:
            for nodeid, row in rows:
                f.write(json.dumps({"test": nodeid, **row}) + "\n")
    if not config.getoption("--lb-table"):
        return
    tr = terminalreporter
    tr.write_sep("=", "cluster scenarios")
    table = []
    for nodeid, row in rows:
        data = row["data"] or {}
        name = nodeid.split("::")[-1].removeprefix("test_")
        proved = data.get("proved") or ""
        if not proved or row["outcome"] not in ("PASS", "XPASS"):
            intent = row.get("intent") or proved
            proved = {"SKIP": f"skipped: {row.get('reason', '')}",
                      "PASS": intent}.get(row["outcome"], f"(not proved) {intent}")
        table.append((name, row["outcome"], f"{row['time']:.1f}s", str(data.get("sent", "-")),
                      _kinds_text(data.get("kinds", {})) or "-", proved))
    heads = ("scenario", "result", "time", "sent", "answers", "what it proved")
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(heads[:-1])]
    indent = sum(widths) + 2 * len(widths)
    width = max(60, min(100, (tr._tw.fullwidth or 160) - indent - 1))
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths))
    tr.write_line(fmt(heads[:-1]) + "  " + heads[-1])
    tr.write_line("  ".join("-" * w for w in widths) + "  " + "-" * min(width, 40))
    for r in table:
        lines = textwrap.wrap(r[-1], width) or [""]
        tr.write_line(fmt(r[:-1]) + "  " + lines[0], red=r[1].startswith(("FAIL", "ERROR")))
        for more in lines[1:]:
            tr.write_line(" " * indent + more)
    passed = sum(1 for r in table if r[1] == "PASS")
    pinned = sum(1 for r in table if r[1] == "XFAIL")
    skipped = sum(1 for r in table if r[1] == "SKIP")
    sent = sum(int(r[3]) for r in table if r[3].isdigit())
    tr.write_line(f"{passed}/{len(table)} scenarios passed"
                  + (f", {pinned} known bug(s) pinned (strict xfail)" if pinned else "")
                  + (f", {skipped} skipped" if skipped else "")
                  + f"; {sent} requests sent")


__all__ = ["Procs", "Scenario", "Balancer"]
