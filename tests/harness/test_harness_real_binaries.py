"""The fixtures and handles against the real fakeserver and balancer (skipped when they are
not built): the control dialect, READY fields, restart on the old port, /stats entries."""
import signal

import pytest

from harness import backend_entry, check, http_request, is_up, Traffic, Workload


def test_fakeserver_fixture_and_its_control_port(fakeserver):
    if not fakeserver.control:
        pytest.skip("the fakeserver in use has no control port yet")
    assert fakeserver.healthcheck() == (200, b"0\n0")
    before = fakeserver.faults()["generation"]
    after = fakeserver.set_faults(error_rate=1.0, scope="others")
    assert after["generation"] > before and after["faults"]["error-rate"] == 1
    assert http_request(fakeserver.port, "GET", "/tiny")[0] == 500
    assert fakeserver.healthcheck()[0] == 200          # scope: others
    fakeserver.reset_faults()
    assert http_request(fakeserver.port, "GET", "/tiny")[0] == 200
    assert fakeserver.counters()["requests"] >= 3


def test_balancer_fixture_in_front_of_a_fakeserver(fakeserver, balancer):
    lb = balancer(fakeserver, args=["-N", "2"])
    res = Traffic(lb.addr, Workload(fakeserver.cluster.files), clients=3).run(requests=60)
    check(res, backend_dirs=[fakeserver.dir], course_logs=fakeserver.course_logs,
          idempotent_copies=2).assert_ok()
    assert is_up(backend_entry(lb.stats(), fakeserver.port))
    assert "lb_backend_up" in lb.metrics()


def test_restart_on_the_old_port_with_a_new_course_log(fakeserver):
    port = fakeserver.port
    assert fakeserver.kill() == -signal.SIGKILL
    fakeserver.restart()
    assert fakeserver.port == port and len(fakeserver.course_logs) == 2
    assert fakeserver.healthcheck() == (200, b"0\n0")   # a new life counts from zero
