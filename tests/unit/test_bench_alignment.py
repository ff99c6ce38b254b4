"""``python -m imx.bench.alignment``: the intake's alignment, timed per batch, in-process."""

from __future__ import annotations

import asyncio

import pytest

from imx.bench.alignment import backlog, live

pytestmark = pytest.mark.unit


def test_live_forwards_each_record_at_once() -> None:
    figures = asyncio.run(live(rounds=1, batches=50))
    assert (figures.partitions, figures.records_per_batch) == (390, 1.0)
    assert figures.forwarded_per_batch == 1.0
    assert figures.held_at_end == 0
    assert figures.us_per_batch > 0


def test_a_backlog_is_read_500_records_a_batch_and_forwarded_as_fast() -> None:
    figures = asyncio.run(backlog(rounds=2, batches=6))
    assert figures.records_per_batch == 500.0  # nothing paused: the partitions advance alike
    assert figures.forwarded_per_batch >= 400  # the merge keeps up, minus what it holds
    assert figures.held_at_end <= 3 * 500
