"""What lbtest writes: the terminal matrix, JUnit XML, JSON, and a self-contained HTML page.

`results` is {subject name: {entry name: Outcome}} (matrix.run_matrix); `subjects` the
Subjects (for their notes), `entries` the catalogue entries run.
"""
import html
import json
import re
import time
from xml.etree import ElementTree as ET

from . import timeline

SHORT = {"pass": "pass", "fail": "FAIL", "flaky": "FLAKY", "crash": "CRASH", "hang": "HANG",
         "no-start": "NO-START", "error": "ERROR"}
STATUS_RE = re.compile(r"got (?:[^;]*?)(50[0-9]) ")


def all_passed(results):
    return all(o.passed for row in results.values() for o in row.values())


def explanation(subject, outcome):
    """The subject's own words on why this cell differs from the course contract, if any."""
    notes = subject.notes if subject else {}
    if outcome.passed or not notes:
        return ""
    if outcome.entry in notes:
        return notes[outcome.entry]
    if "*" in notes and any(STATUS_RE.search(r) and "the balancer's 500" not in r
                            for r in outcome.reasons):
        return notes["*"]
    return ""


def _footnotes(results, subjects, entries):
    by_name = {s.name: s for s in subjects}
    rules = {e.name: e.rule for e in entries}
    notes, index = [], {}
    for sname, row in results.items():
        for ename, out in row.items():
            if out.passed:
                continue
            index[(sname, ename)] = len(notes) + 1
            notes.append((sname, ename, out, rules.get(ename, ""),
                          explanation(by_name.get(sname), out)))
    return notes, index


def matrix_text(results, subjects, entries, width=100):
    names = list(results)
    notes, index = _footnotes(results, subjects, entries)
    cols = {n: max(len(n), 14) + 2 for n in names}
    first = max(len(e.name) for e in entries) + 2
    rule = "-" * (first + sum(cols.values()) - 2)
    lines = ["entry".ljust(first) + "".join(n.ljust(cols[n]) for n in names).rstrip(), rule]
    for e in entries:
        cells = []
        for n in names:
            out = results[n].get(e.name)
            text = "-" if out is None else SHORT[out.verdict] + (
                f" [{index[(n, e.name)]}]" if (n, e.name) in index else "")
            cells.append(text.ljust(cols[n]))
        lines.append(e.name.ljust(first) + "".join(cells).rstrip())
    lines.append(rule)
    summary = []
    for n in names:
        row = results[n].values()
        passed = sum(1 for o in row if o.passed)
        secs = sum(o.wall or o.seconds for o in row)
        summary.append(f"{passed}/{len(row)} in {secs:.0f} s".ljust(cols[n]))
    lines.append("passed".ljust(first) + "".join(summary).rstrip())
    for k, (sname, ename, out, rule, why) in enumerate(notes, 1):
        lines.append("")
        lines.append(_wrap(f"[{k}] {sname} · {ename}: {SHORT[out.verdict]}", width))
        lines.append(_wrap(f"rule: {rule}", width, "    "))
        for r in out.reasons[:4] or ["(no reason recorded)"]:
            lines.append(_wrap(f"- {r}", width, "    "))
        if len(out.reasons) > 4:
            lines.append(f"    - ... and {len(out.reasons) - 4} more")
        if out.verdict == "flaky" and out.notes:
            lines.append(_wrap(f"- {out.notes[0]}", width, "    "))
        if why:
            lines.append(_wrap(f"differs by design: {why}", width, "    "))
    return "\n".join(lines)


def _wrap(text, width, indent=""):
    words, lines, cur = text.split(" "), [], indent
    for w in words:
        if len(cur) + len(w) + 1 > width and cur.strip():
            lines.append(cur.rstrip())
            cur = indent + "  " + w + " "
        else:
            cur += w + " "
    lines.append(cur.rstrip())
    return "\n".join(lines)


def write_junit(path, results, subjects, entries):
    rules = {e.name: e.rule for e in entries}
    by_name = {s.name: s for s in subjects}
    suites = ET.Element("testsuites", name="lbtest")
    for sname, row in results.items():
        fails = sum(1 for o in row.values() if o.verdict in ("fail", "flaky", "crash", "hang"))
        errors = sum(1 for o in row.values() if o.verdict in ("no-start", "error"))
        suite = ET.SubElement(suites, "testsuite", name=sname, tests=str(len(row)),
                              failures=str(fails), errors=str(errors),
                              time=f"{sum(o.seconds for o in row.values()):.2f}")
        for ename, out in row.items():
            case = ET.SubElement(suite, "testcase", classname=f"lbtest.{sname}", name=ename,
                                 time=f"{out.seconds:.2f}")
            if not out.passed:
                tag = "error" if out.verdict in ("no-start", "error") else "failure"
                why = explanation(by_name.get(sname), out)
                body = "\n".join([f"rule: {rules.get(ename, '')}"] + out.reasons +
                                 ([f"differs by design: {why}"] if why else []) + out.notes)
                el = ET.SubElement(case, tag, type=out.verdict,
                                   message=(out.reasons or [out.verdict])[0][:500])
                el.text = body
            ET.SubElement(case, "system-out").text = (f"$ {out.command}\n"
                                                      f"attempts: {', '.join(out.attempts)}\n"
                                                      f"{out.log_tail}")
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def to_json(results, subjects, entries):
    return {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "passed": all_passed(results),
        "balancers": [{"name": s.name, "command": s.argv, "notes": s.notes} for s in subjects],
        "entries": [{"name": e.name, "rule": e.rule, "seed": e.seed} for e in entries],
        "cells": [dict(out.to_json(with_timeline=True),
                       differs=explanation(next((s for s in subjects if s.name == sname), None),
                                           out))
                  for sname, row in results.items() for out in row.values()],
    }


def write_json(path, results, subjects, entries):
    with open(path, "w") as f:
        json.dump(to_json(results, subjects, entries), f, indent=1)


CSS = """
body { font-family: Helvetica, Arial, sans-serif; margin: 0; color: #222; background: #fafbfc; }
main { max-width: 1060px; margin: 0 auto; padding: 18px 20px 60px; }
table.matrix { border-collapse: collapse; margin: 12px 0; }
.matrix th, .matrix td { border: 1px solid #d5d9e0; padding: 4px 10px; text-align: left; }
.matrix td.v { text-align: center; font-weight: bold; }
.pass { background: #e3f4e6; color: #1e7b34; } .fail, .crash, .hang { background: #fbe3e1;
color: #a5281b; } .flaky { background: #fff2d6; color: #8a5a00; } .no-start, .error {
background: #eceff1; color: #444; }
td.v a { color: inherit; text-decoration: none; }
.rule { color: #555; font-size: 13px; }
section.cell { background: #fff; border: 1px solid #dde; border-radius: 8px; padding: 6px 16px;
margin: 18px 0; }
.timeline svg { width: 100%; height: auto; }
code, pre { background: #eef1f5; border-radius: 3px; } pre { padding: 6px; overflow-x: auto;
font-size: 12px; }
"""


def write_html(path, results, subjects, entries):
    notes, index = _footnotes(results, subjects, entries)
    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>lbtest</title>"
           f"<style>{CSS}</style></head><body><main>",
           "<h1>lbtest: the failover catalogue, balancer by balancer</h1>",
           f"<p class='rule'>{e(time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()))}. Each "
           f"balancer was started with the course command line only and observed from "
           f"outside: the clients' answers and the servers' course logs.</p>",
           "<table class='matrix'><tr><th>entry</th>" +
           "".join(f"<th>{e(n)}</th>" for n in results) + "<th>rule</th></tr>"]
    for en in entries:
        row = [f"<tr><td><b>{e(en.name)}</b></td>"]
        for n in results:
            o = results[n].get(en.name)
            if o is None:
                row.append("<td>-</td>")
                continue
            label = SHORT[o.verdict]
            if (n, en.name) in index:
                label = f"<a href='#c{index[(n, en.name)]}'>{label} [{index[(n, en.name)]}]</a>"
            row.append(f"<td class='v {o.verdict}'>{label}</td>")
        row.append(f"<td class='rule'>{e(en.rule)}</td></tr>")
        out.append("".join(row))
    out.append("</table>")
    for k, (sname, ename, o, rule, why) in enumerate(notes, 1):
        out.append(f"<section class='cell' id='c{k}'><h2>[{k}] {e(sname)} · {e(ename)}: "
                   f"{e(SHORT[o.verdict])}</h2><p class='rule'>rule: {e(rule)}</p><ul>")
        out += [f"<li>{e(r)}</li>" for r in o.reasons]
        out.append("</ul>")
        if why:
            out.append(f"<p><b>differs by design:</b> {e(why)}</p>")
        if o.timeline:
            out.append(f"<div class='timeline'>{timeline.render(o.timeline)}</div>")
        out.append(f"<p class='rule'>attempts: {e(', '.join(o.attempts))}; "
                   f"{o.requests} requests; {e(json.dumps(o.counts))}</p>")
        out.append(f"<pre>$ {e(o.command)}\n{e(o.log_tail)}</pre></section>")
    out.append("</main></body></html>")
    with open(path, "w") as f:
        f.write("\n".join(out))
