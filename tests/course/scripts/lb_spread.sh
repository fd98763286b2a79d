#!/usr/bin/env bash
# lb_spread.sh - the balancer sends each request to the server with the fewest requests
# (TOTAL of its health check plus what it sent since), and learns of load it did not send
# only at a health-check round, every -R requests. Seen through the servers' -l logs:
#   1. server 1 gets 6 requests straight from the client; the balancer does not know yet,
#      so its next 3 requests (-R 3) still alternate: 2 to server 1, 1 to server 2;
#   2. the round after those 3 reports server 1's load: the next 4 all go to server 2
#      (without it, the second of them would have gone to server 1).
# The balancer also checks after 3 s without a round; a loaded machine can stall a script
# that long, and such a round would report server 1's load early: --health-interval 600s.
. "$(dirname "$0")/lib.sh"

printf 'hello, course\n' > text
fakeserver $P2 -l log1 &
s1=$!
fakeserver $P3 -l log2 &
s2=$!
wait_port $P2 $s1
wait_port $P3 $s2
loadbalancer $P $P2 $P3 -R 3 --health-interval 600s &
lb=$!
wait_port $P $lb
wait_hc log1 1 # the round at start
wait_hc log2 1

# gets LOG: the requests for /text LOG has recorded
gets() {
    grep -c '^GET /text ' "$1"
}

for i in 1 2 3 4 5 6; do curl -s -o /dev/null http://127.0.0.1:$P2/text; done
echo "== 6 requests straight to server 1: $(gets log1) $(gets log2)"
for i in 1 2 3; do curl -s -o /dev/null http://127.0.0.1:$P/text; done
echo "== 3 through the balancer, before the round: $(gets log1) $(gets log2)"
wait_hc log1 2
wait_hc log2 2
for i in 1 2 3 4; do curl -s -o /dev/null http://127.0.0.1:$P/text; done
echo "== 4 through the balancer, after the round: $(gets log1) $(gets log2)"
wait_hc log1 3
wait_hc log2 3
echo "== health checks: $(hc_count log1) $(hc_count log2)"
stop $lb
stop $s1
stop $s2
