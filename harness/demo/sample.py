"""A synthetic recording of the classic story, made by a tiny simulation of the balancer's
fewest-TOTAL rule. Only for developing and testing the renderers without processes:
`python3 -m harness.demo.sample OUTDIR` writes run.json, timeline.svg and index.html.
"""
import random
import sys
from pathlib import Path

from .scenarios import classic


def make(seed=1, rate=25.0):
    rnd = random.Random(seed)
    names = ["A", "B", "C"]
    plan = [  # (start, title, caption, actions)
        (0.0, "Steady traffic", "Three healthy backends share the load.", []),
        (7.0, "B slows down", "B now waits 300 ms before answering.", [("slow", "B")]),
        (16.0, "C crashes", "C is killed.", [("crash", "C")]),
        (25.0, "C comes back", "C restarts with TOTAL=0.", [("revive", "C")]),
        (35.0, "Every backend dies", "Clients get 500s.", [("crash", "A"), ("crash", "B"),
                                                            ("crash", "C")]),
        (43.0, "A returns", "Panic routing finds A at once.", [("revive", "A")]),
        (52.0, "The end", "Stopping every process.", []),
    ]
    duration = 54.0
    looks = {st.title: st.look for st in classic().steps}   # where to look, per view
    alive = {n: True for n in names}
    marked = {n: True for n in names}
    total = {n: 0 for n in names}
    slow = set()
    requests, events, steps, samples = [], [], [], []
    t, pi, next_hc, sent = 0.0, 0, 0.0, 0
    while t < duration:
        while pi < len(plan) and plan[pi][0] <= t:
            start, title, caption, actions = plan[pi]
            steps.append({"t": start, "title": title, "caption": caption})
            if looks.get(title):
                steps[-1]["look"] = looks[title]
            events.append({"t": start, "kind": "step", "backend": None, "title": title})
            for kind, b in actions:
                events.append({"t": start + 0.01, "kind": kind, "backend": b})
                if kind == "crash":
                    alive[b] = False
                elif kind == "revive":
                    alive[b], total[b] = True, 0
                elif kind == "slow":
                    slow.add(b)
            pi += 1
        if t >= next_hc or sent % 5 == 4:
            for b in names:
                ok = alive[b]
                events.append({"t": round(t, 3), "kind": "hc", "backend": b, "ok": ok})
                if ok != marked[b]:
                    events.append({"t": round(t, 3), "kind": "up" if ok else "down",
                                   "backend": b, "why": "health check"})
                    marked[b] = ok
            next_hc = t + 3.0
        choice = None
        order = [b for b in names if marked[b]] or names
        for b in sorted(order, key=lambda n: (total[n], names.index(n))):
            if alive[b]:
                choice = b
                break
            if marked[b]:
                marked[b] = False
                events.append({"t": round(t, 3), "kind": "down", "backend": b,
                               "why": "connect refused"})
        lat = (300 if choice in slow else 2) + rnd.random() * 3
        if choice:
            total[choice] += 1
            requests.append([round(t, 3), choice, 200, round(lat, 1), None])
        else:
            requests.append([round(t, 3), None, 500, 0.5, None])
        sent += 1
        if int(t * 5) != int((t + 1 / rate) * 5):
            samples.append({"t": round(t, 3), "backends": {
                b: {"state": "up" if marked[b] else "down", "total": total[b],
                    "load": total[b] + 1, "errors": 0,
                    "in_flight": 0, "failures": 0 if marked[b] else 1} for b in names}})
        t += 1 / rate
    meta = {"scenario": "classic", "title": "Synthetic run (simulation, not real processes)",
            "speed": 1.0, "source": "simulation", "notes": [],
            "backends": [{"name": n, "address": f"127.0.0.1:{40000 + i}"}
                         for i, n in enumerate(names)]}
    return {"meta": meta, "duration": duration, "requests": requests, "samples": samples,
            "events": sorted(events, key=lambda e: e["t"]), "steps": steps}


def main(argv):
    import json
    from . import page, svg
    out = Path(argv[1] if len(argv) > 1 else "demo-out/sample")
    out.mkdir(parents=True, exist_ok=True)
    data = make()
    (out / "run.json").write_text(json.dumps(data))
    picture = svg.render(data)
    (out / "timeline.svg").write_text(picture)
    (out / "index.html").write_text(page.render(data, picture))
    print(out / "timeline.svg")
    print(out / "index.html")


if __name__ == "__main__":
    main(sys.argv)
