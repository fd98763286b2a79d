"""The catalogue: what a course balancer must do, one entry per rule, each with a seed.

An entry is a function of a Cell (cell.py) that drives clients, hurts servers and calls
`cell.fail(reason)` when its rule breaks; on top of it every entry gets the invariant
(judge.py): each request exactly one complete correct answer or a documented error, nothing
lost, nothing answered twice, each PUT stored once. Servers are named A, B, C in the order
they are given to the balancer. Only the course command line is used (-N, -R, PORT,
SERVER...), so the course defaults apply: server timeout 5 s, health checks at start, after
every R requests and every 3 s.

    python3 -m harness.lbtest --list      # every entry with its rule
"""
import time
from dataclasses import dataclass, field

from .. import traffic as traffic_mod
from . import wire
from .cell import CLIENT_TIMEOUT

DOCUMENTED = ("ok", "error500", "partial")   # a cut answer or the exact 500 where the rule allows
SMALL = ("tiny", "small")                    # for long runs: course logs dump every body in hex
FIRST_CHECKS = 3.5   # the health entries judge checks, not start-up: they wait for a first round


@dataclass
class Entry:
    name: str
    rule: str
    seed: int
    run: object
    backends: int = 3
    lb_args: tuple = ()
    per_backend: dict = field(default_factory=dict)
    backend_args: tuple = ()
    extra_files: dict = field(default_factory=dict)
    before_start: object = None
    deadline: float = 40.0
    quick: bool = True        # part of the short list (--quick)

    def files(self):
        files = traffic_mod.default_files(self.seed)
        files.update(self.extra_files)
        return files


CATALOGUE = []


def entry(name, rule, seed, **shape):
    def wrap(fn):
        CATALOGUE.append(Entry(name, rule, seed, fn, **shape))
        return fn
    return wrap


def by_name(names):
    known = {e.name: e for e in CATALOGUE}
    missing = [n for n in names if n not in known]
    if missing:
        raise KeyError(f"no catalogue entry {', '.join(missing)} (known: {', '.join(known)})")
    return [e for e in CATALOGUE if e.name in names]   # always in catalogue order


def gets_only(cell, names=None):
    """GETs only, of every file or of the named ones (small files keep course logs small)."""
    files = cell.cluster.files
    if names:
        files = {n: files[n] for n in names}
    return traffic_mod.Workload(files, mix={"GET": 1}, seed=cell.seed)


def wait_startup_checks(cell, timeout=2.0):
    """Waits until every server logged a health check; names those that got none."""
    def all_checked():
        cell.sync()
        return all(cell.logged(i, health=True) for i in range(len(cell.backends)))
    if not cell.wait(all_checked, timeout):
        missing = [cell.name(i) for i in range(len(cell.backends))
                   if not cell.logged(i, health=True)]
        cell.fail(f"no GET /healthcheck reached server(s) {', '.join(missing)} within "
                  f"{timeout:g} s of start (the rule: a health check at start-up)")
        return False
    return True


def client_requests(cell, i, since=None, until=None):
    cell.sync()
    return cell.logged(i, health=False, since=since, until=until)


# -- start-up -------------------------------------------------------------------------------
@entry("startup-health", "Every server is health-checked before the first request is "
       "routed: server B, whose /healthcheck answers 500, gets none of the first requests.",
       seed=1401, per_backend={1: ["--health-status", "500"]})
def startup_health(cell):
    cell.step("requests at once")
    cell.traffic(clients=1, keepalive=False, workload=gets_only(cell)).run(requests=12)
    sick = client_requests(cell, 1)
    if sick:
        cell.fail(f"server B, whose health check answers 500, got {len(sick)} of the first 12 "
                  f"requests; the first at t={sick[0][0]:.2f} s: requests were routed before "
                  f"the start-up health check")
    for i in (0, 2):
        entries = cell.logged(i, health=None)
        if entries and entries[0][2] != "healthcheck":
            cell.fail(f"server {cell.name(i)} got a client request before any health check")
    wait_startup_checks(cell)


# -- routing --------------------------------------------------------------------------------
@entry("fewest-routing", "Requests go to the server with the fewest requests (its reported "
       "TOTAL plus those sent since): A reports 40, B 0, C 20, so B takes the first 20; a "
       "health round follows every -R 4 requests and every 3 s without traffic.",
       seed=1402, lb_args=("-R", "4"), per_backend={0: ["-t", "40"], 2: ["-t", "20"]},
       quick=False)
def fewest_routing(cell):
    if not wait_startup_checks(cell):
        return
    before = [len(cell.logged(i, health=True)) for i in range(3)]
    cell.step("24 requests, one at a time")
    t_start = cell.now()
    # 50 ms apart: each round (a few ms) ends before the next is due, so a balancer that
    # folds a round asked for during another into one is not counted short.
    cell.traffic(clients=1, keepalive=False, workload=gets_only(cell, SMALL),
                 rate=20).run(requests=24)
    got = [len(client_requests(cell, i, since=t_start)) for i in range(3)]
    if got[0] or got[1] < 18:
        cell.fail(f"of 24 requests A (TOTAL 40) got {got[0]}, B (TOTAL 0) {got[1]}, C (TOTAL "
                  f"20) {got[2]}; fewest requests sends about 22 to B, 2 to C and none to A")
    rounds = [len(cell.logged(i, health=True)) - before[i] for i in range(3)]
    if not all(4 <= n <= 9 for n in rounds):
        cell.fail(f"during 24 requests with -R 4 the servers logged {'/'.join(map(str, rounds))} "
                  f"health checks (A/B/C); a round after every 4 requests makes about 6")
    cell.step("3.6 s without traffic")
    cell.sync()
    idle_from = cell.now()
    before = [len(cell.logged(i, health=True)) for i in range(3)]
    cell.wait(lambda: cell.now() - idle_from >= 3.6, 5)
    cell.sync()
    idle = [len(cell.logged(i, health=True)) - before[i] for i in range(3)]
    if not all(1 <= n <= 2 for n in idle):
        cell.fail(f"in 3.6 s without traffic the servers logged {'/'.join(map(str, idle))} "
                  f"health checks (A/B/C); a round every 3 s makes 1 or 2")


# -- failover ------------------------------------------------------------------------------
@entry("kill-idle", "A server killed between requests costs nothing: every later request is "
       "answered correctly (a refused connect goes to the next server at once).",
       seed=1403, lb_args=("-R", "1000"))
def kill_idle(cell):
    cell.step("warm-up")
    cell.traffic(clients=3).run(requests=30)
    cell.kill(1)
    cell.step("server B killed")
    cell.traffic(clients=3, label="after the kill").run(requests=60)


@entry("kill-mid-answer", "A server killed in the middle of answers costs at most the "
       "requests it was answering (cut, or the exact 500), never a request sent after.",
       seed=1404, lb_args=("-R", "1000"),
       per_backend={1: ["--slow-body", "60000", "--capacity", "1000"]})
def kill_mid_answer(cell):
    cell.step("traffic; server B answers slowly")
    files = {n: cell.cluster.files[n] for n in ("big", "large")}   # 1 s or more at B
    work = traffic_mod.Workload(files, mix={"GET": 3, "PUT": 1}, seed=cell.seed)
    run = cell.traffic(clients=4, allow=DOCUMENTED, workload=work).start()
    busy = cell.wait(lambda: run.completed >= 8 and
                     cell.backends[1].counters().get("inflight", 0) > 0, 10)
    if not busy:
        run.stop()
        cell.fail("server B never had an answer in progress: nothing to kill it in")
        return
    ev = cell.kill(1)
    cell.step("server B killed mid-answer")
    run.wait_completed(run.completed + 80, timeout=20)
    res = run.stop()
    late = [r for r in res.requests if r.t_start > ev["t"] + 0.05 and r.kind != "ok"]
    if late:
        first = min(late, key=lambda r: r.t_start)
        after = sum(1 for r in res.requests if r.t_start > ev["t"] + 0.05)
        cell.fail(f"after server B was killed at t={ev['t']:.2f} s, {len(late)} of {after} "
                  f"requests sent later failed ({first.kind}); the first was sent at "
                  f"t={first.t_start:.2f} s")


@entry("frozen", "A server that accepts requests and never answers (its health check still "
       "passes) costs one server timeout (5 s, the exact 500); after it the next request "
       "goes to another server at once, not after the next health round.",
       seed=1405, backends=2, lb_args=("-R", "1000"),
       per_backend={0: ["--hang-rate", "1", "--scope", "others"]}, quick=False)
def frozen(cell):
    cell.event("slow", 0, "server A began to hang on every request (its health checks pass)")
    cell.step("one client, one request at a time")
    res = cell.traffic(clients=1, keepalive=False, workload=gets_only(cell, SMALL),
                       allow=("ok", "error500"), rate=100).run(duration=5.6)
    caught = [r for r in res.requests if r.kind != "ok" or r.t_end - r.t_start >= 1.0]
    if not caught:
        cell.fail("no request waited on frozen server A in 5.6 s (it passes health checks, so "
                  "it should have been chosen)")
        return
    first = caught[0]
    after = [r for r in res.requests if r.t_start >= first.t_end - 0.01]
    if not after:
        after = cell.traffic(clients=1, keepalive=False, workload=gets_only(cell),
                             label="the request after").run(requests=1).requests
    nxt = after[0]
    took = nxt.t_end - nxt.t_start
    if nxt.kind != "ok" or took >= 1.0:
        cell.fail(f"the first request caught on frozen server A ended at t={first.t_end:.2f} s "
                  f"({first.kind}, after {first.t_end - first.t_start:.1f} s); the next "
                  f"request also waited {took:.1f} s ({nxt.kind}): it went to A again instead "
                  f"of another server")


@entry("slow", "A slow server (400 ms per answer, under the 5 s timeout) is not a failure: "
       "every request gets its correct answer and the slow server keeps its share.",
       seed=1406, per_backend={1: ["--delay", "400"]})
def slow(cell):
    cell.event("slow", 1, "server B answers after 400 ms")
    res = cell.traffic(clients=4).run(requests=48)
    slowest = max((r.t_end - r.t_start for r in res.requests), default=0)
    if slowest > 4.0:
        cell.fail(f"a request took {slowest:.1f} s with one server 400 ms slow")
    if not client_requests(cell, 1):
        cell.fail("slow server B got no request at all: it was treated as dead")


# -- health checks -------------------------------------------------------------------------
@entry("health-malformed", "A server whose /healthcheck answers 200 with a body that is not "
       "ERRORS\\nTOTAL is unhealthy: once every server was checked, B gets no request.",
       seed=1407, per_backend={1: ["--health-malformed"]})
def health_malformed(cell):
    cell.event("slow", 1, "server B's health check answers 200 'healthy?'")
    if not wait_startup_checks(cell, FIRST_CHECKS):
        return
    cell.traffic(clients=2).run(requests=40)
    got = client_requests(cell, 1)
    if got:
        cell.fail(f"server B, whose /healthcheck body is not ERRORS\\nTOTAL, got {len(got)} "
                  f"requests; the first at t={got[0][0]:.2f} s")


@entry("health-wrong", "A server whose /healthcheck is not a 200 (B answers 503) or whose "
       "counts are impossible (C: ERRORS 7 > TOTAL 3) is unhealthy: once every server was "
       "checked, A serves everything.",
       seed=1408, per_backend={1: ["--health-status", "503"],
                               2: ["--health-errors", "7", "--health-total", "3"]})
def health_wrong(cell):
    if not wait_startup_checks(cell, FIRST_CHECKS):
        return
    cell.traffic(clients=2).run(requests=40)
    for i, why in ((1, "answers 503"), (2, "reports ERRORS 7 > TOTAL 3")):
        got = client_requests(cell, i)
        if got:
            cell.fail(f"server {cell.name(i)}, whose health check {why}, got {len(got)} "
                      f"requests; the first at t={got[0][0]:.2f} s")


@entry("health-flap", "A server whose health check flaps (healthy 0.4 s, failing 0.4 s) gets "
       "requests only while its last check passed (-R 2: a round every 2 requests).",
       seed=1409, backends=2, lb_args=("-R", "2"), per_backend={1: ["--health-flap", "800"]})
def health_flap(cell):
    cell.event("slow", 1, "server B's health check flaps every 0.4 s")
    cell.traffic(clients=1, keepalive=True, workload=gets_only(cell, SMALL),
                 rate=100).run(duration=2.5)
    cell.sync()
    entries = cell.logged(1, health=None)
    checks = [e for e in entries if e[2] == "healthcheck"]
    if len(checks) < 4:
        cell.fail(f"server B got {len(checks)} health check{'s' if len(checks) != 1 else ''} "
                  f"in 2.5 s of traffic with -R 2: a flapping server cannot be followed")
        return
    worst, worst_t, bad_windows, inside = 0, None, 0, 0
    down = False
    for t, _m, name, ok in entries:
        if name == "healthcheck":
            if not ok and not down:
                bad_windows, inside = bad_windows + 1, 0
            down = not ok
        elif down:
            inside += 1
            if inside > worst:
                worst, worst_t = inside, t
    if worst > 2:
        cell.fail(f"server B got {worst} requests after a failed health check and before the "
                  f"next passing one (at t={worst_t:.2f} s); only a request already on its "
                  f"way may arrive there")


@entry("all-down", "With every server dead, each request gets exactly `HTTP/1.1 500 Internal "
       "Server Error` with Content-Length: 0, within the 5 s timeout.",
       seed=1410, backends=2)
def all_down(cell):
    cell.step("warm-up")
    cell.traffic(clients=2).run(requests=10)
    cell.kill(0)
    cell.kill(1)
    cell.step("every server dead")
    res = cell.traffic(clients=2, allow=("error500",), label="all dead").run(requests=16)
    slow_ones = [r for r in res.requests if r.kind == "error500" and r.t_end - r.t_start > 5.0]
    if slow_ones:
        cell.fail(f"{len(slow_ones)} of the 500s took longer than the 5 s timeout (the slowest "
                  f"{max(r.t_end - r.t_start for r in slow_ones):.1f} s)")


def _b_dead_at_start(cell):
    cell.backends[1].kill()
    cell.event("crash", 1, "server B was dead when the balancer started")


@entry("revive", "A server that was dead and comes back on its port is found by the health "
       "checks (every -R 5 requests, every 3 s) and gets requests again within 4 s.",
       seed=1411, backends=2, before_start=_b_dead_at_start)
def revive(cell):
    cell.step("B dead")
    cell.traffic(clients=2).run(requests=20)
    ev = cell.restart(1)
    cell.step("B restarted")
    run = cell.traffic(clients=2, label="after the restart", workload=gets_only(cell, SMALL),
                       rate=100).start()
    back = cell.wait(lambda: client_requests(cell, 1, since=ev["t"]), 4.0)
    run.stop()
    if not back:
        cell.fail(f"server B, restarted at t={ev['t']:.2f} s, got no request in the next 4 s "
                  f"({run.result.sent} requests went elsewhere)")


# -- clients -------------------------------------------------------------------------------
@entry("parallel-N", "With -N 2, at most 2 requests are at the server at once (seen from "
       "its side); the others wait in the balancer and are all answered.",
       seed=1412, backends=1, lb_args=("-N", "2", "-R", "1000"),
       backend_args=("--delay", "150", "--capacity", "1000"))
def parallel_n(cell):
    # One server: its requests in progress are one counter, read atomically (a sum over
    # several servers read one after the other could count a request twice).
    run = cell.traffic(clients=8, keepalive="mixed", workload=gets_only(cell)).start(requests=24)
    peak, peak_t = 0, None
    until = cell.now() + CLIENT_TIMEOUT + 24 * 0.15
    while run.completed < 24 and cell.now() < until and cell.balancer_alive():
        try:
            now = int(cell.backends[0].counters().get("inflight", 0))
        except Exception:  # noqa: BLE001 - the control port busy: try again
            now = 0
        if now > peak:
            peak, peak_t = now, cell.now()
        time.sleep(0.01)
    run.join()
    if peak > 2:
        cell.fail(f"{peak} requests were at the server at once at t={peak_t:.2f} s; -N 2 "
                  f"allows 2")
    elif peak < 2:
        cell.fail(f"never more than {peak} request at the server at once with 8 clients; -N 2 "
                  f"should keep 2 going")


@entry("keepalive-pipelined", "Several requests on one connection, also sent in one write "
       "(pipelined), each get their own complete answer, in order.",
       seed=1413)
def keepalive_pipelined(cell):
    cell.step("keep-alive clients")
    cell.traffic(clients=3, keepalive=True).run(requests=60)
    cell.step("pipelined")
    files = cell.cluster.files
    for k in range(5):
        body = traffic_mod.make_body((cell.seed, "pipe", k), 3000)
        specs = [("GET", "small", files["small"]), ("PUT", f"pipe{cell.seed}x{k}", body),
                 ("HEAD", "page", files["page"]), ("GET", "big", files["big"])]
        reqs = wire.pipelined(cell.port, specs, cell.now, timeout=CLIENT_TIMEOUT, client=k)
        cell.add_requests(reqs, label="pipelined")


@entry("big-bodies", "A 1 MiB file arrives byte-exact, and 1 MiB PUTs are stored byte-exact "
       "on exactly one server, once.",
       seed=1414, extra_files={"mib": traffic_mod.make_body("mib", 1 << 20)})
def big_bodies(cell):
    files = {"mib": cell.cluster.files["mib"]}
    work = traffic_mod.Workload(files, mix={"GET": 1, "PUT": 1}, put_sizes=(1 << 20, 1 << 20),
                                seed=cell.seed)
    cell.traffic(clients=2, keepalive="mixed", workload=work).run(requests=12)


@entry("bad-input", "Garbage, smuggling attempts, huge heads and clients that hang up never "
       "crash the balancer, get no 2xx, smuggle nothing to a server, and others are served.",
       seed=1415)
def bad_input(cell):
    run = cell.traffic(clients=2, label="clients alongside", rate=100).start()
    for what, data, hang_up in wire.BAD_INPUTS:
        status = wire.send_bad(cell.port, data, hang_up)
        if status is not None and 200 <= status < 300:
            cell.fail(f"{what} got a {status} answer")
        if not cell.balancer_alive():
            cell.fail(f"the balancer died after {what}")
            break
    run.wait_completed(run.completed + 20, timeout=10)
    run.stop()
    for i in range(len(cell.backends)):
        smuggled = [e for e in client_requests(cell, i) if e[2] == "smuggled"]
        if smuggled:
            cell.fail(f"a request smuggled inside a body reached server {cell.name(i)}")
    after = cell.traffic(clients=1, keepalive=False, label="after").run(requests=5)
    if after.counts().get("ok", 0) < 5:
        cell.fail("after the bad input, new clients were not served correctly")


@entry("hundred-clients", "100 clients at once, each with its own connection, all get correct "
       "answers: beyond -N they wait, none is refused or dropped.",
       seed=1416, deadline=60.0)
def hundred_clients(cell):
    cell.traffic(clients=100, keepalive="mixed").run(requests=400)
