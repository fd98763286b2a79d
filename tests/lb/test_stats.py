"""The stats port: /stats JSON fields per backend, /metrics Prometheus text, 404 otherwise."""
import http.client
import json
import re

from .conftest import scaled, wait_for


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=scaled(5))
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()
    finally:
        c.close()


def test_stats_and_metrics(rig):
    a = rig.fakeserver("-e", "1", "-t", "7")
    closed = rig.silent_backend()
    closed.close()  # nothing listens there any more: refused
    rig.balancer("0", str(a.port), str(closed.port))
    wait_for(lambda: rig.stats()["health_rounds_done"] >= 1, what="first round")
    assert rig.get("/f")[0] == 200
    st = rig.stats()
    b0, b1 = st["backends"]
    assert b0["address"] == f"127.0.0.1:{a.port}" and b0["state"] == "up"
    assert (b0["total"], b0["errors"]) == (7, 1)
    assert b0["forwarded"] == 1 and b0["in_flight"] == 0
    assert isinstance(b0["last_check"], int) and b0["last_check_ms_ago"] >= 0
    assert b1["state"] == "down" and b1["checks_failed"] >= 1
    assert st["requests"] == 1 and st["responses"] == 1 and st["clients"] >= 0
    sport = int(rig.lb.ready["stats"])
    status, ctype, text = get(sport, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    assert f'lb_backend_up{{backend="127.0.0.1:{a.port}"}} 1' in text
    assert f'lb_backend_up{{backend="127.0.0.1:{closed.port}"}} 0' in text
    assert f'lb_backend_reported_total{{backend="127.0.0.1:{a.port}"}} 7' in text
    assert re.search(r"^lb_responses_total 1$", text, re.M)
    for line in text.splitlines():  # every line is a comment or `name{labels} value`
        assert line.startswith("#") or re.match(r'^[a-z_0-9]+(\{backend="[^"]+"\})? \d+$', line), line
    assert get(sport, "/nope")[0] == 404
    # Routing is on the path: a query is ignored, as by a web server.
    status, ctype, text = get(sport, "/stats?pretty=1")
    assert status == 200 and json.loads(text)["requests"] == 1
    assert get(sport, "/metrics?x")[0] == 200 and get(sport, "/nope?stats")[0] == 404
