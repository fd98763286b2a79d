#!/usr/bin/env bash
# fs_threads.sh - fakeserver -N N runs N worker threads and one dispatcher: N + 1 threads
# in /proc/PID/task as soon as the port accepts, and still after serving; 5 by default.
. "$(dirname "$0")/lib.sh"

printf 'hello, course\n' > text
for n in 1 2 4 8 default; do
    if [ $n = default ]; then
        fakeserver $P &
    else
        fakeserver $P -N $n &
    fi
    pid=$!
    wait_port $P $pid
    before=$(ls /proc/$pid/task | wc -l)
    curl -s -o /dev/null http://127.0.0.1:$P/text
    after=$(ls /proc/$pid/task | wc -l)
    echo "-N $n: $before threads, after a request $after"
    stop $pid
done
