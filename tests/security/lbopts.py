"""The balancer's long options that the hostile-client and reliability suites use.

One place, so that a renamed option is one edit. Values and units follow lb/README.md.
"""
HEADER_TIMEOUT = "--header-timeout"      # slowloris: ms to receive a whole request head
MAX_HEAD = "--max-header-size"           # bytes of request head (431 beyond)
MAX_HEADERS = "--max-headers"            # header fields per request (431 beyond)
MAX_BODY = "--max-body-size"             # request body bytes (413 beyond); 0 = unlimited
SERVER_TIMEOUT = "--server-timeout"      # ms of backend silence before 500 / close
CONNECT_TIMEOUT = "--connect-timeout"
HEALTH_INTERVAL = "--health-interval"    # ms between idle-time health checks
HEALTH_TIMEOUT = "--health-timeout"
RETRIES = "--retries"                    # retries of an idempotent request
STATS_PORT = "--stats-port"
OUTLIER_THRESHOLD = "--eject-after"      # consecutive failures before passive mark-down


def opt(name, value):
    """One `--name=value` argument (the form every long-option parser accepts)."""
    return f"{name}={value}"
