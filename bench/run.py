#!/usr/bin/env python3
"""bench/run.py BUILD_DIR - `make bench`: our balancer against HAProxy and nginx.

Layout of a run (2 cores), BENCH_LAYOUT:
 - tier (default): the server tier, i.e. the proxy under test and the three backends (one
   nginx process serving a 1 KiB file on three ports, or three fakeservers with
   BENCH_BACKENDS=fakeserver), shares CPU 0; wrk has CPU 1 to itself, so the client is
   never the limit and what a proxy costs shows up as requests/s of the tier;
 - split: the proxy alone on CPU 0, wrk and the backends share CPU 1 (then wrk and the
   backends, not the proxy, are the limit of every efficient proxy).
"nginx direct" is a separate nginx origin on CPU 0, the ceiling of what one core serves
with no proxy in between.

Phases:
 1. idle memory: BENCH_IDLE (10000) keep-alive client connections, each after one request,
    held open against each fresh proxy; RSS before and after, per connection.
 2. throughput: BENCH_ROUNDS (3) rounds; in each, every target is measured once with
    keep-alive clients and once with `Connection: close`, the order rotated per round;
    wrk -t1 -c BENCH_CONNS (64) for BENCH_TIME (5) seconds. Medians are reported.
 3. equal offered load: every target gets the same closed-loop load, BENCH_EQ_CONNS
    connections each waiting a random 5..15 ms (mean 10) between answers (a wrk Lua
    delay()), which is well under every proxy's capacity, so each sees the same request rate
    and the p99 latencies compare like for like. wrk2 (constant rate) is not in Debian.

Outputs bench-out/bench.json, bench-out/bench.svg and prints the table (Markdown).
Every process is started here and stopped here by PID (process group).
"""
import json
import shutil
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as bc  # noqa: E402
import idle as bench_idle  # noqa: E402
import report as bench_report  # noqa: E402
import servers as bs  # noqa: E402

PROXY_CPU, LOAD_CPU = 0, 1
LAYOUT = os.environ.get("BENCH_LAYOUT", "tier")
if LAYOUT not in ("tier", "split"):
    sys.exit("bench: BENCH_LAYOUT must be tier or split, not %r" % LAYOUT)
BACKEND_CPU = PROXY_CPU if LAYOUT == "tier" else LOAD_CPU
DELAY_LUA = """
local lo, hi = 5, 15
function init(args)
  if args[1] then lo = tonumber(args[1]) end
  if args[2] then hi = tonumber(args[2]) end
  math.randomseed(os.time())
end
function delay() return math.random(lo, hi) end
"""


def env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def default_idle():
    """10,000, unless the open-file hard limit keeps HAProxy (2 fds per connection) lower."""
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard >= 20500:
        return 10000
    return max(100, (hard - 1000) // 2)


BACKEND_PIDS = []  # whose CPU counts as the load side's, with wrk's


def start_backends(procs, rundir, docroot, build_dir):
    kind = os.environ.get("BENCH_BACKENDS", "nginx")
    if kind == "fakeserver":
        started = [bs.start_fakeserver(procs, build_dir, docroot, BACKEND_CPU, workers=1,
                                       name="backend-fs%d" % i) for i in range(3)]
        ports = [p.port for p in started]
    else:
        started = [bs.start_nginx_origin(procs, rundir, docroot, BACKEND_CPU, nports=3,
                                         name="backend-nginx")]
        ports = started[0].ports
    BACKEND_PIDS[:] = [p.pid for p in started]
    return kind, ports


def start_targets(procs, rundir, docroot, build_dir, backends, only=None):
    """Starts every target (or only the named one); returns {name: Proc}."""
    makers = {
        "nginx-direct": lambda: bs.start_nginx_origin(procs, rundir, docroot, PROXY_CPU,
                                                      name="nginx-direct",
                                                      deferred=bs.peer_defer()),
        "haproxy": lambda: bs.start_haproxy(procs, rundir, backends, PROXY_CPU),
        "nginx-proxy": lambda: bs.start_nginx_proxy(procs, rundir, backends, PROXY_CPU),
        "ours": lambda: bs.start_ours(procs, build_dir, backends, PROXY_CPU,
                                      extra=os.environ.get("BENCH_OURS_ARGS", "").split()),
    }
    have_ours = os.path.exists(os.path.join(build_dir, "bin", "loadbalancer"))
    out = {}
    for name, make in makers.items():
        if only and name not in only:
            continue
        if name == "ours" and not have_ours:
            print("bench: %s/bin/loadbalancer not built: measuring without it" % build_dir,
                  file=sys.stderr)
            continue
        out[name] = make()
    return out


def idle_phase(procs, rundir, docroot, build_dir, backends, count):
    """Fresh proxies, count idle keep-alive connections each, one proxy at a time."""
    results = {}
    for name in ("haproxy", "nginx-proxy", "ours"):
        started = start_targets(procs, rundir, docroot, build_dir, backends, only=[name])
        if name not in started:
            continue
        proc = started[name]
        bc.http_get(proc.port, "/" + bc.FILE_NAME)  # one request: lazily built state exists
        res = bench_idle.measure(proc.port, proc.pid, count, bc.rss_kib)
        print("bench: idle %-12s %s" % (name, res), file=sys.stderr)
        results[name] = res
        procs.stop(proc)
    return results


def quiet_run(proc, seconds, conns, retries=None, light=None, **kw):
    """One wrk run; repeated (at most BENCH_RETRIES times) while other processes of the
    machine took more than BENCH_NOISE percent of the server's core, keeping the quietest."""
    limit = env_int("BENCH_NOISE", 10)
    if retries is None:
        retries = env_int("BENCH_RETRIES", 1)
    best = None
    for attempt in range(retries + 1):
        if light:
            res = bc.run_light(light, proc.port, seconds, conns, cpu=LOAD_CPU,
                               watch_pid=proc.pid, server_cpu=PROXY_CPU, load_pids=BACKEND_PIDS,
                               colocated=BACKEND_CPU == PROXY_CPU)
        else:
            res = bc.run_wrk(proc.port, seconds, conns, cpu=LOAD_CPU, watch_pid=proc.pid,
                             server_cpu=PROXY_CPU, load_pids=BACKEND_PIDS,
                             colocated=BACKEND_CPU == PROXY_CPU, **kw)
        res["attempts"] = attempt + 1
        if best is None or res.get("foreign_pct", 0) < best.get("foreign_pct", 0):
            best = res
        if res.get("foreign_pct", 0) <= limit:
            break
    return best


def throughput_phase(targets, rounds, seconds, conns, light=None):
    """wrk keep-alive, wrk Connection: close, and (when built) the light keep-alive client."""
    modes = ("keepalive", "close") + (("light",) if light else ())
    runs = {m: {n: [] for n in targets} for m in modes}
    names = list(targets)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for mode in modes:
            for name in order:
                res = quiet_run(targets[name], seconds, conns, close=(mode == "close"),
                                light=light if mode == "light" else None)
                res["round"] = r
                runs[mode][name].append(res)
                print("bench: round %d %-9s %-12s %9.0f req/s p50 %.3f ms p99 %.3f ms cpu %s%% "
                      "other %s%% (x%d)" % (r, mode, name, res["rps"], res["p50_ms"] or -1,
                                             res["p99_ms"] or -1, res.get("cpu_pct"),
                                             res.get("foreign_pct"), res["attempts"]),
                      file=sys.stderr)
    return runs


def equal_load_phase(targets, rundir, rounds, seconds, conns):
    script = os.path.join(rundir, "delay.lua")
    with open(script, "w") as f:
        f.write(DELAY_LUA)
    runs = {n: [] for n in targets}
    names = list(targets)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            # No retry here: the server uses a fraction of its core at this load and other
            # processes fill the rest, so "other %" is high on a busy machine either way.
            res = quiet_run(targets[name], seconds, conns, retries=0, script=script,
                            script_args=(5, 15))
            res["round"] = r
            runs[name].append(res)
            print("bench: round %d equal-load %-12s %7.0f req/s p99 %.3f ms other %s%% (x%d)"
                  % (r, name, res["rps"], res["p99_ms"] or -1, res.get("foreign_pct"),
                     res["attempts"]), file=sys.stderr)
    return runs


def main():
    if len(sys.argv) != 2:
        print("usage: bench/run.py BUILD_DIR", file=sys.stderr)
        return 2
    build_dir = os.path.abspath(sys.argv[1])
    bc.raise_nofile()
    outdir = os.path.join(bc.ROOT, "bench-out")
    os.makedirs(outdir, exist_ok=True)
    rundir = tempfile.mkdtemp(prefix="run-", dir=outdir)
    cfg = {"seconds": env_int("BENCH_TIME", 5), "rounds": env_int("BENCH_ROUNDS", 3),
           "conns": env_int("BENCH_CONNS", 64), "idle": env_int("BENCH_IDLE", default_idle()),
           "eq_conns": env_int("BENCH_EQ_CONNS", 100), "eq_delay_ms": "5..15 (mean 10)",
           "proxy_cpu": PROXY_CPU, "load_cpu": LOAD_CPU, "backend_cpu": BACKEND_CPU,
           "layout": LAYOUT, "peer_defer": bs.peer_defer(), "rundir": rundir,
           "sched": " ".join(bc.priority_prefix()) or "default",
           "loadavg_before": open("/proc/loadavg").read().split()[:3]}
    procs = bc.Procs(rundir)
    t0 = time.monotonic()
    try:
        docroot = bc.write_docroot(os.path.join(rundir, "www"))
        cfg["backends"], backends = start_backends(procs, rundir, docroot, build_dir)
        idle = idle_phase(procs, rundir, docroot, build_dir, backends, cfg["idle"]) \
            if cfg["idle"] > 0 else {}
        targets = start_targets(procs, rundir, docroot, build_dir, backends)
        light = bc.light_client(build_dir) if os.environ.get("BENCH_LIGHT", "1") != "0" \
            else None
        runs = throughput_phase(targets, cfg["rounds"], cfg["seconds"], cfg["conns"], light)
        eq = equal_load_phase(targets, rundir, cfg["rounds"], cfg["seconds"], cfg["eq_conns"])
    finally:
        procs.stop_all()
    cfg["elapsed_s"] = round(time.monotonic() - t0, 1)
    data = bench_report.build(bc.machine_info(), cfg, runs, eq, idle)
    with open(os.path.join(outdir, "bench.json"), "w") as f:
        json.dump(data, f, indent=1)
    with open(os.path.join(outdir, "bench.svg"), "w") as f:
        f.write(bench_report.svg(data))
    text = bench_report.table(data)
    with open(os.path.join(outdir, "bench.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(rundir, ignore_errors=True)
    print("\nwrote %s/bench.json, bench.md and bench.svg" % outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
