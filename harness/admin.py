"""The balancer's admin API (on its stats port), as a client: add, drain, re-weight and remove
backends while it runs. The surface is lb/README.md's "Backends changed while it runs":

    GET    /backends                 -> 200 {"backends": [B, ...]}  (B: the /stats entry)
    POST   /backends  {"server": "HOST:PORT"|"PORT", "weight": W}   -> 201 B
    PATCH  /backends/HOST:PORT  {"weight": W, "state": "drain"|"ready"} -> 200 B
    DELETE /backends/HOST:PORT       -> 202 B ("draining", removed once nothing is in flight)

Errors are `{"error": "one line"}` with a 4xx status. Every call is one exchange on a fresh
connection (harness.wire.fetch through harness.cluster.http_request), so a test sees the
status and the JSON exactly as the balancer sent them.

    admin = Admin(cluster.balancer.stats_port)
    admin.add("127.0.0.1:9004", weight=2)      # B of the new backend
    admin.drain("127.0.0.1:9004"); admin.remove("127.0.0.1:9004")
    status, obj = admin.call("POST", "/backends", {"server": "x"})   # no raise: 400 {...}

`Cluster` wraps it per backend (`cluster.add_backend()`, `.drain(i)`, `.remove(i)`,
`.reweight(i, w)`; harness/README.md).
"""
import json

from .timing import wait_for


class AdminError(RuntimeError):
    """The admin API answered with another status than the call expects. `status`: the
    HTTP status; `error`: the answer's "error" text (or its raw body)."""

    def __init__(self, method, path, status, obj):
        self.status = status
        self.error = obj.get("error") if isinstance(obj, dict) else obj
        super().__init__(f"admin {method} {path} -> {status}: {self.error}")


class Admin:
    """Client of one balancer's admin API on `port` (its stats port)."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        if not port:
            raise ValueError("the admin API lives on the stats port; this balancer has none "
                             "(start it with --stats-port)")
        self.port, self.host, self.timeout = port, host, timeout

    def call(self, method, path, body=None):
        """One exchange: (status, the answer's JSON, or its text when it is not JSON)."""
        from .cluster import http_request   # cluster imports this module
        status, data = http_request(self.port, method, path, body, host=self.host,
                                    timeout=self.timeout)
        try:
            obj = json.loads(data) if data else {}
        except ValueError:
            obj = data.decode(errors="replace")
        return status, obj

    def _expect(self, want, method, path, body=None):
        status, obj = self.call(method, path, body)
        if status != want:
            raise AdminError(method, path, status, obj)
        return obj

    def backends(self):
        """Every backend of the table, as /stats shows it (name, weight, state, ...)."""
        return self._expect(200, "GET", "/backends")["backends"]

    def backend(self, name):
        """The entry named `name` ("127.0.0.1:9001"), or None once it is gone."""
        return next((b for b in self.backends() if b.get("name") == name), None)

    def add(self, server, weight=None):
        """POST: a new backend ("unknown" until its first health check, sent at once)."""
        body = {"server": str(server)}
        if weight is not None:
            body["weight"] = weight
        return self._expect(201, "POST", "/backends", body)

    def patch(self, name, **fields):
        """PATCH with `weight=` and/or `state=` ("drain" or "ready")."""
        return self._expect(200, "PATCH", f"/backends/{name}", fields)

    def drain(self, name):
        """No new request to it; requests in flight finish; its pooled connections close."""
        return self.patch(name, state="drain")

    def ready(self, name):
        """Undoes a drain."""
        return self.patch(name, state="ready")

    def reweight(self, name, weight):
        return self.patch(name, weight=weight)

    def remove(self, name):
        """DELETE: drained, then gone from the table once nothing is in flight on it."""
        return self._expect(202, "DELETE", f"/backends/{name}")

    def wait_gone(self, name, timeout=10.0):
        """Polls GET /backends until `name` has left the table."""
        return wait_for(lambda: self.backend(name) is None, timeout,
                        what=f"{name} to leave the balancer's table")
