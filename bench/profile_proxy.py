#!/usr/bin/env python3
"""bench/profile_proxy.py BUILD_DIR [TARGET...] - where a proxy spends its time, per request.

For each target (ours, ours-verbatim or ours-bk, haproxy, nginx-proxy; default all that
exist), with the same backends as `make bench`, in the layout PROFILE_LAYOUT (free, the
default, or tier or split; see bench/run.py), keep-alive and Connection: close clients
(PROFILE_MODES), each step its own wrk run of PROFILE_TIME (4) seconds:
 - counts per request: `perf stat -p PID` on software events and syscall tracepoints
   (total syscalls, each syscall by name, context switches, CPU migrations, task-clock),
   divided by the requests wrk completed. Tracepoints cost little, so the proxy runs at
   nearly full speed and batching (events per epoll_wait) stays as it is without a
   tracer; PROFILE_STRACE=1 adds `strace -c -f` for the same counts the slow way;
 - a CPU profile: `perf record -e cpu-clock -g -p PID` (no hardware counters in this VM:
   sampling is on the cpu-clock software event), reported as the top symbols by self
   time, the share spent in the kernel, and the share inside each system call
   (inclusive time of its `__x64_sys_*` entry point, from the call chains), turned into
   microseconds per request with the CPU per request measured in the same run;
 - a whole-machine profile (PROFILE_SYSTEM=1, the default): `perf record -a` for most of a
   wrk run, the top (process, symbol) pairs (per CPU when pinned). A proxy changes what
   the client and the backends pay too: that is how the cost of waking an idle core in
   this VM (wrk in `_raw_spin_unlock_irqrestore`, an IPI per handshake ACK) was found,
   which the proxy's own profile cannot show (see bench/README.md);
 - PROFILE_CALLGRIND=1, ours only: a separate balancer under `valgrind --tool=callgrind`,
   a light keep-alive load (wrk -c4), instructions per request in user space by function.
Writes bench-out/profile/<target>-*-<mode>.txt, profile.json and summary.txt (printed).
Only processes started here are stopped, by PID: strace and perf get SIGINT to finish.
"""
import json
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
import servers as bs  # noqa: E402

CONNS = 64
LAYOUT = os.environ.get("PROFILE_LAYOUT", "free")
SYSCALLS = ("recvfrom", "sendto", "read", "write", "readv", "writev", "recvmsg", "sendmsg",
            "epoll_wait", "epoll_pwait", "epoll_ctl", "accept4", "accept", "close",
            "shutdown", "setsockopt", "getsockopt", "socket", "connect", "splice",
            "clock_gettime", "getpid", "ioctl", "fcntl", "pipe2")
SOFT_EVENTS = ("task-clock", "context-switches", "cpu-migrations", "page-faults")


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


def client_cpus():
    return bench_run.LAYOUTS[LAYOUT]["client"]


def wrk(proc, mode, seconds, **kw):
    return bc.run_wrk(proc.port, seconds, CONNS, cpus=client_cpus(), close=(mode == "close"),
                      **kw)


def tracepoints():
    """The syscall tracepoints this kernel has, of those in SYSCALLS."""
    have = []
    for name in SYSCALLS:
        for root in ("/sys/kernel/tracing/events/syscalls",
                     "/sys/kernel/debug/tracing/events/syscalls"):
            if os.path.isdir(os.path.join(root, "sys_enter_" + name)):
                have.append(name)
                break
    return have


def count_run(proc, outdir, name, mode, seconds):
    """perf stat on the proxy's PID during a wrk run; counts per request."""
    out = os.path.join(outdir, "%s-stat-%s.txt" % (name, mode))
    calls = tracepoints()
    events = list(SOFT_EVENTS) + ["raw_syscalls:sys_enter"] + \
        ["syscalls:sys_enter_" + c for c in calls]
    tracer = attach(["perf", "stat", "-x", ",", "-o", out, "-e", ",".join(events),
                     "-p", str(proc.pid)], out)
    res = wrk(proc, mode, seconds, watch_pids=[proc.pid])
    detach(tracer)
    counts = {}
    with open(out) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) < 3 or not parts[0].replace(".", "").isdigit():
                continue
            ev = parts[2]
            counts[ev.replace("syscalls:sys_enter_", "")] = float(parts[0])
    n = res["requests"] or 1
    per = {c: round(counts[c] / n, 3) for c in calls if counts.get(c)}
    per = dict(sorted(per.items(), key=lambda kv: -kv[1]))
    return {"requests": res["requests"], "rps": res["rps"],
            "cpu_us_per_req": res.get("cpu_us_per_req"),
            "syscalls_per_req": round(counts.get("raw_syscalls:sys_enter", 0) / n, 2),
            "named_per_req": round(sum(per.values()), 2), "per_req": per,
            "ctx_switches_per_req": round(counts.get("context-switches", 0) / n, 3),
            "migrations_per_req": round(counts.get("cpu-migrations", 0) / n, 4),
            "task_clock_us_per_req": round(counts.get("task-clock", 0) * 1e3 / n, 2)}


def strace_run(proc, outdir, name, mode, seconds):
    out = os.path.join(outdir, "%s-strace-%s.txt" % (name, mode))
    tracer = attach(["strace", "-c", "-f", "-o", out, "-p", str(proc.pid)], out)
    res = wrk(proc, mode, seconds)
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


def _report(data, args):
    return subprocess.run(["perf", "report", "-i", data, "--stdio"] + args,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout


def perf_run(proc, outdir, name, mode, seconds):
    data = os.path.join(outdir, "%s-%s.perf.data" % (name, mode))
    out = os.path.join(outdir, "%s-perf-%s.txt" % (name, mode))
    tracer = attach(["perf", "record", "-e", "cpu-clock", "-F", "1999", "-g", "-o", data,
                     "-p", str(proc.pid)], out)
    res = wrk(proc, mode, seconds, watch_pids=[proc.pid])
    detach(tracer)
    rep = _report(data, ["--no-children", "--sort", "dso,symbol", "--percent-limit", "0.05",
                         "-g", "none"])
    inclusive = _report(data, ["--children", "--sort", "symbol", "--percent-limit", "0.3",
                               "-g", "none"])
    with open(out, "w") as f:
        f.write(rep + "\n\n==== inclusive (children) ====\n" + inclusive)
    os.unlink(data)
    rows = []
    for ln in rep.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(\S+)", ln)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(3), m.group(4)))
    kernel = sum(r[0] for r in rows if r[2] == "k")
    top = ["%5.2f%% %s %s" % (r[0], "[k]" if r[2] == "k" else "[.] " + r[1], r[3])
           for r in rows[:18]]
    user = ["%5.2f%% %s %s" % (r[0], r[1], r[3]) for r in rows if r[2] != "k"][:15]
    # Inclusive share of each syscall entry point: where the kernel time goes, per call.
    per_sys = {}
    for ln in inclusive.splitlines():
        # (writev's entry point is folded into do_writev by this kernel's build)
        m = re.match(r"\s+([\d.]+)%\s+[\d.]+%\s+\[k\]\s+(?:__x64_sys_|__do_sys_|do_(?=writev|readv))(\w+)", ln)
        if m and m.group(2) not in per_sys:
            per_sys[m.group(2)] = float(m.group(1))
    cpu = res.get("cpu_us_per_req")
    sys_us = {k: round(v * cpu / 100.0, 2) for k, v in per_sys.items()} if cpu else {}
    return {"rps_profiled": res["rps"], "cpu_us_per_req": cpu, "top": top, "user": user,
            "kernel_pct": round(kernel, 1), "user_pct": round(100 - kernel, 1),
            "syscall_pct": per_sys, "syscall_us_per_req": sys_us}


def system_run(proc, outdir, name, mode, seconds):
    """perf record -a on every CPU for most of a wrk run; the top (comm, symbol) pairs, per
    CPU in a pinned layout, over the machine in the free one."""
    data = os.path.join(outdir, "%s-%s.system.data" % (name, mode))
    res = {}
    load = threading.Thread(target=lambda: res.update(wrk(
        proc, mode, seconds, watch_pids=[proc.pid], load_pids=bench_run.BACKEND_PIDS)))
    load.start()
    time.sleep(0.5)  # past wrk's connection set-up
    subprocess.run(bc.priority_prefix() + ["perf", "record", "-e", "cpu-clock", "-a",
                                           "-o", data, "--", "sleep", str(max(1, seconds - 1))],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    load.join(seconds + 30)
    out = {"rps": res.get("rps"), "cpu_us_per_req": res.get("cpu_us_per_req"),
           "load_us_per_req": res.get("load_us_per_req"), "cpus": {}, "by_comm": []}
    views = [("all", [])] if LAYOUT == "free" else [(c, ["-C", str(c)])
                                                     for c in sorted(bc.all_cpus())]
    for cpu, sel in views:
        rep = _report(data, ["--no-children"] + sel + ["--sort", "comm,symbol",
                                                        "--percent-limit", "1"])
        with open(os.path.join(outdir, "%s-system-%s-cpu%s.txt" % (name, mode, cpu)), "w") as f:
            f.write(rep)
        rows = [re.sub(r"( -)+$", "", " ".join(ln.split())) for ln in rep.splitlines()
                if re.match(r"\s+[\d.]+%", ln)]
        out["cpus"][cpu] = rows[:12]
    rep = _report(data, ["--no-children", "--sort", "comm"])
    out["by_comm"] = [" ".join(ln.split()) for ln in rep.splitlines()
                      if re.match(r"\s+[\d.]+%", ln)][:8]
    if os.path.exists(data):
        os.unlink(data)
    return out


def callgrind_run(procs, rundir, outdir, build_dir, backends, seconds):
    """Ours under callgrind, a light keep-alive load; user-space instructions per request."""
    out = os.path.join(outdir, "ours-callgrind.out")
    exe = os.path.join(build_dir, "bin", "loadbalancer")
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, exe, "--ready",
            "0"] + [str(b) for b in backends] + list(bs.OURS_ARGS)
    proc = procs.start("ours-callgrind", argv)
    proc.port = int(bc.wait_ready_line(proc, timeout=60)["port"])
    bc.wait_http(proc, proc.port, timeout=60)
    res = bc.run_wrk(proc.port, seconds, 4, cpus=client_cpus())
    procs.stop(proc, grace=30)
    ann = subprocess.run(["callgrind_annotate", "--threshold=98", out], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True).stdout
    with open(os.path.join(outdir, "ours-callgrind.txt"), "w") as f:
        f.write(ann)
    total = None
    rows = []
    for ln in ann.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*)", ln)
        if m and "PROGRAM TOTALS" in ln:
            total = int(m.group(1).replace(",", ""))
        elif m and total is None:
            continue
        m2 = re.match(r"\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+\S+:(\S+)", ln)
        if m2 and len(rows) < 15:
            rows.append("%5.1f%% %s" % (float(m2.group(2)), m2.group(3)))
    n = (res["requests"] or 0) + 2  # the two readiness GETs
    return {"requests": res["requests"],
            "instructions_per_req": round(total / n) if total and n else None, "top": rows}


def main():
    build_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    wanted = sys.argv[2:] or ["ours", "ours-verbatim", "ours-bk", "haproxy", "nginx-proxy"]
    seconds = bench_run.env_int("PROFILE_TIME", 4)
    if LAYOUT not in bench_run.LAYOUTS:
        sys.exit("profile_proxy: PROFILE_LAYOUT is one of %s" % "/".join(bench_run.LAYOUTS))
    bc.raise_nofile()
    outdir = os.path.join(bc.ROOT, "bench-out", "profile")
    os.makedirs(outdir, exist_ok=True)
    rundir = tempfile.mkdtemp(prefix="prof-", dir=os.path.dirname(outdir))
    procs = bc.Procs(rundir)
    lines = ["layout %s, wrk -t1 -c%d, %d s per step, load average %s at the start"
             % (LAYOUT, CONNS, seconds, " ".join(open("/proc/loadavg").read().split()[:3]))]
    result = {"layout": LAYOUT, "seconds": seconds, "targets": {}}
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
                r = result["targets"].setdefault(name, {}).setdefault(mode, {})
                c = r["counts"] = count_run(proc, outdir, name, mode, seconds)
                lines.append("== %s %s: %.2f syscalls/request (perf stat, %.0f req/s, %s us "
                             "CPU/request), %.3f context switches/request, %.4f migrations"
                             % (name, mode, c["syscalls_per_req"], c["rps"],
                                c["cpu_us_per_req"], c["ctx_switches_per_req"],
                                c["migrations_per_req"]))
                lines.append("   " + ", ".join("%s %.2f" % kv for kv in
                                               list(c["per_req"].items())[:14]))
                if os.environ.get("PROFILE_STRACE", "0") != "0":
                    s = r["strace"] = strace_run(proc, outdir, name, mode, seconds)
                    lines.append("   strace: %.2f syscalls/request: %s" % (
                        s["syscalls_per_req"], ", ".join("%s %.2f" % kv for kv in
                                                         list(s["per_req"].items())[:12])))
                p = r["perf"] = perf_run(proc, outdir, name, mode, seconds)
                lines.append("   perf (cpu-clock, %.0f req/s while sampled, %s us CPU/request):"
                             " %.0f%% in the kernel; inside each syscall (us/request): %s"
                             % (p["rps_profiled"], p["cpu_us_per_req"], p["kernel_pct"],
                                ", ".join("%s %.2f" % kv for kv in
                                          list(p["syscall_us_per_req"].items())[:10])))
                lines.append("   top symbols by self time:")
                lines += ["     " + t for t in p["top"]]
                lines.append("   user space only:")
                lines += ["     " + t for t in p["user"]]
                if os.environ.get("PROFILE_SYSTEM", "1") != "0":
                    m = r["system"] = system_run(proc, outdir, name, mode, seconds)
                    lines.append("   whole machine (perf -a, %s req/s; the proxy's CPU %s us/req,"
                                 " wrk + backends %s us/req): by process %s"
                                 % (m["rps"], m["cpu_us_per_req"], m["load_us_per_req"],
                                    "; ".join(m["by_comm"])))
                    for cpu, rows in m["cpus"].items():
                        lines.append("     CPU %s:" % cpu)
                        lines += ["       " + row for row in rows]
        if os.environ.get("PROFILE_CALLGRIND", "0") != "0" and "ours" in wanted:
            cg = result["callgrind"] = callgrind_run(procs, rundir, outdir, build_dir, backends,
                                                     seconds)
            lines.append("== ours under callgrind (keep-alive, wrk -c4): %s instructions per "
                         "request in user space; by function:" % cg["instructions_per_req"])
            lines += ["     " + t for t in cg["top"]]
    finally:
        procs.stop_all()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(rundir, ignore_errors=True)
    text = "\n".join(lines) + "\n"
    with open(os.path.join(outdir, "summary.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(outdir, "profile.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
