#!/usr/bin/env bash
# lb_failover.sh - three fakeservers behind the balancer, killed one by one: after each
# kill the next request is served by a server still alive (their -l logs say which);
# with every server gone the client gets exactly the 500 (curl and nc), the balancer
# stays up, and a server started again on its port serves the next request at once.
. "$(dirname "$0")/lib.sh"

printf 'hello, course\n' > text
url=http://127.0.0.1:$P
start_logged_servers 3
loadbalancer $P $P2 $P3 $P4 &
lb=$!
wait_port $P $lb

# served: the requests for /text each log has recorded, log1 log2 log3
served() {
    echo "served: $(grep -c '^GET /text ' log1) $(grep -c '^GET /text ' log2) $(grep -c '^GET /text ' log3)"
}

echo '== all three up'
curl -si $url/text
served
echo '== server 1 killed with SIGKILL, as by a crash'
# (bash reports a job killed by a signal on its stderr, at once if the job is gone before
# `wait`: both inside one group whose stderr is discarded, so the report never shows)
{ kill -9 $s1; wait $s1; } 2>/dev/null
curl -si $url/text
served
echo '== server 2 killed with SIGTERM'
stop $s2
curl -si $url/text
served
echo '== server 3 killed: 500, twice, and the same bytes through nc'
stop $s3
curl -si $url/text
curl -si $url/text
printf 'GET /text HTTP/1.1\r\n\r\n' | nc -N 127.0.0.1 $P
echo '== server 2 started again on its port: served at once'
fakeserver $P3 -l log2b &
s2=$!
wait_port $P3 $s2
curl -si $url/text
echo "served by the new server 2: $(grep -c '^GET /text ' log2b)"
stop $lb
stop $s2
