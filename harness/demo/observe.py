"""Watches the balancer while the demo runs and records what it sees.

With a stats port, a thread polls GET /stats every 100 ms and records one sample per poll:
for each backend its state, TOTAL, ERRORS, requests in flight, failures and the last
health check. Changes between two polls become events: `down`/`up` (with the balancer's own
reason when /stats gives one) and `hc` (a health check finished: the last-check stamp
moved). Field names are read tolerantly (see FIELDS), so small changes to the JSON do not
break the demo.

Without a stats port (an older balancer) the view falls back to what can be seen from
outside: the backends' course logs show each health check they answered (`GET /healthcheck`
lines), and a backend is shown as down from the moment the demo killed it until its
revival. The recording says which source it used (meta.source).
"""
import json
import threading

from harness.cluster import http_request

FIELDS = {  # our name: names the balancer might use, first match wins
    "address": ("address", "addr", "backend", "server", "name"),
    "state": ("state", "status", "healthy", "up"),
    "total": ("total", "TOTAL", "reported_total", "requests"),
    "errors": ("errors", "ERRORS", "reported_errors"),
    "in_flight": ("in_flight", "inflight", "active", "in_progress", "current"),
    "failures": ("failures", "fails", "consecutive_failures", "failed"),
    "last_check": ("last_check_ms_ago", "last_check_age_ms", "checked_ms_ago",
                   "last_check_ago_ms"),
    "last_check_ok": ("last_check_ok", "last_check_result", "check_ok", "last_ok"),
    "checks": ("checks", "health_checks", "checks_total", "hc_count"),
    "checks_ok": ("checks_ok", "checks_passed"),
    "checks_failed": ("checks_failed", "checks_bad"),
    "load": ("load", "effective_total"),
    "forwarded": ("forwarded", "sent", "routed"),
    "reason": ("reason", "last_error", "down_reason", "why"),
}


def pick(obj, ours):
    for key in FIELDS[ours]:
        if key in obj:
            return obj[key]
    return None


def normalise_state(value):
    if isinstance(value, bool):
        return "up" if value else "down"
    s = str(value).lower()
    if s in ("up", "healthy", "ok", "alive", "1", "true"):
        return "up"
    if s in ("down", "unhealthy", "dead", "failed", "0", "false"):
        return "down"
    return s


def backends_of(doc):
    if isinstance(doc, list):
        return doc
    for key in ("backends", "servers", "upstreams"):
        if isinstance(doc.get(key), list):
            return doc[key]
    return []


class Observer:
    def __init__(self, recorder, cluster, interval=0.1):
        self.rec = recorder
        self.cluster = cluster
        self.interval = interval
        self.stopping = threading.Event()
        self.thread = None
        self.prev = {}
        self.log_offsets = {}
        self.last_doc = None
        self.use_stats = cluster.balancer.stats_port is not None
        recorder.meta["source"] = "/stats" if self.use_stats else "outside view (no /stats)"
        if not self.use_stats:
            recorder.note("The balancer had no stats port: states are inferred from what the "
                          "demo did, health checks from the backends' logs.")

    def start(self):
        self.thread = threading.Thread(target=self._run, daemon=True, name="demo-observer")
        self.thread.start()

    def stop(self):
        self.stopping.set()
        if self.thread:
            self.thread.join(3)

    def _run(self):
        while not self.stopping.is_set():
            try:
                self.poll()
            except Exception as e:  # the view must never take the demo down
                self.rec.note(f"observer: {type(e).__name__}: {e}")
                self.stopping.wait(0.5)
            self.stopping.wait(self.interval)

    def poll(self):
        if self.use_stats:
            doc = self._stats()
            if doc is not None:
                self.last_doc = doc
                self._from_stats(doc)
                return
        self._from_outside()

    def _stats(self):
        try:
            status, body = http_request(self.cluster.balancer.stats_port, "GET", "/stats",
                                        timeout=0.5)
            return json.loads(body) if status == 200 else None
        except (OSError, ValueError):
            return None

    def _name_for(self, entry, index):
        addr = str(pick(entry, "address") or "")
        for b in self.cluster.backends:
            if addr.endswith(f":{b.port}") or addr == str(b.port):
                return b.name
        if index < len(self.cluster.backends):
            return self.cluster.backends[index].name
        return None

    def _from_stats(self, doc):
        view = {}
        for i, entry in enumerate(backends_of(doc)):
            name = self._name_for(entry, i)
            if name is None or name in view:
                continue
            row = {"state": normalise_state(pick(entry, "state"))}
            for ours in ("total", "errors", "in_flight", "failures", "load", "forwarded"):
                v = pick(entry, ours)
                if v is not None:
                    row[ours] = v
            self._check_fields(entry, row)
            view[name] = row
            self._diff(name, row, pick(entry, "reason"))
        extra = {}
        for key in ("queued_now", "queue", "waiting", "in_flight", "replies_500", "retries"):
            if isinstance(doc, dict) and isinstance(doc.get(key), (int, float)):
                extra[key] = doc[key]
        self.rec.sample(view, extra)

    def _check_fields(self, entry, row):
        """last_check_age (seconds) and last_check_ok, from whichever fields exist."""
        last = pick(entry, "last_check")
        if isinstance(last, dict):
            ok = pick(last, "last_check_ok") if pick(last, "last_check_ok") is not None \
                else last.get("ok")
            row["last_check_ok"] = ok
            last = last.get("age_ms", last.get("ms_ago", last.get("at_ms")))
        if isinstance(last, (int, float)) and last >= 0:
            row["last_check_age"] = last / 1000.0
        ok = pick(entry, "last_check_ok")
        if ok is not None:
            row["last_check_ok"] = ok in (True, "ok", 1, "up", "pass", "passed")
        checks = pick(entry, "checks")
        if isinstance(checks, (int, float)):
            row["checks"] = checks
        for ours in ("checks_ok", "checks_failed"):
            v = pick(entry, ours)
            if isinstance(v, (int, float)):
                row[ours] = v

    def _diff(self, name, row, reason):
        before = self.prev.get(name)
        self.prev[name] = row
        if before is None:
            return
        if before["state"] != row["state"] and {before["state"], row["state"]} == {"up", "down"}:
            why = reason or self._guess_reason(name, row, before)
            self.rec.event(row["state"], name, why=why)
        if "checks_ok" in row and "checks_failed" in row:
            # Several checks may finish between two polls: one event each (at most 5).
            moved_ok = row["checks_ok"] - before.get("checks_ok", row["checks_ok"])
            moved_bad = row["checks_failed"] - before.get("checks_failed", row["checks_failed"])
            for n, ok in ((moved_ok, True), (moved_bad, False)):
                for _ in range(max(0, min(int(n), 5))):
                    self.rec.event("hc", name, ok=ok)
            if moved_ok or moved_bad:
                row["last_check_ok"] = moved_bad == 0
            elif "last_check_ok" in before:
                row["last_check_ok"] = before["last_check_ok"]
            return
        moved = ("checks" in row and row.get("checks") != before.get("checks")) or (
            "checks" not in row and "last_check_age" in row and "last_check_age" in before
            and row["last_check_age"] + 0.05 < before["last_check_age"])
        if moved:
            ok = row.get("last_check_ok")
            self.rec.event("hc", name, ok=(row["state"] == "up") if ok is None else bool(ok))

    def _guess_reason(self, name, row, before):
        """Why the balancer changed its mind, from what moved in /stats since the last poll
        (a request's failure or a failed health check) and what the demo did to the process."""
        b = self.cluster.backend(name)
        if row["state"] == "up":
            return "health check passed"
        if not b.alive():
            what = "connection refused"
        elif b.frozen:
            what = "no answer in time"
        elif b.last_faults.get("health-flap"):
            what = "health check answered 500"
        else:
            what = "it failed"
        by_request = row.get("failures", 0) > before.get("failures", 0)
        by_check = row.get("checks_failed", 0) > before.get("checks_failed", 0)
        if by_request and not by_check:
            return f"a request hit it first: {what}; that request went elsewhere"
        if by_check and not by_request:
            return f"a health check hit it first: {what}"
        return what

    def _from_outside(self):
        view = {}
        for b in self.cluster.backends:
            state = "up" if b.alive() else "down"
            row = {"state": state}
            view[b.name] = row
            before = self.prev.get(b.name)
            self.prev[b.name] = row
            if before and before["state"] != state:
                self.rec.event(state, b.name, outside=True, why="seen from outside: process "
                               + ("running" if state == "up" else "gone"))
            self._tail_health(b)
        self.rec.sample(view)

    def _tail_health(self, b):
        if not b.course_logs:
            return
        path = b.course_logs[-1]   # the current life's log: a revived backend starts anew
        try:
            with open(path, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                off = self.log_offsets.get(path, 0)
                if size < off:
                    off = 0
                f.seek(off)
                chunk = f.read(size - off)
        except FileNotFoundError:
            return
        complete = chunk.rfind(b"\n") + 1
        self.log_offsets[path] = off + complete
        n = chunk[:complete].count(b"GET /healthcheck")
        for _ in range(min(n, 3)):
            self.rec.event("hc", b.name, ok=True)
