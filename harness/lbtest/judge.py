"""The invariant, applied to every cell, in words a student understands.

Every request of every phase gets exactly one outcome (harness.traffic); a phase allows some
kinds (always `ok`; the exact 500 or a cut answer where the rule documents them). This
module turns what broke into sentences with counts and the first time, e.g.

    after server B was killed at t=1.20 s, 3 of 200 requests got no answer within 8 s;
    the first was sent at t=2.31 s (GET /big)

and adds what harness.traffic.check finds across the whole cell: PUTs answered but not
stored exactly once, requests the servers logged more often than clients sent them, bytes
after a complete answer, clients that never finished.
"""
import collections
import re

from .. import traffic as traffic_mod

CONTEXT_KINDS = ("crash", "revive", "slow", "freeze", "thaw", "fault")
KIND_TEXT = {
    "timeout": "got no answer within {timeout:g} s",
    "empty": "were closed without any answer",
    "partial": "were cut off after part of their answer",
    "error500": "got the balancer's 500 although a server could answer",
    "status": "got {statuses}",
    "wrong": "got a complete answer with the wrong body",
    "malformed": "got bytes that are not an HTTP answer",
    "connect": "could not connect to the balancer",
}
STRUCTURAL = (  # (pattern of harness.traffic.check's violation, words)
    (r"^PUT answered ok landed on no backend", "PUT(s) answered 2xx were stored on no server"),
    (r"^PUT answered ok landed on", "PUT(s) answered 2xx were stored on more than one server"),
    (r"^PUT answered ok stored", "PUT(s) answered 2xx were stored with other bytes than sent"),
    (r"^failed PUT landed", "failed PUT(s) were stored on more than one server"),
    (r"logged \d+ times by the backends", "request(s) reached the servers more often than "
                                          "clients sent them (duplicated)"),
    (r"but logged only", "answer(s) that no server logged (made up by the balancer?)"),
    (r"^extra bytes", "time(s) bytes came after a complete answer (answered twice?)"),
    (r"never finished|^lost:", "client(s) never finished (a request hung past every deadline)"),
)


def status_text(r):
    """'503 Service Unavailable' from the answer's first line."""
    line = r.sample.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    m = re.match(r"HTTP/1\.[01] (\d{3}.*)$", line)
    return m.group(1).strip() if m else str(r.status)


def context(cell, t):
    """'after server B was killed at t=1.20 s, ' for the last event before t (when the first
    failure was seen), or ''. Servers killed together are named together."""
    before = [ev for ev in cell.events if ev["kind"] in CONTEXT_KINDS and ev["t"] <= t + 0.05]
    if not before:
        return ""
    last = before[-1]
    text = last["text"]
    together = [ev for ev in before if ev["kind"] == "crash" and last["t"] - ev["t"] < 0.5]
    if last["kind"] == "crash" and len(together) > 1:
        names = [ev["backend"] for ev in together]
        text = f"servers {', '.join(names[:-1])} and {names[-1]} were killed"
    return f"after {text} at t={last['t']:.2f} s, "


def expected_text(allow):
    if "ok" in allow and "error500" in allow:
        return "a correct answer or the course's exact 500"
    if "error500" in allow:
        return "the course's exact `HTTP/1.1 500 Internal Server Error` with Content-Length: 0"
    return "a correct answer"


def kind_sentence(cell, kind, bad, total, allow, timeout):
    first = min(bad, key=lambda r: r.t_start)
    if kind == "status":
        by = collections.Counter(status_text(r) for r in bad)
        statuses = ", ".join(f"{s}" + (f" ({n})" if len(by) > 1 else "")
                             for s, n in by.most_common(3))
        what = KIND_TEXT[kind].format(statuses=statuses) + f" instead of {expected_text(allow)}"
    else:
        what = KIND_TEXT[kind].format(timeout=timeout)
    seen = min(r.t_end for r in bad)
    return (f"{context(cell, seen)}{len(bad)} of {total} requests {what}; "
            f"the first was sent at t={first.t_start:.2f} s ({first.method} /{first.name})")


def phase_reasons(cell, phase, timeout):
    reqs = phase.result.requests
    bad = collections.defaultdict(list)
    for r in reqs:
        kind = r.kind or "timeout"
        if kind not in phase.allow or kind in traffic_mod.NEVER_ALLOWED:
            bad[kind].append(r)
    order = sorted(bad, key=lambda k: min(r.t_start for r in bad[k]))
    return [kind_sentence(cell, k, bad[k], len(reqs), phase.allow, timeout) for k in order]


def structural(violations, names):
    groups = collections.OrderedDict()
    for v in violations:
        if v.startswith(("wrong: ", "malformed: ")):
            continue   # said per phase, with counts
        words = next((w for pat, w in STRUCTURAL if re.search(pat, v)), None) or v[:100]
        groups.setdefault(words, []).append(v)
    out = []
    for words, vs in groups.items():
        first = re.sub(r"backend (\d)", lambda m: f"server {names[int(m.group(1))]}", vs[0])
        out.append(f"{len(vs)} {words}; first: {first[:180]}")
    return out


def invariant(cell, timeout=None):
    """Reasons (sentences) for every way the cell's traffic broke the invariant."""
    from .cell import CLIENT_TIMEOUT, wire_result
    timeout = CLIENT_TIMEOUT if timeout is None else timeout
    reasons = []
    for phase in cell.phases:
        reasons += phase_reasons(cell, phase, timeout)
    everything = [r for p in cell.phases for r in p.result.requests]
    merged = wire_result(everything)
    for p in cell.phases:
        merged.extra += p.result.extra
        merged.stuck += p.result.stuck
    logs = [path for b in cell.backends for path in b.course_logs]
    report = traffic_mod.check(merged, allow=traffic_mod.KINDS,
                               backend_dirs=[b.dir for b in cell.backends], course_logs=logs,
                               idempotent_copies=2, population=everything)
    reasons += structural(report.violations, [cell.name(i) for i in range(len(cell.backends))])
    return reasons
