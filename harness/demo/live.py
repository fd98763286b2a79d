"""The live terminal view: each backend as the balancer sees it (state, TOTAL, ERRORS,
requests in flight, failures, last check) beside what the clients saw (answers from it,
recent latency, a sparkline of answers per second), the story's caption, and the latest
events with the reason the balancer reacted.

On a TTY the frame is redrawn in place with ANSI escapes; otherwise (a pipe, a CI log) the
view appends plain lines: the caption when a step begins, notable events as they happen,
and one status line per second. Steps and events are printed in the order they happened
(a kill before the balancer's reaction to it), and the status line labels its numbers with
the live view's column names (load, TOTAL, ms). Each view adds only its own `look` hint to a
caption. `frame_text()` is a pure function of a recording snapshot, so the README can show a
real frame and tests can check it.
"""
import shutil
import sys
import textwrap

SPARK = " \u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"
WIDTH = 100
NOTABLE = {"crash", "revive", "slow", "fast", "freeze", "thaw", "down", "up", "note", "restart",
           "add", "drain", "remove"}


def caption_for(step, view):
    """A step's caption with the hint of one view ("live", "plain", "page") appended."""
    hint = (step.get("look") or {}).get(view)
    return f"{step['caption']} {hint}" if hint else step["caption"]


def _current_step(data):
    steps = data["steps"]
    return (len(steps), steps[-1]) if steps else (0, None)


def _process_state(data, name):
    """What the demo last did to a backend's process: running, slow, dead, frozen."""
    state = "running"
    for ev in data["events"]:
        if ev.get("backend") != name:
            continue
        k = ev["kind"]
        if k == "crash":
            state = "dead"
        elif k == "revive":
            state = "running"
        elif k == "slow":
            state = f"slow {ev.get('detail', '')}".strip()
        elif k == "fast":
            state = "running"
        elif k == "freeze":
            state = "frozen"
        elif k in ("thaw", "add"):
            state = "running"
        elif k == "drain":
            state = "draining"
        elif k == "remove":
            state = "removed"
    return state


def _client_view(data, name, now):
    total, recent, lats = 0, [0] * 20, []
    for t, backend, status, lat, _conn in data["requests"]:
        if backend != name or not 0 < status < 500:
            continue
        total += 1
        age = now - t
        if 0 <= age < 20:
            recent[19 - int(age)] += 1
        if 0 <= age < 3:
            lats.append(lat)
    lats.sort()
    median = lats[len(lats) // 2] if lats else None
    return total, recent, median


def _spark(counts):
    peak = max(counts + [1])
    return "".join(SPARK[min(8, (8 * c + peak - 1) // peak)] for c in counts)


def _fmt_check(b, now):
    last = b.get("last_check_age")
    if last is None:
        return "-"
    ok = b.get("last_check_ok")
    mark = "" if ok is None else (" ok" if ok else " FAIL")
    return f"{last:.1f}s{mark}"


def _state(latest, name):
    """A backend's state in the latest sample; "gone" when a /stats sample no longer (or
    not yet) lists it (removed, or not yet added, through the admin API)."""
    if name in latest:
        return latest[name].get("state", "?")
    return "gone" if latest else "?"


def _next_choice(backends, latest):
    """The backend the fewest-TOTAL rule would pick now, from the balancer's own numbers."""
    best = None
    for i, b in enumerate(backends):
        v = latest.get(b["name"], {})
        if v.get("state") != "up" or "load" not in v:
            continue
        key = (v["load"], v.get("errors", 0), i)
        if best is None or key < best[0]:
            best = (key, b["name"])
    return best[1] if best else None


def _event_line(ev):
    k, name = ev["kind"], ev.get("backend")
    why = ev.get("why") or ev.get("detail") or ""
    text = {
        "crash": f"the demo killed {name} (SIGKILL): its process is gone",
        "revive": f"the demo started {name} again on the same port{': ' + why if why else ''}",
        "slow": f"{name} now waits {why} before answering",
        "fast": f"{name} answers at full speed again",
        "freeze": f"the demo froze {name} (SIGSTOP): it accepts but never answers",
        "thaw": f"the demo thawed {name} (SIGCONT)",
        "down": (f"{name} is down" if ev.get("outside") else f"balancer marked {name} DOWN")
        + (f" ({why})" if why else ""),
        "up": (f"{name} is up" if ev.get("outside") else f"balancer marked {name} up")
        + (f" ({why})" if why else ""),
        "note": ev.get("text", ""),
        "restart": f"the demo restarted the balancer on its port (SIGTERM, exit 0) with {why}",
        "add": f"the demo started {name} and added it to the balancer ({why})",
        "drain": f"the demo drained {name} ({why}): no new request for it",
        "remove": f"the demo removed {name} from the balancer ({why}), then stopped it",
    }.get(k, k)
    return f"{ev['t']:6.1f}s  {text}"


def frame_lines(data, color=False):
    """The frame as a list of lines (ANSI colours only when color is true)."""
    def paint(s, code):
        return f"\x1b[{code}m{s}\x1b[0m" if color else s
    now = data["duration"]
    meta = data["meta"]
    nstep, step = _current_step(data)
    latest = data["samples"][-1]["backends"] if data["samples"] else {}
    errors = sum(1 for r in data["requests"] if r[1] is None or not 0 < r[2] < 500)
    planned = meta.get("planned")
    left = f" of ~{planned:.0f}s" if planned else ""
    out = [paint(f" Load balancer demo \u00b7 scenario {meta['scenario']} \u00b7 t={now:5.1f}s"
                 f"{left} \u00b7 step {nstep}/{meta.get('nsteps', nstep)}", "1"), ""]
    if step:
        out.append(paint(f" {step['title']}", "1;36"))
        out += [" " + line for line in textwrap.wrap(caption_for(step, "live"), WIDTH - 2)]
        out.append("")
    args = (meta.get("balancer") or {}).get("args") or []
    fewest = "--policy" not in args or "fewest" in args
    nxt = _next_choice(meta["backends"], latest) if fewest else None
    out.append(f"   {'backend':<8}{'process':<13}{'state':<7}{'load':>6}{'TOTAL':>6}"
               f"{'ERRORS':>7}{'sent':>6}{'infl':>5}{'fail':>5}  {'last check':<11}{'ms':>5}"
               f"  answers/s, last 16 s")
    for b in meta["backends"]:
        name = b["name"]
        view = latest.get(name, {})
        state = _state(latest, name)
        total, recent, median = _client_view(data, name, now)
        st = f"{state if state == 'up' else state.upper():<7}"
        st = paint(st, "32" if state == "up" else "1;31") if state != "?" else st
        proc = _process_state(data, name)
        procs = paint(f"{proc:<13}", "31") if proc in ("dead", "frozen") else f"{proc:<13}"
        ms = f"{median:5.0f}" if median is not None else "    -"
        mark = paint("\u25b6", "1;33") if name == nxt else " "
        sent = view.get("forwarded", total)
        out.append(f" {mark} {name:<8}{procs}{st}{view.get('load', '-'):>6}"
                   f"{view.get('total', '-'):>6}{view.get('errors', '-'):>7}{sent:>6}"
                   f"{view.get('in_flight', '-'):>5}{view.get('failures', '-'):>5}  "
                   f"{_fmt_check(view, now):<11}{ms}  {_spark(recent[-16:])}")
    if nxt:
        out.append(f"   \u25b6 next choice: {nxt}, the backend marked up with the fewest load "
                   "(TOTAL last reported + sent since)")
    rate = sum(1 for r in data["requests"] if now - (r[0] + r[3] / 1000.0) < 1.0)
    err_txt = paint(f"{errors} got a 500 or no answer", "1;31" if errors else "0")
    out += ["", f" clients: {len(data['requests'])} requests, {err_txt} \u00b7 {rate} req/s"
                f" \u00b7 balancer view from {meta.get('source')}"]
    extra = data["samples"][-1] if data["samples"] else {}
    if "queued_now" in extra or "in_flight" in extra:
        out.append(f" balancer: {extra.get('in_flight', '-')} in flight (at most -N), "
                   f"{extra.get('queued_now', '-')} waiting in its queue, "
                   f"{extra.get('replies_500', '-')} 500s sent, "
                   f"{extra.get('retries', '-')} retries")
    out += _connection_lines(data)
    recent = [e for e in data["events"] if e["kind"] in NOTABLE][-5:]
    if recent:
        out += ["", " what just happened:"] + [" " + _event_line(e) for e in recent]
    return out


def _connection_lines(data, shown=3, width=24):
    """For keep-alive clients: the backends that served the last requests of a few
    connections, to show that one connection's requests are routed one by one."""
    by_conn = {}
    for _t, backend, status, _lat, conn in data["requests"]:
        if conn is not None:
            by_conn.setdefault(conn, []).append(backend or "x")
    multi = [(c, seq) for c, seq in by_conn.items() if len(seq) > 1]
    if not multi:
        return []
    lines = ["", " keep-alive connections (backend of each request, latest last; x = error):"]
    for conn, seq in multi[-shown:]:
        lines.append(f"   conn {conn:<4} {len(seq):>4} requests: {' '.join(seq[-width:])}")
    return lines


def frame_text(data):
    return "\n".join(frame_lines(data, color=False)) + "\n"


class LiveView:
    """Draws frames on a stream; call update(snapshot) often, finish() once."""

    def __init__(self, stream=None, tty=None):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.last_step = 0
        self.last_event = 0
        self.last_status = -1.0
        self.drawn = False

    def update(self, data):
        if self.tty:
            self._redraw(data)
        else:
            self._append(data)

    def _redraw(self, data):
        # Auto-wrap off (ESC[?7l) and at most rows-1 lines, so a small terminal clips the
        # frame instead of scrolling it, and the next redraw lands in the same place.
        rows = shutil.get_terminal_size((WIDTH + 4, 40)).lines
        lines = frame_lines(data, color=True)[:max(5, rows - 1)]
        prefix = "\x1b[?25l\x1b[?7l\x1b[H" if self.drawn else "\x1b[?25l\x1b[?7l\x1b[2J\x1b[H"
        body = "".join(line + "\x1b[K\n" for line in lines)
        self.stream.write(prefix + body + "\x1b[J")
        self.stream.flush()
        self.drawn = True

    def _append(self, data):
        """New steps and notable events, in the order they were recorded (each step has a
        `step` event at its start), then a status line at most once a second."""
        w = self.stream.write
        steps = data["steps"]
        for ev in data["events"][self.last_event:]:
            if ev["kind"] == "step" and self.last_step < len(steps):
                st = steps[self.last_step]
                self.last_step += 1
                w(f"\n== {st['t']:5.1f}s  {st['title']} ==\n")
                for line in textwrap.wrap(caption_for(st, "plain"), WIDTH):
                    w(f"   {line}\n")
            elif ev["kind"] in NOTABLE:
                w(f" {_event_line(ev)}\n")
        self.last_event = len(data["events"])
        now = data["duration"]
        if now - self.last_status >= 1.0:
            self.last_status = now
            w(self._status_line(data) + "\n")
        self.stream.flush()

    @staticmethod
    def _status_line(data):
        """One line for every backend with the live view's names: state, load and TOTAL
        from the balancer's /stats, ms the clients' median wait over the last 3 s; without
        /stats, the answers the clients got from it."""
        latest = data["samples"][-1]["backends"] if data["samples"] else {}
        parts = []
        for b in data["meta"]["backends"]:
            name = b["name"]
            answered, _recent, median = _client_view(data, name, data["duration"])
            view = latest.get(name, {})
            state = _state(latest, name)
            text = f"{name} {state if state == 'up' else state.upper()}"
            if "load" in view or "total" in view:
                text += f" load {view.get('load', '-')} TOTAL {view.get('total', '-')}"
            else:
                text += f" answered {answered}"
            text += f" ms {median:.0f}" if median is not None else " ms -"
            parts.append(text)
        errors = sum(1 for r in data["requests"] if r[1] is None or not 0 < r[2] < 500)
        return f" {data['duration']:6.1f}s  " + " | ".join(parts) + f" | client errors {errors}"

    def finish(self):
        if self.tty and self.drawn:
            self.stream.write("\x1b[?7h\x1b[?25h")
            self.stream.flush()
