"""bench/report.py - turn benchmark runs into bench.json, Markdown tables and an SVG.

Each figure is the median over the rounds (each metric on its own). Ratios are a target's
figure over HAProxy's and over nginx-as-a-proxy's, each the median of the per-round
ratios (a round measures every target within a minute, so the machine's drift between
rounds cancels): above 1 is better for requests/s, below 1 is better for CPU per request,
latency and memory. Python stdlib only; the SVG is written by hand.
"""
from common import median

TARGET_LABEL = {"nginx-direct": "nginx direct (no proxy)", "haproxy": "HAProxy",
                "nginx-proxy": "nginx proxy", "ours": "ours",
                "ours-verbatim": "ours --verbatim-connection",
                "ours-bk": "ours --backend-keepalive"}
PEERS = ("haproxy", "nginx-proxy")
METRICS = ("rps", "p50_ms", "p99_ms", "cpu_pct", "cpu_us_per_req", "rss_kib", "other_pct",
           "load_us_per_req", "loadavg", "client_cpu_pct", "backends_cpu_pct", "p999_ms",
           "late")
RATIOS = {"rps": "rps", "cpu": "cpu_us_per_req", "p99": "p99_ms"}
LAYOUT_TITLE = {"free": "free layout: nothing pinned, as a user runs things",
                "tier": "tier layout: proxy + backends on CPU 0, client alone on CPU 1",
                "split": "split layout: proxy alone on CPU 0, client + backends on CPU 1"}
MODE_TITLE = {"keepalive": "keep-alive clients (wrk)",
              "close": "one request per connection (wrk, Connection: close)",
              "light": "keep-alive clients, light client (build/bin/bench_load)",
              "equal": "equal offered load (open loop at a fixed rate, build/bin/bench_load)"}
MODE_SHORT = {"keepalive": "keep-alive", "close": "one request per connection",
              "light": "keep-alive, light client", "equal": "equal offered load"}


def summarize(run_list):
    s = {m: median([r.get(m) for r in run_list]) for m in METRICS}
    s["rps_min"] = min((r["rps"] for r in run_list), default=None)
    s["rps_max"] = max((r["rps"] for r in run_list), default=None)
    s["errors"] = sum(r.get("errors", 0) + r.get("non2xx", 0) for r in run_list)
    s["rounds"] = len(run_list)
    return s


def _ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def paired_ratios(mine, theirs):
    """{kind: median over rounds of mine/theirs}, runs paired by round."""
    by_round = {r["round"]: r for r in theirs}
    out = {}
    for kind, metric in RATIOS.items():
        vals = [_ratio(r.get(metric), by_round[r["round"]].get(metric))
                for r in mine if r["round"] in by_round]
        out[kind] = median(vals)
    return out


def build(machine, cfg, runs, idle):
    data = {"machine": machine, "config": cfg, "summary": {}, "ratios": {}, "idle": idle,
            "layout_load": {}, "runs": runs}
    for layout, by_mode in runs.items():
        data["summary"][layout] = {}
        data["ratios"][layout] = {}
        every = [r for by_t in by_mode.values() for rl in by_t.values() for r in rl]
        loads = sorted(r["loadavg"] for r in every if r.get("loadavg") is not None)
        data["layout_load"][layout] = {
            "loadavg_min": loads[0] if loads else None,
            "loadavg_median": median(loads), "loadavg_max": loads[-1] if loads else None,
            "other_pct_median": median([r.get("other_pct") for r in every])}
        for mode, by_target in by_mode.items():
            data["summary"][layout][mode] = {t: summarize(rl) for t, rl in by_target.items()}
            data["ratios"][layout][mode] = {
                t: {peer: paired_ratios(rl, by_target[peer]) for peer in PEERS
                    if peer in by_target and peer != t}
                for t, rl in by_target.items()}
    if idle.get("ours"):
        data["ratios"]["idle_bytes_per_conn"] = {
            t: _ratio(idle["ours"]["bytes_per_conn"], v["bytes_per_conn"])
            for t, v in idle.items() if t != "ours"}
    return data


def _f(v, fmt="%.0f"):
    return "-" if v is None else fmt % v


def _pair(r, kind):
    """'1.23x, 0.98x' (vs HAProxy, vs nginx proxy); '-' where a peer is the row itself."""
    return ", ".join(_f(r.get(p, {}).get(kind), "%.2fx") for p in PEERS)


def header(data):
    m, c = data["machine"], data["config"]
    lines = ["Machine: %s, %s CPUs (%s), kernel %s; %s; %s"
             % (m.get("Model name"), m.get("cpus"), m.get("Hypervisor vendor", "bare metal"),
                m.get("kernel"), m.get("haproxy"), m.get("nginx")),
             "Backends: %s; wrk -t1 -c%d, %d s per run, %d rounds (layouts alternate within "
             "each round), medians; ours: `%s`; servers and clients run under `%s`; load "
             "average %s before the run, %s after.%s"
             % (c["backends"], c["conns"], c["seconds"], c["rounds"], c.get("ours_args", "?"),
                c.get("sched", "?"), " ".join(c.get("loadavg_before", [])),
                " ".join(c.get("loadavg_after", [])),
                " HAProxy and nginx with deferred accept (BENCH_PEER_DEFER=1)."
                if c.get("peer_defer") else "")]
    return lines


def table(data):
    out = header(data)
    for layout, by_mode in data["summary"].items():
        ld = data["layout_load"][layout]
        out.append("")
        out.append("### %s" % LAYOUT_TITLE.get(layout, layout))
        out.append("")
        out.append("1-minute load average during these runs %s (median; %s-%s); other "
                   "processes took %s%% of a core (median of runs)."
                   % (_f(ld["loadavg_median"], "%.1f"), _f(ld["loadavg_min"], "%.1f"),
                      _f(ld["loadavg_max"], "%.1f"), _f(ld["other_pct_median"])))
        for mode, summ in by_mode.items():
            ratios = data["ratios"][layout][mode]
            out.append("")
            out.append("#### %s" % MODE_TITLE.get(mode, mode))
            out.append("")
            out.append("| target | req/s (min-max) | CPU us/req | p99 ms | p50 ms | CPU % "
                       "| load us/req | RSS MiB | errors | other % | req/s vs HAProxy, nginx "
                       "| CPU/req vs HAProxy, nginx | p99 vs HAProxy, nginx |")
            out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
            for t, s in summ.items():
                r = ratios.get(t, {})
                out.append("| %s | %s (%s-%s) | %s | %s | %s | %s | %s | %s | %s | %s | %s "
                           "| %s | %s |" % (
                               TARGET_LABEL.get(t, t), _f(s["rps"]), _f(s["rps_min"]),
                               _f(s["rps_max"]), _f(s["cpu_us_per_req"], "%.1f"),
                               _f(s["p99_ms"], "%.3f"), _f(s["p50_ms"], "%.3f"),
                               _f(s["cpu_pct"]), _f(s["load_us_per_req"], "%.1f"),
                               _f(s["rss_kib"] / 1024.0 if s["rss_kib"] else None, "%.1f"),
                               s["errors"], _f(s["other_pct"]), _pair(r, "rps"),
                               _pair(r, "cpu"), _pair(r, "p99")))
    bad = ["%s %s %s" % (lay, mode, t) for lay, by_mode in data["summary"].items()
           for mode, summ in by_mode.items() for t, s in summ.items() if s["errors"]]
    if bad:
        out.append("")
        out.append("**WARNING: socket errors or non-2xx answers in: %s** (see bench.json)"
                   % ", ".join(bad))
    if data["idle"]:
        c = data["config"]
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


def _thousands(v):
    return "-" if v is None else "{:,.0f}".format(v)


def _us(v):
    return _f(v, "%.1f us")


def headline(data, backend=None):
    """The short table of the top-level README: per layout, keep-alive and one request per
    connection (req/s, proxy CPU per request, p99 at saturation) and p99 at equal offered
    load, with the ratios; then memory per idle connection and, from bench/backend.py's
    JSON when given, the fakeserver against nginx."""
    out = []
    for layout, by_mode in data["summary"].items():
        ld = data["layout_load"][layout]
        out.append("")
        out.append("**%s** (load average %s-%s during the runs):"
                   % (LAYOUT_TITLE.get(layout, layout), _f(ld["loadavg_min"], "%.1f"),
                      _f(ld["loadavg_max"], "%.1f")))
        out.append("")
        out.append("| clients | proxy | req/s | CPU per request | p99 | req/s vs HAProxy, nginx "
                   "| CPU/req vs HAProxy, nginx | p99 vs HAProxy, nginx |")
        out.append("|---|---|---|---|---|---|---|---|")
        for mode in ("keepalive", "close", "equal"):
            summ = by_mode.get(mode)
            if not summ:
                continue
            first = True
            for t, s in summ.items():
                if t == "nginx-direct":
                    continue
                r = data["ratios"][layout][mode].get(t, {})
                label = MODE_SHORT[mode]
                if mode == "equal" and first:
                    label += " (about {:,.0f} req/s)".format(s["rps"] or 0)
                out.append("| %s | %s | %s | %s | %s ms | %s | %s | %s |" % (
                    label if first else "", TARGET_LABEL.get(t, t),
                    "{:,.0f}".format(s["rps"]) if s["rps"] else "-", _us(s["cpu_us_per_req"]),
                    _f(s["p99_ms"], "%.2f"),
                    _pair(r, "rps") if t.startswith("ours") and mode != "equal" else "",
                    _pair(r, "cpu") if t.startswith("ours") else "",
                    _pair(r, "p99") if t.startswith("ours") else ""))
                first = False
    idle = data.get("idle") or {}
    if idle:
        out.append("")
        out.append("| other figures | HAProxy | nginx | ours | ours vs HAProxy, nginx |")
        out.append("|---|---|---|---|---|")
        ir = data["ratios"].get("idle_bytes_per_conn", {})
        out.append("| memory per idle keep-alive connection ({:,} held) | {} B | {} B | {} B "
                   "| {}, {} |".format(
                       data["config"]["idle"],
                       *[_thousands(idle.get(t, {}).get("bytes_per_conn"))
                         for t in ("haproxy", "nginx-proxy", "ours")],
                       _f(ir.get("haproxy"), "%.2fx"), _f(ir.get("nginx-proxy"), "%.2fx")))
    if backend:
        out += backend_headline(backend)
    return "\n".join(out)


def backend_headline(backend):
    """Rows for the fakeserver against nginx (bench/backend.py's JSON), per layout."""
    out = []
    if not backend.get("summary"):
        return out
    loads = sorted(r["loadavg"] for by_name in backend.get("runs", {}).values()
                   for rl in by_name.values() for r in rl if r.get("loadavg") is not None)
    out.append("")
    out.append("The fakeserver against nginx (`bench/backend.sh`, %d rounds of %d s, medians; "
               "load average %s-%s during the runs):" % (
                   backend.get("rounds", 0), backend.get("seconds", 0),
                   _f(loads[0] if loads else None, "%.1f"),
                   _f(loads[-1] if loads else None, "%.1f")))
    out.append("")
    out.append("| the fakeserver as a backend (1 KiB file, one worker, keep-alive) | nginx "
               "| fakeserver -N 1 | fakeserver vs nginx |")
    out.append("|---|---|---|---|")
    for layout, summ in backend["summary"].items():
        ng, fs = summ.get("nginx", {}), summ.get("fakeserver -N 1", {})
        ratio = backend.get("ratios", {}).get(layout, {}).get("fakeserver -N 1", {}).get("nginx")
        cpu = backend.get("cpu_ratios", {}).get(layout, {}).get("fakeserver -N 1", {}).get(
            "nginx")
        out.append("| %s layout, req/s | %s | %s | %s |" % (
            layout, "{:,.0f}".format(ng["rps"]) if ng.get("rps") else "-",
            "{:,.0f}".format(fs["rps"]) if fs.get("rps") else "-", _f(ratio, "%.2fx")))
        out.append("| %s layout, CPU per request | %s | %s | %s |" % (
            layout, _us(ng.get("cpu_us_per_req")), _us(fs.get("cpu_us_per_req")),
            _f(cpu, "%.2fx")))
    return out


COLORS = {"nginx-direct": "#9e9e9e", "haproxy": "#1f77b4", "nginx-proxy": "#2ca02c",
          "ours": "#d62728", "ours-verbatim": "#ff9896", "ours-bk": "#ff9896"}


def _bars(groups, title, unit, x0, y0, w, h, fmt="%.0f"):
    """One bar panel: groups is [(group label, [(target, value)])]; fmt labels each bar."""
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
            parts.append('<text x="%.1f" y="%.1f" font-size="9" text-anchor="middle">%s</text>'
                         % (x + (bw - 4) / 2, base - bh - 3,
                            _f(v / 1000.0 if v and fmt.endswith("k") else v, fmt)))
        for li, line in enumerate(glabel.split("\n")):
            parts.append('<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%s</text>'
                         % (x0 + gi * gw + gw / 2, base + 15 + 13 * li, line))
    return parts


def svg(data):
    """Requests/s and CPU per request per layout and mode (left), bytes per idle connection
    (right)."""
    w, h = 1000, 760
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
             'font-family="sans-serif">' % (w, h),
             '<rect width="100%" height="100%" fill="white"/>']
    rps, cpu = [], []
    for layout, by_mode in data["summary"].items():
        for mode in ("keepalive", "close"):
            if mode in by_mode:
                label = "%s\n%s" % (layout, MODE_SHORT[mode].replace(
                    "one request per connection", "one per conn."))
                rps.append((label, [(t, s["rps"]) for t, s in by_mode[mode].items()]))
                cpu.append((label, [(t, s["cpu_us_per_req"]) for t, s in by_mode[mode].items()]))
    parts += _bars(rps, "requests/s (higher is better)", "req/s", 40, 50, 640, 260,
                   fmt="%.0fk")
    parts += _bars(cpu, "proxy CPU per request, us (lower is better)", "us", 40, 400, 640,
                   260, fmt="%.1f")
    idle = [(t, v["bytes_per_conn"]) for t, v in data["idle"].items()]
    if idle:
        parts += _bars([("%d idle connections\n(lower is better)" % data["config"]["idle"],
                         idle)], "bytes per idle connection", "B", 720, 50, 250, 260)
    present = {t for by_mode in data["summary"].values() for summ in by_mode.values()
               for t in summ}
    for i, t in enumerate(t for t in COLORS if t in present):
        parts.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
                     '<text x="%d" y="%d" font-size="12">%s</text>'
                     % (40 + i * 190, h - 30, COLORS[t], 56 + i * 190, h - 20,
                        TARGET_LABEL[t]))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
