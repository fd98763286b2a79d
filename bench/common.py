"""bench/common.py - the pieces every benchmark script shares.

Processes: each one is started in its own process group (optionally pinned to a CPU with
taskset, which execs, so the PID we hold is the server's own), its output goes to a log
file in the run directory, and `Procs.stop_all()` ends exactly the groups this run started,
by PID: SIGTERM, a bounded wait, then SIGKILL. Readiness is a READY line in the log
(our binaries) or a successful connect (nginx, HAProxy).

Placement: a CPU set is None (nothing pinned: the scheduler places every thread, as when a
user runs the programs) or a set of CPU numbers. Servers are started unpinned and moved
between layouts with `set_affinity` (every thread of the process), so one set of servers
serves every layout of a run; a load client is started per run, under taskset when pinned.

Measurements, per measured run: the server's CPU time (utime + stime from /proc/PID/stat,
summed over its processes, read just before the client starts and just after it exits,
divided by the requests the client completed), the backends' the same way, the client's
from wait4, the machine's busy time from /proc/stat (what is left after the run's own
processes is "other": neighbours competing for the cores), the 1-minute load average, RSS
from /proc/PID/status, and the client's own summary (requests, requests/s, latency
percentiles, socket errors, non-2xx answers).

Limits: loopback only. Ports for nginx and HAProxy come from binding port 0 and closing the
socket again, so another process could in principle take one in between; a start that
fails is reported, never retried silently.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILE_NAME = "file1k"
FILE_BODY = bytes((i * 7 + 13) % 256 for i in range(1024))
NOFILE = 20000  # raised to the hard limit when lower; 10k idle connections need it


def priority_prefix():
    """How the benchmark's processes are scheduled against the rest of the machine.

    Default `nice -n BENCH_NICE` (-10): more CPU share than other work, which still runs.
    On a busy shared machine that is not enough (a fuzzer or a build on the proxy's core
    delays every wake-up), so BENCH_RT=1 runs servers and wrk under SCHED_RR priority 1
    (`chrt --rr 1`): they preempt ordinary processes at once, and the kernel's RT throttle
    still leaves other processes 5% of each core. Use it for numbers you publish, briefly.
    BENCH_NICE=0 and no BENCH_RT: plain scheduling."""
    if os.environ.get("BENCH_RT", "") not in ("", "0"):
        return ["chrt", "--rr", "1"]
    level = os.environ.get("BENCH_NICE", "-10")
    return [] if level in ("", "0") else ["nice", "-n", level]


def pin_prefix(cpus):
    """[] for None (nothing pinned), else a taskset line for that CPU set (an int is one CPU)."""
    if cpus is None:
        return []
    cpus = {cpus} if isinstance(cpus, int) else set(cpus)
    return ["taskset", "-c", ",".join(str(c) for c in sorted(cpus))]


def all_cpus():
    """The CPUs this benchmark may use (its own affinity): "nothing pinned" means these."""
    return set(os.sched_getaffinity(0))


def set_affinity(pid, cpus):
    """Moves every thread of pid to the CPU set (None: every CPU this benchmark may use)."""
    cpus = all_cpus() if cpus is None else ({cpus} if isinstance(cpus, int) else set(cpus))
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except ProcessLookupError:
            pass


def raise_nofile():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else NOFILE * 4
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_docroot(path):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, FILE_NAME), "wb") as f:
        f.write(FILE_BODY)
    return path


class Proc:
    def __init__(self, name, popen, log):
        self.name, self.popen, self.log = name, popen, log
        self.pid = popen.pid

    def alive(self):
        return self.popen.poll() is None

    def log_text(self):
        try:
            with open(self.log, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Procs:
    """Every process this run started; stop_all() ends them by process group."""

    def __init__(self, rundir):
        self.rundir = rundir
        self.procs = []

    def start(self, name, argv, cpus=None, cwd=None):
        log = os.path.join(self.rundir, name + ".log")
        argv = pin_prefix(cpus) + priority_prefix() + list(argv)
        out = open(log, "w")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             cwd=cwd or self.rundir, start_new_session=True,
                             preexec_fn=raise_nofile)
        out.close()
        proc = Proc(name, p, log)
        self.procs.append(proc)
        return proc

    def stop(self, proc, grace=3.0):
        if proc.alive():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.popen.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.popen.wait(5)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self):
        for proc in list(reversed(self.procs)):
            self.stop(proc)


def wait_ready_line(proc, timeout=10.0):
    """Polls the process's log for `READY k=v ...`; returns the fields as a dict."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in proc.log_text().splitlines():
            if line.startswith("READY "):
                return dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
        if not proc.alive():
            break
        time.sleep(0.02)
    raise RuntimeError("%s: no READY line (exit %s)\n%s" % (proc.name, proc.popen.poll(),
                                                          proc.log_text()[-2000:]))


def wait_http(proc, port, path="/" + FILE_NAME, timeout=10.0):
    """Polls until a GET on port answers 200 (the server is listening and serving)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not proc.alive():
            break
        try:
            if http_get(port, path)[0] == 200:
                return
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise RuntimeError("%s: not serving on port %d (%s, exit %s)\n%s" % (
        proc.name, port, last, proc.popen.poll(), proc.log_text()[-2000:]))


def http_get(port, path):
    """One GET with Connection: close; returns (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                  % path.encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body


def cpu_ticks(pid):
    """utime + stime of pid, summed over its threads, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def parse_wrk(out):
    """Extracts the numbers of wrk's summary (with --latency)."""
    res = {"requests": 0, "rps": 0.0, "p50_ms": None, "p75_ms": None, "p90_ms": None,
           "p99_ms": None, "errors": 0, "non2xx": 0}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    if m:
        res["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    for pct in ("50", "75", "90", "99"):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+(\S+)" % pct, out, re.M)
        if m:
            res["p%s_ms" % pct] = _ms(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["errors"] = sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["non2xx"] = int(m.group(1))
    return res


def machine_ticks():
    """(busy, total) jiffies of the whole machine from /proc/stat. Busy is user + nice +
    system + steal: interrupts are left out, since loopback traffic of the run itself lands
    there (this kernel charges softirq work to no process)."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    vals += [0] * (8 - len(vals))
    return vals[0] + vals[1] + vals[2] + vals[7], sum(vals[:8])


def loadavg1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


class _Done:
    def __init__(self, returncode, stdout):
        self.returncode, self.stdout = returncode, stdout


def _client_process(argv, seconds):
    """Runs a load client to completion; returns (result, CPU seconds it used, from wait4)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    deadline = time.monotonic() + seconds + 60
    out = []
    import threading
    reader = threading.Thread(target=lambda: out.append(p.stdout.read()), daemon=True)
    reader.start()
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            os.killpg(p.pid, signal.SIGKILL)
        time.sleep(0.05)
    reader.join(5)
    p.returncode = os.waitstatus_to_exitcode(status)
    return _Done(p.returncode, out[0] if out else ""), ru.ru_utime + ru.ru_stime


def _cpu_s(pids):
    return sum(cpu_ticks(x) for x in pids) / CLK_TCK


def _measured(argv, seconds, parse, watch_pids=(), load_pids=()):
    """Runs a load client (argv) to the end and measures the run.

    parse(stdout) gives the client's own figures (requests, rps, latencies, errors). Added:
    cpu_us_per_req, the servers' (watch_pids: the proxy's processes) user + system CPU from
    /proc/PID/stat, read before the client starts and after it exits, divided by the
    requests it completed; load_us_per_req, the client (wait4) and backends (load_pids) the
    same way; other_pct, busy time of the machine that was none of these, in % of one core
    (neighbours; about 0 on a quiet machine); loadavg, the 1-minute load average at the
    start; rss_kib of the servers."""
    la = loadavg1()
    t0, b0 = _cpu_s(watch_pids), _cpu_s(load_pids)
    m0 = machine_ticks()
    w0 = time.monotonic()
    p, client_s = _client_process(argv, seconds)
    wall = time.monotonic() - w0
    m1 = machine_ticks()
    server_s, backends_s = _cpu_s(watch_pids) - t0, _cpu_s(load_pids) - b0
    res = parse(p.stdout)
    n = res["requests"]
    busy_s = (m1[0] - m0[0]) / CLK_TCK
    res["wall_s"] = round(wall, 3)
    res["loadavg"] = la
    res["client_exit"] = p.returncode
    res["machine_busy_pct"] = round(100.0 * busy_s / wall, 1)
    res["other_pct"] = round(max(0.0, 100.0 * (busy_s - server_s - backends_s - client_s)
                                 / wall), 1)
    res["client_cpu_pct"] = round(100.0 * client_s / wall, 1)
    res["backends_cpu_pct"] = round(100.0 * backends_s / wall, 1)
    if n:
        res["load_us_per_req"] = round(1e6 * (client_s + backends_s) / n, 2)
    if watch_pids:
        res["cpu_pct"] = round(100.0 * server_s / wall, 1)
        res["cpu_us_per_req"] = round(1e6 * server_s / n, 2) if n else None
        res["rss_kib"] = sum(rss_kib(x) for x in watch_pids)
    if p.returncode != 0 or not n:
        res["client_output"] = p.stdout[-1500:]
    return res


def run_wrk(port, seconds, conns, cpus=None, close=False, timeout_s=None, **measure):
    """Runs wrk -t1 against 127.0.0.1:port/file1k (on the CPU set cpus, None: unpinned),
    measured by _measured (watch_pids, load_pids)."""
    argv = ["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds, "--latency",
            "--timeout", "%ds" % (timeout_s or 5)]
    if close:
        argv += ["-H", "Connection: close"]
    argv.append("http://127.0.0.1:%d/%s" % (port, FILE_NAME))
    argv = pin_prefix(cpus) + priority_prefix() + argv
    return _measured(argv, seconds, parse_wrk, **measure)


def light_client(build_dir):
    """The light keep-alive client, BUILD_DIR/bin/bench_load (bench/load.c, built by CMake
    with everything else); None, with a note, when that build has none."""
    exe = os.path.join(build_dir, "bin", "bench_load")
    if os.access(exe, os.X_OK):
        return exe
    print("bench: %s missing (run `make`), light-client runs skipped" % exe, file=sys.stderr)
    return None


def _parse_light(out):
    f = out.split()
    d = dict(zip(f[::2], f[1::2])) if len(f) % 2 == 0 else {}
    res = {"requests": int(d.get("requests", 0)), "rps": float(d.get("rps", 0)),
           "errors": int(d.get("errors", 0)), "non2xx": 0}
    for pct in ("p50", "p99", "p999"):
        res[pct + "_ms"] = int(d[pct + "_us"]) / 1000.0 if pct + "_us" in d else None
    for key in ("late", "offered"):
        if key in d:
            res[key] = int(d[key])
    return res


def run_light(exe, port, seconds, conns, cpus=None, rate=None, **measure):
    """Like run_wrk, with bench/load.c (build/bin/bench_load) as the client (keep-alive
    only): a closed loop, or with rate an open loop offering that many requests/s."""
    argv = pin_prefix(cpus) + priority_prefix() + [exe, str(port), "/" + FILE_NAME, str(conns),
                                                   str(seconds)]
    if rate:
        argv.append(str(rate))
    return _measured(argv, seconds, _parse_light, **measure)


def env_int(name, default):
    """An integer from the environment; the default when unset or not a number."""
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def rounds(count, layouts, names):
    """The measured-run order both benchmarks share: yields (round, layout, names) for
    `count` rounds; within a round every layout comes once, in an order that alternates
    from round to round, and the names are rotated by one each round, so that a drift of
    the machine over the run affects every layout and every target alike."""
    for r in range(count):
        order = names[r % len(names):] + names[:r % len(names)] if names else []
        for layout in (layouts if r % 2 == 0 else layouts[::-1]):
            yield r, layout, order


def run_dir(prefix):
    """bench-out/ (created) and a fresh run directory inside it for configs and logs."""
    import tempfile
    outdir = os.path.join(ROOT, "bench-out")
    os.makedirs(outdir, exist_ok=True)
    return outdir, tempfile.mkdtemp(prefix=prefix, dir=outdir)


def write_results(outdir, stem, data, svg_text, table_text, rundir):
    """Writes bench-out/STEM.{json,svg,md}, prints the table, and removes the run directory
    unless BENCH_KEEP is set."""
    import json
    import shutil
    with open(os.path.join(outdir, stem + ".json"), "w") as f:
        json.dump(data, f, indent=1)
    with open(os.path.join(outdir, stem + ".svg"), "w") as f:
        f.write(svg_text)
    with open(os.path.join(outdir, stem + ".md"), "w") as f:
        f.write(table_text + "\n")
    print(table_text)
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(rundir, ignore_errors=True)
    print("\nwrote %s/%s.json, %s.md and %s.svg" % (outdir, stem, stem, stem))


def median(values):
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    n = len(vals)
    return vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2.0


def machine_info():
    info = {"kernel": os.uname().release, "cpus": os.cpu_count()}
    try:
        out = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            if k.strip() in ("Model name", "Hypervisor vendor", "L2 cache", "L3 cache",
                             "Thread(s) per core", "BogoMIPS"):
                info[k.strip()] = v.strip()
    except OSError:
        pass
    if "Hypervisor vendor" not in info:
        # lscpu names no vendor under some hypervisors; the CPU flag still says so
        try:
            with open("/proc/cpuinfo") as f:
                if " hypervisor" in f.read():
                    info["Hypervisor vendor"] = "a hypervisor lscpu does not name"
        except OSError:
            pass
    for tool, argv in (("haproxy", ["haproxy", "-v"]), ("nginx", ["nginx", "-v"]),
                       ("wrk", ["wrk", "-v"])):
        try:
            out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True).stdout
            info[tool] = out.splitlines()[0].strip() if out else "?"
        except OSError:
            info[tool] = "missing"
    return info
