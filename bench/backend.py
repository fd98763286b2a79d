#!/usr/bin/env python3
"""bench/backend.py BUILD_DIR - the fakeserver against nginx as a backend.

Both serve the same 1 KiB file from the same directory, pinned to CPU 0, with wrk -t1 on
CPU 1 and keep-alive clients (issue 2: "as a backend the fakeserver is at least as fast as
nginx serving the same 1 KiB file"). nginx runs as one process (`master_process off`, so
one event loop), once as configured out of the box (open, fstat, pread, close per request)
and once with open_file_cache (the file kept open); the fakeserver runs with -N 1 (one worker plus the dispatcher) and with
-N 4 (its default), all threads on CPU 0. Rounds alternate and rotate the order; medians
are reported. Writes bench-out/backend.json and bench-out/backend.svg and prints a table.
Environment: BENCH_TIME (5), BENCH_ROUNDS (3), BENCH_CONNS (64).
"""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as bc  # noqa: E402
import servers as bs  # noqa: E402

SERVER_CPU, LOAD_CPU = 0, 1


def env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def svg(summary):
    w, h, x0, y0, ph = 680, 300, 40, 50, 200
    vmax = 1.1 * max([s["rps"] or 0 for s in summary.values()] + [1])
    bw = (w - 2 * x0) / max(len(summary), 1)
    colors = ["#9e9e9e", "#616161", "#d62728", "#ff9896"]
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
             'font-family="sans-serif">' % (w, h),
             '<rect width="100%" height="100%" fill="white"/>',
             '<text x="%d" y="%d" font-size="14" font-weight="bold">1 KiB GET, keep-alive, '
             'one core: requests/s</text>' % (x0, y0 - 15)]
    for i, (name, s) in enumerate(summary.items()):
        v = s["rps"] or 0
        bh = ph * v / vmax
        x = x0 + i * bw + 10
        parts.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>'
                     % (x, y0 + ph - bh, bw - 20, bh, colors[i % len(colors)]))
        parts.append('<text x="%.1f" y="%.1f" font-size="12" text-anchor="middle">%.0f</text>'
                     % (x + (bw - 20) / 2, y0 + ph - bh - 4, v))
        parts.append('<text x="%.1f" y="%d" font-size="12" text-anchor="middle">%s</text>'
                     % (x + (bw - 20) / 2, y0 + ph + 18, name))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    build_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    bc.raise_nofile()
    outdir = os.path.join(bc.ROOT, "bench-out")
    os.makedirs(outdir, exist_ok=True)
    rundir = tempfile.mkdtemp(prefix="backend-", dir=outdir)
    seconds, rounds = env_int("BENCH_TIME", 5), env_int("BENCH_ROUNDS", 3)
    conns = env_int("BENCH_CONNS", 64)
    procs = bc.Procs(rundir)
    runs = {}
    try:
        docroot = bc.write_docroot(os.path.join(rundir, "www"))
        servers = {"nginx": bs.start_nginx_origin(procs, rundir, docroot, SERVER_CPU,
                                                  file_cache=False, name="nginx"),
                   "nginx open_file_cache": bs.start_nginx_origin(
                       procs, rundir, docroot, SERVER_CPU, name="nginx-cached")}
        for n in (1, 4):
            servers["fakeserver -N %d" % n] = bs.start_fakeserver(
                procs, build_dir, docroot, SERVER_CPU, workers=n, name="fakeserver-N%d" % n)
        names = list(servers)
        runs = {n: [] for n in names}
        for r in range(rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                res = bc.run_wrk(servers[name].port, seconds, conns, cpu=LOAD_CPU,
                                 watch_pid=servers[name].pid)
                runs[name].append(res)
                print("bench-backend: round %d %-15s %9.0f req/s p99 %.3f ms cpu %s%%"
                      % (r, name, res["rps"], res["p99_ms"] or -1, res["cpu_pct"]),
                      file=sys.stderr)
    finally:
        procs.stop_all()
    summary = {n: {m: bc.median([x.get(m) for x in rl]) for m in
                   ("rps", "p50_ms", "p99_ms", "cpu_pct", "cpu_us_per_req", "rss_kib")}
               for n, rl in runs.items()}
    for n, rl in runs.items():
        summary[n]["errors"] = sum(x["errors"] + x["non2xx"] for x in rl)
    data = {"machine": bc.machine_info(), "seconds": seconds, "rounds": rounds, "conns": conns,
            "summary": summary, "runs": runs}
    with open(os.path.join(outdir, "backend.json"), "w") as f:
        json.dump(data, f, indent=1)
    with open(os.path.join(outdir, "backend.svg"), "w") as f:
        f.write(svg(summary))
    base = summary.get("nginx", {}).get("rps")
    lines = ["| server (CPU %d, wrk -t1 -c%d on CPU %d) | req/s | p50 ms | p99 ms | CPU %% "
             "| CPU us/req | RSS MiB | errors | vs nginx |" % (SERVER_CPU, conns, LOAD_CPU),
             "|---|---|---|---|---|---|---|---|---|"]
    for n, s in summary.items():
        lines.append("| %s | %.0f | %.3f | %.3f | %.0f | %.1f | %.1f | %d | %s |" % (
            n, s["rps"] or 0, s["p50_ms"] or 0, s["p99_ms"] or 0, s["cpu_pct"] or 0,
            s["cpu_us_per_req"] or 0, (s["rss_kib"] or 0) / 1024.0, s["errors"],
            "%.2fx" % (s["rps"] / base) if base and s["rps"] else "-"))
    text = "\n".join(lines)
    with open(os.path.join(outdir, "backend.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(rundir, ignore_errors=True)
    print("\nwrote %s/backend.json, backend.md and backend.svg" % outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
