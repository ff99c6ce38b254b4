"""The machine-speed reference timed around every pipeline benchmark (bench/speed.py)."""

from __future__ import annotations

import ast
import inspect

import pytest

from imx.bench import speed
from imx.bench.report import reference_row

pytestmark = pytest.mark.unit


def test_the_workload_is_the_same_in_every_run() -> None:
    assert speed.workload_records(50) == speed.workload_records(50)
    first, again = speed.reference(rounds=1, count=500), speed.reference(rounds=2, count=500)
    assert first.checksum == again.checksum
    assert first.ms > 0
    assert again.ms > 0


def test_more_work_takes_longer() -> None:
    small = speed.reference(rounds=3, count=200)
    large = speed.reference(rounds=3, count=8_000)
    assert large.ms > 5 * small.ms
    assert small.checksum != large.checksum


def test_no_change_to_the_pipeline_can_move_the_reference() -> None:
    tree = ast.parse(inspect.getsource(speed))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.split(".")[0] == "imx"}, imported


def test_the_row_shows_both_figures() -> None:
    assert reference_row(104.6, 151.2) == ("machine reference before / after (ms)", "105 / 151")
