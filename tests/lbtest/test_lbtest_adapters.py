"""HAProxy and nginx behind the course command line: the configs are shown and accepted by
the products themselves, each starts like a course balancer, and where it differs from the
course contract the matrix says so in words. Their whole matrices are `slow`."""
import os
import subprocess

import pytest

from lbtest_helpers import cells, have, lbtest, need_binaries, not_passed  # noqa: F401
from harness.lbtest.subjects import BIN, SBIN_PATH

PRODUCTS = ("haproxy", "nginx")


@pytest.mark.parametrize("product", PRODUCTS)
def test_show_config_is_valid_for_the_product(product, tmp_path):
    if not have(product):
        pytest.skip(f"{product} is not installed (ci/deps.sh lbtest)")
    course = ["-N", "2", "-R", "3", "18080", "18081", "18082"]
    env = {"LBTEST_ADAPTER_DIR": str(tmp_path)}   # where the config's own paths point
    run = lbtest("--show-config", product, *course, env=env)
    assert run.returncode == 0, run.stderr
    assert "18081" in run.stdout and "18082" in run.stdout and str(tmp_path) in run.stdout
    # the launcher a course script would run prints the same text
    same = subprocess.run([str(BIN / f"{product}-course"), "--show-config", *course],
                          stdout=subprocess.PIPE, text=True, env=dict(os.environ, **env))
    assert same.stdout == run.stdout
    conf = tmp_path / f"{product}.conf"
    conf.write_text(run.stdout)
    if product == "haproxy":
        check = ["haproxy", "-c", "-f", str(conf)]
    else:
        check = ["nginx", "-t", "-p", str(tmp_path), "-e", str(tmp_path / "e.log"), "-c",
                 str(conf)]
    res = subprocess.run(check, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env={"PATH": SBIN_PATH})
    assert res.returncode == 0, res.stdout


def test_bad_course_command_line_is_one_line_and_status_2():
    run = subprocess.run([str(BIN / "haproxy-course"), "-N", "zero", "8080", "8081"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("haproxy-course: -N needs a positive number")


@pytest.mark.parametrize("product,status", [("haproxy", "503 Service Unavailable"),
                                            ("nginx", "502 Bad Gateway")])
def test_adapter_fails_over_and_its_error_answer_is_explained(need_binaries, tmp_path,
                                                              product, status):
    if not have(product):
        pytest.skip(f"{product} is not installed (ci/deps.sh lbtest)")
    js = tmp_path / "cells.json"
    run = lbtest("--lb", product, "--only", "kill-idle,all-down", "--json", js)
    print(run.stdout, run.stderr)
    assert not_passed(js, product) == {"all-down"}
    cell = cells(js)[(product, "all-down")]
    assert f"got {status} instead of the course's exact" in cell["reasons"][0]
    assert cell["differs"].startswith(("HAProxy answers 503", "nginx answers 502"))
    assert "differs by design:" in run.stdout


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("LBTEST_ADAPTER_MATRICES"),
                    reason="a minute each: set LBTEST_ADAPTER_MATRICES=1")
@pytest.mark.parametrize("product", PRODUCTS)
def test_whole_matrix_of_the_adapters(need_binaries, tmp_path, product):
    """The README's matrix: every cell runs to a verdict of its own (no hang, no crash),
    and the failover cells pass."""
    if not have(product):
        pytest.skip(f"{product} is not installed (ci/deps.sh lbtest)")
    js = tmp_path / "cells.json"
    run = lbtest("--lb", product, "--json", js)
    print(run.stdout, run.stderr)
    assert run.returncode == 1
    got = cells(js)
    assert all(c["verdict"] in ("pass", "fail") for c in got.values())
    assert {"kill-idle", "revive", "big-bodies", "bad-input"} & not_passed(js, product) == set()
