#!/usr/bin/env bash
# lb_restart.sh - kill and restart the balancer on the same port 20 times in a row: each
# new loadbalancer is started right after the previous one was sent SIGTERM, without
# waiting for it to go; none may write to stderr, and each serves. The suite runs it
# while it keeps both CPUs busy.
. "$(dirname "$0")/lib.sh"

printf 'hello, course\n' > text
fakeserver $P2 &
s1=$!
wait_port $P2 $s1
restart_twenty loadbalancer $P $P2
stop $s1
