#!/usr/bin/env python3
"""bench/publish.py - copy the latest results into bench/README.md and the top README.

In bench/README.md, replaces what stands between `<!-- bench:NAME:begin -->` and
`<!-- bench:NAME:end -->` with bench-out/NAME.md (written by bench/run.py and
bench/backend.py), for NAME in bench and backend, adding the date of the run, and copies
bench-out/NAME.svg to bench/ (as latest-proxies.svg and latest-backend.svg: bench-out/ is
not committed, the page shows these copies). In README.md, replaces the block between
`<!-- bench:headline:begin -->` and `<!-- bench:headline:end -->` with the short table
(report.headline) built from bench-out/bench.json and bench-out/backend.json. Run it
after a benchmark you mean to publish.

`publish.py backend` publishes bench/backend.sh's results alone: the backend block and SVG
of bench/README.md, and in README.md only the fakeserver's table inside the headline block.
"""
import datetime
import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench-out")
SVG_NAME = {"bench": "latest-proxies.svg", "backend": "latest-backend.svg"}


def _when(path):
    when = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M")


def replace_block(text, name, body, path):
    pattern = re.compile(r"(<!-- bench:%s:begin -->\n).*?(<!-- bench:%s:end -->)"
                         % (name, name), re.S)
    text, n = pattern.subn(lambda m: m.group(1) + body + m.group(2), text)
    if not n:
        print("publish: no %s markers in %s" % (name, path), file=sys.stderr)
    return text


def publish_page(names=("bench", "backend")):
    path = os.path.join(ROOT, "bench", "README.md")
    with open(path) as f:
        text = f.read()
    for name in names:
        src = os.path.join(OUT, name + ".md")
        if not os.path.exists(src):
            print("publish: %s missing, left as it was" % src, file=sys.stderr)
            continue
        with open(src) as f:
            body = "Run of %s UTC.\n\n%s" % (_when(src), f.read())
        text = replace_block(text, name, body, path)
        svg = os.path.join(OUT, name + ".svg")
        if os.path.exists(svg):
            shutil.copyfile(svg, os.path.join(ROOT, "bench", SVG_NAME[name]))
    with open(path, "w") as f:
        f.write(text)


def publish_headline():
    src = os.path.join(OUT, "bench.json")
    if not os.path.exists(src):
        print("publish: %s missing, README.md left as it was" % src, file=sys.stderr)
        return
    with open(src) as f:
        data = json.load(f)
    backend = None
    bsrc = os.path.join(OUT, "backend.json")
    if os.path.exists(bsrc):
        with open(bsrc) as f:
            backend = json.load(f)
    c = data["config"]
    body = ("Run of %s UTC, `make bench` (%d rounds of %d s, medians; ours: `%s`):\n%s\n"
            % (_when(src), c["rounds"], c["seconds"], c.get("ours_args", ""),
               report.headline(data, backend)))
    path = os.path.join(ROOT, "README.md")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(replace_block(text, "headline", body, path))


def publish_backend_rows():
    """Replaces the fakeserver's table in README.md's headline block (the rest stays)."""
    src = os.path.join(OUT, "backend.json")
    if not os.path.exists(src):
        print("publish: %s missing, README.md left as it was" % src, file=sys.stderr)
        return
    with open(src) as f:
        rows = report.backend_headline(json.load(f))
    path = os.path.join(ROOT, "README.md")
    with open(path) as f:
        text = f.read()
    pattern = re.compile(r"\n(?:The fakeserver against nginx [^\n]*\n\n)?"
                         r"\| the fakeserver as a backend[^\n]*(?:\n\|[^\n]*)*")
    text, n = pattern.subn(lambda m: "\n" + "\n".join(rows[1:]), text, count=1)
    if not n:
        print("publish: no fakeserver table in %s" % path, file=sys.stderr)
    with open(path, "w") as f:
        f.write(text)


def main():
    if sys.argv[1:] == ["backend"]:
        publish_page(("backend",))
        publish_backend_rows()
        return 0
    if sys.argv[1:]:
        print("usage: bench/publish.py [backend]", file=sys.stderr)
        return 2
    publish_page()
    publish_headline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
