"""The balancers lbtest runs: built-in names or any path, each started with the course
command line and nothing else (no --ready, no stats port).

    ours      this repository's build/bin/loadbalancer ($LBTEST_BIN), run by path like any
              other (an $LBTEST_WRAP_LOADBALANCER / $LBTEST_WRAP prefix is kept, for valgrind)
    haproxy   harness/lbtest/bin/haproxy-course: a generated HAProxy config (adapters.py)
    nginx     harness/lbtest/bin/nginx-course: a generated nginx config (adapters.py)
    PATH      anything else: an executable that takes PROG [-N n] [-R r] PORT SERVER...
"""
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..process import ProcessError, bin_path, wrapper
from . import adapters

BIN = Path(__file__).resolve().parent / "bin"
BUILTIN = ("ours", "haproxy", "nginx")
SBIN_PATH = os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"


@dataclass
class Subject:
    name: str                  # the matrix column
    argv: list                 # the command; the course arguments are appended
    notes: dict = field(default_factory=dict)   # entry name (or "*") -> how it differs
    problem: str = None        # why it cannot run at all (each cell: no-start, this reason)
    env: dict = field(default_factory=dict)


def resolve(spec, name=None):
    if spec == "ours":
        try:
            path = bin_path("loadbalancer")
        except ProcessError as exc:
            return Subject(name or "ours", ["loadbalancer"], problem=str(exc))
        return Subject(name or "ours", wrapper("loadbalancer") + [path])
    if spec in adapters.PRODUCTS:
        found = shutil.which(spec, path=SBIN_PATH)
        problem = None if found else (f"{spec} is not installed (ci/deps.sh lbtest installs "
                                      f"it: apt-get install haproxy nginx-light)")
        return Subject(name or spec, [str(BIN / f"{spec}-course")], notes=adapters.NOTES[spec],
                       problem=problem, env={"PATH": SBIN_PATH})
    path = Path(spec)
    label = name or spec
    if not path.exists():
        return Subject(label, [spec], problem=f"{spec} does not exist")
    if path.is_dir() or not os.access(path, os.X_OK):
        return Subject(label, [spec], problem=f"{spec} is not an executable file")
    return Subject(label, [str(path.resolve())])
