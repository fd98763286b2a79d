#!/usr/bin/env bash
# lb_connection.sh - how the balancer ends a client's connection, and the one place where
# its answers differ from the server's bytes:
#   1. plain nc (no -N, no -q) gets the whole answer at once, but nc only ends when the
#      connection closes, and a keep-alive HTTP/1.1 connection is closed by the balancer
#      after --idle-timeout (here 3 s; see README.md);
#   2. with `Connection: close` (or an HTTP/1.0 request, which means the same) it closes
#      right after the answer, and the answer says `Connection: close`: connection fields
#      are hop-by-hop, as in HAProxy and nginx;
#   3. with --verbatim-connection the answers are the server's bytes, as the course
#      balancer relayed them.
. "$(dirname "$0")/lib.sh"

printf 'abc\n' > f
fakeserver $P2 &
s1=$!
wait_port $P2 $s1
loadbalancer $P $P2 --idle-timeout 3s &
lb=$!
wait_port $P $lb

ms() { echo $(($(date +%s%N) / 1000000)); }

echo '== plain nc'
t0=$(ms)
printf 'GET /f HTTP/1.1\r\n\r\n' | timeout 10 nc 127.0.0.1 $P
t=$(($(ms) - t0))
if [ $t -ge 2900 ]; then echo 'closed after the idle timeout'; else echo "closed after $t ms"; fi

echo '== plain nc, Connection: close'
t0=$(ms)
printf 'GET /f HTTP/1.1\r\nConnection: close\r\n\r\n' | timeout 10 nc 127.0.0.1 $P
t=$(($(ms) - t0))
if [ $t -lt 2900 ]; then echo 'closed after the answer'; else echo "closed after $t ms"; fi

echo '== HTTP/1.0: the server says 400, the balancer adds Connection: close'
printf 'GET /f HTTP/1.0\r\n\r\n' | nc -N 127.0.0.1 $P
stop $lb

echo '== --verbatim-connection: the server bytes'
loadbalancer $P $P2 --verbatim-connection &
lb=$!
wait_port $P $lb
printf 'GET /f HTTP/1.1\r\nConnection: close\r\n\r\n' | nc -N 127.0.0.1 $P
printf 'GET /f HTTP/1.0\r\n\r\n' | nc -N 127.0.0.1 $P
stop $lb
stop $s1
