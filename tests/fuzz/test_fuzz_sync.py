"""`make fuzz` on several machines, proven with two instances on one folder: a main
(FUZZ_ROLE=main) and a secondary (FUZZ_ROLE=secondary, FUZZ_NAME=m2) share FUZZ_SYNC_DIR, as
two machines would share an NFS folder. The secondary joins once the main fuzzes, imports the
main's queue (AFL++'s own sync: a .synced marker), and the main, at its end, minimises every
instance's queue into fuzz/out. Skips where AFL++ is not installed."""
import os
import subprocess
import time

import pytest

from .test_fuzz_campaign import TARGET, clone  # noqa: F401 - the module-scoped clone fixture

pytestmark = pytest.mark.slow


def fuzz(clone, log, **env):
    env = dict(os.environ, TARGETS=TARGET, JOBS="1", **env)
    return subprocess.Popen(["ci/fuzz.sh"], cwd=clone, env=env, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        proc.wait(30)


@pytest.mark.timeout(600)
def test_two_instances_on_one_sync_folder(clone, tmp_path):  # noqa: F811
    sync = tmp_path / "sync"
    run = sync / TARGET
    with open(tmp_path / "main.log", "w") as mlog, open(tmp_path / "m2.log", "w") as slog:
        main = fuzz(clone, mlog, FUZZ_TIME="40", FUZZ_SYNC_DIR=str(sync))
        second = None
        try:
            deadline = time.monotonic() + 480
            while not (run / "main" / "fuzzer_stats").exists():
                assert main.poll() is None, (tmp_path / "main.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the main never started fuzzing"
                time.sleep(1)
            second = fuzz(clone, slog, FUZZ_TIME="15", FUZZ_SYNC_DIR=str(sync),
                          FUZZ_ROLE="secondary", FUZZ_NAME="m2")
            assert second.wait(300) == 0, (tmp_path / "m2.log").read_text()[-3000:]
            assert main.wait(300) == 0, (tmp_path / "main.log").read_text()[-3000:]
        finally:
            stop(main)
            if second:
                stop(second)
    mtext, stext = (tmp_path / "main.log").read_text(), (tmp_path / "m2.log").read_text()
    assert (run / "main" / "fuzzer_stats").exists() and (run / "m2-1" / "fuzzer_stats").exists()
    assert (run / "m2-1" / ".synced" / "main").exists(), \
        f"the secondary did not import the main's queue: {sorted(os.listdir(run / 'm2-1'))}"
    assert "the main collects" in stext and "campaign" in stext
    assert (clone / "fuzz" / "out" / TARGET / "corpus").is_dir(), mtext[-2000:]
    row = [ln for ln in mtext.splitlines() if ln.startswith(TARGET + " ")]
    assert row, mtext[-2000:]
