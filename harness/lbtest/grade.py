"""Grading: a folder of balancers in, a CSV of scores out.

    python3 -m harness.lbtest --grade submissions/ --csv scores.csv

Each executable file in the folder is one balancer (named by its file name), and so is each
sub-folder holding an executable `loadbalancer` (named by the folder). Every cell is seeded
(the same seeds for everyone), a cell that does not pass is rerun (--reruns, 2 by default
here), and a cell that passed only on a rerun is `flaky`: it scores nothing, and the CSV says
so. Score = cells passed / cells run.
"""
import csv
import os
from pathlib import Path

from . import subjects as subjects_mod


def find_balancers(folder):
    """[(name, path)] in name order."""
    found = []
    for p in sorted(Path(folder).iterdir()):
        if p.is_file() and os.access(p, os.X_OK):
            found.append((p.name, str(p)))
        elif p.is_dir() and os.access(p / "loadbalancer", os.X_OK):
            found.append((p.name, str(p / "loadbalancer")))
    return found


def subjects_in(folder):
    return [subjects_mod.resolve(path, name=name) for name, path in find_balancers(folder)]


def write_csv(path, results, entries):
    names = [e.name for e in entries]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["balancer", "passed", "cells", "score_percent", "flaky", "seconds"] + names)
        for sname, row in results.items():
            passed = sum(1 for o in row.values() if o.passed)
            flaky = [n for n, o in row.items() if o.verdict == "flaky"]
            w.writerow([sname, passed, len(row), round(100.0 * passed / max(1, len(row)), 1),
                        " ".join(flaky), round(sum(o.wall or o.seconds for o in row.values()), 1)]
                       + [row[n].verdict if n in row else "" for n in names])


def summary_lines(results):
    lines = []
    width = max([len(n) for n in results] + [8])
    for sname, row in results.items():
        passed = sum(1 for o in row.values() if o.passed)
        bad = [f"{n} ({o.verdict})" for n, o in row.items() if not o.passed]
        lines.append(f"{sname:<{width}}  {passed:>2}/{len(row)}  "
                     + ("all passed" if not bad else "not passed: " + ", ".join(bad)))
    return lines
