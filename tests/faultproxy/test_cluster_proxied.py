"""A cluster of real servers with faults injected: the balancer in front of two nginx
backends, each behind its own fault proxy, and a proxy between the clients and the
balancer."""
from harness.cluster import backend_entry, is_up, wait_for

from fp_wire import Reader, connect, get_raw, request, timed

BODY = b"served by nginx\n"


def backend_up(bal, px):
    return is_up(backend_entry(bal.stats(), px.port))


def get_all(port, n):
    return [request(port, "/f")[:3:2] for _ in range(n)]


def test_nginx_backends_behind_fault_proxies(proxied_backends, balancer):
    proxies = proxied_backends(2, files={"f": BODY})
    bal = balancer(*[p.port for p in proxies], args=["-R", "5"])
    assert get_all(bal.port, 30) == [(200, BODY)] * 30
    assert all(p.counters()["requests"] > 5 for p in proxies)  # both served

    # backend 0 starts failing its health checks (health-status, rewritten by its proxy)
    proxies[0].set_faults(health_status=500)
    wait_for(lambda: not backend_up(bal, proxies[0]), what="backend 0 down")
    before = proxies[0].counters()["faults"]["health"]
    served0 = proxies[0].counters()["requests"] - before
    assert get_all(bal.port, 30) == [(200, BODY)] * 30  # the balancer routes around it
    c0 = proxies[0].counters()
    assert c0["requests"] - c0["faults"]["health"] == served0  # only probes reached it

    # backend 1 gets slow answers on /f only (delay scoped by path), backend 0 heals
    proxies[1].set_faults(delay=150, scope_prefix="/f")
    proxies[0].reset_faults()
    wait_for(lambda: backend_up(bal, proxies[0]), what="backend 0 up again")
    took = [timed(request, bal.port, "/f")[1] for _ in range(10)]
    assert max(took) >= 0.14 and min(took) < 0.14  # both backends serve again


def test_proxy_between_clients_and_balancer(proxied_backends, balancer, fault_proxy):
    proxies = proxied_backends(1, files={"f": BODY})
    bal = balancer(proxies[0].port)
    front = fault_proxy(bal.port, "--error-rate", "1", "--scope-header", "X-Test: fail")
    assert request(front.port, "/f")[:3:2] == (200, BODY)
    assert request(front.port, "/f", headers={"X-Test": "fail"})[0] == 500
    front.set_faults(error_rate=0, truncate_rate=1, truncate_at=12)
    with connect(front.port) as s:  # the balancer's real answer, cut after 12 bytes
        s.sendall(get_raw("/f", {"X-Test": "fail"}))
        data, how = Reader(s).until_close()
    assert data == b"HTTP/1.1 200" and how == "eof"
