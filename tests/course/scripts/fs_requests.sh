#!/usr/bin/env bash
# fs_requests.sh - the request battery (requests.sh) straight to one fakeserver.
# Expected output: expected/requests.out.
. "$(dirname "$0")/lib.sh"
. "$here/requests.sh"

make_files
fakeserver $P -N 3 &
pid=$!
wait_port $P $pid
requests $P
stop $pid
