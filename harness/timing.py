"""Deadlines that stretch with the tools: the one timeout scale and the one bounded poll.

Under Valgrind the binaries run about ten times slower, so every deadline a test or the
harness sets goes through `scaled()`: READY waits, polls, client deadlines, per-test
timeouts and the balancer's own timeout options (harness.cluster.scale_lb_args). Tests
never sleep to synchronise; they poll something that tells the truth with `wait_for()`.

Environment:
  LBTEST_TIMEOUT_SCALE    the factor (default 1, or 10 when a LBTEST_WRAP* wrapper names
                          valgrind); TEST_TIMEOUT_SCALE is read as a fallback
"""
import os
import time


def under_valgrind():
    """Whether a LBTEST_WRAP or LBTEST_WRAP_<NAME> prefix runs the binaries under Valgrind."""
    keys = [k for k in os.environ if k == "LBTEST_WRAP" or k.startswith("LBTEST_WRAP_")]
    return any("valgrind" in os.environ[k] for k in keys)


def timeout_scale():
    """How much slower than native the binaries run (valgrind: about ten times)."""
    raw = os.environ.get("LBTEST_TIMEOUT_SCALE") or os.environ.get("TEST_TIMEOUT_SCALE")
    if raw:
        try:
            return max(1.0, float(raw))
        except ValueError:
            pass
    return 10.0 if under_valgrind() else 1.0


def scaled(seconds):
    """seconds multiplied by timeout_scale()."""
    return seconds * timeout_scale()


def wait_for(predicate, timeout=10.0, what="condition", interval=0.02):
    """Polls predicate() every `interval` seconds until it returns a true value, which is
    returned, or until `timeout` (scaled) has passed: AssertionError naming `what`, with the
    last exception predicate raised. An exception counts as false (a poll of a port or of
    /stats tolerates a moment when nothing answers yet)."""
    limit = scaled(timeout)
    deadline = time.monotonic() + limit
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - a poll tolerates transient failures
            last_exc = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:.1f}s waiting for {what}"
                                 + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)
