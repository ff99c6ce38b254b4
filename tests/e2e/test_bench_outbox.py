"""``imx bench outbox`` end to end on a tiny workload: the JSON line's shape, never its timings.

It starts a private broker and relay of its own; afterwards none of its processes remains.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from imx.kafka.localbroker import kafka_version
from tests.support.proc import kill_all, processes_mentioning, run_imx

pytestmark = pytest.mark.e2e

#: Below pytest's own 300 s, so a hung bench is stopped here and its processes killed.
BENCH_TIMEOUT_S = 240.0

POSITIVE = (
    "single_taken_per_second",
    "single_forwarded_per_second",
    "batched_taken_per_second",
    "batched_forwarded_per_second",
    "backlog_taken_per_second",
    "first_ack_after_seconds",
    "drain_seconds",
    "drain_per_second",
)


def test_bench_outbox_reports_its_figures_and_leaves_nothing_running(tmp_path: Path) -> None:
    before = processes_mentioning("imx-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMX_")}
    env["IMX_HOME"] = str(tmp_path / "home")
    env["IMX_OUTBOX_BACKOFF_CAP_S"] = "2"
    args = ["bench", "outbox", "--reports", "20", "--pending", "60", "--outage", "3", "--seed", "5"]
    try:
        result = run_imx(args, env, timeout=BENCH_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"imx bench outbox did not finish within {BENCH_TIMEOUT_S:.0f} s: {exc}")
    finally:
        leftovers = processes_mentioning("imx-bench-") - before
        kill_all(leftovers)  # whatever a failed run left, so the session goes on clean
    assert result.returncode == 0, result.stderr[-3000:]
    assert leftovers == set(), f"processes of the bench still alive: {leftovers}"
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    for name in POSITIVE:
        assert figures[name] > 0, name
    assert figures["pending"] == 60
    assert figures["outage_seconds"] == 3
    assert figures["backoff_cap_seconds"] == 2
    assert figures["kafka_version"] == kafka_version()
    assert "drained in" in result.stdout
