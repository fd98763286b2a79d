"""bench/report.py - turn benchmark runs into bench.json, a Markdown table and an SVG.

Each figure is the median over the rounds (each metric on its own). Ratios are ours over
theirs: above 1 is better for requests/s, below 1 is better for latency, CPU per request
and memory. Python stdlib only; the SVG is written by hand.
"""
from common import median

TARGET_LABEL = {"nginx-direct": "nginx direct (no proxy)", "haproxy": "HAProxy",
                "nginx-proxy": "nginx proxy", "ours": "ours"}
METRICS = ("rps", "p50_ms", "p99_ms", "cpu_pct", "cpu_us_per_req", "rss_kib", "errors",
           "non2xx", "foreign_pct", "load_us_per_req")


def summarize(run_list):
    s = {m: median([r.get(m) for r in run_list]) for m in METRICS}
    s["rps_min"] = min((r["rps"] for r in run_list), default=None)
    s["rps_max"] = max((r["rps"] for r in run_list), default=None)
    s["errors"] = sum(r.get("errors", 0) for r in run_list)
    # What one core would serve at this cost per request if nothing else were the limit.
    s["per_core_rps"] = round(1e6 / s["cpu_us_per_req"]) if s["cpu_us_per_req"] else None
    s["non2xx"] = sum(r.get("non2xx", 0) for r in run_list)
    return s


def _ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def build(machine, cfg, runs, eq, idle):
    data = {"machine": machine, "config": cfg, "summary": {}, "ratios": {},
            "equal_load": {}, "idle": idle, "runs": runs, "equal_load_runs": eq}
    for mode, by_target in runs.items():
        data["summary"][mode] = {t: summarize(rl) for t, rl in by_target.items()}
    data["equal_load"] = {t: summarize(rl) for t, rl in eq.items()}
    for mode, summ in data["summary"].items():
        ours = summ.get("ours")
        if not ours:
            continue
        data["ratios"][mode] = {t: {"rps": _ratio(ours["rps"], s["rps"]),
                                    "p99": _ratio(ours["p99_ms"], s["p99_ms"]),
                                    "cpu_per_req": _ratio(ours["cpu_us_per_req"],
                                                          s["cpu_us_per_req"]),
                                    "per_core": _ratio(ours["per_core_rps"], s["per_core_rps"])}
                                for t, s in summ.items() if t != "ours"}
    ours_eq = data["equal_load"].get("ours")
    if ours_eq:
        data["ratios"]["equal_load_p99"] = {t: _ratio(ours_eq["p99_ms"], s["p99_ms"])
                                            for t, s in data["equal_load"].items() if t != "ours"}
    if idle.get("ours"):
        data["ratios"]["idle_bytes_per_conn"] = {
            t: _ratio(idle["ours"]["bytes_per_conn"], v["bytes_per_conn"])
            for t, v in idle.items() if t != "ours"}
    return data


def _f(v, fmt="%.0f"):
    return "-" if v is None else fmt % v


def table(data):
    out = []
    m = data["machine"]
    out.append("Machine: %s, %s CPUs (%s), kernel %s; %s; %s"
               % (m.get("Model name"), m.get("cpus"), m.get("Hypervisor vendor", "bare metal"),
                  m.get("kernel"), m.get("haproxy"), m.get("nginx")))
    c = data["config"]
    if c.get("backend_cpu", c["load_cpu"]) == c["proxy_cpu"]:
        where = "proxy + backends on CPU %d, wrk alone on CPU %d" % (c["proxy_cpu"], c["load_cpu"])
    else:
        where = "proxy alone on CPU %d, wrk + backends on CPU %d" % (c["proxy_cpu"], c["load_cpu"])
    out.append("Backends: %s; wrk -t1 -c%d, %d s per run, %d rounds, medians; %s (layout %s); "
               "servers and wrk run under `%s`; load average before the run %s.%s"
               % (c["backends"], c["conns"], c["seconds"], c["rounds"], where,
                  c.get("layout", "split"), c.get("sched", "?"),
                  " ".join(c.get("loadavg_before", [])),
                  " HAProxy and nginx with deferred accept (BENCH_PEER_DEFER=1)."
                  if c.get("peer_defer") else ""))
    for mode, summ in data["summary"].items():
        ratios = data["ratios"].get(mode, {})
        out.append("")
        out.append("### %s" % MODE_TITLE.get(mode, mode))
        out.append("")
        out.append("| target | req/s (min-max) | p50 ms | p99 ms | CPU % | CPU us/req "
                   "| req/s per core | load us/req | RSS MiB | errors | other % | ours/it req/s "
                   "| ours/it p99 | ours/it per core |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for t, s in summ.items():
            r = ratios.get(t, {})
            out.append("| %s | %s (%s-%s) | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s "
                       "| %s | %s |" % (
                TARGET_LABEL.get(t, t), _f(s["rps"]), _f(s["rps_min"]), _f(s["rps_max"]),
                _f(s["p50_ms"], "%.3f"), _f(s["p99_ms"], "%.3f"), _f(s["cpu_pct"]),
                _f(s["cpu_us_per_req"], "%.1f"), _f(s["per_core_rps"]),
                _f(s["load_us_per_req"], "%.1f"),
                _f(s["rss_kib"] / 1024.0 if s["rss_kib"] else None, "%.1f"),
                s["errors"] + s["non2xx"], _f(s["foreign_pct"]), _f(r.get("rps"), "%.2fx"),
                _f(r.get("p99"), "%.2fx"), _f(r.get("per_core"), "%.2fx")))
    bad = ["%s %s" % (mode, t) for mode, summ in data["summary"].items()
           for t, s in summ.items() if s["errors"] or s["non2xx"]]
    if bad:
        out.append("")
        out.append("**WARNING: socket errors or non-2xx answers in: %s** (see bench.json)"
                   % ", ".join(bad))
    if data["equal_load"]:
        out.append("")
        out.append("### equal offered load (%d connections, %s ms think time)"
                   % (c["eq_conns"], c["eq_delay_ms"]))
        out.append("")
        out.append("| target | req/s | p50 ms | p99 ms | CPU % | other % | ours/it p99 |")
        out.append("|---|---|---|---|---|---|---|")
        er = data["ratios"].get("equal_load_p99", {})
        for t, s in data["equal_load"].items():
            out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                TARGET_LABEL.get(t, t), _f(s["rps"]), _f(s["p50_ms"], "%.3f"),
                _f(s["p99_ms"], "%.3f"), _f(s["cpu_pct"]), _f(s["foreign_pct"]),
                _f(er.get(t), "%.2fx")))
    if data["idle"]:
        out.append("")
        out.append("### %d idle keep-alive client connections" % c["idle"])
        out.append("")
        out.append("| proxy | answered | still open | RSS before MiB | RSS after MiB "
                   "| bytes/conn | ours/it |")
        out.append("|---|---|---|---|---|---|---|")
        ir = data["ratios"].get("idle_bytes_per_conn", {})
        for t, v in data["idle"].items():
            out.append("| %s | %d | %d | %.1f | %.1f | %s | %s |" % (
                TARGET_LABEL.get(t, t), v["answered"], v["open_at_measure"],
                v["rss_before_kib"] / 1024.0, v["rss_after_kib"] / 1024.0,
                _f(v["bytes_per_conn"]), _f(ir.get(t), "%.2fx")))
    return "\n".join(out)


MODE_TITLE = {"keepalive": "keep-alive clients (wrk)",
              "close": "one request per connection (wrk, Connection: close)",
              "light": "keep-alive clients, light client (bench/load.c instead of wrk)"}
MODE_LABEL = {"keepalive": "keep-alive (wrk)", "close": "Connection: close (wrk)",
              "light": "keep-alive (light client)"}

COLORS = {"nginx-direct": "#9e9e9e", "haproxy": "#1f77b4", "nginx-proxy": "#2ca02c",
          "ours": "#d62728"}


def _bars(groups, title, unit, x0, y0, w, h):
    """One bar panel: groups is [(group label, [(target, value)])]."""
    vmax = 1.12 * max([v for _, items in groups for _, v in items if v] + [1])
    parts = ['<text x="%d" y="%d" font-size="14" font-weight="bold">%s</text>'
             % (x0, y0 - 14, title)]
    base = y0 + h
    parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>' % (x0, base, x0 + w, base))
    gw = w / max(len(groups), 1)
    for gi, (glabel, items) in enumerate(groups):
        bw = (gw - 20) / max(len(items), 1)
        for bi, (t, v) in enumerate(items):
            bh = 0 if not v else h * v / vmax
            x = x0 + gi * gw + 10 + bi * bw
            parts.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s">'
                         '<title>%s: %s %s</title></rect>'
                         % (x, base - bh, bw - 4, bh, COLORS.get(t, "#777"), t, _f(v), unit))
            parts.append('<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle">%s</text>'
                         % (x + (bw - 4) / 2, base - bh - 3, _f(v)))
        parts.append('<text x="%.1f" y="%d" font-size="12" text-anchor="middle">%s</text>'
                     % (x0 + gi * gw + gw / 2, base + 16, glabel))
    return parts


def svg(data):
    w, h = 900, 420
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
             'font-family="sans-serif">' % (w, h),
             '<rect width="100%" height="100%" fill="white"/>']
    groups = []
    for mode, summ in data["summary"].items():
        groups.append((MODE_LABEL.get(mode, mode), [(t, s["rps"]) for t, s in summ.items()]))
    parts += _bars(groups, "requests/s (higher is better)", "req/s", 40, 50, 520, 300)
    idle = [(t, v["bytes_per_conn"]) for t, v in data["idle"].items()]
    if idle:
        parts += _bars([("%d idle connections" % data["config"]["idle"], idle)],
                       "bytes per idle connection (lower is better)", "B", 600, 50, 260, 300)
    for i, t in enumerate(COLORS):
        parts.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
                     '<text x="%d" y="%d" font-size="12">%s</text>'
                     % (40 + i * 200, h - 30, COLORS[t], 56 + i * 200, h - 20,
                        TARGET_LABEL[t]))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
