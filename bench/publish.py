#!/usr/bin/env python3
"""bench/publish.py - copy the latest tables into bench/README.md.

Replaces what stands between `<!-- bench:NAME:begin -->` and `<!-- bench:NAME:end -->` with
bench-out/NAME.md (written by bench/bench.sh and bench/backend.sh), for NAME in bench and
backend, adding the date of the run, and copies bench-out/NAME.svg to bench/ (as
latest-proxies.svg and latest-backend.svg: bench-out/ is not committed, the page shows
these copies). Run it after a benchmark you
mean to publish.
"""
import datetime
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SVG_NAME = {"bench": "latest-proxies.svg", "backend": "latest-backend.svg"}


def main():
    path = os.path.join(ROOT, "bench", "README.md")
    with open(path) as f:
        text = f.read()
    for name in ("bench", "backend"):
        src = os.path.join(ROOT, "bench-out", name + ".md")
        if not os.path.exists(src):
            print("publish: %s missing, left as it was" % src, file=sys.stderr)
            continue
        when = datetime.datetime.utcfromtimestamp(os.path.getmtime(src))
        with open(src) as f:
            table = "Run of %s UTC.\n\n%s" % (when.strftime("%Y-%m-%d %H:%M"), f.read())
        pattern = re.compile(r"(<!-- bench:%s:begin -->\n).*?(<!-- bench:%s:end -->)"
                             % (name, name), re.S)
        text, n = pattern.subn(lambda m: m.group(1) + table + m.group(2), text)
        if not n:
            print("publish: no %s markers in %s" % (name, path), file=sys.stderr)
        svg = os.path.join(ROOT, "bench-out", name + ".svg")
        if os.path.exists(svg):
            shutil.copyfile(svg, os.path.join(ROOT, "bench", SVG_NAME[name]))
    with open(path, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
