"""The HTML page of a run: the story in words, a replay of the real run (requests travel from
the clients through the balancer to the backends, at the moments they really did), and the
SVG timeline with a playhead. One self-contained file: no network, no external script.

The page writes sentinels for tests: <body data-demo-ready="1"> once the replay drew its
first frame, any JavaScript error into <pre id="js-errors"> and data-js-errors, and the
layout of each frame as drawn (canvas labels, the paths of the dots, the timeline's step
labels) as JSON in data-layout.
"""
import json
from xml.sax.saxutils import escape

from .live import caption_for
from .svg import color_of

CSS = """
body { font-family: Helvetica, Arial, sans-serif; margin: 0; color: #222; background: #fafbfc; }
main { max-width: 1040px; margin: 0 auto; padding: 18px 20px 60px; }
h1 { font-size: 26px; margin: 10px 0 4px; } h2 { font-size: 19px; margin-top: 30px; }
.sub { color: #667; margin: 0 0 14px; }
#stage { background: #fff; border: 1px solid #dde; border-radius: 8px; padding: 10px; }
#diagram { width: 100%; height: 250px; display: block; }
#caption { min-height: 64px; margin: 8px 4px; font-size: 15px; line-height: 1.45; }
#caption b { color: #34495e; }
.controls { display: flex; gap: 10px; align-items: center; margin: 6px 4px; }
.controls input[type=range] { flex: 1; }
button, select { font-size: 14px; padding: 3px 10px; }
#clock { font-variant-numeric: tabular-nums; width: 70px; text-align: right; }
.timeline { background: #fff; border: 1px solid #dde; border-radius: 8px; margin-top: 14px;
            overflow-x: auto; }
.timeline svg { display: block; width: 100%; height: auto; }
ol.steps li { margin: 6px 0; line-height: 1.45; }
code { background: #eef1f5; padding: 1px 4px; border-radius: 3px; }
#js-errors { color: #b00; white-space: pre-wrap; }
.note { color: #666; font-size: 13px; }
.chip { display: inline-block; min-width: 16px; margin: 1px; padding: 0 3px; color: #fff;
        font-size: 11px; text-align: center; border-radius: 3px; }
"""

EXPLAIN = """
<h2>How the balancer decides</h2>
<p><b>Choosing a backend.</b> For every request the balancer picks, among the backends it
believes healthy, the one with the <i>fewest TOTAL</i> requests: the TOTAL the backend last
reported in a health check plus the requests sent to it since. Ties go to fewer ERRORS, then
to the backend named first. This keeps the counts even, but it counts requests, not time: a
slow backend still gets its share, and a backend that restarts with TOTAL = 0 gets every
request until it has caught up.</p>
<p><b>Health checks.</b> Every few forwarded requests (<code>-R</code>, default 5), every 3 s
when idle, and once at start, the balancer opens a fresh connection to every backend at once
and sends <code>GET /healthcheck</code>. A backend is up only if it answers <code>200</code>
with a body <code>ERRORS\\nTOTAL</code> within the deadline (1 s). In the timeline those are
the little green (passed) and red (failed) ticks under each lane.</p>
<p><b>Failover.</b> If connecting to the chosen backend fails, the balancer marks it down at
once and tries the next choice; the client does not notice. A crash is therefore usually
seen by the balancer <i>before</i> the next health check. When every backend is marked down
the balancer still tries them in order (like Envoy's panic mode), so a backend that just came
back serves immediately; when none accepts, the client gets exactly
<code>HTTP/1.1 500 Internal Server Error</code> with an empty body: the red bars.</p>
<p class="note">Everything here is a recording of real processes on this machine: the
fakeservers and the balancer built from this repository, real TCP connections on loopback,
counters read from the balancer's <code>/stats</code> endpoint while it ran.</p>
"""

JS = r"""
(function () {
  var errs = [];
  function report(msg) {
    errs.push(msg);
    document.body.setAttribute('data-js-errors', String(errs.length));
    var pre = document.getElementById('js-errors');
    if (pre) pre.textContent = errs.join('\n');
  }
  window.addEventListener('error', function (e) { report('error: ' + e.message); });
  try { start(); } catch (e) { report('init: ' + e); }

  function start() {
    var data = JSON.parse(document.getElementById('run-data').textContent);
    var names = data.meta.backends.map(function (b) { return b.name; });
    var colors = JSON.parse(document.getElementById('run-colors').textContent);
    var dur = Math.max(1, data.duration);
    var canvas = document.getElementById('diagram');
    var ctx = canvas.getContext('2d');
    var clock = document.getElementById('clock');
    var scrub = document.getElementById('scrub');
    var playBtn = document.getElementById('play');
    var speedSel = document.getElementById('speed');
    var caption = document.getElementById('caption');
    var svg = document.querySelector('.timeline svg');
    var head = null;
    if (svg) {
      head = document.createElementNS('http://www.w3.org/2000/svg', 'line');
      head.setAttribute('stroke', '#111'); head.setAttribute('stroke-width', '1.5');
      head.setAttribute('y1', '56'); head.setAttribute('y2', svg.viewBox.baseVal.height - 60);
      svg.appendChild(head);
    }
    var t = 0, playing = true, last = null, reqIdx = 0, evIdx = 0, dots = [], probes = [];

    function sampleAt(time) {
      var s = null;
      for (var i = 0; i < data.samples.length && data.samples[i].t <= time; i++) s = data.samples[i];
      return s;
    }
    function stepAt(time) {
      var s = null, n = 0;
      for (var i = 0; i < data.steps.length && data.steps[i].t <= time; i++) { s = data.steps[i]; n = i + 1; }
      return [s, n];
    }
    function eventsBefore(time, kinds) {
      return data.events.filter(function (e) { return e.t <= time && kinds.indexOf(e.kind) >= 0; });
    }
    function countsAt(time) {
      var c = {}, err = 0;
      names.forEach(function (n) { c[n] = 0; });
      for (var i = 0; i < data.requests.length && data.requests[i][0] <= time; i++) {
        var r = data.requests[i];
        if (r[1] !== null && r[2] > 0 && r[2] < 500) c[r[1]] = (c[r[1]] || 0) + 1; else err++;
      }
      return [c, err];
    }
    function layout() {
      var w = canvas.clientWidth || 900, h = canvas.clientHeight || 250;
      var dpr = window.devicePixelRatio || 1;
      if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      var pos = { w: w, h: h, client: [70, h / 2], lb: [w * 0.42, h / 2], be: {} };
      names.forEach(function (n, i) {
        pos.be[n] = [w - 135, (h / (names.length + 1)) * (i + 1)];
      });
      // Dots travel between the boxes' edges, never over a box and its label: out of the
      // clients box's right side to the balancer's left side, then from the balancer's
      // right side to the backend's left side.
      pos.out = [pos.client[0] + 45 + DOT_R + 2, pos.client[1]];
      pos.lbIn = [pos.lb[0] - 60 - DOT_R - 2, pos.lb[1]];
      pos.lbOut = [pos.lb[0] + 60 + DOT_R + 2, pos.lb[1]];
      pos.beIn = function (n) { return [pos.be[n][0] - 115 - DOT_R - 2, pos.be[n][1]]; };
      return pos;
    }
    var DOT_R = 4, drawn = [];   // drawn: the labels of the last frame, for the layout report
    function along(a, b, f) { return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f]; }
    function box(x, y, bw, bh, fill, stroke) {
      ctx.fillStyle = fill; ctx.strokeStyle = stroke; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.rect(x - bw / 2, y - bh / 2, bw, bh); ctx.fill(); ctx.stroke();
    }
    function label(s, x, y, size, col, align) {
      ctx.fillStyle = col || '#222'; ctx.font = (size || 13) + 'px Helvetica, Arial, sans-serif';
      ctx.textAlign = align || 'center'; ctx.fillText(s, x, y);
      var m = ctx.measureText(s), x0 = align === 'left' ? x : (align === 'right' ? x - m.width : x - m.width / 2);
      drawn.push({ text: String(s), x0: x0, x1: x0 + m.width,
                   y0: y - (m.actualBoundingBoxAscent || size || 13), y1: y + (m.actualBoundingBoxDescent || 3) });
    }
    function draw() {
      var P = layout(), s = sampleAt(t), cnt = countsAt(t), st = stepAt(t);
      ctx.clearRect(0, 0, P.w, P.h);
      drawn = [];
      names.forEach(function (n) {
        var b = P.be[n];
        ctx.strokeStyle = '#d5d9e0'; ctx.lineWidth = 1;
        ctx.beginPath(); ctx.moveTo(P.lb[0], P.lb[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
      });
      ctx.beginPath(); ctx.moveTo(P.client[0], P.client[1]); ctx.lineTo(P.lb[0], P.lb[1]); ctx.stroke();
      box(P.client[0], P.client[1], 90, 50, '#f4f6fa', '#7f8c8d');
      label('clients', P.client[0], P.client[1] + 5, 14);
      label(cnt[1] + ' errors', P.client[0], P.client[1] + 44, 12, cnt[1] ? '#c0392b' : '#888');
      box(P.lb[0], P.lb[1], 120, 60, '#34495e', '#2c3e50');
      label('balancer', P.lb[0], P.lb[1] + 5, 15, '#fff');
      var killed = {};
      eventsBefore(t, ['crash', 'revive']).forEach(function (e) { killed[e.backend] = e.kind === 'crash'; });
      names.forEach(function (n, i) {
        var b = P.be[n], view = s && s.backends[n] ? s.backends[n] : null;
        // not in a /stats sample: not yet added, or removed (admin API)
        var state = view ? view.state : (s && data.meta.source === '/stats' ? 'not in the table' : 'up');
        var up = state === 'up' || state === 'healthy';
        box(b[0], b[1], 230, 52, up ? '#e7f5e9' : '#eceff1', colors[i]);
        label('backend ' + n, b[0], b[1] - 6, 14, colors[i]);
        var load = view && view.load !== undefined ? ' · load ' + view.load : '';
        label((killed[n] ? 'dead · ' : '') + (up ? 'up' : state === 'down' ? 'DOWN' : state) + load + ' · ' + cnt[0][n] + ' served',
              b[0], b[1] + 13, 12, up ? '#2e7d32' : '#7f8c8d');
        if (killed[n]) { label('\u2715', b[0] - 100, b[1] - 4, 20, '#c0392b'); }
      });
      var now = performance.now();
      dots = dots.filter(function (d) { return now - d.born < d.life; });
      dots.forEach(function (d) {
        var f = (now - d.born) / d.life, p;
        if (d.target) {
          p = f < 0.5 ? along(P.out, P.lbIn, f * 2) : along(P.lbOut, P.beIn(d.target), (f - 0.5) * 2);
        } else {   // an error: to the balancer and back
          p = along(P.out, P.lbIn, f < 0.5 ? f * 2 : 2 - f * 2);
        }
        ctx.fillStyle = d.color; ctx.beginPath(); ctx.arc(p[0], p[1], DOT_R, 0, 2 * Math.PI); ctx.fill();
      });
      probes = probes.filter(function (p) { return now - p.born < 500; });
      probes.forEach(function (p) {
        var bb = P.be[p.backend];
        if (!bb) return;
        var f = (now - p.born) / 500;
        var x = P.lb[0] + 60 + (bb[0] - 115 - P.lb[0] - 60) * f, y = P.lb[1] + (bb[1] - P.lb[1]) * f;
        ctx.strokeStyle = p.ok ? '#27ae60' : '#e74c3c'; ctx.lineWidth = 2;
        ctx.beginPath(); ctx.arc(x, y, 6, 0, 2 * Math.PI); ctx.stroke();
      });
      clock.textContent = t.toFixed(1) + ' s';
      scrub.value = String(Math.round(1000 * t / dur));
      if (st[0]) {
        caption.innerHTML = '';
        var bEl = document.createElement('b');
        bEl.textContent = 'Step ' + st[1] + ' of ' + data.steps.length + ': ' + st[0].title + '. ';
        caption.appendChild(bEl);
        var look = st[0].look && st[0].look.page ? ' ' + st[0].look.page : '';
        caption.appendChild(document.createTextNode(st[0].caption + look));
      }
      if (head) {
        var left = Number(svg.getAttribute('data-left')), pw = Number(svg.getAttribute('data-plot-width'));
        var x = left + pw * Math.min(t, dur) / dur;
        head.setAttribute('x1', x); head.setAttribute('x2', x);
      }
      reportLayout(P);
    }
    // The layout as drawn, in data-layout on <body>, for the page test (which reads it from
    // a headless Chromium's DOM): canvas labels and the segments dots travel, in canvas
    // pixels; the timeline's step labels and the SVG, in page pixels; the page's width.
    var lastReport = null;
    function reportLayout(P) {
      var now = performance.now();
      if (lastReport !== null && now - lastReport < 250) return;   // 4 times a second is plenty
      lastReport = now;
      var segs = [[P.out, P.lbIn]];
      names.forEach(function (n) { segs.push([P.lbOut, P.beIn(n)]); });
      var box = function (el) {
        var r = el.getBoundingClientRect();
        return { x0: r.left, x1: r.right, y0: r.top, y1: r.bottom };
      };
      var steps = [];
      if (svg) {
        svg.querySelectorAll('text.step-label').forEach(function (el) {
          var b = box(el); b.text = el.textContent; steps.push(b);
        });
      }
      document.body.setAttribute('data-layout', JSON.stringify({
        viewport: window.innerWidth, page: document.documentElement.scrollWidth,
        canvas: { w: P.w, h: P.h, labels: drawn, dot_r: DOT_R, segments: segs },
        svg: svg ? box(svg) : null, steps: steps }));
    }
    function spawn(from, to) {
      while (evIdx < data.events.length && data.events[evIdx].t <= to) {
        var e = data.events[evIdx++];
        if (e.kind === 'hc' && e.t >= from && probes.length < 60)
          probes.push({ born: performance.now(), backend: e.backend, ok: !!e.ok });
      }
      while (reqIdx < data.requests.length && data.requests[reqIdx][0] <= to) {
        var r = data.requests[reqIdx++];
        if (r[0] < from || dots.length > 240) continue;
        var ok = r[1] !== null && r[2] > 0 && r[2] < 500;
        var i = names.indexOf(r[1]);
        dots.push({ born: performance.now(), life: ok ? 700 : 600, target: ok ? r[1] : null,
                    color: ok ? colors[i >= 0 ? i : 0] : '#e74c3c' });
      }
    }
    function seek(time) {
      t = Math.max(0, Math.min(dur, time)); dots = []; probes = []; reqIdx = 0; evIdx = 0;
      while (reqIdx < data.requests.length && data.requests[reqIdx][0] <= t) reqIdx++;
      while (evIdx < data.events.length && data.events[evIdx].t <= t) evIdx++;
    }
    function frame(ts) {
      if (last === null) last = ts;
      var dt = Math.min(0.25, (ts - last) / 1000); last = ts;
      if (playing) {
        var prev = t;
        t = Math.min(dur, t + dt * Number(speedSel.value));
        spawn(prev, t);
        if (t >= dur) { playing = false; playBtn.textContent = 'replay'; }
      }
      draw();
      window.requestAnimationFrame(frame);
    }
    var looping = false;
    function loop() { if (!looping) { looping = true; window.requestAnimationFrame(frame); } }
    playBtn.addEventListener('click', function () {
      if (t >= dur) seek(0);
      playing = !playing; playBtn.textContent = playing ? 'pause' : 'play';
      loop();
    });
    scrub.addEventListener('input', function () { seek(dur * Number(scrub.value) / 1000); draw(); loop(); });
    if (window.location.hash === '#still') {
      // A still picture (screenshots, printing): the moment a third into the run, no animation.
      seek(dur / 3); playing = false; playBtn.textContent = 'play';
      draw();
      document.body.setAttribute('data-demo-ready', '1');
      return;
    }
    draw();
    document.body.setAttribute('data-demo-ready', '1');
    loop();
  }
})();
"""


def _steps_list(data):
    items = []
    for i, st in enumerate(data["steps"]):
        items.append(f'<li><b>{escape(st["title"])}</b> <span class="note">(at '
                     f'{st["t"]:.0f} s)</span><br>{escape(caption_for(st, "page"))}</li>')
    return "<ol class=\"steps\">" + "\n".join(items) + "</ol>"


def _connections(data, shown=3, width=40):
    """For keep-alive runs: a row of coloured chips per connection, one per request, named
    by the backend that answered (x for an error), to show per-request routing."""
    names = [b["name"] for b in data["meta"]["backends"]]
    by_conn = {}
    for _t, backend, _status, _lat, conn in data["requests"]:
        if conn is not None:
            by_conn.setdefault(conn, []).append(backend)
    multi = [(c, seq) for c, seq in by_conn.items() if len(seq) > 1][:shown]
    if not multi:
        return ""
    rows = []
    for conn, seq in multi:
        chips = "".join(
            f'<span class="chip" style="background:'
            f'{color_of(names.index(b)) if b in names else "#e74c3c"}">{escape(b or "x")}</span>'
            for b in seq[:width])
        more = f" \u2026 {len(seq) - width} more" if len(seq) > width else ""
        rows.append(f"<p>connection {conn}: {chips}{more}</p>")
    return ("<h2>One connection, many backends</h2><p>Each row is one client's keep-alive "
            "connection to the balancer; each chip one request on it, named by the backend "
            "that answered. The balancer routes every request on its own.</p>" + "".join(rows))


def _json_for_script(obj):
    return json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")


def render(data, svg_text):
    """The HTML document (a str) for a recording and its SVG timeline."""
    meta = data["meta"]
    title = meta.get("title") or "Load balancer demo"
    colors = [color_of(i) for i in range(len(meta["backends"]))]
    svg_inline = svg_text.split("?>", 1)[-1] if svg_text.startswith("<?xml") else svg_text
    notes = "".join(f"<li>{escape(n)}</li>" for n in meta.get("notes", []))
    notes_html = f'<h2>Notes on this run</h2><ul class="note">{notes}</ul>' if notes else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{CSS}</style></head>
<body data-demo-ready="0" data-js-errors="0">
<main>
<h1>{escape(title)}</h1>
<p class="sub">A real run of the load balancer in front of {len(meta["backends"])} fake
backends: scenario <code>{escape(str(meta.get("scenario")))}</code>, {data["duration"]:.0f}
seconds, {len(data["requests"])} client requests. Press play to watch it again; each dot is
one real request.</p>
<p>A load balancer stands between clients and several copies of a server (the
<i>backends</i>). Clients only know the balancer; for every request it chooses a backend,
passes the request on and relays the answer back. Its two jobs are to spread the work and to
route around backends that are slow, broken or gone, which it learns by asking each one
"are you healthy?" every so often. Below, three fakeservers (A, B, C) played their part while
the demo slowed, crashed and revived them.</p>
<div id="stage">
  <canvas id="diagram" width="980" height="250"></canvas>
  <p class="note">Each dot is one client request, coloured by the backend that answered it;
  a red dot is a 500 from the balancer. Rings are health checks (green passed, red failed).
  "load" is what the balancer ranks by: the TOTAL last reported plus requests sent since.</p>
  <div id="caption"></div>
  <div class="controls">
    <button id="play">pause</button>
    <select id="speed"><option value="1">1x</option><option value="2" selected>2x</option>
      <option value="4">4x</option><option value="0.5">0.5x</option></select>
    <input id="scrub" type="range" min="0" max="1000" value="0">
    <span id="clock">0.0 s</span>
  </div>
</div>
<div class="timeline">{svg_inline}</div>
<h2>The story, step by step</h2>
{_steps_list(data)}
{_connections(data)}
{EXPLAIN}
{notes_html}
<pre id="js-errors"></pre>
</main>
<script type="application/json" id="run-data">{_json_for_script(data)}</script>
<script type="application/json" id="run-colors">{_json_for_script(colors)}</script>
<script>{JS}</script>
</body></html>
"""
