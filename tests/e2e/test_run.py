"""``imx run`` end to end: its own broker, a worker, the simulator, the summary, a clean stop.

The run gets a private ``IMX_HOME`` and names a free loopback port in ``IMX_BOOTSTRAP``, where
nothing serves, so it starts (and must stop) a broker of its own instead of using the session
broker. Afterwards no process may remain that carries this home: not the JVM, not the worker.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from imx.kafka.localbroker import free_port
from tests.support.proc import kill_all, processes_mentioning, run_imx

pytestmark = pytest.mark.e2e

LEVELS = ("LOCAL", "REGIONAL", "NATIONAL", "INTERNATIONAL")
RUN_TIMEOUT_S = 240.0


def _summary_rows(stdout: str) -> dict[str, list[str]]:
    """Cells of the final summary's rows, by their first cell (works with any box style)."""
    _, marker, summary = stdout.rpartition("imx run: summary")
    assert marker, f"no final summary in the output:\n{stdout[-3000:]}"
    rows = {}
    for line in summary.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if len(cells) >= 2:
            rows[cells[0]] = cells[1:]
    return rows


def test_run_brings_up_the_exchange_and_stops_everything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMX_")}
    env.update(IMX_HOME=str(home), IMX_BOOTSTRAP=f"127.0.0.1:{port}", IMX_WEB_PORT=str(free_port()))
    if "IMX_JAR_CACHE" in os.environ:
        env["IMX_JAR_CACHE"] = os.environ["IMX_JAR_CACHE"]
    started = time.monotonic()
    try:
        result = run_imx(["run", "--duration", "60"], env, timeout=RUN_TIMEOUT_S)
        took = time.monotonic() - started
        leftovers = processes_mentioning(f"IMX_HOME={home}")
    finally:
        kill_all(processes_mentioning(f"IMX_HOME={home}"))  # what a failed run left

    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Kafka serves at 127.0.0.1:{port}" in result.stderr, "did not start its own broker"
    assert leftovers == set(), f"processes of this run still alive: {leftovers}"
    assert (home / "pseudonym.key").stat().st_mode & 0o777 == 0o600
    # Secured by default: SASL_SSL broker, users and ACLs applied, gateway on HTTPS.
    assert "(SASL_SSL, SCRAM-SHA-512, ACLs enforced)" in result.stderr
    assert "users and ACLs:" in result.stderr
    assert "gateway serves https://127.0.0.1:" in result.stderr
    ca = home / "secrets" / "ca.crt"
    assert f"curl -sN --cacert {ca} 'https://127.0.0.1:" in result.stderr
    assert "operations picture: https://127.0.0.1:" in result.stderr
    tokens = json.loads((home / "secrets" / "gateway-tokens.json").read_text())["tokens"]
    assert sorted(t["unit"] for t in tokens) == ["bps-presevo", "pd-belgrade-coc"]
    assert all(t["revoked"] for t in tokens), "a run's gateway token outlived the run"

    rows = _summary_rows(result.stdout)
    deliveries = {level: int(rows[level][0]) for level in LEVELS}
    assert all(count > 0 for count in deliveries.values()), deliveries
    published = int(rows["reports published"][0])
    assert 250 <= published <= 320, f"about 5 reports/s for 60 s, got {published}"
    received = int(rows["reports in"][0])
    assert received == published, "at rest, the worker took in exactly what was published"
    assert rows["DLQ"] == ["none"], "every simulated report must be accepted"
    assert int(rows["exact duplicates (dropped)"][0]) >= 0
    corroborating = int(rows["corroborating reports"][0].split()[0])
    assert corroborating > 0, "the simulator's double reports must match as incidents"
    assert rows["worker"][0].startswith("answering"), rows["worker"]
    assert int(rows["correlations"][0]) > 0
    assert took < 200, f"imx run --duration 60 took {took:.0f} s from start to clean exit"
