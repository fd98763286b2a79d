"""Deferred accept (TCP_DEFER_ACCEPT, on by default, --defer-accept=0 turns it off).

The kernel hands a connection to the balancer once its first bytes arrived, so a client's
handshake ACK wakes nobody and the accept and the first read happen in one wake-up. What a
user can observe, and what these tests pin down:
- a connection that has sent nothing waits in the kernel (the server side of it is still in
  SYN_RECV, /proc/net/tcp state 03) and the balancer has not accepted it (/stats);
- the moment it sends a request it is accepted and answered;
- a connection that stays silent is handed over anyway about a second later and then meets
  --header-timeout like any other, so silence is never held forever;
- with --defer-accept=0 a silent connection is accepted at once.
"""
import socket

from .conftest import scaled, wait_for

QUIET = ("-R", "1000000", "--health-interval", "60s")
SYN_RECV = "03"


def server_side_states(port, client_port):
    """States of the server-side sockets (request socks included) of one connection."""
    states = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) == client_port:
                states.append(state)
    return states


def request_on(sock):
    sock.sendall(b"GET /f HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_a_silent_connection_waits_in_the_kernel_until_it_speaks(rig):
    a = rig.fakeserver()
    rig.balancer(*QUIET, "0", str(a.port))
    wait_for(lambda: rig.states() == ["up"], what="up")
    # The kernel hands a silent connection over after about a second; a reading of /stats
    # counts only if the connection was still in SYN_RECV after it (a very slow machine
    # may need another connection for that).
    for attempt in range(3):
        s = socket.create_connection(("127.0.0.1", rig.port), timeout=scaled(5))
        try:
            client_port = s.getsockname()[1]
            wait_for(lambda: server_side_states(rig.port, client_port) == [SYN_RECV],
                     what="the server side of the silent connection in SYN_RECV")
            accepted = rig.stats()["accepted"]
            if server_side_states(rig.port, client_port) != [SYN_RECV]:
                continue  # handed over while /stats was read: inconclusive
            assert accepted == attempt
            reply = request_on(s)
            assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"hello\n")
            assert rig.stats()["accepted"] == attempt + 1
            return
        finally:
            s.close()
    raise AssertionError("every silent connection was handed over before /stats answered")


def test_a_connection_that_stays_silent_meets_the_header_timeout(rig):
    a = rig.fakeserver()
    rig.balancer(*QUIET, "--header-timeout", "300", "--idle-timeout", "300", "0", str(a.port))
    s = socket.create_connection(("127.0.0.1", rig.port), timeout=scaled(10))
    try:
        assert s.recv(1) == b""  # handed over by the kernel after ~1 s, then closed
        assert rig.stats()["accepted"] == 1
    finally:
        s.close()


def test_without_deferred_accept_a_silent_connection_is_accepted_at_once(rig):
    a = rig.fakeserver()
    rig.balancer(*QUIET, "--defer-accept=0", "0", str(a.port))
    s = socket.create_connection(("127.0.0.1", rig.port), timeout=scaled(5))
    try:
        wait_for(lambda: rig.stats()["accepted"] == 1, what="accepted without a byte")
        client_port = s.getsockname()[1]
        assert SYN_RECV not in server_side_states(rig.port, client_port)
        reply = request_on(s)
        assert reply.startswith(b"HTTP/1.1 200 ")
    finally:
        s.close()
