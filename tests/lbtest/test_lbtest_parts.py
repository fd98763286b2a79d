"""lbtest's parts on their own (no processes): the course command line of the adapters,
the catalogue, the sentences of the judge, the matrix text, and the timeline picture."""
import pytest

from harness.lbtest import adapters, catalogue, judge, report, timeline
from harness.lbtest.cell import Outcome
from harness.lbtest.subjects import Subject, resolve
from harness.traffic import Request


def test_course_command_line_options_anywhere():
    a = adapters.parse_course_args(["-N", "7", "1234", "8080", "-R", "3", "localhost:8081"])
    assert a == {"n": 7, "r": 3, "port": 1234, "show_config": False,
                 "servers": [("127.0.0.1", 8080), ("localhost", 8081)]}
    assert adapters.parse_course_args(["-N3", "1", "2"])["n"] == 3
    for bad in ([], ["1234"], ["-N", "0", "1", "2"], ["-N"], ["-X", "1", "2"], ["99999", "1"]):
        with pytest.raises(adapters.UsageError):
            adapters.parse_course_args(bad)


def test_adapter_configs_follow_the_command_line():
    _args, cfg = adapters.render("haproxy", ["-N", "3", "-R", "9", "8080", "8081", "8082"], "/d")
    assert "bind :8080" in cfg and "maxconn 3" in cfg
    assert "server s0 127.0.0.1:8081" in cfg and "server s1 127.0.0.1:8082" in cfg
    assert "http-check send meth GET uri /healthcheck" in cfg and "-R 9" in cfg
    _args, cfg = adapters.render("nginx", ["8080", "8081"], "/d")
    assert "listen 8080;" in cfg and "server 127.0.0.1:8081 max_fails=1" in cfg
    assert "pid /d/nginx.pid;" in cfg


def test_catalogue_entries_are_named_seeded_and_ruled():
    names = [e.name for e in catalogue.CATALOGUE]
    assert len(names) == len(set(names)) >= 16
    assert len({e.seed for e in catalogue.CATALOGUE}) == len(names)
    for e in catalogue.CATALOGUE:
        assert e.rule.endswith(".") and len(e.rule) < 260, e.name
    assert [e.name for e in catalogue.by_name(["all-down", "startup-health"])] == \
        ["startup-health", "all-down"]   # catalogue order
    with pytest.raises(KeyError):
        catalogue.by_name(["no-such-entry"])


def test_resolve_names_and_paths(tmp_path):
    assert resolve("haproxy").argv[0].endswith("harness/lbtest/bin/haproxy-course")
    assert "503" in resolve("haproxy").notes["*"]
    assert resolve(str(tmp_path / "nothing")).problem.endswith("does not exist")
    (tmp_path / "plain").write_text("x")
    assert "not an executable" in resolve(str(tmp_path / "plain")).problem


class FakeCell:
    """What judge.py reads of a cell."""
    events = [{"t": 1.2, "kind": "crash", "backend": "B", "text": "server B was killed"}]


def answered(i, kind, t, status=None, sample=b""):
    r = Request(i, 0, "GET", "big", expect=b"x")
    r.kind, r.t_start, r.t_end, r.status, r.sample = kind, t, t + 0.01, status, sample
    return r


def test_judge_says_what_broke_with_counts_and_the_first_time():
    reqs = [answered(0, "ok", 0.5), answered(1, "timeout", 2.31), answered(2, "timeout", 2.5),
            answered(3, "status", 3.0, 503, b"HTTP/1.1 503 Service Unavailable\r\n\r\n")]

    class Phase:
        allow = ("ok", "error500")
        result = type("R", (), {"requests": reqs})()
    said = judge.phase_reasons(FakeCell, Phase, 8)
    assert said[0] == ("after server B was killed at t=1.20 s, 2 of 4 requests got no answer "
                       "within 8 s; the first was sent at t=2.31 s (GET /big)")
    assert "1 of 4 requests got 503 Service Unavailable instead of a correct answer or the " \
           "course's exact 500" in said[1]


def outcome(entry, subject, verdict, reasons=()):
    return Outcome(entry, subject, verdict, reasons=list(reasons), seconds=1.0, wall=1.0)


def test_matrix_text_explains_each_failed_cell_below():
    entries = catalogue.by_name(["kill-idle", "all-down"])
    subjects = [Subject("ours", []), Subject("haproxy", [], notes=adapters.NOTES["haproxy"])]
    results = {"ours": {"kill-idle": outcome("kill-idle", "ours", "pass"),
                        "all-down": outcome("all-down", "ours", "pass")},
               "haproxy": {"kill-idle": outcome("kill-idle", "haproxy", "pass"),
                           "all-down": outcome("all-down", "haproxy", "fail",
                                               ["16 of 16 requests got 503 Service "
                                                "Unavailable instead of ..."])}}
    text = report.matrix_text(results, subjects, entries)
    assert "all-down" in text and "FAIL [1]" in text
    assert "[1] haproxy · all-down: FAIL" in text
    assert "differs by design: HAProxy answers 503" in text
    assert "2/2 in 2 s" in text and "1/2 in 2 s" in text
    assert not report.all_passed(results)


def test_timeline_is_drawn_with_the_demos_pieces():
    data = {"meta": {"title": "kill-idle on x: fail", "scenario": "kill-idle",
                     "backends": [{"name": "A", "address": "port 1"},
                                  {"name": "B", "address": "port 2"}], "notes": []},
            "duration": 3.0, "requests": [[0.1, "client", 200, 2.0, None],
                                          [1.5, "client", 0, 8000.0, None]],
            "served": {"A": [0.1, 0.2], "B": [0.3]},
            "samples": [{"t": 0.0, "backends": {"A": {"state": "up"}, "B": {"state": "up"}}},
                        {"t": 1.2, "backends": {"A": {"state": "up"}, "B": {"state": "dead"}}}],
            "events": [{"t": 0.05, "kind": "hc", "backend": "A", "ok": True},
                       {"t": 1.2, "kind": "crash", "backend": "B", "detail": "killed"}],
            "steps": [{"t": 0.0, "title": "warm-up"}, {"t": 1.2, "title": "server B killed"}]}
    svg = timeline.render(data)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert 'class="event crash" data-backend="B"' in svg
    assert 'class="event hc" data-backend="A"' in svg
    assert "requests in its log" in svg and "client errors" in svg


def test_servers_killed_together_are_named_together():
    class Two:
        events = [{"t": 1.00, "kind": "crash", "backend": "A", "text": "server A was killed"},
                  {"t": 1.01, "kind": "crash", "backend": "B", "text": "server B was killed"}]
    assert judge.context(Two, 2.0) == "after servers A and B were killed at t=1.01 s, "
    assert judge.context(Two, 0.5) == ""
