"""The soak (`make soak`): a seeded chaos run of many requests through the balancer, with
backend faults, kills and freezes, judged by a report (0 lost, 0 wrong, 0 duplicated, the
balancer's RSS and fds flat). `python3 -m harness.soak --help`; the short form runs in
`make test` (tests/reliability/test_soak_short.py). See harness/soak/README.md.

  run.py       the clients, the chaos thread, the samples and the verdict (main())
  backend.py   the chaos backend, a Python stand-in for the fakeserver (why: its docstring)
"""
from .run import main

__all__ = ["main"]
