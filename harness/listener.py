"""A TCP listener for test backends written in Python.

`Listener` binds 127.0.0.1 on an ephemeral port and runs its accept loop in a daemon
thread. Each accepted connection goes to `on_accept(conn)`, which by default serves it on a
thread of its own with `serve(conn)`; a subclass overrides one or the other. A subclass sets
its own state first and calls `Listener.__init__` last, because the loop starts at once.
`close()` stops the loop (shutting the listening socket down wakes its accept at once)
and closes the listening socket.
"""
import socket
import threading


class Listener:
    def __init__(self, backlog=64):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self):
        self.sock.settimeout(0.1)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.on_accept(conn)

    def on_accept(self, conn):
        threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        raise NotImplementedError

    def close(self):
        self.stop = True
        try:  # wakes a blocked accept() at once (Linux: EINVAL) instead of its 0.1 s poll
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(2)
        self.sock.close()
