#!/usr/bin/env bash
# fs_args.sh - fakeserver's arguments in every order: PORT, -N 3 and -l log in all six
# orders, and -e/-t/-L mixed in; each start serves, has N + 1 threads, writes its log (or
# counts, with -L), and prints nothing at all on stdout or stderr.
. "$(dirname "$0")/lib.sh"

printf 'hello, course\n' > text
url=http://127.0.0.1:$P

for args in 'PORT -N 3 -l log' 'PORT -l log -N 3' '-N 3 PORT -l log' \
            '-N 3 -l log PORT' '-l log PORT -N 3' '-l log -N 3 PORT'; do
    echo "== fakeserver $args"
    fakeserver ${args/PORT/$P} &
    pid=$!
    wait_port $P $pid
    curl -si $url/text
    echo "threads: $(ls /proc/$pid/task | wc -l)"
    stop $pid
    cat log
done

for args in '-L -e 1 -t 3 PORT' 'PORT -t 3 -N 2 -e 1 -L' '-t 3 -L PORT -e 1'; do
    echo "== fakeserver $args"
    fakeserver ${args/PORT/$P} &
    pid=$!
    wait_port $P $pid
    curl -si $url/healthcheck
    echo
    stop $pid
done
