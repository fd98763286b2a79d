#!/usr/bin/env bash
# lb_three_servers.sh - the request battery (requests.sh) through the balancer in front of
# three fakeservers started in one directory, so a file PUT through one server is read
# back through another. Expected output: expected/requests_lb.out, as lb_one_server.sh.
. "$(dirname "$0")/lib.sh"
. "$here/requests.sh"

make_files
fakeserver $P2 -N 2 &
s1=$!
fakeserver $P3 -N 2 &
s2=$!
fakeserver $P4 -N 2 &
s3=$!
wait_port $P2 $s1
wait_port $P3 $s2
wait_port $P4 $s3
loadbalancer -N 4 $P $P2 $P3 $P4 -R 3 &
lb=$!
wait_port $P $lb
requests $P
stop $lb
stop $s1
stop $s2
stop $s3
