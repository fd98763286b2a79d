"""The timeline of one cell, drawn with the demo's SVG pieces (harness/demo/svg.py).

The demo draws what the balancer said in /stats; lbtest knows only what can be seen from
outside, so the lanes mean something slightly different, and the legend says so:

- bars in a server's lane: client requests that server's course log shows, per time bin
  (the tailer saw each entry at most 50 ms after it was written);
- ticks under a lane: health checks in its course log (green: answered 200, red: FAIL);
- lane background: the server process as lbtest left it (running, killed);
- markers: what the cell did (killed, restarted, faults changed);
- "client errors": every request whose outcome was not a 2xx answer, from the clients;
- "client latency": 90th percentile per bin, from the clients.

`timeline_data(cell, outcome)` is a plain dict (kept in the JSON report); `render(data)` is
a pure function returning the SVG text.
"""
from ..demo import svg as demo_svg

STATE_OF = {"crash": "dead", "revive": "up", "freeze": "down", "thaw": "up"}


def _status(r):
    if r.kind == "ok":
        return r.status or 200
    if r.kind in ("error500", "status"):
        return r.status or 500
    return 0   # no complete answer: drawn as a client error


def timeline_data(cell, outcome):
    names = [cell.name(i) for i in range(len(cell.backends))]
    duration = round(max(cell.now(), 1.0), 3)
    requests = sorted(([round(r.t_start, 3), "client", _status(r),
                        round(max(0.0, r.t_end - r.t_start) * 1000, 1), None]
                       for p in cell.phases for r in p.result.requests), key=lambda x: x[0])
    served, events = {}, []
    for i, n in enumerate(names):
        entries = cell.tail.of(i, health=None) if cell.tail else []
        served[n] = [round(t, 3) for t, _m, name, _ok in entries if name != "healthcheck"]
        events += [{"t": round(t, 3), "kind": "hc", "backend": n, "ok": ok}
                   for t, _m, name, ok in entries if name == "healthcheck"]
    state = {n: "up" for n in names}
    samples = [{"t": 0.0, "backends": {n: {"state": "up"} for n in names}}]
    for ev in cell.events:
        kind = ev["kind"]
        if ev.get("backend") in state and kind in STATE_OF:
            state[ev["backend"]] = STATE_OF[kind]
            samples.append({"t": ev["t"], "backends": {n: {"state": s} for n, s in state.items()}})
        if kind in demo_svg.MARKS:
            events.append({"t": ev["t"], "kind": kind, "backend": ev.get("backend"),
                           "detail": ev.get("text", "")})
    events.sort(key=lambda e: e["t"])
    return {
        "meta": {"title": f"{outcome.entry} on {outcome.subject}: {outcome.verdict}",
                 "scenario": outcome.entry, "source": "servers' course logs and the clients",
                 "backends": [{"name": n, "address": f"port {b.port}"}
                              for n, b in zip(names, cell.backends)],
                 "notes": list(outcome.reasons)},
        "duration": duration, "requests": requests, "served": served,
        "samples": samples, "events": events, "steps": list(cell.steps),
    }


def _bins(times, duration, bin_s):
    n = max(1, int(duration / bin_s) + 1)
    row = [0] * n
    for t in times:
        row[min(n - 1, max(0, int(t / bin_s)))] += 1
    return row


def _legend(c, y, bin_s):
    items = [("#e7f5e9", "server process running"), ("url(#down)", "server killed")]
    x = demo_svg.LEFT
    for fill, label in items:
        c.add(f'<rect x="{x}" y="{y - 9}" width="14" height="10" fill="{fill}" stroke="#aaa"/>')
        c.text(x + 19, y, label, 10, fill="#444")
        x += 30 + len(label) * 5.6
    c.add(f'<line x1="{x}" y1="{y - 9}" x2="{x}" y2="{y - 3}" stroke="#27ae60" '
          f'stroke-width="1.5"/><line x1="{x + 4}" y1="{y - 9}" x2="{x + 4}" y2="{y - 3}" '
          f'stroke="#e74c3c" stroke-width="1.5"/>')
    c.text(x + 10, y, "health check in its log: 200 / FAIL", 10, fill="#444")
    c.text(x + 210, y, f"bars: requests in its log per {bin_s:g} s", 10, fill="#444")


def render(data):
    """The SVG text of a cell's timeline."""
    backends = data["meta"]["backends"]
    duration = max(data["duration"], 1.0)
    bin_s = next(b for b in (0.1, 0.25, 0.5, 1.0, 2.0, 5.0) if duration / b <= 160)
    bins = {b["name"]: _bins(data["served"].get(b["name"], []), duration, bin_s)
            for b in backends}
    peak = max([max(v) for v in bins.values()] + [1])
    top, H = 60, demo_svg.LANE_H + demo_svg.LANE_GAP
    labels = demo_svg.step_label_rows(data["steps"], duration)  # long labels take more rows
    rows = 1 + max([row for row, _xn, _xt, _a in labels] + [0])
    lanes_top = top + 26 + demo_svg.STEP_ROW_H * (rows - 1)
    ys = {b["name"]: lanes_top + i * H for i, b in enumerate(backends)}
    err_y = lanes_top + len(backends) * H
    lat_y = err_y + demo_svg.ERR_H + 8
    axis_y = lat_y + demo_svg.LAT_H + 4
    legend_y = axis_y + 50
    height = legend_y + 30
    c = demo_svg._Canvas(duration)   # noqa: SLF001 - the demo's drawing, reused as is
    demo_svg._header(c, data, height)
    c.add('<defs><pattern id="down" width="8" height="8" patternUnits="userSpaceOnUse" '
          'patternTransform="rotate(45)"><rect width="8" height="8" fill="#eceff1"/>'
          '<line x1="0" y1="0" x2="0" y2="8" stroke="#cfd8dc" stroke-width="3"/></pattern>'
          '</defs>')
    demo_svg._steps(c, data, top, lat_y + demo_svg.LAT_H, labels)
    for i, b in enumerate(backends):
        demo_svg._lane(c, data, i, b, ys[b["name"]], bins, bin_s, peak)
    demo_svg._health_ticks(c, data, ys)
    demo_svg._markers(c, data, ys)
    demo_svg._errors_lane(c, data, err_y, bin_s)
    demo_svg._latency_lane(c, data, lat_y, bin_s)
    demo_svg._axis(c, axis_y)
    _legend(c, legend_y, bin_s)
    W = demo_svg.W
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="{W}" '
            f'height="{height}" font-family="Helvetica, Arial, sans-serif" '
            f'class="lb-timeline" data-duration="{duration}">')
    return head + "\n".join(c.parts) + "</svg>\n"
