"""The faulty-backend suites: fakeservers with faults behind the real balancer, through the
harness's `cluster_factory` (so a backend can be killed and frozen, its course log says
what reached it, and teardown judges every exit status and sanitizer report).

The faults are the fakeserver's own, scoped to requests (`--scope others`): the health
checks still pass, so the balancer keeps a backend up while it mistreats every request."""
from harness import make_body

# What a faulty backend does to every request once it has read it whole:
FAULTS = {
    "reset": ["--reset-rate", "1", "--scope", "others"],      # RST before any answer byte
    "close": ["--truncate-rate", "1", "--scope", "others"],   # FIN before any answer byte
}


def small_files(*names):
    """name -> a body of its own, 40 to 1000 bytes: GET targets seeded on every backend."""
    return {name: make_body(("reliability", name), 40 + sum(name.encode()) * 37 % 961)
            for name in names}
