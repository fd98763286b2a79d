"""The ClusterFuzzLite/OSS-Fuzz layout (.clusterfuzzlite/) builds here: its build.sh, run
with this machine's clang outside their image, installs every libFuzzer target of fuzz/ with
its seed corpus and dictionary, and each installed binary is a working libFuzzer binary
(it runs its whole seed corpus and exits 0)."""
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CFL = REPO / ".clusterfuzzlite"


def test_layout_names_the_project_and_its_build():
    assert "language: c" in (CFL / "project.yaml").read_text()
    docker = (CFL / "Dockerfile").read_text()
    assert "oss-fuzz-base/base-builder" in docker and "build.sh" in docker
    assert os.access(CFL / "build.sh", os.X_OK)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_build_sh_builds_every_target_with_clang(tmp_path):
    for tool in ("clang", "cmake"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (ci/deps.sh fuzz installs clang)")
    out, work = tmp_path / "out", tmp_path / "work"
    env = dict(os.environ, CC="clang", OUT=str(out), WORK=str(work), SRC=str(tmp_path / "src"),
               CFLAGS="-fsanitize=address -g -O1")
    p = subprocess.run([str(CFL / "build.sh")], env=env, capture_output=True, text=True,
                       timeout=840)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    targets = sorted(d.name for d in (REPO / "fuzz").iterdir() if (d / "driver.c").exists())
    built = sorted(f.name.removeprefix("fuzz_") for f in out.glob("fuzz_*")
                   if f.suffix not in (".zip", ".dict"))
    assert built == targets, (built, targets)
    for name in built:
        exe = out / f"fuzz_{name}"
        seeds = out / f"fuzz_{name}_seed_corpus.zip"
        corpus = tmp_path / "corpus" / name
        corpus.mkdir(parents=True)
        with zipfile.ZipFile(seeds) as z:
            assert z.namelist(), f"{name}: empty seed corpus"
            z.extractall(corpus)
        run = subprocess.run([str(exe), "-runs=0", str(corpus)], capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 0, f"{name}:\n{run.stderr[-2000:]}"
        assert "INITED" in run.stderr or "Done" in run.stderr, run.stderr[-500:]
