"""Runs catalogue entries against balancers, one cell at a time, and decides flakiness.

A cell that does not pass is run again up to `reruns` times with the same seed; a cell
that failed and then passed is `flaky` (never `pass`), with the first failure's reasons.
`repeat` runs every cell that many times whatever happens (a cell that passes and fails
across them is flaky too). Every cell runs in its own directory under `workdir`; the
directories of passing cells are removed as soon as they pass unless `keep` is set.
"""
import re
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .cell import Cell


def slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "balancer"


def run_cell(entry, subject, workdir, seed_offset=0, reruns=0, repeat=1, keep=False):
    attempts = []
    first_bad = None
    runs = 0
    while True:
        runs += 1
        root = Path(workdir) / slug(subject.name) / entry.name / f"run{runs}"
        out = Cell(entry, subject, root, seed=entry.seed + seed_offset).run()
        attempts.append(out.verdict)
        if out.verdict == "pass":
            if not keep:
                shutil.rmtree(root, ignore_errors=True)
            last_pass = out
        elif first_bad is None:
            first_bad = out
        if subject.problem:
            break   # nothing to retry: it cannot run at all
        if runs < repeat:
            continue
        if first_bad is not None and "pass" not in attempts and runs <= reruns:
            continue
        break
    if first_bad is None:
        last_pass.attempts = attempts
        return last_pass
    first_bad.attempts = attempts
    if "pass" in attempts:
        first_bad.notes.insert(0, f"passed {attempts.count('pass')} of {len(attempts)} runs "
                                  f"({', '.join(attempts)}): flaky, not a pass")
        first_bad.verdict = "flaky"
    first_bad.seconds = round(first_bad.seconds, 2)
    return first_bad


def run_row(subject, entries, workdir, seed_offset=0, reruns=0, repeat=1, keep=False,
            progress=None):
    """{entry name: Outcome} of one balancer, its cells one after the other."""
    row = {}
    for entry in entries:
        t = time.monotonic()
        out = run_cell(entry, subject, workdir, seed_offset, reruns, repeat, keep)
        out.wall = round(time.monotonic() - t, 1)
        row[entry.name] = out
        if progress:
            progress(out)
    return row


def run_matrix(subjects, entries, workdir, seed_offset=0, reruns=0, repeat=1, keep=False,
               progress=None, jobs=1):
    """{subject name: {entry name: Outcome}}, in subjects' order; `progress(outcome)` after
    each cell. jobs > 1 runs that many balancers' rows at once, each on a thread of its own:
    a balancer's cells still run one after the other (its servers, ports and directory are
    its cell's own; cell.free_port never hands a port out twice), so the rows only share
    the machine's CPUs. The timing rules the entries judge were set for one cell at a time:
    on a small machine, more jobs than cores can turn a slow-but-correct cell into a fail."""
    rows = {}
    args = (entries, workdir, seed_offset, reruns, repeat, keep, progress)
    if jobs <= 1:
        for subject in subjects:
            rows[subject.name] = run_row(subject, *args)
    else:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="lbtest-row") as pool:
            futures = {s.name: pool.submit(run_row, s, *args) for s in subjects}
            for name, future in futures.items():
                rows[name] = future.result()
    return {s.name: rows[s.name] for s in subjects}


def print_progress(out, stream=None):
    stream = stream or sys.stderr
    first = f": {out.reasons[0]}" if out.reasons and out.verdict != "pass" else ""
    print(f"  {out.subject:<14} {out.entry:<20} {out.verdict:<8} {out.wall:5.1f} s"
          f"{first[:150]}", file=stream, flush=True)
