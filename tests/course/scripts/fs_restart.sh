#!/usr/bin/env bash
# fs_restart.sh - kill and restart on the same port 20 times in a row: each new fakeserver
# is started right after the previous one was sent SIGTERM, without waiting for it to
# go; none may write to stderr ("address in use" or anything else), and each serves.
# The suite runs it while it keeps both CPUs busy.
. "$(dirname "$0")/lib.sh"

printf 'hello, course\n' > text
restart_twenty fakeserver $P -N 3
