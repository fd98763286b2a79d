"""The story library. A scenario is a list of steps; a step has a title, a caption that says
what happens and why the balancer reacts as it does, a duration (seconds at SPEED=1), an
action done to the cluster when the step begins, and the client traffic during the step.

A caption says what happens and why, in words that hold in every view (the live terminal
view, the plain lines of a pipe, the HTML page); where to look differs between views, so a
step's `look` gives that per view ("live", "plain", "page") and each renderer adds only its
own. A caption never names a column, a lane or a section that only one view has.

Actions receive a Ctx (cluster, recorder, traffic, speed) and use only the Ctx helpers,
which record what they did as events, so the picture marks every crash, revival and change.
Each helper records its event *before* it acts: the balancer's reaction (a `down` seen in
/stats by the observer thread) can then never be recorded ahead of its cause, even when the
action itself (a kill and its reaping, a restart) takes a while.
"""
import threading
from dataclasses import dataclass, field

from .cluster import remember


@dataclass
class Step:
    title: str
    caption: str
    duration: float
    action: object = None            # callable(ctx) or None
    traffic: dict = field(default_factory=dict)   # Traffic.configure arguments
    frame: bool = False              # save the live view's frame from this step (README)
    look: dict = field(default_factory=dict)      # view ("live", "plain", "page") -> where to look


@dataclass
class Scenario:
    name: str
    title: str
    summary: str
    steps: list
    lb_args: list = field(default_factory=lambda: ["-N", "4", "-R", "5"])
    traffic: dict = field(default_factory=lambda: {"clients": 4, "rate": 20})
    backend_faults: dict = field(default_factory=dict)   # name -> faults at start
    hosts: bool = False              # each process on its own host (network namespace)


class Ctx:
    def __init__(self, cluster, rec, traffic, speed):
        self.cluster, self.rec, self.traffic, self.speed = cluster, rec, traffic, speed
        self.stopping = threading.Event()
        self.helpers = []

    def b(self, name):
        return self.cluster.backend(name)

    def _act(self, kind, name, action, **fields):
        """Records the event, then acts: cause before effect in the recording. If the
        action fails the event says so (failed=...) and the error goes on."""
        ev = self.rec.event(kind, name, **fields)
        try:
            return ev, action()
        except Exception as e:
            ev["failed"] = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise

    def crash(self, *names):
        for n in names:
            self._act("crash", n, self.b(n).kill, detail="SIGKILL")

    def revive(self, name, fresh=True):
        def restart():
            self.b(name).restart()
            remember(self.cluster)
        self._act("revive", name, restart, detail="fresh counters, TOTAL=0" if fresh else "")

    def set_faults(self, name, **faults):
        """Changes a backend's faults live (None: back to the default); returns how."""
        self.b(name).set_faults(**faults)
        return "control port"

    def slow(self, name, ms):
        ev, how = self._act("slow", name, lambda: self.set_faults(name, delay=ms),
                            detail=f"{ms} ms")
        ev["how"] = how

    def fast(self, name):
        ev, how = self._act("fast", name, lambda: self.set_faults(name, delay=None))
        ev["how"] = how

    def freeze(self, name):
        self._act("freeze", name, self.b(name).freeze, detail="SIGSTOP")

    def thaw(self, name):
        self._act("thaw", name, self.b(name).thaw, detail="SIGCONT")

    def vanish(self, name):
        """The backend's machine vanishes: every packet to it is dropped (needs hosts)."""
        self.b(name).blackhole()
        self.rec.event("vanish", name, detail="every packet to it dropped")

    def reappear(self, name):
        self.b(name).heal()
        self.rec.event("reappear", name, detail="network back")

    def restart_balancer(self, *extra):
        """The clients pause (every request started is answered first), the balancer stops
        (SIGTERM: it must exit 0) and starts again on its port with its arguments plus
        `extra`. The step's traffic resumes the clients."""
        lb = self.cluster.balancer
        args = list(lb.args) + [str(a) for a in extra]
        self.traffic.pause()

        def restart():
            lb.restart(args)
            remember(self.cluster)
        self._act("restart", None, restart, detail=" ".join(str(a) for a in extra))

    def add(self, name, *args):
        """A new fakeserver called `name` (with the others' arguments plus `args`) joins
        the running balancer through the admin API (POST /backends)."""
        b = self.cluster.add_backend(name=name, args=args, register=False)
        (b.dir / "who").write_text(name)
        remember(self.cluster)
        self.rec.meta["backends"].append({"name": name, "address": "%s:%d" % b.addr})
        self._act("add", name, lambda: self.cluster.register(b.index, wait_up=False),
                  detail="POST /backends")

    def drain(self, name):
        """PATCH /backends/NAME state drain: no new request, those in flight finish."""
        b = self.b(name)
        self._act("drain", name, lambda: self.cluster.drain(b.index),
                  detail="PATCH state=drain")

    def remove(self, name):
        """DELETE /backends/NAME, then (once the balancer has let it go) its process stops."""
        b = self.b(name)

        def remove():
            self.cluster.remove(b.index, wait=True, stop=True)
        self._act("remove", name, remove, detail="DELETE")

    def every(self, seconds, fn):
        """Runs fn(i) every `seconds` (real time) in a helper thread until stop_helpers()."""
        stop = threading.Event()

        def loop():
            i = 0
            while not stop.wait(seconds) and not self.stopping.is_set():
                fn(i)
                i += 1
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        self.helpers.append((stop, t))

    def stop_helpers(self):
        for stop, t in self.helpers:
            stop.set()
            t.join(2)
        self.helpers = []


def classic():
    return Scenario(
        "classic", "Crash, failover, revival, and a total outage",
        "one backend slows, one crashes and comes back, all die, one returns", [
            Step("Steady traffic",
                 "Three fakeservers, A, B and C, run behind the balancer; four clients send "
                 "about 20 requests a second. For every request the balancer picks the healthy "
                 "backend with the fewest TOTAL requests (the count it reported in its last "
                 "health check plus what was sent to it since), so the three counts climb "
                 "together. After every 5 forwarded requests it health-checks all three at "
                 "once.", 7,
                 look={"live": "The load column is that count; 'last check' says how long ago "
                               "the last health check ran and what it found.",
                       "plain": "Each status line gives every backend's state, its load (that "
                                "count) and the TOTAL it last reported.",
                       "page": "Health checks are the rings in the replay and the ticks under "
                               "each lane of the timeline."}),
            Step("B slows down",
                 "B now waits 300 ms before every answer. The balancer keeps sending B its "
                 "third of the requests. Fewest-TOTAL counts requests, not time, and B still "
                 "answers its health check within the 1 s deadline, so it stays up; clients "
                 "that land on B simply wait. A least-connections policy (--policy leastconn) "
                 "would steer them away.", 8,
                 action=lambda c: c.slow("B", 300),
                 look={"live": "B's ms column (the clients' median wait) jumps to about 300.",
                       "plain": "On the status lines B's ms (the clients' median wait) jumps "
                                "to about 300.",
                       "page": "The client-latency lane of the timeline jumps."}),
            Step("C crashes",
                 "C is killed with SIGKILL: no goodbye, its port just closes. Whatever reaches "
                 "C first finds it closed. A request: the balancer marks C down at once and "
                 "sends that same request to its next choice, so the client never notices. Or "
                 "a health check (one runs every 5 requests): C is marked down before any "
                 "request tries it. Checks keep probing C and fail until it returns.", 9,
                 action=lambda c: c.crash("C"), frame=True,
                 look={"live": "'what just happened' says which of the two it was; C's last "
                               "check reads FAIL.",
                       "plain": "The line 'balancer marked C DOWN (...)' says which of the "
                                "two it was.",
                       "page": "Point at C's \u2193 marker in the timeline to read which of the "
                               "two it was; the failed checks are red ticks under C's lane."}),
            Step("C comes back",
                 "C starts again on the same port with fresh counters: its /healthcheck says "
                 "TOTAL=0. The next health check marks it up, and since 0 is the fewest TOTAL, "
                 "C now gets every request until it has caught up with A and B. That is a real "
                 "effect of this rule (HAProxy's slowstart exists to soften it).", 10,
                 action=lambda c: c.revive("C"),
                 look={"live": "In the load column C climbs from 0 while A and B stand still.",
                       "plain": "On the status lines C's load climbs from 0 while A's and B's "
                                "stand still.",
                       "page": "C's lane takes every bar until it has caught up."}),
            Step("Every backend dies",
                 "A, B and C are all killed. With every backend marked down the balancer "
                 "still tries each one in turn (panic routing); when none accepts, the client "
                 "gets exactly 'HTTP/1.1 500 Internal Server Error' with an empty body. The "
                 "balancer itself keeps running.", 8,
                 action=lambda c: c.crash("A", "B", "C"),
                 look={"live": "The clients line counts the 500s.",
                       "plain": "'client errors' on the status lines counts the 500s.",
                       "page": "The 500s are the red dots of the replay and the red bars of "
                               "the client-errors lane."}),
            Step("A returns",
                 "A starts again. Because the balancer keeps trying down backends when all "
                 "are down, A serves the very next request, before any health check has run; "
                 "the next check then marks it up. B and C stay dead, so A takes everything.",
                 9, action=lambda c: c.revive("A")),
            Step("The end",
                 "Stopping every process: the balancer with SIGTERM (it finishes what is in "
                 "flight and exits 0), then the backends.", 2,
                 traffic={"clients": 0}),
        ])


def _flap(c):
    try:
        how = c.set_faults("B", health_flap=2000)
        c.rec.event("note", "B", text=f"B's health check now flaps (period 2 s, via {how})")
    except Exception as e:  # an older fakeserver: pause the whole process instead
        c.rec.event("note", "B", text=f"no --health-flap ({type(e).__name__}); "
                                      "pausing B with SIGSTOP/SIGCONT instead")
        c.every(1.2, lambda i: c.freeze("B") if i % 2 == 0 else c.thaw("B"))


def _unflap(c):
    c.stop_helpers()
    b = c.b("B")
    if b.last_faults.get("health-flap"):
        c.set_faults("B", health_flap=None)
    elif b.alive():
        c.thaw("B")
    c.rec.event("note", "B", text="B's health check is steady again")


def flapping():
    return Scenario(
        "flapping", "A flapping health check", "B's health check alternates good and bad", [
            Step("Steady traffic",
                 "Three healthy backends share the traffic evenly (fewest TOTAL first).", 5),
            Step("B's health check flaps",
                 "B still answers requests, but its health check alternates: 200 for one "
                 "second, 500 for the next. Each check that lands in the bad half marks B down; "
                 "the next good one marks it up again, and B's share of the traffic drops "
                 "while it is down. Real balancers damp this with rise/fall counts (HAProxy: "
                 "rise 2 fall 3).", 15, action=_flap, frame=True,
                 look={"live": "B's state column flips between up and DOWN.",
                       "plain": "The 'marked B DOWN' and 'marked B up' lines alternate.",
                       "page": "B's lane flickers between green and grey."}),
            Step("B is steady again",
                 "The flapping stops; the next health check marks B up for good and it takes "
                 "its share again. Having served less, it now has the fewest TOTAL and "
                 "catches up first.", 7, action=_unflap),
        ])


def slow():
    return Scenario(
        "slow", "A slow backend, then a hung one", "latency vs. health, and the server timeout", [
            Step("Steady traffic", "Three healthy backends, fewest TOTAL first.", 5),
            Step("B gets slow",
                 "B waits 800 ms before every answer. Its health check still passes (the "
                 "deadline is 1 s), so the balancer keeps routing B a third of the requests, "
                 "and those clients pay the wait.", 9,
                 action=lambda c: c.slow("B", 800), frame=True,
                 look={"live": "B's ms column shows what those clients pay.",
                       "plain": "B's ms on the status lines shows what those clients pay.",
                       "page": "The client-latency lane of the timeline shows what they "
                               "pay."}),
            Step("B hangs",
                 "B is frozen (SIGSTOP): the kernel still accepts its connections, but nothing "
                 "answers. A request routed to B waits for the server timeout (5 s); then the "
                 "balancer marks B down and, since no byte of an answer was relayed yet, "
                 "answers that client with a 500. The 1 s health-check deadline fails too, so "
                 "B stays down and new requests go to A and C.", 10,
                 action=lambda c: c.freeze("B")),
            Step("B thaws",
                 "B runs again and answers what was waiting; the next health check marks it "
                 "up and it takes traffic again.", 7, action=lambda c: c.thaw("B")),
        ])


def overload():
    return Scenario(
        "overload", "Overload and the queue", "more clients than -N: the FIFO queue", [
            Step("Light load",
                 "Every backend takes 200 ms per answer and the balancer proxies at most 2 "
                 "requests at once (-N 2). Two clients: no waiting.", 6,
                 traffic={"clients": 2, "rate": 6}),
            Step("A burst: 16 clients",
                 "Sixteen clients now send as fast as they are answered. Only 2 requests are "
                 "proxied at a time; the rest wait in the balancer's FIFO queue. Nobody is "
                 "refused: latency grows with the queue, throughput stays at about "
                 "2 / 0.2 s = 10 requests a second.", 12,
                 traffic={"clients": 16, "rate": 200}, frame=True,
                 look={"live": "The balancer line counts the requests waiting in its queue; "
                               "the ms column shows the wait.",
                       "plain": "The ms figures on the status lines show the wait.",
                       "page": "The dashed line of the latency lane is the queue."}),
            Step("Back to light load",
                 "The burst ends; the queue drains in order and latency falls back to 200 ms.",
                 6, traffic={"clients": 2, "rate": 6}),
        ], lb_args=["-N", "2", "-R", "5", "--queue-timeout", "10s"],
        backend_faults={"A": {"delay": 200}, "B": {"delay": 200}, "C": {"delay": 200}})


def keepalive():
    return Scenario(
        "keepalive", "Keep-alive routing", "each request of one connection routed on its own", [
            Step("Keep-alive clients",
                 "Three clients each keep one TCP connection open and send request after "
                 "request on it. The balancer frames every request and response "
                 "(Content-Length), so it routes each request on its own: consecutive requests "
                 "of one connection land on different backends.", 8,
                 traffic={"clients": 3, "rate": 15, "keepalive": True}, frame=True,
                 look={"live": "The keep-alive lines list the backends of each connection's "
                               "latest requests.",
                       "page": "'One connection, many backends' below shows each connection's "
                               "requests."}),
            Step("B crashes under open connections",
                 "B is killed. The clients' connections are to the balancer, not to B, so "
                 "they stay open; requests that would have gone to B go to A and C.", 8,
                 action=lambda c: c.crash("B")),
            Step("B returns",
                 "B is back with TOTAL=0 and takes the next requests of the same connections.",
                 7, action=lambda c: c.revive("B")),
        ])


def vanish():
    return Scenario(
        "vanish", "A server's machine vanishes", "silence instead of a reset: the connect "
        "timeout (needs root: each process on its own host)", [
            Step("Steady traffic",
                 "This time every process runs on a host of its own: a network namespace "
                 "with its own address, as on separate machines. Three backends share the "
                 "traffic, fewest TOTAL first.", 6),
            Step("B's machine vanishes",
                 "Every packet to B is now dropped, as when a machine loses power or its "
                 "cable: unlike a crashed process, nobody answers 'connection refused'. A "
                 "request sent to B waits for the balancer's connect timeout (1 s), and only "
                 "then goes to A or C: those clients wait a whole second longer. A health "
                 "check meets the same silence, fails after its 1 s deadline, and B is "
                 "marked down; from then on nobody waits.", 10, action=lambda c: c.vanish("B"), frame=True),
            Step("B's network is back",
                 "The drop rule is removed. B never stopped running: the next health check "
                 "finds it and marks it up, and it takes traffic again. Compare 'C crashes' "
                 "in the classic story: a reset costs microseconds, silence costs a timeout.",
                 8, action=lambda c: c.reappear("B")),
        ], hosts=True)


def gentle():
    def restart(c):
        # The ramp is real time: at SPEED=x it lasts 1/x as long, like every step.
        c.restart_balancer("--slow-start", f"{8 / c.speed:g}s")
    return Scenario(
        "gentle", "A server comes back gently", "a revival with slow start off, then on: "
        "every request at once, or a share that grows", [
            Step("Steady traffic",
                 "Three fakeservers, A, B and C, share the traffic; the balancer sends each "
                 "request to the healthy backend with the fewest TOTAL requests (the count it "
                 "last reported plus what was sent to it since).", 6),
            Step("C crashes",
                 "C is killed; the balancer marks it down and A and B take everything.", 4,
                 action=lambda c: c.crash("C")),
            Step("C comes back, slow start off",
                 "C starts again with fresh counters: it reports TOTAL=0 while A and B report "
                 "every request they have served. Fewest-TOTAL sees an idle server and sends C every request until "
                 "its count has caught up. A real server that has just started (cold caches, "
                 "connections to open, code to load) would be flooded the moment it returns.",
                 10, action=lambda c: c.revive("C"), frame=True,
                 look={"live": "C's answers column takes every request at once while A's and "
                               "B's fall to nothing.",
                       "plain": "C's load climbs from 0 on the status lines while A's and B's "
                                "stand still.",
                       "page": "C's lane jumps from nothing to every bar at its revival."}),
            Step("The balancer restarts with slow start",
                 "The clients pause and the balancer is restarted on the same port with "
                 "--slow-start 8s: for 8 seconds after a backend comes back, each request the "
                 "rule gives it is kept only with a probability that grows from 0 to 1, and "
                 "otherwise goes to another backend. Backends are not slowed at start-up.",
                 3, action=restart, traffic={"clients": 0}),
            Step("C crashes again",
                 "The same crash as before: C is killed and marked down.", 4,
                 action=lambda c: c.crash("C")),
            Step("C comes back, slow start on",
                 "C starts again with TOTAL=0, exactly as before, but now its share of the "
                 "requests grows over 8 seconds: about an eighth in the first second, half "
                 "after four, all of them at the end of the ramp (it still reports the fewest "
                 "TOTAL, so it then takes everything until it has caught up).", 12,
                 action=lambda c: c.revive("C"),
                 look={"live": "C's answers column grows second by second instead of "
                               "jumping.",
                       "plain": "C's load grows slowly on the status lines while A's and B's "
                                "still move.",
                       "page": "Compare C's two revivals in the timeline: a wall of bars, "
                               "then a ramp."}),
            Step("The end", "Stopping every process.", 2, traffic={"clients": 0}),
        ])


# Every server of the scale-out story: two requests at a time, 200 ms each (10 a second);
# health checks are not held up (the faults hit only the clients' requests).
SCALE_FAULTS = {"delay": 200, "capacity": 2, "scope": "others"}


def scale_out():
    return Scenario(
        "scaleout", "Scaling out under load", "a fourth server added through the admin API "
        "takes traffic at once; then one drained and removed", [
            Step("Three servers, more work than they can take",
                 "A, B and C each serve two requests at a time and take 200 ms over each: "
                 "together 30 answers a second. Twelve clients ask for about 36 a second, so "
                 "requests wait their turn at the servers and the wait doubles. This story "
                 "runs --policy leastconn: each request goes to the backend with the fewest "
                 "requests in flight.", 8,
                 look={"live": "The ms column shows the wait.",
                       "plain": "The ms figures on the status lines show the wait.",
                       "page": "The latency lane shows the wait."}),
            Step("D is added through the admin API",
                 "A fourth fakeserver, D, is started and added to the running balancer with "
                 "POST /backends on its stats port: no restart, no dropped connection. D is "
                 "unknown until its first health check, sent at once; then, having the "
                 "fewest requests in flight, it takes its share at once. 40 answers a second "
                 "is more than the clients ask: the wait falls back to 200 ms. (Under the "
                 "default fewest-TOTAL rule D, reporting TOTAL=0, would take every request "
                 "until it caught up: see the story 'gentle'.)", 10,
                 action=lambda c: c.add("D", *(a for k, v in SCALE_FAULTS.items()
                                                for a in (f"--{k}", v))), frame=True,
                 look={"live": "D's row appears, its answers column fills and the ms column "
                               "falls.",
                       "plain": "D joins the status lines and every ms figure falls.",
                       "page": "D's lane fills from the moment it is marked up; the latency "
                               "lane falls."}),
            Step("C is drained",
                 "PATCH /backends/C with state drain: the balancer sends C no new request; "
                 "the ones C is serving finish and are answered. A, B and D take the rest: "
                 "30 answers a second again, and the wait climbs back.", 5,
                 action=lambda c: c.drain("C"),
                 look={"live": "C's state reads DRAINING and its answers stop.",
                       "plain": "C's state on the status lines reads DRAINING.",
                       "page": "C's lane stops getting bars."}),
            Step("C is removed",
                 "DELETE /backends/C: once nothing is in flight on it, C leaves the table, "
                 "and only then is its process stopped. No client saw an error.", 5,
                 action=lambda c: c.remove("C")),
            Step("The end", "Stopping every process.", 2, traffic={"clients": 0}),
        ], lb_args=["-N", "16", "-R", "5", "--policy", "leastconn"],
        traffic={"clients": 12, "rate": 36},
        backend_faults={name: SCALE_FAULTS for name in "ABC"})


LIBRARY = {s().name: s for s in (classic, flapping, slow, overload, keepalive, vanish, gentle,
                                 scale_out)}


def get(name):
    if name not in LIBRARY:
        raise KeyError(name)
    return LIBRARY[name]()


def listing():
    lines = ["scenarios (SCENARIO=name make demo):"]
    for name, make in LIBRARY.items():
        s = make()
        total = sum(st.duration for st in s.steps)
        lines.append(f"  {name:<10} {s.title}: {s.summary} (~{total:.0f} s)")
    return "\n".join(lines)
