#!/usr/bin/env python3
"""bench/backend.py BUILD_DIR - the fakeserver against nginx as a backend.

Both serve the same 1 KiB file from the same directory to keep-alive clients (wrk -t1
-c BENCH_CONNS). nginx runs as one process (`master_process off`, so one event loop),
once as configured out of the box (open, fstat, pread, close per request) and once with
open_file_cache (the file kept open); the fakeserver runs with -N 1 (one worker plus the
dispatcher) and with -N 4 (its default). Layouts (BENCH_LAYOUT, default "free tier"):
free, nothing pinned; tier, the server on CPU 0 and wrk on CPU 1 (split is the same as
tier here: there is no proxy). Rounds alternate the layouts and rotate the order of the
servers; medians, and ratios to nginx as the median of per-round ratios. Writes
bench-out/backend.{json,md,svg} and prints the table.
Environment: BENCH_TIME (5), BENCH_ROUNDS (3), BENCH_CONNS (64), BENCH_LAYOUT, BENCH_KEEP.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as bc  # noqa: E402
import servers as bs  # noqa: E402

LAYOUTS = {"free": {"server": None, "client": None},
           "tier": {"server": {0}, "client": {1}}}
BASES = ("nginx", "nginx open_file_cache")
METRICS = ("rps", "p50_ms", "p99_ms", "cpu_pct", "cpu_us_per_req", "rss_kib", "loadavg",
           "other_pct")


def layouts_wanted():
    names = os.environ.get("BENCH_LAYOUT", "free tier").replace(",", " ").split()
    names = ["tier" if n == "split" else n for n in names]
    bad = [n for n in names if n not in LAYOUTS]
    if bad or not names:
        sys.exit("bench/backend.py: BENCH_LAYOUT is a list of free/tier, not %r"
                 % os.environ.get("BENCH_LAYOUT"))
    return list(dict.fromkeys(names))


def svg(data):
    groups = [(lay, [(n, s["rps"]) for n, s in summ.items()])
              for lay, summ in data["summary"].items()]
    w, h, x0, y0, ph = 760, 320, 40, 50, 200
    vmax = 1.1 * max([v or 0 for _, items in groups for _, v in items] + [1])
    colors = ["#9e9e9e", "#616161", "#d62728", "#ff9896"]
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
             'font-family="sans-serif">' % (w, h),
             '<rect width="100%" height="100%" fill="white"/>',
             '<text x="%d" y="%d" font-size="14" font-weight="bold">1 KiB GET, keep-alive: '
             'requests/s, per layout</text>' % (x0, y0 - 15)]
    gw = (w - 2 * x0) / max(len(groups), 1)
    for gi, (lay, items) in enumerate(groups):
        bw = (gw - 20) / max(len(items), 1)
        for i, (name, v) in enumerate(items):
            v = v or 0
            bh = ph * v / vmax
            x = x0 + gi * gw + 10 + i * bw
            parts.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s">'
                         '<title>%s</title></rect>'
                         % (x, y0 + ph - bh, bw - 6, bh, colors[i % len(colors)], name))
            parts.append('<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle">%.0f'
                         '</text>' % (x + (bw - 6) / 2, y0 + ph - bh - 4, v))
        parts.append('<text x="%.1f" y="%d" font-size="12" text-anchor="middle">%s</text>'
                     % (x0 + gi * gw + gw / 2, y0 + ph + 18, lay))
    names = [n for n, _ in groups[0][1]] if groups else []
    for i, n in enumerate(names):
        parts.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
                     '<text x="%d" y="%d" font-size="12">%s</text>'
                     % (x0 + i * 175, h - 30, colors[i % len(colors)], x0 + 16 + i * 175,
                        h - 20, n))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def table(data):
    c = data
    lines = ["wrk -t1 -c%d, keep-alive, %d s per run, %d rounds, medians; ratios are medians "
             "of per-round ratios; load average %s before, %s after."
             % (c["conns"], c["seconds"], c["rounds"], " ".join(c["loadavg_before"]),
                " ".join(c["loadavg_after"]))]
    for lay, summ in data["summary"].items():
        lines += ["", "%s (%s):" % (lay, "nothing pinned" if lay == "free"
                                    else "server on CPU 0, wrk alone on CPU 1"), "",
                  "| server | req/s | p50 ms | p99 ms | CPU % | CPU us/req | RSS MiB | errors "
                  "| other % | load avg | req/s vs nginx, nginx open_file_cache "
                  "| CPU/req vs nginx, nginx open_file_cache |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for n, s in summ.items():
            r = data["ratios"][lay].get(n, {})
            cr = data["cpu_ratios"][lay].get(n, {})
            lines.append("| %s | %.0f | %.3f | %.3f | %.0f | %.1f | %.1f | %d | %.0f | %.1f "
                         "| %s | %s |" % (
                             n, s["rps"] or 0, s["p50_ms"] or 0, s["p99_ms"] or 0,
                             s["cpu_pct"] or 0, s["cpu_us_per_req"] or 0,
                             (s["rss_kib"] or 0) / 1024.0, s["errors"], s["other_pct"] or 0,
                             s["loadavg"] or 0,
                             ", ".join("%.2fx" % r[b] if r.get(b) else "-" for b in BASES),
                             ", ".join("%.2fx" % cr[b] if cr.get(b) else "-" for b in BASES)))
    return "\n".join(lines)


def _paired(rl, base_runs, metric):
    base = {x["round"]: x.get(metric) for x in base_runs}
    vals = [x[metric] / base[x["round"]] for x in rl
            if base.get(x["round"]) and x.get(metric) is not None]
    return round(bc.median(vals), 3) if vals else None


def build(data):
    """Adds medians ("summary") and ratios to nginx, medians of per-round ratios, of
    requests/s ("ratios") and of CPU per request ("cpu_ratios") to a run's data."""
    data["summary"], data["ratios"], data["cpu_ratios"] = {}, {}, {}
    for lay, by_name in data["runs"].items():
        data["summary"][lay], data["ratios"][lay], data["cpu_ratios"][lay] = {}, {}, {}
        for n, rl in by_name.items():
            s = {m: bc.median([x.get(m) for x in rl]) for m in METRICS}
            s["errors"] = sum(x["errors"] + x["non2xx"] for x in rl)
            data["summary"][lay][n] = s
            data["ratios"][lay][n] = {b: _paired(rl, by_name.get(b, []), "rps") for b in BASES}
            data["cpu_ratios"][lay][n] = {b: _paired(rl, by_name.get(b, []), "cpu_us_per_req")
                                          for b in BASES}
    return data


def main():
    build_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    layouts = layouts_wanted()
    bc.raise_nofile()
    outdir, rundir = bc.run_dir("backend-")
    seconds, nrounds = bc.env_int("BENCH_TIME", 5), bc.env_int("BENCH_ROUNDS", 3)
    conns = bc.env_int("BENCH_CONNS", 64)
    loadavg_before = open("/proc/loadavg").read().split()[:3]
    procs = bc.Procs(rundir)
    runs = {lay: {} for lay in layouts}
    try:
        docroot = bc.write_docroot(os.path.join(rundir, "www"))
        servers = {"nginx": bs.start_nginx_origin(procs, rundir, docroot, file_cache=False,
                                                  name="nginx"),
                   "nginx open_file_cache": bs.start_nginx_origin(
                       procs, rundir, docroot, name="nginx-cached")}
        for n in (1, 4):
            servers["fakeserver -N %d" % n] = bs.start_fakeserver(
                procs, build_dir, docroot, workers=n, name="fakeserver-N%d" % n)
        names = list(servers)
        for lay in layouts:
            runs[lay] = {n: [] for n in names}
        for r, lay, order in bc.rounds(nrounds, layouts, names):
            for proc in servers.values():
                bc.set_affinity(proc.pid, LAYOUTS[lay]["server"])
            for name in order:
                res = bc.run_wrk(servers[name].port, seconds, conns,
                                 cpus=LAYOUTS[lay]["client"], watch_pids=[servers[name].pid])
                res["round"] = r
                runs[lay][name].append(res)
                print("bench-backend: round %d %-4s %-22s %9.0f req/s p99 %.3f ms cpu %s%% "
                      "other %s%% load %.1f" % (r, lay, name, res["rps"], res["p99_ms"] or -1,
                                                res["cpu_pct"], res["other_pct"],
                                                res["loadavg"]), file=sys.stderr)
    finally:
        procs.stop_all()
    data = build({"machine": bc.machine_info(), "seconds": seconds, "rounds": nrounds,
                  "conns": conns, "loadavg_before": loadavg_before,
                  "loadavg_after": open("/proc/loadavg").read().split()[:3], "runs": runs})
    bc.write_results(outdir, "backend", data, svg(data), table(data), rundir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
