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
: > err
old=
for i in $(seq 20); do
    loadbalancer $P $P2 2>>err &
    pid=$!
    if [ -n "$old" ]; then
        wait $old || echo "run $((i - 1)) exited with status $?"
    fi
    wait_port $P $pid
    echo "$i: $(curl -s http://127.0.0.1:$P/text)"
    kill $pid
    old=$pid
done
wait $old || echo "run 20 exited with status $?"
stop $s1
if [ -s err ]; then
    echo 'stderr was not empty:'
    cat err
fi
