"""The demo's HTML page in headless Chromium: the screenshot is not blank, the page's own
sentinel says the replay started, and the console reported no error; at the common window
widths 1280, 1400 and 1920 the layout the page reports as drawn (data-layout: boxes in
pixels) has no label under a moving dot, every step label whole and apart from the others,
and no sideways scrolling. Skips where Debian's chromium is not installed (ci/deps.sh
browser installs it)."""
import html
import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from harness.demo import page, sample, svg

from .conftest import binaries
from .demo_png import coverage

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--window-size=1100,1400"]


def chromium():
    for path in ("/usr/bin/chromium", shutil.which("chromium") or ""):
        if path and Path(path).exists():
            return path
    return None


def run_chromium(exe, tmp_path, mode, url, timeout=25, attempts=3, width=None):
    """Headless Chromium in its own process group, killed whole on a timeout. On a loaded
    machine Chromium itself now and then never exits (seen about once in a dozen runs at
    load 20, on any page, even an error page), so a run that times out is retried on a fresh
    profile; only `attempts` hangs in a row fail the test. The DOM is dumped at the load
    event: the page sets its sentinel synchronously once its script drew the first frame."""
    for attempt in range(attempts):
        done = _chromium_once(exe, tmp_path / f"{mode}-{attempt}", mode, url, timeout, width)
        if done is not None:
            return done
    pytest.fail(f"chromium ({mode}) timed out {attempts} times in a row ({timeout}s each)")


def _chromium_once(exe, workdir, mode, url, timeout, width=None):
    workdir.mkdir(parents=True, exist_ok=True)
    flags = FLAGS if width is None else \
        [f for f in FLAGS if not f.startswith("--window-size")] + [f"--window-size={width},1000"]
    argv = [exe] + flags + [f"--user-data-dir={workdir / 'profile'}"]
    if mode == "shot":
        argv.append(f"--screenshot={workdir.parent / 'shot.png'}")
    else:
        argv.append("--dump-dom")
    proc = subprocess.Popen(argv + [url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)   # helpers left in its group, if any
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.fixture
def page_path(request, tmp_path):
    """The page of a real classic run when the binaries are built, else of a synthetic one."""
    if binaries() is not None:
        run = request.getfixturevalue("classic_run")
        if run.returncode == 0:
            return run.dir / "index.html"
    data = sample.make()
    path = tmp_path / "index.html"
    path.write_text(page.render(data, svg.render(data)))
    return path


@pytest.mark.timeout(240)
def test_page_renders_in_headless_chromium(tmp_path, page_path):
    exe = chromium()
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); "
                    "the browser check needs Debian's headless Chromium")
    url = page_path.resolve().as_uri()
    # The screenshot is of the still picture (#still: the replay paused a third into the run):
    # with the animation running, Chromium's --screenshot often waits 20 s or more on a loaded
    # machine. The DOM dump loads the animated page.
    shot = run_chromium(exe, tmp_path, "shot", url + "#still")
    png = tmp_path / "shot.png"
    assert png.exists(), f"no screenshot:\n{shot.stderr[-3000:]}"
    share, colours = coverage(png)
    assert share > 0.05 and colours > 20, f"blank-looking screenshot ({share:.3f}, {colours})"
    dom = run_chromium(exe, tmp_path, "dom", url)
    assert 'data-demo-ready="1"' in dom.stdout, "the replay did not start:\n" + dom.stderr[-3000:]
    assert 'data-js-errors="0"' in dom.stdout, dom.stdout[-2000:]
    for out in (shot, dom):
        bad = [line for line in out.stderr.splitlines()
               if "Uncaught" in line or ("CONSOLE" in line and "ERROR" in line)]
        assert not bad, "console errors:\n" + "\n".join(bad)


def overlap(a, b, margin=0.0):
    """Whether two boxes {x0, x1, y0, y1} overlap by more than margin pixels."""
    return (min(a["x1"], b["x1"]) - max(a["x0"], b["x0"]) > margin and
            min(a["y1"], b["y1"]) - max(a["y0"], b["y0"]) > margin)


def dot_box(x, y, r):
    return {"x0": x - r, "x1": x + r, "y0": y - r, "y1": y + r}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("width", [1280, 1400, 1920])
def test_page_layout_at_common_widths(tmp_path, page_path, width):
    exe = chromium()
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); "
                    "the layout check needs Debian's headless Chromium")
    dom = run_chromium(exe, tmp_path, "dom", page_path.resolve().as_uri() + "#still",
                       timeout=40, width=width)
    m = re.search(r'data-layout="([^"]*)"', dom.stdout)
    assert m, "the page reported no layout:\n" + dom.stdout[-2000:] + dom.stderr[-2000:]
    layout = json.loads(html.unescape(m.group(1)))
    assert abs(layout["viewport"] - width) <= 20, layout["viewport"]
    assert layout["page"] <= layout["viewport"], "the page scrolls sideways"
    # The replay: a dot (radius r) at any point of any path clears every label.
    canvas = layout["canvas"]
    labels, r = canvas["labels"], canvas["dot_r"]
    assert any(lb["text"] == "clients" for lb in labels), labels
    for (x0, y0), (x1, y1) in canvas["segments"]:
        for i in range(21):
            f = i / 20
            dot = dot_box(x0 + (x1 - x0) * f, y0 + (y1 - y0) * f, r)
            hit = [lb["text"] for lb in labels if overlap(dot, lb)]
            assert not hit, f"at {width}px a dot at {f:.0%} of its path covers {hit}"
        for lb in labels:
            assert 0 <= lb["x0"] and lb["x1"] <= canvas["w"], f"label {lb['text']!r} cut"
    # The timeline: each step label is the step's whole title, inside the picture and
    # apart from every other step label.
    steps = layout["steps"]
    data = json.loads(re.search(r'<script type="application/json" id="run-data">(.*?)</script>',
                                page_path.read_text(), re.S).group(1))
    assert [st["text"] for st in steps] == [st["title"] for st in data["steps"]]
    picture = layout["svg"]
    for i, a in enumerate(steps):
        assert picture["x0"] - 0.5 <= a["x0"] and a["x1"] <= picture["x1"] + 0.5, \
            f"at {width}px step label {a['text']!r} leaves the picture"
        for b in steps[i + 1:]:
            assert not overlap(a, b, 0.5), f"at {width}px {a['text']!r} overlaps {b['text']!r}"
