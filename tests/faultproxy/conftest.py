"""Fixtures of the fault proxy's suite: a real upstream (a fakeserver, or an nginx on a
generated configuration) and faultproxy processes in front of it.

Every wire test runs twice, once per upstream kind (`upstream` is parametrized), so each
fault is seen acting on answers the proxy did not make up: the fakeserver's (exact, with
counters that tell whether it was asked) and nginx's (another server's framing, Date and
ETag fields, chunked answers).
"""
import pytest

from harness.faultproxy import nginx_binary, start_nginx, start_proxy

from fp_wire import BIG, SMALL


@pytest.fixture(params=["fakeserver", "nginx"])
def upstream(request, procs, tmp_path):
    """A started upstream serving /f (SMALL), /big (BIG) and /healthcheck: .port, .kind,
    .control (the fakeserver's control port, 0 for nginx)."""
    files = {"f": SMALL, "big": BIG}
    if request.param == "fakeserver":
        cwd = tmp_path / "upstream"
        cwd.mkdir()
        for name, data in files.items():
            (cwd / name).write_bytes(data)
        p = procs.start(["fakeserver", "0", "-L", "-N", "2", "--control-port", "0"],
                        name="upstream", cwd=cwd)
        p.control = int(p.ready["control"])
    else:
        if not nginx_binary():
            pytest.skip("nginx is not installed (ci/deps.sh test installs nginx-light)")
        p = start_nginx(procs, tmp_path / "nginx", files={**files, "healthcheck": b"3\n7"})
        (p.docroot / "chunked").mkdir()
        (p.docroot / "chunked" / "text").write_bytes(b"chunk me " * 2000)
        p.control = 0
    p.kind = request.param
    return p


@pytest.fixture
def proxy(procs, upstream):
    """make(*args, tcp=False) -> a FaultProxy in front of the upstream."""
    def make(*args, tcp=False, name=None):
        return start_proxy(procs, upstream.port, *args, tcp=tcp, name=name)
    return make
