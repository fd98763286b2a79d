"""The `start` fixture: a fakeserver in its own directory (helpers in fs_helpers.py)."""
import pytest

from fs_helpers import Server


@pytest.fixture
def start(procs):
    """start(*args, files={name: bytes}) -> Server, running in its own directory."""
    counter = [0]

    def _start(*args, files=None, name=None, expect_ready=True, timeout=20):
        counter[0] += 1
        name = name or f"fs{counter[0]}"
        cwd = procs.tmp_path / name
        cwd.mkdir(parents=True, exist_ok=True)
        for fname, data in (files or {}).items():
            (cwd / fname).write_bytes(data)
        proc = procs.start(["fakeserver", "0", *[str(a) for a in args]], name=name, cwd=cwd,
                           timeout=timeout, expect_ready=expect_ready)
        srv = Server(proc)
        srv.dir = cwd
        return srv

    return _start
