# lib.sh - sourced by every course script (`. "$(dirname "$0")/lib.sh"`), never run.
#
# What it sets up, so that each script reads like a course test:
#   P, P2, P3, P4  ports: from the environment (the suite passes free ones); by hand they
#                  default to 8080, 8081, 8082, 8083
#   PATH           $BIN (default: the repository's build/bin) first, so `fakeserver` and
#                  `loadbalancer` are the binaries under test, run by name
#   the directory  the script runs in $WORK (default: a new temporary directory, removed
#                  at the end), so its files and the servers' files stay out of your way
#   trap EXIT      every binary the script started in the background (`jobs -p`) is
#                  killed by its PID when the script ends, also when it fails half-way
#   a wrapper      as in the harness (harness/process.py): LBTEST_WRAP_FAKESERVER,
#                  LBTEST_WRAP_LOADBALANCER (set but empty: none), else LBTEST_WRAP, is
#                  a command prefix for that binary, e.g. a valgrind line (`make memcheck`;
#                  give valgrind a --log-file there, or its report on stderr lands in the
#                  output the suite compares). A shim of the binary's name that execs
#                  WRAPPER BIN/NAME comes first in PATH, so a script's PID is the binary's.
#
# Helpers: wait_port PORT [PID] (the course slept 0.25 s; this polls, bounded),
# stop PID (SIGTERM, wait, say so if the exit status was not 0), hc_count LOG and
# wait_hc LOG N (health checks a fakeserver's -l log has recorded),
# start_logged_servers N (fakeservers with -l logs behind a balancer) and
# restart_twenty COMMAND... (kill and restart on one port, 20 times).

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${P:=8080}"
: "${P2:=$((P + 1))}"
: "${P3:=$((P + 2))}"
: "${P4:=$((P + 3))}"
BIN=${BIN:-$here/../../../build/bin}
PATH="$BIN:$PATH"

# The shims of the wrapped binaries, in a directory of their own (not $WORK, whose files
# the fakeservers serve); removed at the end.
shims=
for name in fakeserver loadbalancer; do
    var=LBTEST_WRAP_${name^^}
    if [ -n "${!var+set}" ]; then wrap=${!var}; else wrap=${LBTEST_WRAP:-}; fi
    [ -n "$wrap" ] || continue
    [ -n "$shims" ] || shims=$(mktemp -d)
    printf '#!/bin/sh\nexec %s %q "$@"\n' "$wrap" "$BIN/$name" > "$shims/$name"
    chmod +x "$shims/$name"
done
[ -n "$shims" ] && PATH="$shims:$PATH"
export PATH

if [ -n "${WORK:-}" ]; then
    mkdir -p "$WORK"
    own_work=
else
    WORK=$(mktemp -d)
    own_work=1
fi
cd "$WORK" || exit 1

# running PID: the process exists and has not ended (a zombie waiting for `wait` has).
running() {
    local stat
    read -r stat 2>/dev/null < "/proc/$1/stat" || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# Kills what is still running of what this script started, by PID, and reaps it: nothing
# outlives the script. What still runs 5 s after SIGTERM gets SIGKILL. bash's own
# reports of jobs ended by a signal are discarded here (the binaries' stderr is not).
cleanup() {
    local pid left end=$((SECONDS + 5))
    left=$(jobs -p)
    for pid in $left; do kill "$pid" 2>/dev/null; done
    for pid in $left; do
        while running "$pid" && [ $SECONDS -lt $end ]; do sleep 0.01; done
        running "$pid" && kill -9 "$pid"
    done
    wait
    [ -n "$own_work" ] && cd / && rm -rf "$WORK"
    [ -n "$shims" ] && rm -rf "$shims"
} 2>/dev/null
trap cleanup EXIT

# wait_port PORT [PID]: returns once something accepts on 127.0.0.1:PORT (at most 20 s);
# with PID, gives up as soon as that process is gone. Giving up ends the script.
wait_port() {
    local end=$((SECONDS + 20))
    while [ $SECONDS -lt $end ]; do
        nc -z 127.0.0.1 "$1" 2>/dev/null && return 0
        if [ -n "${2:-}" ] && ! running "$2"; then
            echo "process $2 ended before port $1 was open"
            exit 1
        fi
        sleep 0.01
    done
    echo "nothing listens on port $1 after 20 s"
    exit 1
}

# stop PID: SIGTERM, then waits for it; prints a line only if it did not exit 0.
stop() {
    local rc=0
    kill "$1"
    wait "$1" || rc=$?
    [ "$rc" = 0 ] || echo "process $1 exited with status $rc after SIGTERM"
}

# hc_count LOG: how many health checks (GET /healthcheck) the -l log LOG has recorded.
hc_count() {
    grep -c '^GET /healthcheck ' "$1"
}

# wait_hc LOG N: waits (at most 20 s) until LOG has recorded N health checks; prints the
# count it ended with if that is not N.
wait_hc() {
    local end=$((SECONDS + 20))
    while [ $SECONDS -lt $end ]; do
        [ "$(hc_count "$1")" -ge "$2" ] && return 0
        sleep 0.01
    done
    echo "$1: $(hc_count "$1") health checks, not $2, after 20 s"
    return 1
}

# start_logged_servers N: N fakeservers (N = 1..3) on $P2, $P3, $P4 with -l logs log1,
# log2, log3, their PIDs in s1, s2, s3; returns once each of them accepts.
start_logged_servers() {
    local i pid ports=("$P2" "$P3" "$P4")
    for ((i = 1; i <= $1; i++)); do
        fakeserver "${ports[i - 1]}" -l "log$i" &
        printf -v "s$i" '%s' $!
    done
    for ((i = 1; i <= $1; i++)); do
        pid=s$i
        wait_port "${ports[i - 1]}" "${!pid}"
    done
}

# restart_twenty COMMAND...: starts COMMAND (a binary serving /text on $P) 20 times in a
# row, each right after the previous one was sent SIGTERM, without waiting for it to go;
# prints each one's answer and any exit status but 0, then whatever they all wrote to
# stderr (nothing, when all is well: "address in use" would show here).
restart_twenty() {
    local i pid old=
    : > err
    for i in $(seq 20); do
        "$@" 2>>err &
        pid=$!
        # the previous one was killed a moment ago; once it is gone, the port is this one's
        if [ -n "$old" ]; then
            wait "$old" || echo "run $((i - 1)) exited with status $?"
        fi
        wait_port "$P" "$pid"
        echo "$i: $(curl -s "http://127.0.0.1:$P/text")"
        kill "$pid"
        old=$pid
    done
    wait "$old" || echo "run 20 exited with status $?"
    if [ -s err ]; then
        echo 'stderr was not empty:'
        cat err
    fi
}
