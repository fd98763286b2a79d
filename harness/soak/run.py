"""The soak: a seeded chaos run through the balancer, then a report (issue 8, `make soak`).

    python3 -m harness.soak [--bin DIR] [--requests N] [--seed S] [--clients C]
            [--fault-rate F] [--kills K] [--large-share L] [--rss-slack-mb M] [--report FILE]

Three chaos backends (harness/soak/backend.py: each request, from the seed and its sequence
number: reset or close before any byte, truncation half way through the body, a short delay,
with probability F) sit behind the balancer. C client threads send N requests
(GET 85 %, HEAD 5 %, PUT 10 %, each with a unique path; half the clients keep connections
alive). A share L of the GETs and HEADs (default 0.1) asks for a large answer: a `/L-` path
(a body of about 16 KiB to 600 KiB by Content-Length, which the balancer relays by splice
from 16 KiB still to come) or, one in four, a `/C-` path (the same body close-delimited);
the faults above strike them as they strike small ones, so a truncation or a kill lands in
the middle of a spliced body. A chaos thread strikes a backend K times at seeded points:
SIGKILL and a restart on its old port, or (a --freeze-share of the time) SIGSTOP and,
later, SIGCONT. Every request is classified:

  ok        the exact answer for its path (GET body, HEAD head, PUT 201)
  err500    the contract's exact 500
  partial   the connection closed after part of an answer, those bytes a prefix of the
            right answer (the documented "close, never patch" outcome of a truncated or
            killed backend; for a close-delimited body, a close before its last byte)
  lost      no answer at all: a timeout, a reset, or a close before any byte
  wrong     an answer that belongs to another request, surplus bytes, or not HTTP
  other     any other status

and PUT paths are counted in the backends' request logs (a PUT landing twice is a
duplicate). The run passes with 0 lost, 0 wrong, 0 duplicated, and the balancer's open fds
and RSS (from /proc/PID) flat from the 10 % sample to the end, and its idle fds back to
their count before the run (pooled backend connections aside, by /stats: a splice pipe
lost would show). /stats also gives spliced_bytes for the report. Exit status 0 on pass.
The binaries: --bin DIR, else harness.process.bin_path's order (LBTEST_BIN, the checkout's
build/bin, PATH). How to run it and the figures measured: harness/soak/README.md.
"""
import argparse
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from ..hop import hop_by_hop
from ..process import Process
from ..wire import ERROR_500, AnswerReader, Cut, fetch, request_bytes
from .backend import answer_head, close_delimited, expected_body, is_large

BACKEND = str(Path(__file__).resolve().parent / "backend.py")


def lb_stats(port):
    """The balancer's /stats JSON."""
    return json.loads(fetch(port, "GET", "/stats", timeout=5).body)


def size_class(path):
    return "close-delimited" if close_delimited(path) else "large" if is_large(path) else "small"


def proc_sample(pid):
    """(rss_kib, open_fds) of a live process, from /proc."""
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


# -- one client request ------------------------------------------------------------------
def expected_answer(method, path):
    """The whole answer the chaos backend gives when it is not faulted."""
    if method == "PUT":
        return b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    body = expected_body(path)
    head = answer_head(path, len(body))
    return head if method == "HEAD" else head + body


def classify(method, path, answer, surplus):
    if surplus:
        return "wrong"
    if answer.status == 500 and answer.raw == ERROR_500:
        return "err500"
    if method == "PUT":
        return "ok" if answer.status == 201 else "other"
    if answer.status != 200:
        return "other"
    exp = expected_body(path)
    # The backend's head as the balancer relays it: connection fields are hop-by-hop, so
    # a HEAD answer loses the backend's `Connection: close` (the client's connection goes on).
    close = method == "GET" and close_delimited(path)
    if answer.head != hop_by_hop(answer_head(path, len(exp)), close=close):
        return "wrong"
    body = answer.body
    if method == "GET" and answer.framing == "close":  # a cut shows only as short
        return "ok" if body == exp else "partial" if exp.startswith(body) else "wrong"
    if method == "GET" and body != exp:
        return "wrong"
    return "ok"


class Soak:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.workdir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.next_id = 0
        self.done = 0
        self.lock = threading.Lock()
        self.outcomes = Counter()
        self.by_method = Counter()
        self.by_size = Counter()
        self.final_stats = None
        self.examples = {}
        self.samples = []
        self.lost_ids = []
        self.kills = []
        self.backends = []
        self.lb = None

    # -- processes -----------------------------------------------------------------------
    def start_backend(self, i, port=0):
        args = [sys.executable, BACKEND, "--fault-rate",
                str(self.args.fault_rate), "--seed", str(self.args.seed * 10 + i),
                "--log", str(self.work / f"backend{i}.requests"), "--port", str(port)]
        p = Process(args, name=f"backend{i}", cwd=self.work, log_dir=self.work)
        p.start(timeout=20)
        return p

    def start(self):
        self.backends = [self.start_backend(i) for i in range(3)]
        argv = ["loadbalancer", *self.args.lb_opt, "--stats-port", "0", "0",
                *[str(b.port) for b in self.backends]]
        self.lb = Process(argv, name="loadbalancer", cwd=self.work, log_dir=self.work)
        self.lb.start(timeout=60)

    def stop(self):
        status = self.lb.stop() if self.lb else None
        for b in self.backends:
            b.close()
        if self.lb:
            self.lb.close()
        return status

    # -- traffic -------------------------------------------------------------------------
    def take(self):
        with self.lock:
            if self.next_id >= self.args.requests:
                return None
            self.next_id += 1
            return self.next_id - 1

    def record(self, rid, method, outcome, detail=""):
        path = self.plan(rid)[1]
        cls = size_class(path) if method != "PUT" else "small"
        key = outcome if cls == "small" else f"{cls} {outcome}"
        with self.lock:
            self.done += 1
            self.outcomes[outcome] += 1
            if outcome == "lost":
                self.lost_ids.append(rid)
            self.by_method[(method, outcome)] += 1
            self.by_size[(cls, outcome)] += 1
            if outcome not in ("ok",) and len(self.examples.setdefault(key, [])) < 5:
                self.examples[key].append(f"#{rid} {method}: {detail}")

    def plan(self, rid):
        """(method, path, body) of request rid: a function of (seed, rid) only."""
        rng = random.Random(self.args.seed * 7_919 + rid)
        r = rng.random()
        method = "GET" if r < 0.85 else "HEAD" if r < 0.90 else "PUT"
        body = b"p" * rng.randint(0, 2000) if method == "PUT" else b""
        path = f"/s{self.args.seed}-{rid}"
        if method != "PUT" and rng.random() < self.args.large_share:
            path = ("/C-" if rng.random() < 0.25 else "/L-") + path[1:]
        return method, path, body

    def one(self, sock, rid):
        method, path, body = self.plan(rid)
        sock.sendall(request_bytes(method, path, "soak", body))
        reader = AnswerReader(sock)   # each recv waits up to the socket's timeout
        answer = reader.read(method)
        detail = f"{answer.status} {answer.head[:60]!r}"
        if answer.framing == "close" and method == "GET":
            detail += f" close-delimited, {len(answer.body)} body bytes"
        # An answer that says Connection: close (a close-delimited one, or its HEAD) ends
        # the connection: the client does not send on it again.
        return method, path, classify(method, path, answer, bool(reader.buf)), \
            detail, close_delimited(path)

    def client(self, idx):
        keepalive = idx % 2 == 0
        sock = None
        prev = None
        while True:
            rid = self.take()
            if rid is None:
                break
            method = self.plan(rid)[0]
            reused = sock is not None
            ended = False
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", self.lb.port), timeout=10)
                sock.settimeout(self.args.timeout)
                method, _path, outcome, detail, ended = self.one(sock, rid)
            except Cut as exc:
                got = len(exc.data)
                outcome = "partial" if got and not exc.reset else "lost"
                detail = f"{'reset' if exc.reset else 'closed'} after {got} bytes"
                _m, path, _b = self.plan(rid)
                detail += f" of {len(expected_answer(method, path))}"
                if got and not expected_answer(method, path).startswith(exc.data):
                    outcome = "wrong"  # a cut answer must be a prefix: never patched
                    detail += f": {exc.data[:80]!r}"
            except socket.timeout:
                outcome, detail = "lost", "timeout"
            except OSError as exc:
                outcome, detail = "lost", repr(exc)
            except ValueError as exc:
                outcome, detail = "wrong", f"not HTTP: {exc}"
            if reused:
                detail += f" (on a kept-alive connection, after #{prev})"
            prev = rid
            self.record(rid, method, outcome, detail)
            if outcome != "ok" or not keepalive or ended:
                if sock:
                    sock.close()
                sock = None
        if sock:
            sock.close()

    # -- chaos and measurement -----------------------------------------------------------
    def chaos(self, stop):
        rng = random.Random(self.args.seed)
        n = self.args.requests
        points = sorted(rng.randint(n // 10, n * 9 // 10) for _ in range(self.args.kills))
        for point in points:
            while self.done < point and not stop.is_set():
                time.sleep(0.01)
            if stop.is_set():
                return
            i = rng.randrange(len(self.backends))
            old = self.backends[i]
            freeze = rng.random() < self.args.freeze_share
            if freeze:
                old.freeze()
            else:
                old.kill()
                old.close()
            self.kills.append({"at": self.done, "backend": i,
                               "fault": "freeze" if freeze else "kill"})
            until = self.done + max(50, n // 200)
            while self.done < until and not stop.is_set():
                time.sleep(0.01)
            if freeze:
                old.thaw()
            else:
                self.backends[i] = self.start_backend(i, old.port)

    def sampler(self, stop):
        n = self.args.requests
        marks = [n * k // 20 for k in range(1, 21)]
        for mark in marks:
            while self.done < mark and not stop.is_set():
                time.sleep(0.01)
            if stop.is_set() and self.done < mark:
                return
            if self.lb.alive():
                rss, fds = proc_sample(self.lb.pid)
                self.samples.append({"done": self.done, "rss_kib": rss, "fds": fds})
                if self.args.progress:
                    print(f"  {self.done:>8} requests  RSS {rss} KiB  {fds} fds  "
                          f"{dict(self.outcomes)}", flush=True)

    def settle(self, base=None):
        """(rss, open fds, pooled idle backend connections) of the idle balancer, polled
        until the fds are stable (bounded); with base, until fds minus pooled ones are at
        most base (pooled connections whose backend left are closed a moment later)."""
        last, same, deadline = None, 0, time.monotonic() + 10
        pool = 0
        while time.monotonic() < deadline:
            rss, fds = proc_sample(self.lb.pid)  # before the /stats connection opens
            stats = lb_stats(int(self.lb.ready["stats"]))
            pool = sum(b.get("pool_idle", 0) for b in stats["backends"])
            same = same + 1 if fds == last else 0
            last = fds
            if same >= 5 and (base is None or fds - pool <= base):
                break
            time.sleep(0.1)
        self.final_stats = stats
        return rss, last, pool

    def run(self):
        self.start()
        idle_start = self.settle()
        stop = threading.Event()
        helpers = [threading.Thread(target=self.chaos, args=(stop,), daemon=True),
                   threading.Thread(target=self.sampler, args=(stop,), daemon=True)]
        t0 = time.monotonic()
        clients = [threading.Thread(target=self.client, args=(i,), daemon=True)
                   for i in range(self.args.clients)]
        for t in helpers + clients:
            t.start()
        for t in clients:
            t.join()
        elapsed = time.monotonic() - t0
        stop.set()
        for t in helpers:
            t.join(30)
        alive = self.lb.alive()
        idle_end = (self.settle(idle_start[1] - idle_start[2]) if alive
                    else (None, None, None))
        exit_status = self.stop()
        return self.report(elapsed, idle_start, idle_end, alive, exit_status)

    # -- the verdict ---------------------------------------------------------------------
    def where_lost(self):
        """For each lost request: the backends whose logs show it (none: never forwarded)."""
        paths = {self.plan(rid)[1]: rid for rid in self.lost_ids}
        seen = {rid: [] for rid in self.lost_ids}
        for i in range(3):
            path = self.work / f"backend{i}.requests"
            if path.exists():
                for line in path.read_text().splitlines():
                    rid = paths.get(line.split(" ", 1)[-1])
                    if rid is not None:
                        seen[rid].append(f"backend{i}")
        return {f"#{rid}": where for rid, where in seen.items()}

    def put_duplicates(self):
        seen = Counter()
        for i in range(3):
            path = self.work / f"backend{i}.requests"
            if path.exists():
                for line in path.read_text().splitlines():
                    if line.startswith("PUT "):
                        seen[line] += 1
        return sum(1 for c in seen.values() if c > 1)

    def report(self, elapsed, idle_start, idle_end, alive, exit_status):
        first = next((s for s in self.samples if s["done"] >= self.args.requests // 10), None)
        last = self.samples[-1] if self.samples else None
        dup = self.put_duplicates()
        rss_limit = None
        checks = {"lost": self.outcomes["lost"] == 0, "wrong": self.outcomes["wrong"] == 0,
                  "duplicated": dup == 0, "balancer alive": alive,
                  "all answered": self.done == self.args.requests}
        # SIGTERM drains and exits 0; under ASan a leak at exit would make it non-zero.
        checks["clean exit"] = exit_status == 0
        if first and last:
            rss_limit = first["rss_kib"] * 1.25 + self.args.rss_slack_mb * 1024
            checks["rss flat"] = last["rss_kib"] <= rss_limit
            # Under load each client may hold a backend connection, and (large answers)
            # a splice pipe of two fds, lent from a free list of empty pipes.
            per_client = 3 if self.args.large_share > 0 else 1
            checks["fds flat"] = last["fds"] <= first["fds"] + per_client * self.args.clients
        if idle_start[1] is not None and idle_end[1] is not None:
            # Idle, the balancer may keep pooled backend connections (--pool-size), and
            # nothing else: its fds minus the pooled ones are back to what they were before
            # the run (the free list of splice pipes is closed once no client is left).
            checks["idle fds back"] = idle_end[1] - idle_end[2] <= idle_start[1] - idle_start[2]
        spliced = (self.final_stats or {}).get("spliced_bytes")
        if self.args.large_share > 0 and self.args.requests >= 1000:
            checks["splice path met"] = bool(spliced)
        rep = {
            "requests": self.args.requests, "seed": self.args.seed, "clients": self.args.clients,
            "fault_rate": self.args.fault_rate, "seconds": round(elapsed, 1),
            "rate_per_s": round(self.done / elapsed) if elapsed else None,
            "outcomes": dict(self.outcomes), "duplicated_puts": dup,
            "by_method": {f"{m} {o}": c for (m, o), c in sorted(self.by_method.items())},
            "by_size": {f"{k} {o}": c for (k, o), c in sorted(self.by_size.items())},
            "large_share": self.args.large_share, "spliced_bytes": spliced,
            "lb_stats": {k: v for k, v in (self.final_stats or {}).items()
                         if not isinstance(v, (list, dict))},
            "kills": self.kills, "samples": self.samples,
            "idle_start": {"rss_kib": idle_start[0], "fds": idle_start[1],
                           "pool_idle": idle_start[2]},
            "idle_end": {"rss_kib": idle_end[0], "fds": idle_end[1], "pool_idle": idle_end[2]},
            "rss_limit_kib": rss_limit, "balancer_exit": exit_status,
            "examples": self.examples, "lost_reached": self.where_lost(), "checks": checks, "pass": all(checks.values()),
        }
        return rep


def print_report(rep):
    o = rep["outcomes"]
    print(f"soak: {rep['requests']} requests, seed {rep['seed']}, {rep['clients']} clients, "
          f"fault rate {rep['fault_rate']}, "
          f"{sum(k['fault'] == 'kill' for k in rep['kills'])} backend kills, "
          f"{sum(k['fault'] == 'freeze' for k in rep['kills'])} freezes, "
          f"{rep['seconds']} s ({rep['rate_per_s']}/s)")
    print("  outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(o.items())))
    print(f"  lost {o.get('lost', 0)}, wrong {o.get('wrong', 0)}, "
          f"duplicated PUTs {rep['duplicated_puts']}")
    print(f"  by answer size (large share {rep['large_share']}): "
          + ", ".join(f"{k} {v}" for k, v in rep["by_size"].items()))
    print(f"  spliced_bytes {rep['spliced_bytes']}; balancer: "
          + ", ".join(f"{k} {rep['lb_stats'].get(k)}" for k in
                      ("requests", "responses", "replies_500", "retries", "aborted")))
    if rep["samples"]:
        s = rep["samples"]
        first = next((x for x in s if x["done"] >= rep["requests"] // 10), s[0])
        print(f"  balancer at {first['done']} requests: RSS {first['rss_kib']} KiB, "
              f"{first['fds']} fds; at {s[-1]['done']}: RSS {s[-1]['rss_kib']} KiB, "
              f"{s[-1]['fds']} fds")
    print(f"  idle fds before {rep['idle_start']['fds']}, after {rep['idle_end']['fds']} "
          f"({rep['idle_end']['pool_idle']} pooled backend connections); "
          f"balancer exit status {rep['balancer_exit']}")
    if rep["lost_reached"]:
        print("  lost requests seen by: " + ", ".join(
            f"{k} {'+'.join(v) or 'no backend'}" for k, v in list(rep["lost_reached"].items())[:8]))
    for k, v in rep["examples"].items():
        print(f"  e.g. {k}: " + "; ".join(v[:3]))
    print("  checks: " + ", ".join(f"{k} {'ok' if v else 'FAIL'}"
                                  for k, v in rep["checks"].items()))
    print("PASS" if rep["pass"] else "FAIL")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=None,
                    help="directory holding loadbalancer (default: harness.process.bin_path)")
    ap.add_argument("--requests", type=int, default=int(os.environ.get("SOAK_REQUESTS", 100000)))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", 1)))
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--fault-rate", type=float, default=0.01)
    ap.add_argument("--kills", type=int, default=None, help="backend faults (kill or freeze)")
    ap.add_argument("--freeze-share", type=float, default=0.3,
                    help="share of those faults that SIGSTOP a backend instead of killing it")
    ap.add_argument("--timeout", type=float, default=30.0, help="client read timeout (s)")
    ap.add_argument("--large-share", type=float,
                    default=float(os.environ.get("SOAK_LARGE_SHARE", 0.1)),
                    help="share of GETs/HEADs with a large (16 KiB - 600 KiB) answer; 0: none")
    ap.add_argument("--rss-slack-mb", type=float, default=8.0)
    ap.add_argument("--lb-opt", action="append", default=[], help="extra balancer option")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--progress", action="store_true", help="a line every 5 %% of the run")
    ap.add_argument("--report", default=None, help="write the JSON report here")
    args = ap.parse_args(argv)
    if args.kills is None:
        args.kills = max(2, min(20, args.requests // 5000))
    if args.bin:
        os.environ["LBTEST_BIN"] = str(Path(args.bin).resolve())
    if args.workdir is None:
        args.workdir = tempfile.mkdtemp(prefix="soak-")
    args.workdir = str(Path(args.workdir).resolve())
    for stale in list(Path(args.workdir).glob("*.requests")) + list(Path(args.workdir).glob("*.log")):
        stale.unlink()  # request logs are appended to: a rerun must not count old PUTs
    soak = Soak(args)
    try:
        rep = soak.run()
    except BaseException:
        soak.stop()
        raise
    rep["workdir"] = args.workdir
    print_report(rep)
    if args.report:
        Path(args.report).write_text(json.dumps(rep, indent=1))
    return 0 if rep["pass"] else 1
