#!/usr/bin/env bash
# lb_one_server.sh - the request battery (requests.sh) through the balancer in front of one
# fakeserver. Expected output: expected/requests_lb.out, the fakeserver's bytes but the
# Connection: close the balancer adds to its answer to an HTTP/1.0 request.
. "$(dirname "$0")/lib.sh"
. "$here/requests.sh"

make_files
fakeserver $P2 -N 3 &
s1=$!
wait_port $P2 $s1
loadbalancer $P $P2 &
lb=$!
wait_port $P $lb
requests $P
stop $lb
stop $s1
