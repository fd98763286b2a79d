"""The demo's renderers on a synthetic recording (no processes): the SVG is well-formed and
marks every event, the HTML embeds it with the replay and its sentinel, the live view shows
every backend, and the scenario library is well-formed."""
import io
import json
import re
import xml.etree.ElementTree as ET

from xml.sax.saxutils import escape

from harness.demo import live, page, sample, scenarios, svg
from harness.demo.record import Recorder

SVG_NS = "{http://www.w3.org/2000/svg}"


def marks(root, kind):
    return [el for el in root.iter() if el.get("class") == f"event {kind}"]


def test_svg_parses_and_marks_every_crash_revive_and_health_check():
    data = sample.make()
    root = ET.fromstring(svg.render(data))
    assert root.tag == SVG_NS + "svg"
    for kind in ("crash", "revive", "slow", "hc", "down", "up"):
        want = sorted((e["backend"], e["t"]) for e in data["events"] if e["kind"] == kind)
        got = sorted((el.get("data-backend"), float(el.get("data-t"))) for el in marks(root, kind))
        assert got == want, kind
    texts = " ".join(t.text or "" for t in root.iter(SVG_NS + "text"))
    for b in data["meta"]["backends"]:
        assert f"backend {b['name']}" in texts
    assert "client errors" in texts
    errors = [el for el in root.iter() if el.get("class") == "error-bar"]
    assert errors, "the outage must show red error bars"


def test_svg_of_an_empty_run_is_still_valid():
    data = {"meta": {"scenario": "x", "title": "t", "backends": [{"name": "A"}]},
            "duration": 0.0, "requests": [], "samples": [], "events": [], "steps": []}
    ET.fromstring(svg.render(data))


def test_html_embeds_svg_data_and_sentinel():
    data = sample.make()
    html = page.render(data, svg.render(data))
    assert html.startswith("<!DOCTYPE html>")
    assert 'data-demo-ready="0"' in html and 'id="js-errors"' in html
    blob = re.search(r'<script type="application/json" id="run-data">(.*?)</script>', html,
                     re.S).group(1)
    assert json.loads(blob)["duration"] == data["duration"]
    assert html.count("<svg") == 1 and "class=\"event crash\"" in html
    assert "'#still'" in html, "the page offers a still mode for screenshots"
    for st in data["steps"]:
        assert st["title"] in html


def test_live_frame_shows_each_backend_caption_and_events():
    data = sample.make()
    text = live.frame_text(data)
    for name in ("A", "B", "C"):
        assert re.search(rf"^ [ \u25b6] {name}\s+", text, re.M)
    assert data["steps"][-1]["title"] in text
    assert "what just happened" in text
    assert "\x1b[" not in text


def test_live_view_plain_appends_and_tty_redraws():
    data = sample.make()
    plain = io.StringIO()
    view = live.LiveView(plain, tty=False)
    view.update(data)
    view.update(data)
    out = plain.getvalue()
    assert "\x1b[" not in out and "== " in out and "client errors" in out
    assert out.count(f"== {data['steps'][0]['t']:5.1f}s") == 1   # captions once
    tty = io.StringIO()
    view = live.LiveView(tty, tty=True)
    view.update(data)
    view.update(data)
    view.finish()
    assert tty.getvalue().count("\x1b[H") == 2 and tty.getvalue().endswith("\x1b[?25h")


def test_scenario_library():
    names = list(scenarios.LIBRARY)
    assert names[0] == "classic"
    assert {"flapping", "slow", "overload", "keepalive"} <= set(names)
    for name in names:
        s = scenarios.get(name)
        total = sum(st.duration for st in s.steps)
        assert 15 <= total <= 65, (name, total)
        assert all(st.title and len(st.caption) > 20 for st in s.steps)
    listing = scenarios.listing()
    assert all(n in listing for n in names)


# Words that name a part of one view only: the live view's columns and sections, the page's
# lanes, ticks, bars, rings and dots. A caption is shown by every view, so it names none.
VIEW_WORDS = {
    "live": r"columns?|what just happened|sparkline|clients line|balancer line|keep-alive lines",
    "plain": r"status lines?|'balancer marked|'marked",
    "page": r"lanes?|ticks?|bars?|rings?|dots?|timeline|replay|markers?|picture|below",
}


def _words(views):
    return re.compile(r"\b(" + "|".join(VIEW_WORDS[v] for v in views) + r")\b", re.I)


def test_captions_name_nothing_that_only_one_view_shows():
    every = _words(VIEW_WORDS)
    for name in scenarios.LIBRARY:
        for st in scenarios.get(name).steps:
            assert not every.search(st.caption), (name, st.title, every.search(st.caption))
            assert set(st.look) <= {"live", "plain", "page"}, (name, st.title)
            for view, hint in st.look.items():
                others = _words([v for v in VIEW_WORDS if v != view])
                assert not others.search(hint), (name, st.title, view, others.search(hint))


def test_each_view_shows_its_own_hint_and_no_other():
    data = sample.make()
    looks = [st["look"] for st in data["steps"] if st.get("look")]
    assert looks, "the sample carries the classic scenario's hints"
    plain = io.StringIO()
    live.LiveView(plain, tty=False).update(data)
    html = page.render(data, svg.render(data))
    # what the page shows: its text outside the scripts (the embedded recording keeps every
    # view's hints as data), and the caption the replay's script writes
    visible = re.sub(r"<script\b.*?</script>", "", html, flags=re.S)
    assert "st[0].look.page" in html and "look.live" not in html and "look.plain" not in html
    shown = {"plain": " ".join(plain.getvalue().split()), "page": " ".join(visible.split())}
    for look in looks:
        for view, text in shown.items():
            for other, hint in look.items():
                # wrapped lines: compare with whitespace collapsed
                assert (escape(hint) in text) == (other == view), (view, other, hint)
    crash = next(st for st in data["steps"] if st["title"] == "C crashes")
    assert crash["look"]["live"].split(";")[0] in " ".join(
        live.frame_text({**data, "steps": data["steps"][:3]}).split())


class _FakeBackend:
    """A backend whose kill takes a while, during which the observer sees the balancer's
    reaction: exactly the race that printed the DOWN mark before the kill."""

    def __init__(self, rec, name):
        self.rec, self.name = rec, name

    def kill(self):
        self.rec.event("down", self.name, why="a request hit it first: connection refused")

    def restart(self):
        self.rec.event("up", self.name, why="health check passed")


class _FakeCluster:
    def __init__(self, rec, root):
        self.backends = {n: _FakeBackend(rec, n) for n in "ABC"}
        self.root = root  # where the demo writes pids.txt

    def processes(self):
        return []

    def backend(self, name):
        return self.backends[name]


def test_plain_lines_put_each_cause_before_its_effect(tmp_path):
    rec = Recorder("classic", "t", [{"name": n} for n in "ABC"])
    ctx = scenarios.Ctx(_FakeCluster(rec, tmp_path), rec, None, 1.0)
    rec.event("up", "B", why="health check passed")      # before the step: printed first
    rec.step("C crashes", "C is killed.", {"plain": "Look at the lines."})
    ctx.crash("C")
    ctx.revive("C")
    out = io.StringIO()
    view = live.LiveView(out, tty=False)
    view.update(rec.snapshot())
    lines = [line.strip() for line in out.getvalue().splitlines() if line.strip()]
    order = [next(i for i, line in enumerate(lines) if pattern in line) for pattern in (
        "balancer marked B up", "C crashes ==", "the demo killed C", "balancer marked C DOWN",
        "the demo started C again", "balancer marked C up")]
    assert order == sorted(order), lines
    assert "C is killed. Look at the lines." in lines


def test_a_failed_action_is_recorded_as_failed():
    rec = Recorder("classic", "t", [{"name": "A"}])

    class Broken:
        def kill(self):
            raise OSError("no such process")
    ctx = scenarios.Ctx(type("C", (), {"backend": lambda self, n: Broken()})(), rec, None, 1)
    try:
        ctx.crash("A")
    except OSError:
        pass
    assert rec.events[-1]["kind"] == "crash" and rec.events[-1]["failed"] == "no such process"


def test_plain_status_line_labels_its_numbers_as_the_live_view_does():
    data = sample.make()
    line = live.LiveView._status_line(data)
    header = live.frame_lines(data)[next(i for i, x in enumerate(live.frame_lines(data))
                                        if "backend" in x and "TOTAL" in x)]
    for word in ("load", "TOTAL", "ms"):
        assert re.search(rf"\b{word}\b", header), word
    for name in "ABC":
        assert re.search(rf"\b{name} (up|DOWN) load \d+ TOTAL \d+ ms (\d+|-)(?!\S)", line), line
    outside = {**data, "samples": [{"t": 0, "backends": {n: {"state": "up"} for n in "ABC"}}]}
    assert re.search(r"\bA up answered \d+ ms", live.LiveView._status_line(outside))


def test_svg_step_labels_are_whole_and_apart():
    """Every step's title appears whole (no ellipsis), also for a 2 s step at the end and a
    title longer than its band; labels of one row do not overlap (estimated widths)."""
    data = sample.make()
    root = ET.fromstring(svg.render(data))
    labels = [el for el in root.iter(SVG_NS + "text") if el.get("class") == "step-label"]
    assert [el.text for el in labels] == [st["title"] for st in data["steps"]]
    assert all("\u2026" not in el.text for el in labels)
    spans = svg.step_label_rows(data["steps"], data["duration"])
    boxes = []
    for (row, _xn, xt, anchor), st in zip(spans, data["steps"]):
        w = len(st["title"]) * svg.STEP_CHAR_W
        x0 = xt if anchor == "start" else xt - w
        assert 0 <= x0 and x0 + w <= svg.W, (st["title"], x0, w)
        boxes.append((row, x0, x0 + w))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[0] != b[0] or a[2] <= b[1] or b[2] <= a[1], (a, b)
