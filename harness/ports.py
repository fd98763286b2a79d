"""A fixed port for a test that must name one (a course script's way: no READY line).

Everything else binds port 0 and reads its port from the READY line. A test that starts a
binary on a fixed port must choose the number first, and "bind port 0, read the number,
close" leaves a window in which any other process (another xdist worker, another suite on
the machine) may be handed the same port by the kernel. `free_port()` closes that window
without a lock: it binds port 0 with SO_REUSEADDR, connects to itself and closes the
accepted side first, which leaves the port in TIME_WAIT for about a minute. The kernel
never hands a port in TIME_WAIT to a bind(0) or a connect(), while a server that sets
SO_REUSEADDR (both binaries do, lb/core/net.c) binds it at once. A check that the port is
still free must therefore bind with SO_REUSEADDR too (a listener left behind still fails it).
"""
import socket


def free_port(host="127.0.0.1"):
    """A port no one holds and the kernel will not hand out for about a minute."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with socket.create_connection((host, port)):
            accepted, _ = listener.accept()
            accepted.close()      # the server side closes first: TIME_WAIT on `port`
    return port


def bind_check(port, host="0.0.0.0"):
    """Binds port (SO_REUSEADDR, as the binaries) and releases it: OSError if someone
    listens on it."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
