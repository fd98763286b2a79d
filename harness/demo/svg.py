"""The timeline picture of a run, as a standalone SVG a teacher can put on a slide.

One lane per backend: bars are requests answered by that backend per time bin; the lane's
background is the balancer's view of it (green up, grey hatched down); ticks under the lane
are health checks (green passed, red failed); markers show what the demo did (crash, revive,
slow, freeze) and what the balancer decided (marked down/up). A last lane shows what the
clients got that was not an answer from a backend: the balancer's 500s, in red. Numbered
bands across the top are the story's steps, each labelled with its whole title (a second
row of labels when bands are too short for them).

Every marker carries class="event KIND" and data-backend, data-t, so tests (and the HTML
replay) can find them. Pure function of the recording; no state, no I/O.
"""
import math
from xml.sax.saxutils import escape

from .record import latency_per_bin, per_bin

PALETTE = ["#3b7dd8", "#e08a1e", "#8e44ad", "#16a085", "#c0392b", "#2c3e50"]
W, LEFT, RIGHT = 1000, 118, 24
LANE_H, LANE_GAP = 64, 16
ERR_H = 44
LAT_H = 52


def color_of(index):
    return PALETTE[index % len(PALETTE)]


def _state_spans(data, name, duration):
    """[(t0, t1, state)] from the samples' view of one backend (state 'up'/'down'/...)."""
    spans, cur, since = [], None, 0.0
    for s in data["samples"]:
        b = s["backends"].get(name)
        st = (b or {}).get("state", "unknown") if b else "gone"
        if st != cur:
            if cur is not None:
                spans.append((since, s["t"], cur))
            cur, since = st, s["t"]
    if cur is not None:
        spans.append((since, duration, cur))
    return spans


class _Canvas:
    def __init__(self, duration):
        self.parts = []
        self.duration = max(duration, 1.0)
        self.plot_w = W - LEFT - RIGHT

    def x(self, t):
        return LEFT + self.plot_w * min(max(t, 0.0), self.duration) / self.duration

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=12, anchor="start", fill="#222", weight="normal", cls="",
             halo=False):
        c = f' class="{cls}"' if cls else ""
        h = ' stroke="#fff" stroke-width="3" paint-order="stroke"' if halo else ""
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                 f'fill="{fill}" font-weight="{weight}"{c}{h}>{escape(str(s))}</text>')


def _header(c, data, height):
    meta = data["meta"]
    c.add(f'<rect x="0" y="0" width="{W}" height="{height}" fill="#ffffff"/>')
    c.text(16, 26, meta.get("title") or "Load balancer demo", 18, weight="bold")
    started = meta.get("started", "")
    sub = (f'scenario "{meta.get("scenario")}" · {data["duration"]:.0f} s · '
           f'{len(data["requests"])} client requests · balancer view from '
           f'{meta.get("source", "clients")}' + (f" · {started}" if started else ""))
    c.text(16, 44, sub, 11, fill="#555")


STEP_ROW_H = 18          # one row of step labels
STEP_CHAR_W = 6.4        # a generous width of one 11 px Helvetica character, for placement


def step_label_rows(steps, duration):
    """Where each step's number and title go: [(row, x_number, x_text, anchor)]. A title is
    never cut: it starts right of its number at the band's start and runs past a short band;
    a title that would leave the picture on the right ends left of its number instead. Each
    label takes the first row where it clears the labels already there, so a short band (a
    2 s step) costs a second row, not its name."""
    c = _Canvas(duration)
    placed, rows = [], []       # rows: per row, the [x0, x1] spans taken
    for st in steps:
        x0 = c.x(st["t"])
        width = len(st["title"]) * STEP_CHAR_W
        xn = x0 + 10
        if x0 + 22 + width <= W - 4:
            anchor, xt, span = "start", x0 + 22, (x0, x0 + 22 + width)
        else:
            xn = min(xn, W - 12)
            anchor, xt, span = "end", xn - 12, (xn - 12 - width, xn + 9)
        for row, taken in enumerate(rows):
            if all(span[0] > b + 6 or span[1] < a - 6 for a, b in taken):
                break
        else:
            row, taken = len(rows), []
            rows.append(taken)
        taken.append(span)
        placed.append((row, xn, xt, anchor))
    return placed


def _steps(c, data, top, bottom, labels):
    steps = data["steps"]
    for i, st in enumerate(steps):
        t1 = steps[i + 1]["t"] if i + 1 < len(steps) else data["duration"]
        x0, x1 = c.x(st["t"]), c.x(t1)
        shade = "#f4f6fa" if i % 2 == 0 else "#ffffff"
        c.add(f'<rect class="step" data-t="{st["t"]}" x="{x0:.1f}" y="{top}" '
              f'width="{max(0.0, x1 - x0):.1f}" height="{bottom - top}" fill="{shade}"/>')
        c.add(f'<line x1="{x0:.1f}" y1="{top}" x2="{x0:.1f}" y2="{bottom}" stroke="#c8cdd6" '
              f'stroke-dasharray="3,3"/>')
    for i, (st, (row, xn, xt, anchor)) in enumerate(zip(steps, labels)):
        y = top + 11 + row * STEP_ROW_H
        c.add(f'<circle class="step-number" cx="{xn:.1f}" cy="{y}" r="8" fill="#34495e"/>')
        c.text(xn, y + 4, i + 1, 10, "middle", "#fff", "bold")
        c.text(xt, y + 4, st["title"], 11, anchor, "#34495e", cls="step-label", halo=True)


def _lane(c, data, idx, b, y, bins, bin_s, peak):
    name = b["name"]
    col = color_of(idx)
    for t0, t1, st in _state_spans(data, name, data["duration"]):
        fill = "#e7f5e9" if st in ("up", "healthy") else (
            "url(#down)" if st in ("down", "unhealthy", "dead") else
            "#fdf0e0" if st == "draining" else "#f7f7f7")
        c.add(f'<rect class="state {escape(st)}" data-backend="{escape(name)}" '
              f'x="{c.x(t0):.1f}" y="{y}" width="{max(0.0, c.x(t1) - c.x(t0)):.1f}" '
              f'height="{LANE_H}" fill="{fill}"/>')
    c.add(f'<rect x="{LEFT}" y="{y}" width="{c.plot_w}" height="{LANE_H}" fill="none" '
          f'stroke="#d0d4da"/>')
    c.text(LEFT - 10, y + LANE_H / 2 - 2, f"backend {name}", 13, "end", col, "bold")
    c.text(LEFT - 10, y + LANE_H / 2 + 13, b.get("address", ""), 9, "end", "#777")
    bw = c.plot_w * bin_s / c.duration
    for i, n in enumerate(bins.get(name, [])):
        if n:
            h = (LANE_H - 8) * n / peak
            c.add(f'<rect class="bar" x="{c.x(i * bin_s) + 0.3:.1f}" y="{y + LANE_H - h:.1f}" '
                  f'width="{max(0.8, bw - 0.6):.1f}" height="{h:.1f}" fill="{col}"/>')


def _health_ticks(c, data, ys):
    for ev in data["events"]:
        if ev["kind"] != "hc" or ev.get("backend") not in ys:
            continue
        y = ys[ev["backend"]] + LANE_H
        col = "#27ae60" if ev.get("ok") else "#e74c3c"
        c.add(f'<line class="event hc" data-backend="{escape(ev["backend"])}" '
              f'data-t="{ev["t"]}" data-ok="{int(bool(ev.get("ok")))}" x1="{c.x(ev["t"]):.1f}" '
              f'y1="{y + 2}" x2="{c.x(ev["t"]):.1f}" y2="{y + 8}" stroke="{col}" '
              f'stroke-width="1.2"/>')


MARKS = {  # kind: (symbol, colour, label)
    "crash": ("\u2715", "#c0392b", "crash"),
    "revive": ("\u25b2", "#27ae60", "revived"),
    "slow": ("\u25d0", "#d35400", "slow"),
    "fast": ("\u25b6", "#16a085", "fast again"),
    "freeze": ("\u2744", "#2980b9", "frozen"),
    "thaw": ("\u2600", "#f39c12", "thawed"),
    "vanish": ("\u2205", "#8e44ad", "machine vanished"),
    "reappear": ("\u21ba", "#27ae60", "network back"),
    "down": ("\u2193", "#7f8c8d", "marked down"),
    "up": ("\u2191", "#2e7d32", "marked up"),
    "add": ("+", "#27ae60", "added"),
    "drain": ("\u2296", "#d35400", "drained"),
    "remove": ("\u2212", "#7f8c8d", "removed"),
}


def _markers(c, data, ys):
    last_label = {}
    for ev in data["events"]:
        kind, name = ev["kind"], ev.get("backend")
        if kind not in MARKS or name not in ys:
            continue
        sym, col, label = MARKS[kind]
        x, y = c.x(ev["t"]), ys[name]
        big = kind in ("crash", "revive", "slow", "fast", "freeze", "thaw", "vanish",
                       "reappear", "add", "drain", "remove")
        ymark = y + 14 if big else y + LANE_H - 10
        detail = ev.get("detail") or ev.get("why") or ""
        tip = f"{ev['t']:.1f}s {name} {label}" + (f" ({detail})" if detail else "")
        c.add(f'<g class="event {kind}" data-backend="{escape(name)}" data-t="{ev["t"]}">'
              f'<title>{escape(tip)}</title>')
        if big:
            c.add(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + LANE_H}" stroke="{col}" '
                  f'stroke-width="2"/>')
            c.add(f'<circle cx="{x:.1f}" cy="{ymark - 4:.1f}" r="9" fill="#fff" '
                  f'stroke="{col}" stroke-width="2"/>')
            c.text(x, ymark, sym, 11, "middle", col, "bold")
        else:
            c.text(x, ymark, sym, 13, "middle", col, "bold")
        key = (name, big)
        quiet = kind == "up" and (ev["t"] < 1.0 or
                                  ev["t"] - last_label.get((name, True), -99) < 3)
        if big or (ev["t"] - last_label.get(key, -99) > 4 and not quiet):
            text = label + (f" {ev['detail']}" if kind == "slow" and ev.get("detail") else "")
            c.text(x + 12, ymark if big else ymark + 1, text, 10, fill=col, halo=True)
            last_label[key] = ev["t"]
        c.add("</g>")


def _errors_lane(c, data, y, bin_s):
    bins = per_bin(data["requests"], data["duration"], bin_s,
                   lambda r: "err" if r[1] is None or r[2] >= 500 or r[2] == 0 else None)
    row = bins.get("err", [])
    peak = max(row + [1])
    c.add(f'<rect x="{LEFT}" y="{y}" width="{c.plot_w}" height="{ERR_H}" fill="#fff" '
          f'stroke="#d0d4da"/>')
    c.text(LEFT - 10, y + ERR_H / 2 - 1, "client errors", 12, "end", "#c0392b", "bold")
    c.text(LEFT - 10, y + ERR_H / 2 + 12, f"{sum(row)} in all", 9, "end", "#c0392b")
    bw = c.plot_w * bin_s / c.duration
    for i, n in enumerate(row):
        if n:
            h = (ERR_H - 6) * n / peak
            c.add(f'<rect class="error-bar" x="{c.x(i * bin_s) + 0.3:.1f}" '
                  f'y="{y + ERR_H - h:.1f}" width="{max(0.8, bw - 0.6):.1f}" height="{h:.1f}" '
                  f'fill="#e74c3c"/>')


def _latency_lane(c, data, y, bin_s):
    """90th-percentile client latency per bin (a line, log scale from 1 ms), and the balancer's
    queue length when /stats reported it (grey steps, own scale)."""
    c.add(f'<rect x="{LEFT}" y="{y}" width="{c.plot_w}" height="{LAT_H}" fill="#fff" '
          f'stroke="#d0d4da"/>')
    c.text(LEFT - 10, y + LAT_H / 2 - 1, "client latency", 12, "end", "#2c3e50", "bold")
    c.text(LEFT - 10, y + LAT_H / 2 + 12, "90th pct, log scale", 9, "end", "#555")
    lat = latency_per_bin(data["requests"], c.duration, bin_s)
    top = max([v for v in lat if v is not None] + [10.0])
    span = math.log10(max(top, 10.0))

    def ly(ms):
        return y + LAT_H - 4 - (LAT_H - 12) * math.log10(max(ms, 1.0)) / span
    for ms in (10, 100, 1000, 10000):
        if ms <= top * 1.05:
            c.add(f'<line x1="{LEFT}" y1="{ly(ms):.1f}" x2="{LEFT + c.plot_w}" '
                  f'y2="{ly(ms):.1f}" stroke="#eef0f3"/>')
            c.text(LEFT + c.plot_w - 3, ly(ms) - 2, f"{ms:g} ms", 8, "end", "#999")
    pts, path = [], []
    for i, v in enumerate(lat):
        if v is None:
            if len(pts) > 1:
                path.append(pts)
            pts = []
            continue
        pts.append(f"{c.x((i + 0.5) * bin_s):.1f},{ly(v):.1f}")
    if len(pts) > 1:
        path.append(pts)
    for pts in path:
        c.add(f'<polyline class="latency" points="{" ".join(pts)}" fill="none" '
              f'stroke="#2c3e50" stroke-width="1.5"/>')
    peak = max([v for v in lat if v is not None] + [0])
    c.text(LEFT + 4, y + 11, f"peak {peak:.0f} ms", 9, fill="#2c3e50", halo=True)
    queue = [(s["t"], s["queued_now"]) for s in data["samples"] if "queued_now" in s]
    qmax = max([q for _t, q in queue] + [0])
    if qmax > 0:
        pts = " ".join(f"{c.x(t):.1f},{y + LAT_H - 4 - (LAT_H - 12) * q / qmax:.1f}"
                       for t, q in queue)
        c.add(f'<polyline class="queue" points="{pts}" fill="none" stroke="#e67e22" '
              f'stroke-width="1.2" stroke-dasharray="4,2"/>')
        c.text(LEFT + 90, y + 11, f"-- requests queued in the balancer (peak {qmax})", 9,
               fill="#e67e22", halo=True)


def _axis(c, y):
    step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300) if c.duration / s <= 14)
    t = 0
    while t <= c.duration + 1e-9:
        x = c.x(t)
        c.add(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 5}" stroke="#555"/>')
        c.text(x, y + 17, f"{t:g}s", 10, "middle", "#555")
        t += step
    c.text(LEFT + c.plot_w, y + 32, "time since start (s)", 10, "end", "#555")


def _legend(c, data, y, bin_s):
    items = [("#e7f5e9", "balancer sees it up"), ("url(#down)", "balancer sees it down")]
    x = LEFT
    for fill, label in items:
        c.add(f'<rect x="{x}" y="{y - 9}" width="14" height="10" fill="{fill}" '
              f'stroke="#aaa"/>')
        c.text(x + 19, y, label, 10, fill="#444")
        x += 30 + len(label) * 5.6
    c.add(f'<line x1="{x}" y1="{y - 9}" x2="{x}" y2="{y - 3}" stroke="#27ae60" '
          f'stroke-width="1.5"/><line x1="{x + 4}" y1="{y - 9}" x2="{x + 4}" y2="{y - 3}" '
          f'stroke="#e74c3c" stroke-width="1.5"/>')
    c.text(x + 10, y, "health check passed / failed", 10, fill="#444")
    x += 170
    c.text(x, y, f"bars: answers per {bin_s:g} s", 10, fill="#444")
    y += 18
    for i, st in enumerate(data["steps"]):
        c.text(LEFT, y + 14 * i, f"{i + 1}. {st['title']} (at {st['t']:.0f} s)", 10,
               fill="#34495e")
    return y + 14 * len(data["steps"])


def render(data):
    """The SVG document (a str) for a recording (the dict of run.json)."""
    backends = data["meta"]["backends"]
    duration = max(data["duration"], 1.0)
    bin_s = next(b for b in (0.25, 0.5, 1.0, 2.0, 5.0, 10.0) if duration / b <= 160)
    bins = per_bin(data["requests"], duration, bin_s,
                   lambda r: r[1] if r[1] is not None and 0 < r[2] < 500 else None)
    peak = max([max(v) for v in bins.values()] + [1])
    top = 60
    labels = step_label_rows(data["steps"], duration)
    rows = 1 + max([row for row, _xn, _xt, _a in labels] + [0])
    lanes_top = top + 26 + STEP_ROW_H * (rows - 1)
    ys = {b["name"]: lanes_top + i * (LANE_H + LANE_GAP) for i, b in enumerate(backends)}
    err_y = lanes_top + len(backends) * (LANE_H + LANE_GAP)
    lat_y = err_y + ERR_H + 8
    axis_y = lat_y + LAT_H + 4
    legend_y = axis_y + 50
    height = legend_y + 26 + 14 * len(data["steps"])
    c = _Canvas(duration)
    _header(c, data, height)
    c.add('<defs><pattern id="down" width="8" height="8" patternUnits="userSpaceOnUse" '
          'patternTransform="rotate(45)"><rect width="8" height="8" fill="#eceff1"/>'
          '<line x1="0" y1="0" x2="0" y2="8" stroke="#cfd8dc" stroke-width="3"/></pattern>'
          '</defs>')
    _steps(c, data, top, lat_y + LAT_H, labels)
    for i, b in enumerate(backends):
        _lane(c, data, i, b, ys[b["name"]], bins, bin_s, peak)
    _health_ticks(c, data, ys)
    _markers(c, data, ys)
    _errors_lane(c, data, err_y, bin_s)
    _latency_lane(c, data, lat_y, bin_s)
    _axis(c, axis_y)
    _legend(c, data, legend_y, bin_s)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" '
            f'width="{W}" height="{height}" font-family="Helvetica, Arial, sans-serif" '
            f'class="lb-timeline" data-duration="{duration}" data-left="{LEFT}" '
            f'data-plot-width="{W - LEFT - RIGHT}">')
    return head + "\n".join(c.parts) + "</svg>\n"
