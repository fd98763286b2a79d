"""The command line of lbtest (python3 -m harness.lbtest --help)."""
import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ..process import ProcessError, bin_path
from . import adapters, catalogue, grade, matrix, report, subjects as subjects_mod

EPILOG = """\
balancers (--lb, repeatable):
  ours      build/bin/loadbalancer (or $LBTEST_BIN/loadbalancer), run by path like any other
  haproxy   HAProxy with a generated config (--show-config haproxy prints it)
  nginx     nginx with a generated config (--show-config nginx prints it)
  PATH      any program taking the course command line: PROG [-N n] [-R r] PORT SERVER...

examples:
  python3 -m harness.lbtest --lb ./loadbalancer
  python3 -m harness.lbtest --lb ./theirs --lb haproxy --lb nginx --lb ours --html report.html
  python3 -m harness.lbtest --lb ours --only all-down,frozen --json out.json
  python3 -m harness.lbtest --grade submissions/ --csv scores.csv --jobs 2
  python3 -m harness.lbtest --show-config haproxy -N 2 8080 8081 8082

Exit status: 0 only when every cell passed; 2 for a bad command line.
"""


def parse(argv):
    p = argparse.ArgumentParser(
        prog="python3 -m harness.lbtest", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the failover catalogue against course balancers, side by side, "
                    "observing them only from outside.")
    p.add_argument("--lb", action="append", default=[], metavar="NAME|PATH",
                   help="a balancer to test (repeatable)")
    p.add_argument("--only", metavar="E1,E2", help="run only these catalogue entries")
    p.add_argument("--skip", metavar="E1,E2", help="leave these entries out")
    p.add_argument("--quick", action="store_true",
                   help="leave out the long entries (fewest-routing, frozen)")
    p.add_argument("--seed", type=int, default=0,
                   help="added to every entry's seed (default 0: the catalogue's seeds)")
    p.add_argument("--reruns", type=int, default=None,
                   help="reruns of a cell that did not pass (default 0; 2 with --grade)")
    p.add_argument("--repeat", type=int, default=1, help="run every cell this many times")
    p.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                   help="run N balancers at once, each on its own ports and directories "
                        "(default 1; a balancer's cells always run one after the other)")
    p.add_argument("--junit", metavar="FILE", help="JUnit XML, one testsuite per balancer")
    p.add_argument("--json", metavar="FILE", help="every cell as JSON (timelines included)")
    p.add_argument("--html", metavar="FILE", help="a self-contained HTML report")
    p.add_argument("--workdir", metavar="DIR", help="where cells run (default: a temporary "
                   "directory, removed at the end)")
    p.add_argument("--keep", action="store_true", help="keep every cell's directory")
    p.add_argument("--grade", metavar="DIR", help="grading: every balancer in DIR")
    p.add_argument("--csv", metavar="FILE", help="grading: the scores (default scores.csv)")
    p.add_argument("--list", action="store_true", help="print the catalogue and exit")
    p.add_argument("--show-config", metavar="PRODUCT", choices=sorted(adapters.PRODUCTS),
                   help="print the config an adapter generates for the course command line "
                        "that follows (default -N 4 -R 5 8080 8081 8082), and exit")
    return p.parse_known_args(argv)


def select(args):
    entries = list(catalogue.CATALOGUE)
    if args.only:
        entries = catalogue.by_name([n.strip() for n in args.only.split(",") if n.strip()])
    if args.skip:
        skip = {n.strip() for n in args.skip.split(",")}
        catalogue.by_name(sorted(skip))
        entries = [e for e in entries if e.name not in skip]
    if args.quick:
        entries = [e for e in entries if e.quick]
    return entries


def main(argv=None):
    args, rest = parse(sys.argv[1:] if argv is None else argv)
    if args.show_config:
        course = rest or ["-N", "4", "-R", "5", "8080", "8081", "8082"]
        return adapters.main([args.show_config, "--show-config"] + course)
    if rest:
        print(f"lbtest: unknown arguments {' '.join(rest)}", file=sys.stderr)
        return 2
    if args.list:
        for e in catalogue.CATALOGUE:
            print(f"{e.name:<20} seed {e.seed}{'' if e.quick else '  (long)'}\n    {e.rule}")
        return 0
    try:
        entries = select(args)
    except KeyError as exc:
        print(f"lbtest: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.grade:
        subjects = grade.subjects_in(args.grade)
        if not subjects:
            print(f"lbtest: no executable balancer in {args.grade}", file=sys.stderr)
            return 2
        reruns = 2 if args.reruns is None else args.reruns
    else:
        if not args.lb:
            print("lbtest: name at least one balancer with --lb (see --help)", file=sys.stderr)
            return 2
        subjects = [subjects_mod.resolve(spec) for spec in args.lb]
        reruns = args.reruns or 0
    try:
        bin_path("fakeserver")   # every cell's servers
    except ProcessError as exc:
        print(f"lbtest: {exc}", file=sys.stderr)
        return 2
    names = [s.name for s in subjects]
    if len(set(names)) != len(names):
        print("lbtest: the same balancer is named twice", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print("lbtest: --jobs takes a number of at least 1", file=sys.stderr)
        return 2
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="lbtest-"))
    started = time.monotonic()
    print(f"lbtest: {len(entries)} entries x {len(subjects)} balancer(s), cells in {workdir}",
          file=sys.stderr, flush=True)
    try:
        results = matrix.run_matrix(subjects, entries, workdir, seed_offset=args.seed,
                                    reruns=reruns, repeat=max(1, args.repeat), keep=args.keep,
                                    progress=matrix.print_progress, jobs=args.jobs)
    finally:
        if not args.workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.grade:
        grade.write_csv(args.csv or "scores.csv", results, entries)
        print("\n".join(grade.summary_lines(results)))
        print(f"lbtest: scores in {args.csv or 'scores.csv'}")
    else:
        print(report.matrix_text(results, subjects, entries))
    if args.junit:
        report.write_junit(args.junit, results, subjects, entries)
    if args.json:
        report.write_json(args.json, results, subjects, entries)
    if args.html:
        report.write_html(args.html, results, subjects, entries)
    print(f"lbtest: {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0 if report.all_passed(results) else 1
