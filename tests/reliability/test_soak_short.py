"""The soak's short form for `make test`: ~3000 seeded requests with faults and two backend
kills through the balancer (harness/soak), judged by the same checks as `make soak`: 0 lost,
0 wrong, 0 duplicated, fds and RSS flat, idle fds back (no splice pipe kept). RSS gets a
wide margin here because ASan's quarantine grows with every free. A third of the GETs and
HEADs ask for large answers (16 KiB - 600 KiB, by Content-Length or close-delimited), so
the faults also cut bodies that the balancer relays by splice."""
import json
import os

import pytest

from harness import soak


@pytest.mark.timeout(300)
def test_short_soak(tmp_path, capsys):
    n = int(os.environ.get("SOAK_SHORT_REQUESTS", "3000"))
    status = soak.main(["--requests", str(n), "--seed", "7", "--kills", "2",
                        "--fault-rate", "0.02", "--rss-slack-mb", "96",
                        "--large-share", os.environ.get("SOAK_SHORT_LARGE_SHARE", "0.3"),
                        "--workdir", str(tmp_path / "soak"),
                        "--report", str(tmp_path / "soak-report.json")])
    out = capsys.readouterr().out
    print(out)
    for log in sorted((tmp_path / "soak").glob("*.log")):
        text = log.read_text(errors="replace")
        assert "ERROR: AddressSanitizer" not in text and "runtime error:" not in text, \
            f"sanitizer report in {log}:\n{text[-3000:]}"
    assert status == 0, out
    rep = json.loads((tmp_path / "soak-report.json").read_text())
    if float(os.environ.get("SOAK_SHORT_LARGE_SHARE", "0.3")) > 0:
        assert rep["spliced_bytes"] > 0 and rep["by_size"].get("large ok", 0) > 0, out
