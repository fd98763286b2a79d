"""The recording of one demo run: what the clients saw, what the balancer reported, and
what the demo did to the cluster, each stamped with seconds since the run started.

Every renderer (live view, SVG, HTML) reads only this, so a run can be re-rendered from its
run.json and the renderers can be developed against a synthetic recording (sample.py).

Event kinds (the `kind` field):
  step      a new step of the story began (title; the caption is in `steps`)
  slow      the demo made a backend slow (detail: the delay)
  fast      the demo removed a backend's delay
  crash     the demo killed a backend (SIGKILL)
  freeze    the demo stopped a backend (SIGSTOP); thaw undoes it
  revive    the demo started a killed backend again on the same port
  add       the demo started a new backend and added it through the admin API
  drain     the demo drained a backend (admin API: no new request for it)
  remove    the demo removed a backend (admin API), then stopped its process
  restart   the demo restarted the balancer on its port (detail: the arguments added)
  down, up  the balancer changed its view of a backend (from /stats)
  hc        the balancer finished a health check of a backend (ok true/false)
  note      anything else worth a line in the log
"""
import json
import threading
import time


class Recorder:
    """Thread-safe store of requests, samples and events. Times are run-relative seconds."""

    def __init__(self, scenario, title, backends, speed=1.0):
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        self.lock = threading.Lock()
        self.meta = {"scenario": scenario, "title": title, "speed": speed,
                     "backends": list(backends), "source": "clients", "notes": []}
        self.requests = []   # [t, backend name or None, status (0 = no answer), latency ms, conn]
        self.samples = []    # {"t": t, "backends": {name: {...}}, "queue": n}
        self.events = []     # {"t": t, "kind": k, "backend": name or None, ...}
        self.steps = []      # {"t": t, "title": ..., "caption": ...}

    def rebase(self):
        """Makes now the run's time zero: what was recorded while the cluster started is
        dropped, except the latest sample (restamped at 0), so pictures begin at step 1."""
        with self.lock:
            self.t0 = time.monotonic()
            self.wall0 = time.time()
            last = self.samples[-1] if self.samples else None
            self.samples = [dict(last, t=0.0)] if last else []
            self.events, self.requests, self.steps = [], [], []

    def now(self):
        return round(time.monotonic() - self.t0, 3)

    def request(self, backend, status, latency_ms, conn=None, t=None):
        with self.lock:
            self.requests.append([self.now() if t is None else t, backend, status,
                                  round(latency_ms, 1), conn])

    def sample(self, backends, extra=None):
        with self.lock:
            row = {"t": self.now(), "backends": backends}
            row.update(extra or {})
            self.samples.append(row)

    def event(self, kind, backend=None, **fields):
        with self.lock:
            ev = {"t": self.now(), "kind": kind, "backend": backend}
            ev.update(fields)
            self.events.append(ev)
            return ev

    def step(self, title, caption, look=None):
        """A new step; `look` maps a view ("live", "plain", "page") to where to look in it.
        The step and its `step` event carry the same time, so views can interleave steps
        and events in the order they happened."""
        with self.lock:
            st = {"t": self.now(), "title": title, "caption": caption}
            if look:
                st["look"] = dict(look)
            self.steps.append(st)
            self.events.append({"t": st["t"], "kind": "step", "backend": None, "title": title})
        return st

    def note(self, text):
        with self.lock:
            self.meta["notes"].append(text)

    def snapshot(self):
        """A consistent copy for renderers that run while traffic is still being recorded."""
        with self.lock:
            return {"meta": dict(self.meta), "duration": self.now(),
                    "requests": list(self.requests), "samples": list(self.samples),
                    "events": list(self.events), "steps": list(self.steps)}

    def save(self, path):
        data = self.snapshot()
        data["meta"]["started"] = time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                time.gmtime(self.wall0))
        with open(path, "w") as f:
            json.dump(data, f, separators=(",", ":"))
        return data


def load(path):
    with open(path) as f:
        return json.load(f)


def done_at(req):
    """When the client had its answer (or gave up): start + latency."""
    return req[0] + req[3] / 1000.0


def per_bin(requests, duration, bin_s, key, when=done_at):
    """Counts requests into bins of bin_s seconds by when(req) (default: when answered);
    key(req) names the series or None to skip. Returns {series: [count per bin]}."""
    nbins = max(1, int(duration / bin_s) + 1)
    out = {}
    for req in requests:
        name = key(req)
        if name is None:
            continue
        row = out.setdefault(name, [0] * nbins)
        i = min(nbins - 1, max(0, int(when(req) / bin_s)))
        row[i] += 1
    return out


def latency_per_bin(requests, duration, bin_s, share=0.9):
    """The `share` quantile of client latency (ms) of the answers completed in each bin
    (0.9: nine clients in ten waited less), None where there were none."""
    nbins = max(1, int(duration / bin_s) + 1)
    rows = [[] for _ in range(nbins)]
    for req in requests:
        if req[2]:
            rows[min(nbins - 1, max(0, int(done_at(req) / bin_s)))].append(req[3])
    return [sorted(r)[min(len(r) - 1, int(len(r) * share))] if r else None for r in rows]
