"""harness.admin.Admin on its own (no C binaries): against a RecordingBackend standing in for
the balancer's stats port, each call sends the request lb/README.md's admin API names
(method, path, JSON body) and judges the answer's status; the Cluster's backends file is
written as the balancer reads it."""
import json

import pytest

from harness import Cluster
from harness.admin import Admin, AdminError
from harness.recorder import RecordingBackend

ENTRY = {"name": "127.0.0.1:9004", "weight": 2, "state": "down"}


def json_answer(status, obj, reason="X"):
    body = json.dumps(obj).encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@pytest.fixture
def stats_port():
    """(recorder, answers): the recorder answers each request with answers[(method, path)]."""
    answers = {}

    def answer(req):
        status, obj = answers[(req.method, req.target)]
        return json_answer(status, obj)
    rec = RecordingBackend(answer=answer)
    yield rec, answers
    rec.close()


def sent(rec):
    """(method, target, JSON body or None) of each request the stand-in received."""
    return [(r.method, r.target, json.loads(r.body) if r.body else None)
            for r in rec.requests()]


def test_each_call_sends_the_documented_request(stats_port):
    rec, answers = stats_port
    answers.update({
        ("GET", "/backends"): (200, {"backends": [ENTRY]}),
        ("POST", "/backends"): (201, ENTRY),
        ("PATCH", "/backends/127.0.0.1:9004"): (200, dict(ENTRY, state="draining")),
        ("DELETE", "/backends/127.0.0.1:9004"): (202, dict(ENTRY, state="draining")),
    })
    admin = Admin(rec.port)
    assert admin.backends() == [ENTRY]
    assert admin.backend("127.0.0.1:9004") == ENTRY
    assert admin.backend("127.0.0.1:1") is None
    assert admin.add("127.0.0.1:9004", weight=2) == ENTRY
    admin.add(9004)
    assert admin.drain("127.0.0.1:9004")["state"] == "draining"
    admin.ready("127.0.0.1:9004")
    admin.reweight("127.0.0.1:9004", 5)
    assert admin.remove("127.0.0.1:9004")["state"] == "draining"
    assert sent(rec) == [
        ("GET", "/backends", None), ("GET", "/backends", None), ("GET", "/backends", None),
        ("POST", "/backends", {"server": "127.0.0.1:9004", "weight": 2}),
        ("POST", "/backends", {"server": "9004"}),
        ("PATCH", "/backends/127.0.0.1:9004", {"state": "drain"}),
        ("PATCH", "/backends/127.0.0.1:9004", {"state": "ready"}),
        ("PATCH", "/backends/127.0.0.1:9004", {"weight": 5}),
        ("DELETE", "/backends/127.0.0.1:9004", None)]


def test_another_status_raises_with_the_answers_line(stats_port):
    rec, answers = stats_port
    answers[("POST", "/backends")] = (409, {"error": "127.0.0.1:9004 is already in the table"})
    answers[("DELETE", "/backends/127.0.0.1:1")] = (404, {"error": "no backend 127.0.0.1:1"})
    admin = Admin(rec.port)
    with pytest.raises(AdminError) as info:
        admin.add("127.0.0.1:9004")
    assert info.value.status == 409
    assert info.value.error == "127.0.0.1:9004 is already in the table"
    assert "POST /backends -> 409" in str(info.value)
    with pytest.raises(AdminError) as info:
        admin.remove("127.0.0.1:1")
    assert info.value.status == 404
    # call() judges nothing: a test of the 4xx answers reads them as they came.
    assert admin.call("POST", "/backends", {"server": "x"}) == (
        409, {"error": "127.0.0.1:9004 is already in the table"})


def test_no_stats_port_no_admin_api():
    with pytest.raises(ValueError, match="stats port"):
        Admin(None)


def test_backends_file_lines(tmp_path):
    """Entries become SERVER[,weight=W] lines as on the command line; a raw line is written
    as it is; the file is replaced whole (a reload never reads half of it)."""
    c = Cluster(tmp_path, backends=3, control=False, backends_file=True, weights={2: 4})
    for i, b in enumerate(c.backends):
        b._port = 9001 + i            # as if started
    path = c.write_backends_file()
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
    assert lines == ["9001", "9002", "9003,weight=4"]
    c.write_backends_file([0, (1, 3), c.backends[2], "127.0.0.1:notaport"])
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
    assert lines == ["9001", "9002,weight=3", "9003,weight=4", "127.0.0.1:notaport"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["backends.txt"]
    assert c.server(1) == "127.0.0.1:9002"
    with pytest.raises(RuntimeError, match="backends_file=True"):
        Cluster(tmp_path / "other", backends=1, control=False).write_backends_file()
