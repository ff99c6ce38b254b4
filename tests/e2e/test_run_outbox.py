"""``imx run --outbox``: the simulated stations report through outboxes, shown in the view.

Like ``test_run``: a private ``IMX_HOME`` and broker; afterwards nothing of the run remains.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from imx.kafka.localbroker import free_port
from tests.e2e.test_run import _summary_rows
from tests.support.proc import kill_all, processes_mentioning, run_imx

pytestmark = pytest.mark.e2e


def test_run_with_outboxes_forwards_everything_and_shows_pending(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMX_")}
    env.update(
        IMX_HOME=str(home),
        IMX_BOOTSTRAP=f"127.0.0.1:{free_port()}",
        IMX_WEB_PORT=str(free_port()),
    )
    if "IMX_JAR_CACHE" in os.environ:
        env["IMX_JAR_CACHE"] = os.environ["IMX_JAR_CACHE"]
    try:
        result = run_imx(["run", "--duration", "20", "--outbox"], env, timeout=240)
        leftovers = processes_mentioning(f"IMX_HOME={home}")
    finally:
        kill_all(processes_mentioning(f"IMX_HOME={home}"))

    assert result.returncode == 0, result.stderr[-3000:]
    assert leftovers == set(), f"processes of this run still alive: {leftovers}"
    assert "station outboxes serve" in result.stderr
    assert re.search(r"outbox pending \d+", result.stdout), result.stdout[-2000:]
    databases = sorted(p.parent.name for p in (home / "outbox").glob("*/outbox.db"))
    assert "bps-presevo" in databases
    assert len(databases) == 13, databases  # every LOCAL unit of the registry
    rows = _summary_rows(result.stdout)
    published = int(rows["reports published"][0])
    assert published >= 50, f"about 5 reports/s for 20 s, got {published}"
    received = int(rows["reports in"][0])
    assert received == published, "the outboxes forwarded every report they took"
    for db in (home / "outbox").glob("*/outbox.db"):
        status = run_imx(["outbox", "status", "--unit", db.parent.name, "--json"], env)
        assert status.returncode == 0, status.stderr
        assert '"pending": 0' in status.stdout, (db.parent.name, status.stdout)
