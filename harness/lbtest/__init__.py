"""lbtest: the failover catalogue against any course balancer, side by side.

    python3 -m harness.lbtest --lb ./theirs --lb haproxy --lb nginx --lb ours

Every balancer, ours included, is run as a course script runs one: by path, with
`PROG [-N n] [-R r] PORT SERVER...` on a fixed free port, nothing printed, no stats port.
It is seen only from outside: readiness by its port accepting, backend state from the
fakeservers' course logs (their `GET /healthcheck` entries and requests) and control
counters, and correctness from the clients' side.

    catalogue.py   the entries: a rule in plain words, a seed, and the function that drives it
    cell.py        one entry against one balancer: processes, log tailer, deadline, verdict
    judge.py       the invariant over every request of a cell, in words a student reads
    wire.py        pipelined and bad-input clients (answers read by harness.wire's reader)
    matrix.py      cells in order, reruns and flakiness
    report.py      terminal matrix, --junit, --json, --html (timelines of failed cells)
    timeline.py    a cell's timeline, drawn with the demo's SVG pieces
    grade.py       a folder of balancers in, a CSV of scores out
    subjects.py    built-in names (ours, haproxy, nginx) and paths
    adapters.py    HAProxy and nginx behind the course command line (bin/*-course)
    cli.py         the command line
"""
