"""The proxy's TCP mode (--tcp): Toxiproxy's toxics per direction, seeded, changed live
through the control port, against a fakeserver and an nginx upstream (bytes are bytes)."""
import time

import pytest

from fp_wire import BIG, SMALL, Reader, connect, get_raw, request, timed, without_date


def test_no_fault_relays_bytes_both_ways(proxy, upstream):
    px = proxy(tcp=True)
    direct = request(upstream.port, "/big")[3]
    with connect(px.port) as s:
        r = Reader(s)
        s.sendall(get_raw("/f"))
        assert r.response()[2] == SMALL
        s.sendall(get_raw("/big"))
        assert without_date(r.response()[3]) == without_date(direct)
    assert px.counters()["connections"] == 1


@pytest.mark.parametrize("direction", ["up", "down"])
def test_latency_per_direction_with_jitter(proxy, direction):
    px = proxy(f"--tcp-latency-{direction}", "250", f"--tcp-jitter-{direction}", "50", tcp=True)
    with connect(px.port) as s:
        r = Reader(s)
        for _ in range(2):
            (st, _, body, _), took = timed(lambda: (s.sendall(get_raw("/f")), r.response())[1])
            assert st == 200 and body == SMALL and 0.24 <= took < 2.0


def test_bandwidth_down(proxy):
    px = proxy("--tcp-bandwidth-down", "20000", tcp=True)
    (st, _, body, _), took = timed(request, px.port, "/big")
    assert body == BIG and took >= 1.5  # 40960 bytes at 20000 B/s


def test_slicer_sends_small_segments_with_pauses(proxy):
    """At most 1000 bytes per segment, 20 ms apart. What one recv returns is not a segment:
    a reader scheduled late finds several segments queued. So the bound is on the bytes
    received by each moment the reader looks: by time t after the request went out, the
    proxy can have sent at most one segment plus one per full pause since, whenever the
    reader happens to run. (A pause is >= 19 ms: the proxy's clock counts whole ms.)"""
    px = proxy("--tcp-slicer-down", "1000", "--tcp-slicer-delay", "20", tcp=True)
    with connect(px.port) as s:
        t0, data, over = time.monotonic(), b"", []
        s.sendall(get_raw("/big"))
        while len(data) < len(BIG):
            chunk = s.recv(65536)
            assert chunk
            data += chunk
            elapsed = time.monotonic() - t0
            allowed = 1000 * (1 + int(elapsed / 0.019))
            if len(data) > allowed:
                over.append((round(elapsed, 3), len(data), allowed))
        took = time.monotonic() - t0
    assert not over, f"more bytes than 1000 per 20 ms (t, received, allowed): {over[:5]}"
    assert took >= 0.76  # 41+ segments: 40+ pauses of >= 19 ms


def test_timeout_drops_data_and_holds_then_closes(proxy):
    px = proxy("--tcp-timeout", "0", tcp=True)
    with connect(px.port, timeout=0.5) as s:
        s.sendall(get_raw("/f"))
        with pytest.raises(TimeoutError):
            s.recv(100)
    px.set_faults(tcp_timeout=300)
    with connect(px.port, timeout=5) as s:
        s.sendall(get_raw("/f"))
        (data, how), took = timed(Reader(s).until_close)
    assert data == b"" and 0.25 <= took < 3


def test_reset_peer(proxy):
    px = proxy("--tcp-reset-peer", "200", tcp=True)
    with connect(px.port, timeout=5) as s:
        (data, how), took = timed(Reader(s).until_close)
    assert how == "reset" and 0.15 <= took < 3


@pytest.mark.parametrize("limit", [1, 50])
def test_limit_data_down(proxy, upstream, limit):
    direct = request(upstream.port, "/big")[3]
    px = proxy("--tcp-limit-down", str(limit), tcp=True)
    with connect(px.port) as s:
        s.sendall(get_raw("/big"))
        data, how = Reader(s).until_close()
    assert data == direct[:limit]


def test_limit_data_up(proxy):
    px = proxy("--tcp-limit-up", "10", tcp=True)
    with connect(px.port) as s:
        s.sendall(get_raw("/f"))  # only "GET /f HTT" reaches the upstream
        data, how = Reader(s).until_close()
    assert data == b""


def test_rate_is_seeded_per_connection_and_changes_apply_live(proxy):
    px = proxy("--tcp-rate", "0.5", "--tcp-limit-down", "5", "--seed", "11", tcp=True)
    px2 = proxy("--tcp-rate", "0.5", "--tcp-limit-down", "5", "--seed", "11", tcp=True)
    # the fate of connection N depends only on the seed: both proxies cut the same ones
    cut = []
    for p in (px, px2):
        seen = []
        for _ in range(12):
            with connect(p.port) as s:
                s.sendall(get_raw("/f"))
                r = Reader(s)
                try:
                    seen.append(r.response()[0] == 200)
                except EOFError:
                    seen.append(False)
        cut.append(seen)
    assert cut[0] == cut[1] and True in cut[0] and False in cut[0]
    # a change applies to an open connection at once
    px.reset_faults()
    with connect(px.port) as s:
        r = Reader(s)
        s.sendall(get_raw("/f"))
        assert r.response()[2] == SMALL
        px.set_faults(tcp_latency_down=300)
        (_, took) = timed(lambda: (s.sendall(get_raw("/f")), r.response())[1])
        assert took >= 0.28
