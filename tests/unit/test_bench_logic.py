"""``imx bench --logic-only``: the core's own work timed in-process (bench/logic.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from imx.bench.logic import measure
from imx.registry import load_registry
from imx.schema.loader import default_schemas

pytestmark = pytest.mark.unit


def test_the_same_seed_decides_the_same_and_every_figure_is_filled() -> None:
    registry, schemas = load_registry(), default_schemas()
    first = measure(
        registry, schemas, seed=7, count=60, rounds=2, git_commit="abc", reference_rounds=1
    )
    again = measure(
        registry, schemas, seed=7, count=60, rounds=1, git_commit="abc", reference_rounds=1
    )
    assert (first.reports, first.accepted, first.deliveries) == (
        again.reports,
        again.accepted,
        again.deliveries,
    )
    assert 0 < first.accepted <= first.reports == 60
    assert first.deliveries >= first.accepted  # every accepted report reaches its own chain
    assert first.decide_ms_per_report > 0
    assert first.encode_ms_per_report > 0
    assert first.rounds == 2
    assert first.machine_reference_ms_before > 0
    assert first.machine_reference_ms_after > 0


def test_the_command_prints_a_table_then_one_json_line() -> None:
    env = {**os.environ, "IMX_BOOTSTRAP": "127.0.0.1:9"}  # nothing serves: none is needed
    args = ["bench", "--logic-only", "--reports", "30", "--rounds", "1", "--seed", "3"]
    done = subprocess.run(
        [sys.executable, "-m", "imx.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert "imx bench --logic-only" in lines[0]
    figures = json.loads(lines[-1])
    assert figures["reports"] == 30
    assert figures["seed"] == 3
    assert {
        "decide_ms_per_report",
        "encode_ms_per_report",
        "deliveries",
        "git_commit",
        "machine_reference_ms_before",
        "machine_reference_ms_after",
    } <= set(figures)
    assert "machine reference before / after (ms)" in done.stdout
