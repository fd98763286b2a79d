"""Real servers behind fault proxies: nginx as an upstream, `faultproxy` in front of anything.

    ng = start_nginx(procs, tmp_path / "ng", files={"f": b"hello"})   # .port, .docroot
    px = start_proxy(procs, ng.port, "--delay", "100")                 # a FaultProxy
    px.set_faults(error_rate=1, scope_prefix="/x")                     # live, control port
    bal = balancer(*proxied_backends(procs, tmp_path, 2))              # balancer -> proxies -> nginx

nginx runs in the foreground (`daemon off`, `master_process off`), so the Process's PID is
the one that serves; it is stopped by that PID like every other child. Its configuration is
generated in the test's own directory on a free port; nothing is installed or written
elsewhere. Needs the nginx binary (Debian nginx-light, ci/deps.sh group `test`).
"""
import http.client
import json
import os
import shutil
import socket
import time
from pathlib import Path

from .ports import free_port
from .process import ProcessError
from .timing import scaled

NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx.err warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  server_tokens off;
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{port};
    root {docroot};
    location /chunked {{ gzip on; gzip_min_length 1; gzip_types *; chunked_transfer_encoding on; }}
{extra}
  }}
}}
"""


def nginx_binary():
    """The nginx executable, or None when it is not installed."""
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def wait_port(proc, port, timeout=10.0):
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise ProcessError(f"{proc.name} exited before listening:\n{proc.log()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise ProcessError(f"{proc.name} is not listening on {port}:\n{proc.log()}")


def start_nginx(procs, rundir, files=None, extra="", name="nginx"):
    """An nginx serving rundir/www (files: {name: bytes}) on a free port. Returns its
    Process with .port and .docroot. A port taken between the probe and nginx's bind is
    retried with another one."""
    binary = nginx_binary()
    if not binary:
        raise ProcessError("nginx is not installed (apt-get install nginx-light)")
    rundir = Path(rundir)
    docroot = rundir / "www"
    docroot.mkdir(parents=True, exist_ok=True)
    for fname, data in (files or {}).items():
        (docroot / fname).write_bytes(data)
    for attempt in range(5):
        port = free_port()
        conf = rundir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=rundir, port=port, docroot=docroot, extra=extra))
        proc = procs.start([binary, "-p", str(rundir), "-c", str(conf)],
                           name=f"{name}-{attempt}" if attempt else name, cwd=rundir,
                           expect_ready=False)
        try:
            wait_port(proc, port)
        except ProcessError:
            if proc.popen.poll() is None or attempt == 4:
                raise
            continue
        proc.ready["port"] = str(port)  # .port, as for the project's binaries
        proc.docroot = docroot
        return proc
    raise ProcessError("nginx did not start")


class FaultProxy:
    """A running faultproxy: .port, .control, .proc, and its control API."""

    def __init__(self, proc):
        self.proc = proc
        self.port = int(proc.ready["port"])
        self.control = int(proc.ready.get("control", "0"))

    def control_call(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.control, timeout=scaled(5))
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data)
            resp = conn.getresponse()
            text = resp.read()
            return resp.status, json.loads(text) if text else None
        finally:
            conn.close()

    def set_faults(self, **faults):
        """PATCH /faults with keyword names (error_rate=1 -> "error-rate")."""
        st, body = self.control_call("PATCH", "/faults",
                                     {k.replace("_", "-"): v for k, v in faults.items()})
        assert st == 200, body
        return body

    def reset_faults(self):
        return self.control_call("DELETE", "/faults")[1]

    def counters(self):
        return self.control_call("GET", "/counters")[1]


def start_proxy(procs, upstream_port, *args, tcp=False, name=None, threads=2):
    """A faultproxy in front of 127.0.0.1:upstream_port with a control port; args are more
    options (faults, --timeline, --seed ...)."""
    argv = ["faultproxy", "0", "--upstream", str(upstream_port), "--control-port", "0",
            "-N", str(threads)]
    if tcp:
        argv.append("--tcp")
    return FaultProxy(procs.start(argv + [str(a) for a in args], name=name))


def proxied_backends(procs, root, count, files=None, proxy_args=(), health=b"0\n0"):
    """count nginx backends, each behind its own faultproxy. Every nginx serves `files` and
    a static `healthcheck` file (the balancer's probe gets `ERRORS\\nTOTAL`). Returns the
    FaultProxy handles, each with .nginx set: hand their .port to a balancer."""
    proxies = []
    for i in range(count):
        served = dict(files or {})
        served.setdefault("healthcheck", health)
        ng = start_nginx(procs, Path(root) / f"backend{i}", files=served, name=f"nginx{i}")
        px = start_proxy(procs, ng.port, *proxy_args, name=f"proxy{i}")
        px.nginx = ng
        proxies.append(px)
    return proxies
