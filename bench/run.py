#!/usr/bin/env python3
"""bench/run.py BUILD_DIR - `make bench`: our balancer against HAProxy and nginx.

Targets, all balancing over the same three backends (one nginx process serving a 1 KiB
file on three ports, or three fakeservers with BENCH_BACKENDS=fakeserver): HAProxy,
nginx as a proxy, ours with its defaults ("ours") and ours with the other handling of
connection fields, measured with `Connection: close` clients only, the one case it
changes: "ours-verbatim" (--verbatim-connection: a client's close is relayed and closes
the backend connection too) on a balancer with hop-by-hop fields, "ours-bk"
(--backend-keepalive: the backend connection stays pooled) on an older one. "nginx direct" is a separate nginx origin: the ceiling of what
the machine serves with no proxy in between.

Layouts (BENCH_LAYOUT, a list; default "free tier"), how the 2 cores are shared:
 - free: nothing pinned. Every process goes where the scheduler puts it, as when a user
   runs the programs; proxy, backends and client compete for both cores;
 - tier: the server tier (the proxy under test and its backends) on CPU 0, the client
   alone on CPU 1, so the client is never the limit and what a proxy costs shows up as
   requests/s of the tier;
 - split: the proxy alone on CPU 0, the client and the backends on CPU 1 (then the
   client and the backends, not the proxy, are the limit of every efficient proxy).
Servers are started once, unpinned, and moved between layouts (every thread's affinity).

Phases:
 1. idle memory: BENCH_IDLE (10000) keep-alive client connections, each after one request,
    held open against each fresh proxy; RSS before and after, per connection.
 2. BENCH_ROUNDS (3) rounds. In each round, for each layout (their order alternates from
    round to round), every target is measured once per mode, the order of targets
    rotated per round: keep-alive clients (wrk -t1 -c BENCH_CONNS), one request per
    connection (wrk with `Connection: close`), keep-alive with the light client
    (build/bin/bench_load), and equal offered load (build/bin/bench_load in its open loop:
    BENCH_EQ_RATE (5000) requests/s fall due at fixed intervals over BENCH_EQ_CONNS (100)
    connections whatever the answers do, latency counted from when each was due, so a
    stall counts for every request it delays; well under every proxy's capacity, so p99
    latencies compare like for like; wrk2 is not in Debian). BENCH_TIME (5) s per run.
    Each run reads the proxy's CPU time before and after (common._measured).
Medians over the rounds, and ratios against HAProxy and nginx as medians of the
per-round ratios (each round's runs are close in time), are in bench-out/bench.json,
bench-out/bench.md (printed) and bench-out/bench.svg. Every process is started here and
stopped here by PID (process group).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as bc  # noqa: E402
import idle as bench_idle  # noqa: E402
import report as bench_report  # noqa: E402
import servers as bs  # noqa: E402

# Who runs where, per layout: None is "not pinned".
LAYOUTS = {
    "free": {"proxy": None, "backends": None, "client": None},
    "tier": {"proxy": {0}, "backends": {0}, "client": {1}},
    "split": {"proxy": {0}, "backends": {1}, "client": {1}},
}
MODES = ("keepalive", "close", "light", "equal")
# The connection-field variants change nothing for keep-alive clients (their backend
# connection is pooled either way), so they are measured where they matter only.
MODE_ONLY = {"ours-bk": ("close",), "ours-verbatim": ("close",)}
def layouts_wanted():
    names = os.environ.get("BENCH_LAYOUT", "free tier").replace(",", " ").split()
    bad = [n for n in names if n not in LAYOUTS]
    if bad or not names:
        sys.exit("bench: BENCH_LAYOUT is a list of %s, not %r"
                 % ("/".join(LAYOUTS), os.environ.get("BENCH_LAYOUT")))
    if os.cpu_count() < 2 and any(n != "free" for n in names):
        sys.exit("bench: the tier and split layouts need 2 CPUs; use BENCH_LAYOUT=free")
    return names


def default_idle():
    """10,000, unless the open-file hard limit keeps HAProxy (2 fds per connection) lower."""
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard >= 20500:
        return 10000
    return max(100, (hard - 1000) // 2)


BACKEND_PIDS = []  # whose CPU counts as the load side's, with the client's


def start_backends(procs, rundir, docroot, build_dir):
    kind = os.environ.get("BENCH_BACKENDS", "nginx")
    if kind == "fakeserver":
        started = [bs.start_fakeserver(procs, build_dir, docroot, workers=1,
                                       name="backend-fs%d" % i) for i in range(3)]
        ports = [p.port for p in started]
    else:
        started = [bs.start_nginx_origin(procs, rundir, docroot, nports=3,
                                         name="backend-nginx")]
        ports = started[0].ports
    BACKEND_PIDS[:] = [p.pid for p in started]
    return kind, ports


def ours_variant(build_dir):
    """The target that measures ours with the other handling of connection fields:
    "ours-verbatim" when the balancer has --verbatim-connection (fields hop-by-hop by
    default), "ours-bk" when it has a working --backend-keepalive (fields relayed by
    default), None with neither or with BENCH_OURS_VARIANT=0."""
    if os.environ.get("BENCH_OURS_VARIANT", "1") == "0":
        return None
    if bs.ours_has_option(build_dir, "--verbatim-connection"):
        return "ours-verbatim"
    if bs.ours_has_option(build_dir, "--backend-keepalive") and \
            not bs.ours_has_option(build_dir, "accepted and ignored"):
        return "ours-bk"
    return None


def start_targets(procs, rundir, docroot, build_dir, backends, only=None):
    """Starts every target (or only the named ones), unpinned; returns {name: Proc}."""
    extra = os.environ.get("BENCH_OURS_ARGS", "").split()
    makers = {
        "nginx-direct": lambda: bs.start_nginx_origin(procs, rundir, docroot,
                                                      name="nginx-direct",
                                                      deferred=bs.peer_defer()),
        "haproxy": lambda: bs.start_haproxy(procs, rundir, backends),
        "nginx-proxy": lambda: bs.start_nginx_proxy(procs, rundir, backends),
        "ours": lambda: bs.start_ours(procs, build_dir, backends, extra=extra),
        "ours-verbatim": lambda: bs.start_ours(procs, build_dir, backends,
                                               name="ours-verbatim",
                                               extra=["--verbatim-connection"] + extra),
        "ours-bk": lambda: bs.start_ours(procs, build_dir, backends, name="ours-bk",
                                         extra=["--backend-keepalive"] + extra),
    }
    have_ours = os.path.exists(os.path.join(build_dir, "bin", "loadbalancer"))
    out = {}
    for name, make in makers.items():
        if only and name not in only:
            continue
        if name.startswith("ours") and not have_ours:
            print("bench: %s/bin/loadbalancer not built: measuring without it" % build_dir,
                  file=sys.stderr)
            continue
        if name in ("ours-verbatim", "ours-bk") and name != ours_variant(build_dir):
            continue
        out[name] = make()
    return out


def apply_layout(layout, targets):
    """Pins (or unpins) every target and backend process for this layout."""
    roles = LAYOUTS[layout]
    for proc in targets.values():
        bc.set_affinity(proc.pid, roles["proxy"])
    for pid in BACKEND_PIDS:
        bc.set_affinity(pid, roles["backends"])


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


def measure_once(proc, layout, mode, cfg, loader):
    """One measured run of a target in a layout and mode."""
    cpus = LAYOUTS[layout]["client"]
    kw = {"watch_pids": [proc.pid], "load_pids": BACKEND_PIDS}
    if mode == "light":
        return bc.run_light(loader, proc.port, cfg["seconds"], cfg["conns"], cpus=cpus, **kw)
    if mode == "equal":
        return bc.run_light(loader, proc.port, cfg["seconds"], cfg["eq_conns"], cpus=cpus,
                            rate=cfg["eq_rate"], **kw)
    return bc.run_wrk(proc.port, cfg["seconds"], cfg["conns"], cpus=cpus,
                      close=(mode == "close"), **kw)


def quiet_run(proc, layout, mode, cfg, loader):
    """One run; repeated (at most BENCH_RETRIES times, 1) while other processes of the
    machine took more than BENCH_NOISE (25) percent of a core, keeping the quietest. Not for the equal
    load, where the proxies leave most of the machine idle and neighbours fill it."""
    limit = bc.env_int("BENCH_NOISE", 25)
    retries = 0 if mode == "equal" else bc.env_int("BENCH_RETRIES", 1)
    best = None
    for attempt in range(retries + 1):
        res = measure_once(proc, layout, mode, cfg, loader)
        res["attempts"] = attempt + 1
        if best is None or res.get("other_pct", 0) < best.get("other_pct", 0):
            best = res
        if res.get("other_pct", 0) <= limit:
            break
    return best


def modes_wanted(loader):
    """The modes to run: BENCH_MODES, less light (BENCH_LIGHT=0) and those needing the
    light client when it is not built."""
    light = os.environ.get("BENCH_LIGHT", "1") != "0"
    modes = [m for m in MODES if (m != "light" or light) and (loader or m not in ("light",
                                                                                  "equal"))]
    only = os.environ.get("BENCH_MODES", "").replace(",", " ").split()
    return [m for m in modes if not only or m in only]


def rounds_phase(targets, layouts, cfg, loader):
    """runs[layout][mode][target] = [one result per round]."""
    modes = modes_wanted(loader)
    runs = {lay: {m: {n: [] for n in targets if mode_has(n, m)} for m in modes}
            for lay in layouts}
    for r, layout, order in bc.rounds(cfg["rounds"], layouts, list(targets)):
        apply_layout(layout, targets)
        for mode in modes:
            for name in order:
                if not mode_has(name, mode):
                    continue
                res = quiet_run(targets[name], layout, mode, cfg, loader)
                res["round"] = r
                runs[layout][mode][name].append(res)
                print("bench: round %d %-5s %-9s %-12s %8.0f req/s  cpu %5s us/req  "
                      "p99 %7.3f ms  other %5s%%  load %.1f (x%d)"
                      % (r, layout, mode, name, res["rps"], res.get("cpu_us_per_req"),
                         res["p99_ms"] or -1, res.get("other_pct"), res["loadavg"],
                         res["attempts"]), file=sys.stderr)
    return runs


def mode_has(name, mode):
    return mode in MODE_ONLY.get(name, (mode,))


def main():
    if len(sys.argv) != 2:
        print("usage: bench/run.py BUILD_DIR", file=sys.stderr)
        return 2
    build_dir = os.path.abspath(sys.argv[1])
    layouts = layouts_wanted()
    bc.raise_nofile()
    outdir, rundir = bc.run_dir("run-")
    cfg = {"seconds": bc.env_int("BENCH_TIME", 5), "rounds": bc.env_int("BENCH_ROUNDS", 3),
           "conns": bc.env_int("BENCH_CONNS", 64),
           "idle": bc.env_int("BENCH_IDLE", default_idle()),
           "eq_conns": bc.env_int("BENCH_EQ_CONNS", 100),
           "eq_rate": bc.env_int("BENCH_EQ_RATE", 5000),
           "layouts": layouts, "layout_cpus": {k: {r: sorted(v) if v else None
                                                   for r, v in LAYOUTS[k].items()}
                                               for k in layouts},
           "peer_defer": bs.peer_defer(), "rundir": rundir,
           "ours_args": " ".join(bs.OURS_ARGS + tuple(os.environ.get("BENCH_OURS_ARGS",
                                                                     "").split())),
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
        runs = rounds_phase(targets, layouts, cfg, bc.light_client(build_dir))
    finally:
        procs.stop_all()
    cfg["elapsed_s"] = round(time.monotonic() - t0, 1)
    cfg["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    data = bench_report.build(bc.machine_info(), cfg, runs, idle)
    bc.write_results(outdir, "bench", data, bench_report.svg(data), bench_report.table(data),
                     rundir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
