"""pytest plugin: the `procs` fixture owns every process a test starts.

Teardown always runs: each process is stopped by PID/process group, its log is checked
for sanitizer or Valgrind reports (a report fails the test), and every log is printed
when the test failed.
"""
import pytest

from .process import Process


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
        for proc in reversed(self.all):
            proc.close()
        problems = []
        for proc in self.all:
            problems += [f"{proc.name}: {p}" for p in proc.check_log()]
        return problems

    def dump(self):
        return "\n".join(f"===== {p.name} ({p.log_path}) =====\n{p.log()}" for p in self.all)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def procs(request, tmp_path):
    registry = Procs(tmp_path)
    yield registry
    problems = registry.teardown()
    failed = getattr(request.node, "rep_call", None)
    if (failed is not None and failed.failed) or problems:
        print(registry.dump())
    if problems:
        pytest.fail("sanitizer/valgrind reports:\n" + "\n".join(problems), pytrace=False)
