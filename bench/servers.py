"""bench/servers.py - start the servers a benchmark compares, each configured alike.

nginx runs with `master_process off` (one process that serves: its PID is the one whose CPU
and RSS we read), HAProxy in the foreground with `nbthread 1`, our balancer and the
fakeserver with port 0 and their READY line. Every config file, log and temp path lives in
the run directory. Each start_* returns a common.Proc with `.port` set, once the
server answers a GET for the 1 KiB file (or printed READY).

Choices that make the comparison fair, all written down in bench/README.md:
- every proxy keeps backend connections alive and reuses them across clients
  (HAProxy `http-reuse always`, nginx `keepalive 256` in the upstream, ours by design:
  its connection fields are hop-by-hop, so a client's `Connection: close` does not close
  the backend connection; before that default, only with --backend-keepalive);
- no access logs anywhere; keep-alive request limits raised so that no proxy closes a busy
  keep-alive connection every 100 or 1000 requests;
- health checks on a timer for HAProxy (`inter 2s`), none in nginx (open source nginx
  has no active checks), and `-R 1000000` for ours, so checks cost almost nothing for all.
"""
import os

from common import FILE_NAME, free_port, wait_http, wait_ready_line

NGINX_COMMON = """
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {dir}/{name}.pid;
error_log {dir}/{name}.err warn;
events {{ worker_connections 19000; use epoll; multi_accept on; }}
http {{
  access_log off;
  client_body_temp_path {dir}/{name}-body;
  proxy_temp_path {dir}/{name}-proxy;
  fastcgi_temp_path {dir}/{name}-fastcgi;
  uwsgi_temp_path {dir}/{name}-uwsgi;
  scgi_temp_path {dir}/{name}-scgi;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server_tokens off;
{body}
}}
"""

NGINX_ORIGIN_SERVER = """
  server {{
{listens}
    root {docroot};
{cache}
    location = /healthcheck {{ return 200 "0\\n0"; }}
    location / {{ }}
  }}
"""

NGINX_PROXY_SERVER = """
  upstream backends {{
{servers}
    keepalive 256;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096{deferred};
    location / {{
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering on;
    }}
  }}
"""

HAPROXY_CFG = """
global
  nbthread 1
  maxconn {maxconn}
  tune.bufsize 16384

defaults
  mode http
  maxconn {maxconn}
  option http-keep-alive
  http-reuse always
  timeout connect 1s
  timeout client 120s
  timeout server 5s
  timeout http-keep-alive 120s
  timeout http-request 10s
  timeout queue 10s

frontend fe
  bind 127.0.0.1:{port} backlog 4096{defer}
  default_backend be

backend be
  balance {balance}
  option httpchk GET /healthcheck HTTP/1.1
  http-check send hdr Host 127.0.0.1
{servers}
"""


def peer_defer():
    """BENCH_PEER_DEFER=1: HAProxy and nginx get the deferred accept ours has by default
    (HAProxy `defer-accept`, nginx `deferred`), to show what that option alone is worth."""
    return os.environ.get("BENCH_PEER_DEFER", "") not in ("", "0")


def _nginx(procs, name, rundir, body, cpus):
    conf = os.path.join(rundir, name + ".conf")
    with open(conf, "w") as f:
        f.write(NGINX_COMMON.format(dir=rundir, name=name, body=body))
    return procs.start(name, ["nginx", "-p", rundir, "-c", conf], cpus=cpus)


# Keeps the file open between requests (no open/fstat/close per request): the backends
# cost less, so the proxy's core rather than the shared load core limits the proxies.
NGINX_FILE_CACHE = "    open_file_cache max=64 inactive=60s;\n    open_file_cache_valid 60s;"


def start_nginx_origin(procs, rundir, docroot, cpus=None, nports=1, name="nginx-origin",
                       file_cache=True, deferred=False):
    """One nginx process serving docroot on nports ports; .ports lists them."""
    ports = [free_port() for _ in range(nports)]
    listens = "\n".join("    listen 127.0.0.1:%d backlog=4096%s;"
                        % (p, " deferred" if deferred else "") for p in ports)
    body = NGINX_ORIGIN_SERVER.format(listens=listens, docroot=docroot,
                                      cache=NGINX_FILE_CACHE if file_cache else "")
    proc = _nginx(procs, name, rundir, body, cpus)
    for p in ports:
        wait_http(proc, p)
    proc.port, proc.ports = ports[0], ports
    return proc


def start_nginx_proxy(procs, rundir, backends, cpus=None, name="nginx-proxy"):
    port = free_port()
    servers = "\n".join("    server 127.0.0.1:%d max_fails=0;" % b for b in backends)
    body = NGINX_PROXY_SERVER.format(port=port, servers=servers,
                                     deferred=" deferred" if peer_defer() else "")
    proc = _nginx(procs, name, rundir, body, cpus)
    wait_http(proc, port)
    proc.port = port
    return proc


def haproxy_maxconn():
    """HAProxy reserves two descriptors per connection and refuses to start otherwise."""
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return 20000
    return max(256, min(20000, (hard - 400) // 2))


def start_haproxy(procs, rundir, backends, cpus=None, balance="roundrobin", name="haproxy"):
    port = free_port()
    servers = "\n".join("  server s%d 127.0.0.1:%d check inter 2s" % (i, b)
                        for i, b in enumerate(backends))
    conf = os.path.join(rundir, name + ".cfg")
    with open(conf, "w") as f:
        f.write(HAPROXY_CFG.format(port=port, balance=balance, servers=servers,
                                   maxconn=haproxy_maxconn(),
                                   defer=" defer-accept" if peer_defer() else ""))
    proc = procs.start(name, ["haproxy", "-db", "-f", conf], cpus=cpus)
    wait_http(proc, port)
    proc.port = port
    return proc


# -N: requests proxied at once (the course default 4 would queue wrk's 64 connections;
# HAProxy's equivalent, maxconn, is far above the load too). -R 1000000: checks on the 3 s
# timer only, as HAProxy's `inter`. --max-conns above the idle-connection test's count.
# Everything else is the balancer's default. The variant targets (bench/run.py,
# ours_variant) add --verbatim-connection (a client's close is relayed, so every such
# request opens a backend connection) or, on a balancer from before hop-by-hop fields,
# --backend-keepalive (the backend connection stays pooled).
OURS_ARGS = ("-N", "10000", "-R", "1000000", "--max-conns", "19000")


def ours_has_option(build_dir, option):
    """True when the balancer's --help lists option (so a run never fails on an option a
    later version dropped)."""
    import subprocess
    exe = os.path.join(build_dir, "bin", "loadbalancer")
    if not os.path.exists(exe):
        return False
    usage = subprocess.run([exe, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True).stdout
    return option in usage


def start_ours(procs, build_dir, backends, cpus=None, extra=(), name="ours"):
    exe = os.path.join(build_dir, "bin", "loadbalancer")
    argv = [exe, "--ready", "0"] + [str(b) for b in backends] + list(OURS_ARGS) + list(extra)
    proc = procs.start(name, argv, cpus=cpus)
    proc.port = int(wait_ready_line(proc)["port"])
    wait_http(proc, proc.port)
    return proc


def start_fakeserver(procs, build_dir, docroot, cpus=None, workers=1, name="fakeserver"):
    exe = os.path.join(build_dir, "bin", "fakeserver")
    argv = [exe, "--ready", "0", "-N", str(workers), "-L", "--root", docroot]
    proc = procs.start(name, argv, cpus=cpus, cwd=docroot)
    proc.port = int(wait_ready_line(proc)["port"])
    wait_http(proc, proc.port, "/" + FILE_NAME)
    return proc
