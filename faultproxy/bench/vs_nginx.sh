#!/usr/bin/env bash
# faultproxy/bench/vs_nginx.sh [BIN_DIR] - pass-through throughput of faultproxy (no fault
# set) against nginx as a reverse proxy, both in front of the same nginx origin serving a
# 1 KiB file, keep-alive on both sides, measured with wrk. Prints one line per proxy and
# the ratio (faultproxy / nginx). The ratio is measured, never asserted.
# Needs wrk and nginx (Debian: apt-get install -y wrk nginx-light). Loopback only.
# Env: DURATION (s, default 5), CONNS (default 64), ROUNDS (default 3: the two alternate,
# each keeps its best), WORKERS (proxy workers/threads, default 1).
set -euo pipefail
bin=${1:-build/bin}
bin=$(cd "$bin" && pwd)
duration=${DURATION:-5}
conns=${CONNS:-64}
rounds=${ROUNDS:-3}
workers=${WORKERS:-1}
export PATH=$PATH:/usr/sbin
for tool in wrk nginx; do
    command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install -y wrk nginx-light" >&2; exit 2; }
done
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }

mkdir -p "$work/www"
head -c 1024 /dev/urandom >"$work/www/file1k"
nginx_conf() { # name port body
    cat >"$work/$1.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $work/$1.pid;
error_log $work/$1.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/$1-body;
  proxy_temp_path $work/$1-proxy;
  fastcgi_temp_path $work/$1-fcgi;
  uwsgi_temp_path $work/$1-uwsgi;
  scgi_temp_path $work/$1-scgi;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  server { listen 127.0.0.1:$2 backlog=4096; $3 }
}
CONF
}
origin=$(free_port)
nginx_conf origin "$origin" "root $work/www; sendfile on; open_file_cache max=16;"
nginx -p "$work" -c "$work/origin.conf" & pids+=($!)
wait_port "$origin"

ngport=$(free_port)
nginx_conf ngproxy "$ngport" "location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }
  upstream up { server 127.0.0.1:$origin; keepalive 256;"
# worker_processes follows WORKERS, as faultproxy's -N
sed -i "s/^worker_processes 1;/worker_processes $workers;/; s/^master_process off;/master_process $([ "$workers" = 1 ] && echo off || echo on);/" "$work/ngproxy.conf"
nginx -p "$work" -c "$work/ngproxy.conf" & pids+=($!)
wait_port "$ngport"

"$bin/faultproxy" 0 --upstream "$origin" -N "$workers" >"$work/fp.out" 2>"$work/fp.err" & pids+=($!)
for _ in $(seq 100); do grep -q READY "$work/fp.out" 2>/dev/null && break; sleep 0.05; done
fpport=$(sed -n 's/^READY port=\([0-9]*\).*/\1/p' "$work/fp.out")

rps() { wrk -t1 -c"$conns" -d"${duration}s" "http://127.0.0.1:$1/file1k" | awk '/Requests\/sec/ {print int($2)}'; }
best_fp=0 best_ng=0
for _ in $(seq "$rounds"); do
    r=$(rps "$fpport"); [ "$r" -gt "$best_fp" ] && best_fp=$r
    r=$(rps "$ngport"); [ "$r" -gt "$best_ng" ] && best_ng=$r
done
printf 'faultproxy (pass-through, -N %s)  %8d req/s\n' "$workers" "$best_fp"
printf 'nginx proxy (%s worker)           %8d req/s\n' "$workers" "$best_ng"
awk -v a="$best_fp" -v b="$best_ng" 'BEGIN { printf "ratio faultproxy/nginx       %8.2f (goal >= 0.8, measured, not asserted)\n", (b ? a / b : 0) }'
