"""The demo's renderers on a synthetic recording (no processes): the SVG is well-formed and
marks every event, the HTML embeds it with the replay and its sentinel, the live view shows
every backend, and the scenario library is well-formed."""
import io
import json
import re
import xml.etree.ElementTree as ET

from harness.demo import live, page, sample, scenarios, svg

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
