#!/usr/bin/env python3
"""bench/ab_ours.py OLD_BUILD NEW_BUILD - two builds of ours side by side with HAProxy and
nginx, on a machine too busy for separate runs to compare.

Everything `make bench` starts (three nginx backends, HAProxy, nginx as a proxy) plus two
balancers, one per build directory, with the benchmark's options, in the free layout. Each
round measures every target once per mode (AB_MODES: keepalive close; AB_VERBATIM=1 adds
both builds with --verbatim-connection in close mode, where every request opens a backend
connection), the order of the targets rotated from round to round, AB_TIME (3) seconds
per run, AB_ROUNDS (5) rounds. Printed: per target and mode the medians of requests/s and
the proxy's CPU per request (user + system from /proc, as `make bench`), and the medians
of the per-round ratios new/old, ours/HAProxy and ours/nginx, with the load average.
Ratios of runs seconds apart are what can be read on a loaded machine; absolute figures
move with the neighbours. Only processes started here are stopped, by PID.
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as bc  # noqa: E402
import run as bench_run  # noqa: E402
import servers as bs  # noqa: E402


def main():
    if len(sys.argv) != 3:
        print("usage: bench/ab_ours.py OLD_BUILD NEW_BUILD", file=sys.stderr)
        return 2
    old, new = (os.path.abspath(a) for a in sys.argv[1:])
    seconds = bc.env_int("AB_TIME", 3)
    rounds = bc.env_int("AB_ROUNDS", 5)
    modes = os.environ.get("AB_MODES", "keepalive close").split()
    bc.raise_nofile()
    rundir = tempfile.mkdtemp(prefix="ab-", dir=os.path.join(bc.ROOT, "bench-out"))
    procs = bc.Procs(rundir)
    runs = {}
    loads = []
    try:
        docroot = bc.write_docroot(os.path.join(rundir, "www"))
        _, backends = bench_run.start_backends(procs, rundir, docroot, new)
        targets = {"haproxy": bs.start_haproxy(procs, rundir, backends),
                   "nginx-proxy": bs.start_nginx_proxy(procs, rundir, backends),
                   "old": bs.start_ours(procs, old, backends, name="ours-old"),
                   "new": bs.start_ours(procs, new, backends, name="ours-new")}
        if os.environ.get("AB_VERBATIM", "0") != "0":
            for tag, build in (("old", old), ("new", new)):
                targets[tag + "-verbatim"] = bs.start_ours(
                    procs, build, backends, name="ours-%s-verbatim" % tag,
                    extra=["--verbatim-connection"])
        bench_run.apply_layout("free", targets)
        names = list(targets)
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for mode in modes:
                for name in order:
                    if name.endswith("verbatim") and mode != "close":
                        continue
                    proc = targets[name]
                    res = bc.run_wrk(proc.port, seconds, 64, close=(mode == "close"),
                                     watch_pids=[proc.pid], load_pids=bench_run.BACKEND_PIDS)
                    loads.append(res["loadavg"])
                    runs.setdefault(mode, {}).setdefault(name, []).append(res)
    finally:
        procs.stop_all()
        shutil.rmtree(rundir, ignore_errors=True)
    print("free layout, wrk -t1 -c64, %d s runs, %d rounds; 1-minute load average %.1f "
          "(median; %.1f-%.1f)" % (seconds, rounds, bc.median(loads), min(loads), max(loads)))
    for mode, by in runs.items():
        print("\n%s:" % mode)
        for name, rs in by.items():
            line = "  %-14s %7.0f req/s  %6.1f us CPU/req" % (
                name, bc.median([x["rps"] for x in rs]),
                bc.median([x["cpu_us_per_req"] for x in rs]))
            for ref in ("old", "haproxy", "nginx-proxy"):
                if ref == name or ref not in by or (ref == "old" and name != "new"):
                    continue
                cpu = bc.median([a["cpu_us_per_req"] / b["cpu_us_per_req"]
                                 for a, b in zip(rs, by[ref])])
                rps = bc.median([a["rps"] / b["rps"] for a, b in zip(rs, by[ref])])
                line += "  | vs %s: CPU %.2fx, req/s %.2fx" % (ref, cpu, rps)
            print(line)
        if "new-verbatim" in by:
            a, b = by["new-verbatim"], by["old-verbatim"]
            print("  new/old --verbatim-connection: CPU %.2fx" % bc.median(
                [x["cpu_us_per_req"] / y["cpu_us_per_req"] for x, y in zip(a, b)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
