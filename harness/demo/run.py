"""The demo's command line and main sequence.

    python3 -m harness.demo [--scenario NAME|list] [--speed X] [--bin DIR] [--out DIR]
                            [--view tty|plain|auto]

Sequence: start the cluster (backends, then the balancer), wait until the balancer's first
health check has every backend up, then play the steps: each begins with its action and
caption and lasts duration/speed seconds while the live view redraws. At the end (or on
Ctrl-C / SIGTERM) stop traffic, stop every process by PID/process group, verify none is
left, and write run.json, timeline.svg, index.html and frame.txt under OUT/SCENARIO/.

Exit status: 0 when the story ran and every process stopped; 1 when the run failed or a
process was left behind; 2 for bad arguments or missing binaries; 130/143 when interrupted
by SIGINT/SIGTERM (every process is still stopped and the pictures of the run so far are
still written).
"""
import argparse
import os
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path

from harness.process import ProcessError, repo_root
from harness.timing import wait_for

from . import live, page, scenarios, svg
from . import cluster as demo_cluster
from .observe import Observer
from .record import Recorder
from .traffic import Traffic


class Stop(Exception):
    pass


class SafeStream:
    """stdout that survives its reader going away (`make demo | head`): the demo must still
    stop its processes and write its pictures, so a closed pipe only silences it."""

    def __init__(self, stream):
        self.stream, self.closed = stream, False

    def write(self, text):
        if not self.closed:
            try:
                self.stream.write(text)
            except (BrokenPipeError, OSError):
                self.closed = True

    def flush(self):
        if not self.closed:
            try:
                self.stream.flush()
            except (BrokenPipeError, OSError):
                self.closed = True

    def isatty(self):
        return self.stream.isatty()


OUT = SafeStream(sys.stdout)


def say(text):
    OUT.write(text + "\n")
    OUT.flush()


def parse(argv):
    ap = argparse.ArgumentParser(prog="python3 -m harness.demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default=os.environ.get("SCENARIO") or "classic")
    ap.add_argument("--speed", type=float, default=float(os.environ.get("SPEED") or 1.0))
    ap.add_argument("--bin", default=os.environ.get("LBTEST_BIN")
                    or str(repo_root() / "build" / "bin"))
    ap.add_argument("--out", default=str(repo_root() / "demo-out"))
    ap.add_argument("--view", choices=("auto", "tty", "plain"), default="auto")
    args = ap.parse_args(argv)
    if args.speed <= 0:
        ap.error("--speed must be positive")
    return args


def _on_signal(signum, frame):
    raise Stop(f"signal {signum}")


def speed_note(speed):
    """What SPEED changes, said at the start of a run that is not at speed 1: the whole
    story is shorter or longer, not only its pauses, and the request rate stays real."""
    if speed > 1:
        return (f"demo: speed {speed:g} makes every step {speed:g} times shorter while the "
                f"clients keep their real rate, so each step sees {speed:g} times fewer "
                "requests and what builds up over many (a revived backend catching up) shows "
                "only in part; SPEED=1 is the pace for a class")
    return (f"demo: speed {speed:g} makes every step {1 / speed:g} times longer at the same "
            f"request rate, so each step sees {1 / speed:g} times more requests")


def play(scn, ctx, view, speed, frame_box):
    rec = ctx.rec
    rec.meta["nsteps"] = len(scn.steps)
    rec.meta["planned"] = round(rec.now() + sum(st.duration for st in scn.steps) / speed, 1)
    for st in scn.steps:
        rec.step(st.title, st.caption, st.look)
        if st.action:
            try:
                st.action(ctx)
            except (ProcessError, OSError) as e:
                rec.event("note", None, text=f"step action failed: {e}".splitlines()[0])
        ctx.traffic.configure(**{**scn.traffic, **st.traffic})
        end = time.monotonic() + st.duration / speed
        mid = time.monotonic() + 0.8 * st.duration / speed
        while True:
            left = end - time.monotonic()
            snap = rec.snapshot()
            view.update(snap)
            if st.frame and "text" not in frame_box and time.monotonic() >= mid:
                frame_box["text"] = live.frame_text(snap)
            if left <= 0:
                break
            time.sleep(min(0.25, left))
    ctx.stop_helpers()


def write_outputs(rec, outdir, frame_text):
    data = rec.save(outdir / "run.json")
    picture = svg.render(data)
    (outdir / "timeline.svg").write_text(picture)
    (outdir / "index.html").write_text(page.render(data, picture))
    (outdir / "frame.txt").write_text(frame_text or live.frame_text(data))
    return data


def preflight(args):
    """The scenario to play, or an exit status (listing, unknown name, missing binary)."""
    if args.scenario == "list":
        say(scenarios.listing())
        return 0
    try:
        scn = scenarios.get(args.scenario)
    except KeyError:
        print(f"unknown scenario '{args.scenario}'\n{scenarios.listing()}", file=sys.stderr)
        return 2
    for name in ("fakeserver", "loadbalancer"):
        if not (Path(args.bin) / name).exists():
            print(f"demo: {Path(args.bin) / name} is missing: run `make` first "
                  f"(the {name} may not be written yet)", file=sys.stderr)
            return 2
    return scn


class Run:
    """One play of a scenario; teardown() always stops every process it started."""

    def __init__(self, scn, args, outdir):
        self.scn, self.args, self.outdir = scn, args, outdir
        self.rec = Recorder(scn.name, scn.title, [], speed=args.speed)
        self.workdir = outdir / "run"
        self.cluster = None
        self.traffic = self.observer = self.ctx = None
        self.frame_box = {}

    def play(self, view):
        scn, rec = self.scn, self.rec
        say(f"demo: scenario '{scn.name}' ({scn.title}), speed {self.args.speed:g}; "
            f"processes and logs in {self.workdir}")
        if self.args.speed != 1:
            say(speed_note(self.args.speed))
        os.environ["LBTEST_BIN"] = str(Path(self.args.bin).resolve())   # for the harness
        self.cluster = cluster = demo_cluster.make_cluster(self.workdir, scn.lb_args,
                                                           scn.backend_faults)
        demo_cluster.start(cluster)
        rec.meta["backends"] = [{"name": b.name, "address": "%s:%d" % b.addr}
                                for b in cluster.backends]
        rec.meta["balancer"] = {"port": cluster.port, "stats": cluster.balancer.stats_port,
                                "args": scn.lb_args}
        self.observer = Observer(rec, cluster)
        self.observer.start()
        try:   # the story starts from a healthy cluster; if it is not, it shows that
            wait_for(lambda: rec.samples and all(
                v.get("state") == "up" for v in rec.samples[-1]["backends"].values())
                and len(rec.samples[-1]["backends"]) == len(cluster.backends), 5.0,
                what="every backend up in the balancer's view", interval=0.05)
        except AssertionError:
            pass
        rec.rebase()
        self.traffic = Traffic(rec, cluster.port)
        self.ctx = scenarios.Ctx(cluster, rec, self.traffic, self.args.speed)
        play(scn, self.ctx, view, self.args.speed, self.frame_box)

    def teardown(self):
        """Stops helpers, clients, the observer, then every process; returns (exit
        statuses by name, PIDs still alive afterwards)."""
        if self.ctx:
            self.ctx.stopping.set()
            self.ctx.stop_helpers()
        if self.traffic:
            self.traffic.stop()
        if self.observer:
            self.observer.stop()
        if self.cluster is None:   # it did not get to make one: nothing was started
            return {}, []
        self.cluster.stop()
        pids = demo_cluster.pidfile(self.cluster)
        demo_cluster.ensure_gone(pids)
        return demo_cluster.exit_statuses(self.cluster), demo_cluster.still_running(pids)


def report(rec, outdir, frame_text, exits, left, failure):
    """Writes the pictures and prints the summary and their paths; returns a problem or None."""
    lb_exit = exits.get("loadbalancer")
    rec.note(f"balancer exit status after SIGTERM: {lb_exit}")
    if failure:
        rec.note(failure)
    data = write_outputs(rec, outdir, frame_text)
    crashes = sum(1 for e in data["events"] if e["kind"] == "crash")
    errors = sum(1 for r in data["requests"] if r[1] is None)
    say(f"\ndemo: {len(data['requests'])} requests, {errors} client errors, "
        f"{crashes} crashes caused; balancer exited {lb_exit}; "
        f"{'no process left' if not left else f'LEFT BEHIND: {left}'}")
    for label, name in (("timeline (SVG)", "timeline.svg"), ("page (HTML)", "index.html"),
                        ("recording", "run.json"), ("live-view frame", "frame.txt")):
        say(f"demo: {label:<16} {outdir / name}")
    if left:
        return f"processes left behind: {left}"
    if lb_exit not in (0, None):
        return f"the balancer exited {lb_exit} after SIGTERM (the contract says 0)"
    return None


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    scn = preflight(args)
    if isinstance(scn, int):
        return scn
    outdir = Path(args.out) / scn.name
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    view = live.LiveView(OUT, tty={"tty": True, "plain": False, "auto": None}[args.view])
    run = Run(scn, args, outdir)
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    status, failure = 0, None
    try:
        run.play(view)
    except (Stop, KeyboardInterrupt) as e:
        failure = f"interrupted ({e or 'Ctrl-C'})"
        status = 143 if "signal 15" in str(e) else 130
    except ProcessError as e:
        failure, status = f"a process failed: {e}", 1
    except Exception as e:  # a bug in the demo itself: still stop every process
        traceback.print_exc()
        failure, status = f"the demo failed: {type(e).__name__}: {e}", 1
    finally:
        for s in old:
            signal.signal(s, signal.SIG_IGN)
        exits, left = run.teardown()
        for s, h in old.items():
            signal.signal(s, h)
    view.update(run.rec.snapshot())
    view.finish()
    problem = report(run.rec, outdir, run.frame_box.get("text"), exits, left, failure)
    for text in (failure, problem):
        if text:
            print(f"demo: {text}", file=sys.stderr)
    return status or (1 if problem else 0)
