#!/usr/bin/env python3
"""bench/profile_proxy.py BUILD_DIR [TARGET...] - where a proxy spends its time, per request.

For each target (ours, ours-bk, haproxy, nginx-proxy; default all that exist), with the
same backends as `make bench`, in the layout PROFILE_LAYOUT (free, the default, or tier or
split; see bench/run.py):
 - syscalls per request: `strace -c -f -p PID` attached during a wrk run (strace slows the
   proxy a lot; the counts per request are what matter, not the rate), keep-alive and
   Connection: close;
 - a CPU profile: `perf record -e cpu-clock -g -p PID` during a wrk run (this VM has no
   hardware counters, so sampling is on the cpu-clock software event), reported as the top
   symbols by self time;
 - a whole-machine profile (PROFILE_SYSTEM=1, the default): `perf record -a` on both CPUs
   during a wrk run, the top (process, symbol) pairs (of each CPU when pinned). A proxy
   changes what the
   client and the backends pay too: that is how the cost of waking an idle core in this VM
   (wrk in `_raw_spin_unlock_irqrestore`, an IPI per handshake ACK) was found, which the
   proxy's own profile cannot show (see bench/README.md).
Writes bench-out/profile/<target>-{strace,perf}-<mode>.txt and a summary
bench-out/profile/summary.txt. PROFILE_TIME (seconds per run, 4), PROFILE_MODES
(keepalive close), PROFILE_SYSTEM (1).
Only processes started here are stopped, by PID: strace and perf get SIGINT to finish.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as bc  # noqa: E402
import run as bench_run  # noqa: E402

CONNS = 64
LAYOUT = os.environ.get("PROFILE_LAYOUT", "free")


def attach(argv, out):
    """Starts a tracer (strace/perf) and waits until it is attached (bounded)."""
    # The tracer runs at the servers' priority: under BENCH_RT=1 an ordinary strace would be
    # starved by the very processes it traces.
    argv = bc.priority_prefix() + list(argv)
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(out + ".err", "w"),
                         start_new_session=True)
    time.sleep(0.5)  # neither strace -p nor perf -p prints a reliable "attached" line
    return p


def detach(p):
    try:
        os.kill(p.pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        p.wait(5)


def strace_run(proc, outdir, name, mode, seconds):
    out = os.path.join(outdir, "%s-strace-%s.txt" % (name, mode))
    tracer = attach(["strace", "-c", "-f", "-o", out, "-p", str(proc.pid)], out)
    res = bc.run_wrk(proc.port, seconds, CONNS, cpus=client_cpus(), close=(mode == "close"))
    detach(tracer)
    calls = {}
    with open(out) as f:
        for line in f:
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", line)
            if m and m.group(2) != "total":
                calls[m.group(2)] = int(m.group(1))
    # wrk's count includes requests cut off at the end; tracer attach/detach edges are
    # outside the run, so calls/requests is close (within a few percent).
    n = res["requests"] or 1
    per = {k: round(v / n, 2) for k, v in sorted(calls.items(), key=lambda kv: -kv[1])}
    return {"requests": res["requests"], "rps_traced": res["rps"],
            "syscalls_per_req": round(sum(calls.values()) / n, 2), "per_req": per}


def perf_run(proc, outdir, name, mode, seconds):
    data = os.path.join(outdir, "%s-%s.perf.data" % (name, mode))
    out = os.path.join(outdir, "%s-perf-%s.txt" % (name, mode))
    tracer = attach(["perf", "record", "-e", "cpu-clock", "-F", "1999", "-g", "-o", data,
                     "-p", str(proc.pid)], out)
    res = bc.run_wrk(proc.port, seconds, CONNS, cpus=client_cpus(), close=(mode == "close"))
    detach(tracer)
    rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                          "--sort", "dso,symbol", "--percent-limit", "0.05", "-g", "none"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    with open(out, "w") as f:
        f.write(rep)
    os.unlink(data)
    rows = []
    for ln in rep.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(\S+)", ln)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(3), m.group(4)))
    kernel = sum(r[0] for r in rows if r[2] == "k")
    top = ["%5.2f%% %s %s" % (r[0], "[k]" if r[2] == "k" else "[.] " + r[1], r[3])
           for r in rows[:15]]
    user = ["%5.2f%% %s %s" % (r[0], r[1], r[3]) for r in rows if r[2] != "k"][:15]
    return {"rps_profiled": res["rps"], "top": top, "user": user, "kernel_pct": kernel}


def client_cpus():
    return bench_run.LAYOUTS[LAYOUT]["client"]


def system_run(proc, outdir, name, mode, seconds):
    """perf record -a on every CPU for most of a wrk run; the top (comm, symbol) pairs, per
    CPU in a pinned layout, over the machine in the free one."""
    data = os.path.join(outdir, "%s-%s.system.data" % (name, mode))
    res = {}
    load = threading.Thread(target=lambda: res.update(bc.run_wrk(
        proc.port, seconds, CONNS, cpus=client_cpus(), close=(mode == "close"),
        watch_pids=[proc.pid], load_pids=bench_run.BACKEND_PIDS)))
    load.start()
    time.sleep(0.5)  # past wrk's connection set-up
    subprocess.run(bc.priority_prefix() + ["perf", "record", "-e", "cpu-clock", "-a",
                                           "-o", data, "--", "sleep", str(max(1, seconds - 1))],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    load.join(seconds + 30)
    out = {"rps": res.get("rps"), "cpu_us_per_req": res.get("cpu_us_per_req"),
           "load_us_per_req": res.get("load_us_per_req"), "cpus": {}}
    views = [("all", [])] if LAYOUT == "free" else [(c, ["-C", str(c)])
                                                     for c in sorted(bc.all_cpus())]
    for cpu, sel in views:
        rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children"] + sel
                             + ["--sort", "comm,symbol", "--percent-limit", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        with open(os.path.join(outdir, "%s-system-%s-cpu%s.txt" % (name, mode, cpu)), "w") as f:
            f.write(rep)
        rows = [re.sub(r"( -)+$", "", " ".join(ln.split())) for ln in rep.splitlines()
                if re.match(r"\s+[\d.]+%", ln)]
        out["cpus"][cpu] = rows[:12]
    if os.path.exists(data):
        os.unlink(data)
    return out


def main():
    build_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    wanted = sys.argv[2:] or ["ours", "ours-bk", "haproxy", "nginx-proxy"]
    seconds = bench_run.env_int("PROFILE_TIME", 4)
    bc.raise_nofile()
    outdir = os.path.join(bc.ROOT, "bench-out", "profile")
    os.makedirs(outdir, exist_ok=True)
    rundir = tempfile.mkdtemp(prefix="prof-", dir=os.path.dirname(outdir))
    procs = bc.Procs(rundir)
    lines = []
    try:
        docroot = bc.write_docroot(os.path.join(rundir, "www"))
        _, backends = bench_run.start_backends(procs, rundir, docroot, build_dir)
        targets = bench_run.start_targets(procs, rundir, docroot, build_dir, backends,
                                          only=wanted)
        bench_run.apply_layout(LAYOUT, targets)
        modes = os.environ.get("PROFILE_MODES", "keepalive close").split()
        for name, proc in targets.items():
            for mode in modes:
                if not bench_run.mode_has(name, mode):
                    continue
                s = strace_run(proc, outdir, name, mode, seconds)
                p = perf_run(proc, outdir, name, mode, seconds)
                lines.append("== %s %s: %.2f syscalls/request (%d requests traced)"
                             % (name, mode, s["syscalls_per_req"], s["requests"]))
                lines.append("   " + ", ".join("%s %.2f" % kv for kv in
                                               list(s["per_req"].items())[:12]))
                lines.append("   perf (cpu-clock, self time, %.0f req/s while sampled): "
                             "%.0f%% in the kernel; top symbols:"
                             % (p["rps_profiled"], p["kernel_pct"]))
                lines += ["     " + t for t in p["top"]]
                lines.append("   user space only:")
                lines += ["     " + t for t in p["user"]]
                if os.environ.get("PROFILE_SYSTEM", "1") != "0":
                    m = system_run(proc, outdir, name, mode, seconds)
                    lines.append("   whole machine (perf -a, %s req/s; the proxy's CPU %s us/req,"
                                 " wrk + backends %s us/req):"
                                 % (m["rps"], m["cpu_us_per_req"], m["load_us_per_req"]))
                    for cpu, rows in m["cpus"].items():
                        lines.append("     CPU %s:" % cpu)
                        lines += ["       " + r for r in rows]
    finally:
        procs.stop_all()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(rundir, ignore_errors=True)
    text = "\n".join(lines) + "\n"
    with open(os.path.join(outdir, "summary.txt"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
