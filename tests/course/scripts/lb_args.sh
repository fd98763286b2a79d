#!/usr/bin/env bash
# lb_args.sh - -N and -R anywhere among the balancer's positionals: before, after, between
# and mixed in; each start serves, prints nothing, and -R 2 took effect: after 4 requests
# each server's log shows 3 health checks (one at start, then one per 2 requests), where
# the default -R 5 would show 1. The balancer also checks after 3 s without a round; a
# loaded machine can stall a script that long, so --health-interval 600s (a long option,
# after the rest) keeps the count to the rounds -R starts.
. "$(dirname "$0")/lib.sh"

printf 'hello, course\n' > text
url=http://127.0.0.1:$P
start_logged_servers 2

for args in '-N 3 -R 2 PORT S1 S2' 'PORT S1 S2 -N 3 -R 2' '-N 3 PORT S1 -R 2 S2' \
            'PORT -R 2 S1 -N 3 S2' '-R 2 PORT -N 3 S1 S2'; do
    echo "== loadbalancer $args --health-interval 600s"
    h1=$(hc_count log1)
    h2=$(hc_count log2)
    real=${args/PORT/$P}
    real=${real/S1/$P2}
    loadbalancer ${real/S2/$P3} --health-interval 600s &
    lb=$!
    wait_port $P $lb
    curl -si $url/text
    for i in 2 3 4; do curl -s -o /dev/null -w '%{http_code}\n' $url/text; done
    wait_hc log1 $((h1 + 3))
    wait_hc log2 $((h2 + 3))
    echo "health checks: $(($(hc_count log1) - h1)) $(($(hc_count log2) - h2))"
    stop $lb
done
stop $s1
stop $s2
