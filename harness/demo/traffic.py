"""Steady client traffic for the demo: a pool of client threads, each sending `GET /who`
through the balancer at a fixed pace and recording every outcome in the Recorder: which
backend answered (the body names it; an X-Server header wins if present), the status, the
latency, and the connection it used. Status 0 means no answer at all (reset, timeout).

The number of active clients, their pace and whether they keep connections alive can change
between steps; idle clients just wait. Every wait is on the stop event, so stop() returns
within one request timeout.
"""
import http.client
import threading
import time

REQUEST_TIMEOUT = 8.0  # above the balancer's 5 s server timeout: we want to see its 500


class Traffic:
    def __init__(self, recorder, port, max_clients=24, host="127.0.0.1"):
        self.rec = recorder
        self.port = port
        self.host = host
        self.max_clients = max_clients
        self.active = 0
        self.interval = 0.2
        self.keepalive = False
        self.stopping = threading.Event()
        self.threads = []
        self.conn_seq = 0
        self.busy = 0          # clients between deciding to send and recording the answer
        self.lock = threading.Lock()

    def configure(self, clients=None, rate=None, keepalive=None):
        """clients: how many send at once; rate: requests per second in all."""
        if clients is not None:
            with self.lock:
                self.active = min(clients, self.max_clients)
            while len(self.threads) < self.active:
                t = threading.Thread(target=self._client, args=(len(self.threads),),
                                     daemon=True, name=f"demo-client-{len(self.threads)}")
                self.threads.append(t)
                t.start()
        if rate is not None and self.active:
            self.interval = self.active / float(rate)
        if keepalive is not None:
            self.keepalive = keepalive

    def pause(self):
        """No client starts a request from now on; returns once every request already
        started has its outcome (bounded by the request timeout). configure(clients=N)
        resumes."""
        self.configure(clients=0)
        deadline = time.monotonic() + REQUEST_TIMEOUT + 1
        while self.busy and time.monotonic() < deadline:
            self.stopping.wait(0.01)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(REQUEST_TIMEOUT + 2)

    def _new_conn(self):
        with self.lock:
            self.conn_seq += 1
            cid = self.conn_seq
        return cid, http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)

    def _client(self, index):
        conn, cid = None, None
        while not self.stopping.is_set():
            with self.lock:
                idle = index >= self.active
                self.busy += 0 if idle else 1
            if idle:
                if conn is not None:
                    conn.close()
                    conn = None
                self.stopping.wait(0.05)
                continue
            began = time.monotonic()
            if conn is None:
                cid, conn = self._new_conn()
            try:
                ok = self._one(conn, cid)
            finally:
                with self.lock:
                    self.busy -= 1
            if not ok or not self.keepalive:
                conn.close()
                conn = None
            self.stopping.wait(max(0.0, self.interval - (time.monotonic() - began)))
        if conn is not None:
            conn.close()

    def _one(self, conn, cid):
        """One request; records it; returns whether the connection is still usable."""
        t = self.rec.now()
        began = time.monotonic()
        backend, status, usable = None, 0, False
        try:
            conn.request("GET", "/who")
            resp = conn.getresponse()
            body = resp.read()
            status = resp.status
            backend = resp.getheader("X-Server") or (body.decode(errors="replace").strip()
                                                      if status == 200 else None)
            usable = not resp.will_close
        except (OSError, http.client.HTTPException):
            status = 0
        latency = (time.monotonic() - began) * 1000.0
        if status and status >= 500:
            backend = None
        self.rec.request(backend or None, status, latency, conn=cid, t=t)
        return usable
