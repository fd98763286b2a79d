#!/usr/bin/env bash
# fakeserver/bench/vs_nginx.sh [BIN_DIR] - the fakeserver against nginx serving the same
# 1 KiB file, keep-alive, measured with wrk. Prints one line per server and the ratio.
# Needs wrk and nginx (Debian: apt-get install -y wrk nginx-light). Loopback only.
# Env: DURATION (s, default 5), CONNS (default 64), THREADS (server workers, default 2),
# ROUNDS (default 3: the two alternate, each keeps its best).
set -euo pipefail
bin=${1:-build/bin}
bin=$(cd "$bin" && pwd)
duration=${DURATION:-5}
conns=${CONNS:-64}
threads=${THREADS:-2}
for tool in wrk nginx; do
    command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install -y wrk nginx-light" >&2; exit 2; }
done
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
head -c 1024 /dev/urandom >"$work/file1k"

# fakeserver on an ephemeral port, in the directory it serves
(cd "$work" && exec "$bin/fakeserver" --ready 0 -N "$threads" >"$work/fs.out" 2>"$work/fs.err") &
pids+=($!)
for _ in $(seq 100); do grep -q READY "$work/fs.out" 2>/dev/null && break; sleep 0.05; done
fsport=$(sed -n 's/^READY port=\([0-9]*\).*/\1/p' "$work/fs.out")

# nginx with the same number of workers, no access log, unlimited keep-alive
ngport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/ng/logs"
cat >"$work/ng/nginx.conf" <<CONF
worker_processes $threads;
pid $work/ng/nginx.pid;
error_log $work/ng/logs/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 10000000;
    server { listen 127.0.0.1:$ngport; root $work; }
}
CONF
nginx -p "$work/ng" -c "$work/ng/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$ngport) 2>/dev/null && break; sleep 0.05; done

rate() { wrk -t2 -c"$conns" -d"${duration}s" "http://127.0.0.1:$1/file1k" | awk '/Requests\/sec/ {print $2}'; }
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
# Alternate the two ROUNDS times and keep each one's best: other load on the machine
# then hurts both alike instead of whichever ran second.
fs=0 ng=0
for _ in $(seq "${ROUNDS:-3}"); do
    fs=$(best "$fs" "$(rate "$fsport")")
    ng=$(best "$ng" "$(rate "$ngport")")
done
echo "fakeserver  -N $threads : $fs req/s (best of ${ROUNDS:-3})"
echo "nginx $threads workers : $ng req/s (best of ${ROUNDS:-3})"
awk -v a="$fs" -v b="$ng" 'BEGIN { printf "ratio fakeserver/nginx: %.2f\n", a / b }'
