"""lbtest end to end: our balancer passes every cell, balancers built here to be wrong in
one way fail exactly the cells of that way, and the reports say so."""
import csv
import sys
import xml.etree.ElementTree as ET

import pytest

from harness.lbtest import catalogue
from harness.process import bin_path
from lbtest_helpers import (COURSE_LB, build_balancer, cells, course_balancer, lbtest,
                            lbtest_start, need_binaries, not_passed)  # noqa: F401 - a fixture

# Each test waits for whole lbtest runs, bounded by lbtest()'s own 300 s: the hang guard
# lies beyond it, so a slow run (a loaded machine) ends with lbtest's own verdict and
# output, not with pytest's 120 s default cutting it off mid-way.
pytestmark = pytest.mark.timeout(360)

# Each balancer built here to be wrong in one way runs the cells that catch that way and some
# it must still pass: (the cells, the exact set it must fail). The never-failover one is not
# judged on kill-mid-answer: whether it still sends to the dead server there depends on
# whether a request in flight on it saw the kill before its answer began (then even this
# balancer marks the server down).
BROKEN = {
    "never-failover": ("startup-health,kill-idle,all-down,revive", {"kill-idle"}),
    "502-all-down": ("kill-idle,kill-mid-answer,all-down", {"all-down"}),
    "drop-mid-answer": ("kill-idle,kill-mid-answer,all-down", {"kill-mid-answer"}),
    None: ("startup-health,kill-idle,kill-mid-answer,all-down,revive", set()),   # correct
}


def test_ours_passes_every_cell_and_the_reports_agree(need_binaries, tmp_path):
    """The whole catalogue against our balancer, run as a foreign one: every cell passes,
    exit status 0, one JUnit testsuite without failures, a JSON cell per entry."""
    junit, js, page = tmp_path / "ours.xml", tmp_path / "ours.json", tmp_path / "ours.html"
    run = lbtest("--lb", "ours", "--junit", junit, "--json", js, "--html", page)
    print(run.stdout, run.stderr)
    assert run.returncode == 0, run.stdout
    names = [e.name for e in catalogue.CATALOGUE]
    assert not_passed(js, "ours") == set()
    assert sorted(e for (_s, e) in cells(js)) == sorted(names)
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == ["ours"]
    assert suites[0].get("tests") == str(len(names)) and suites[0].get("failures") == "0"
    for name in names:
        assert f"\n{name} " in run.stdout   # a row of the terminal matrix
    assert f"{len(names)}/{len(names)} in " in run.stdout
    assert "lbtest" in page.read_text()


def test_built_balancers_fail_exactly_their_cells(need_binaries, tmp_path):
    """Course balancers built here, each wrong in one way, and the correct one they come
    from: each fails exactly the cells of its fault, and says why in words. (The four run at
    once, each its own lbtest: their cells do not depend on fine timing.)"""
    runs = {}
    for kind, (only, _expected) in BROKEN.items():
        lb = course_balancer(tmp_path, kind or "reference", broken=kind)
        runs[kind] = (lb, lbtest_start("--lb", lb, "--only", only, "--json",
                                       tmp_path / f"{kind}.json"))
    for kind, (lb, proc) in runs.items():
        run = proc.wait_done()
        print(run.stdout, run.stderr)
        _only, expected = BROKEN[kind]
        js = tmp_path / f"{kind}.json"
        assert not_passed(js, str(lb)) == expected, kind
        assert run.returncode == (1 if expected else 0), kind
        assert run.stdout.count("rule: ") == len(expected), kind   # each failed cell explained
        reasons = {e: " ".join(c["reasons"]) for (_s, e), c in cells(js).items()}
        if kind == "never-failover":
            assert "after server B was killed" in reasons["kill-idle"]
            assert "got the balancer's 500 although a server could answer" in reasons["kill-idle"]
        if kind == "502-all-down":
            assert "got 502 Bad Gateway instead of the course's exact" in reasons["all-down"]
        if kind == "drop-mid-answer":
            assert "after server B was killed" in reasons["kill-mid-answer"]
            assert "closed without any answer" in reasons["kill-mid-answer"]


def test_grading_a_folder_with_a_flaky_balancer(need_binaries, tmp_path):
    """--grade: a folder of balancers in, a CSV out; a cell that fails and then passes on a
    rerun is flaky and scores nothing."""
    subs = tmp_path / "submissions"
    subs.mkdir()
    course_balancer(subs, "good")
    course_balancer(subs, "no500", broken="502-all-down")
    counter = tmp_path / "starts"
    build_balancer(subs, "flaky", f"""n=$(cat {counter} 2>/dev/null || echo 0)
echo $((n + 1)) > {counter}
if [ $((n % 2)) -eq 0 ]; then set -- --break never-failover "$@"; fi
exec {sys.executable} {COURSE_LB} "$@"
""")
    (subs / "notes.txt").write_text("not a balancer")
    scores = tmp_path / "scores.csv"
    run = lbtest("--grade", subs, "--csv", scores, "--only", "kill-idle,all-down")
    print(run.stdout, run.stderr)
    assert run.returncode == 1
    rows = {r["balancer"]: r for r in csv.DictReader(scores.open())}
    assert sorted(rows) == ["flaky", "good", "no500"]
    assert (rows["good"]["passed"], rows["good"]["kill-idle"], rows["good"]["all-down"]) == \
        ("2", "pass", "pass")
    assert (rows["flaky"]["passed"], rows["flaky"]["kill-idle"], rows["flaky"]["flaky"]) == \
        ("1", "flaky", "kill-idle")
    assert (rows["no500"]["passed"], rows["no500"]["all-down"]) == ("1", "fail")
    assert "kill-idle (flaky)" in run.stdout


def gated_balancer(folder, name, other, wait_s):
    """Our balancer behind a gate: it says it started (a file NAME-started), then waits up to
    wait_s for OTHER-started and gives up (exit 1: the cell is no-start) when it never comes.
    Two of them pass only when their cells run at the same time."""
    return build_balancer(folder, name, f"""touch {folder}/{name}-started
i=0
while [ ! -e {folder}/{other}-started ]; do
    i=$((i + 1)); [ $i -gt {wait_s * 10} ] && exit 1
    sleep 0.1
done
exec {bin_path('loadbalancer')} "$@"
""")


def test_jobs_runs_balancers_side_by_side_on_their_own_ports(need_binaries, tmp_path):
    """--jobs 2: two balancers' rows run at once (each waits for the other to start, which
    only a parallel run allows; serially the first gives up), each cell on its own port."""
    outcomes = {}
    for jobs in (1, 2):
        folder = tmp_path / f"jobs{jobs}"
        folder.mkdir()
        x = gated_balancer(folder, "x", "y", 8)
        y = gated_balancer(folder, "y", "x", 8)
        js = folder / "out.json"
        run = lbtest("--lb", x, "--lb", y, "--only", "kill-idle", "--jobs", jobs,
                     "--json", js, timeout=150)   # two runs within the module's guard
        print(run.stdout, run.stderr)
        outcomes[jobs] = {s: c for (s, e), c in cells(js).items()}, cells(js), run.returncode
    serial, _cells1, rc1 = outcomes[1]
    assert rc1 == 1 and serial[str(tmp_path / "jobs1" / "x")]["verdict"] == "no-start"
    parallel, cells2, rc2 = outcomes[2]
    assert rc2 == 0 and all(c["verdict"] == "pass" for c in cells2.values()), cells2
    ports = [c["command"].split()[-4] for c in cells2.values()]   # PROG PORT S1 S2 S3
    assert all(p.isdigit() for p in ports) and len(set(ports)) == len(ports), \
        f"cells shared a port: {ports}"
