"""The balancer's long options that the hostile-client and reliability suites use.

One place, so that a renamed option is one edit. Names, units and defaults follow the
balancer's usage text (lb/config.c) and lb/README.md: durations are milliseconds.
"""
HEADER_TIMEOUT = "--header-timeout"      # a request head must arrive within T (10 s)
MAX_HEAD = "--max-head"                  # request head bytes (16384), 431 beyond
MAX_HEADERS = "--max-headers"            # header fields per request (100), 431 beyond
MAX_BODY = "--max-body"                  # request body bytes (0 = none), 413 beyond
SERVER_TIMEOUT = "--server-timeout"      # backend inactivity before 500 / close (5 s)
CONNECT_TIMEOUT = "--connect-timeout"    # (1 s)
HEALTH_INTERVAL = "--health-interval"    # health checks without traffic (3 s)
HEALTH_TIMEOUT = "--health-timeout"      # (1 s)
IDLE_TIMEOUT = "--idle-timeout"          # keep-alive client idle limit (60 s)
MAX_CONNS = "--max-conns"                # client connections at once (10000)
RETRIES = "--retries"                    # idempotent retries on another backend (1)
STATS_PORT = "--stats-port"
OUTLIER_THRESHOLD = "--eject-after"      # consecutive failures before passive mark-down (5)


def opt(name, value):
    """One `--name=value` argument (the form every long-option parser accepts)."""
    return f"{name}={value}"
