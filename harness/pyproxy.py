"""pyproxy: a tiny connection-level stand-in for the balancer, used to test the harness.

    python3 harness/pyproxy.py PORT SERVER [SERVER ...] [--stats-port P]

Each client connection goes to the next backend (round robin) that accepts; when none
accepts the client gets the contract's exact 500. Prints `READY port=P [stats=S]`, serves
`GET /stats` as JSON, exits 0 on SIGTERM. It is not HTTP-aware and is not the balancer: it
only lets the harness's own tests run a whole Cluster without the C binaries.
"""
import json
import os
import signal
import socket
import socketserver
import sys
import threading

ERROR_500 = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"


class Proxy(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (dst,):
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        srv = self.server
        with srv.lock:
            start = srv.next
            srv.next = (srv.next + 1) % len(srv.backends)
        for i in range(len(srv.backends)):
            b = srv.backends[(start + i) % len(srv.backends)]
            try:
                up = socket.create_connection(b["addr"], timeout=1.0)
            except OSError:
                b["state"] = "down"
                continue
            up.settimeout(None)
            b["state"] = "up"
            b["total"] += 1
            t = threading.Thread(target=pipe, args=(up, self.request), daemon=True)
            t.start()
            pipe(self.request, up)
            t.join()
            up.close()
            return
        self.request.sendall(ERROR_500)


class Stats(socketserver.StreamRequestHandler):
    def handle(self):
        self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        backends = [{"address": f"{h}:{p}", "state": b["state"], "total": b["total"]}
                    for b in self.server.proxy.backends for h, p in [b["addr"]]]
        data = json.dumps({"backends": backends}).encode()
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                         + data)


def main():
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    argv, positional, stats_port = sys.argv[1:], [], None
    while argv:
        arg = argv.pop(0)
        if arg == "--stats-port":
            stats_port = int(argv.pop(0))
        else:
            positional.append(arg)
    if len(positional) < 2:
        sys.exit("usage: pyproxy.py PORT SERVER [SERVER ...] [--stats-port P]")
    proxy = Proxy(("127.0.0.1", int(positional[0])), Handler)
    proxy.lock, proxy.next = threading.Lock(), 0
    proxy.backends = []
    for spec in positional[1:]:
        host, _, port = spec.rpartition(":")
        proxy.backends.append({"addr": (host or "127.0.0.1", int(port)), "state": "up",
                               "total": 0})
    ready = f"READY port={proxy.server_address[1]}"
    if stats_port is not None:
        stats = Proxy(("127.0.0.1", stats_port), Stats)
        stats.proxy = proxy
        threading.Thread(target=stats.serve_forever, daemon=True).start()
        ready += f" stats={stats.server_address[1]}"
    print(ready, flush=True)
    proxy.serve_forever()


if __name__ == "__main__":
    main()
