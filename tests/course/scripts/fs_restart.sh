#!/usr/bin/env bash
# fs_restart.sh - kill and restart on the same port 20 times in a row: each new fakeserver
# is started right after the previous one was sent SIGTERM, without waiting for it to
# go; none may write to stderr ("address in use" or anything else), and each serves.
# The suite runs it while it keeps both CPUs busy.
. "$(dirname "$0")/lib.sh"

printf 'hello, course\n' > text
: > err
old=
for i in $(seq 20); do
    fakeserver $P -N 3 2>>err &
    pid=$!
    # the previous one was killed a moment ago; once it is gone, the port is this one's
    if [ -n "$old" ]; then
        wait $old || echo "run $((i - 1)) exited with status $?"
    fi
    wait_port $P $pid
    echo "$i: $(curl -s http://127.0.0.1:$P/text)"
    kill $pid
    old=$pid
done
wait $old || echo "run 20 exited with status $?"
if [ -s err ]; then
    echo 'stderr was not empty:'
    cat err
fi
