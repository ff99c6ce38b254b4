"""``imx bench --replay``'s pure parts: the event clock, the memory table, the command line."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imx.bench.replay import EventClock, MemoryPoint, at_mark, thin
from imx.cli.main import main

pytestmark = pytest.mark.unit

END = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@given(st.integers(1, 5000), st.integers(1, 60))
def test_the_event_clock_spreads_count_reports_evenly_over_the_span_ending_now(
    count: int, days: int
) -> None:
    span = timedelta(days=days)
    clock = EventClock(END, span, count)
    times = [clock() for _ in range(count)]
    assert times == sorted(times)
    assert abs(times[-1] - END) < timedelta(milliseconds=1)
    assert times[0] >= END - span
    if count > 1:
        steps = {round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(times)}
        assert len(steps) == 1  # evenly


def _points(*processed: int) -> tuple[MemoryPoint, ...]:
    return tuple(MemoryPoint(n, float(i), 100 + n) for i, n in enumerate(processed))


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=300), st.integers(2, 12))
def test_the_memory_table_keeps_first_and_last_in_order_and_at_most_rows(
    counts: list[int], rows: int
) -> None:
    points = _points(*sorted(counts))
    shown = thin(points, rows)
    assert shown[0] == points[0]
    assert shown[-1] == points[-1]
    assert len(shown) <= max(rows, 1) or len(points) <= rows
    assert [p.processed for p in shown] == sorted(p.processed for p in shown)
    assert all(p in points for p in shown)


def test_memory_is_judged_at_the_first_sample_past_the_mark_or_the_last():
    points = _points(0, 40_000, 90_000, 100_500, 250_000)
    assert at_mark(points, 100_000).processed == 100_500
    assert at_mark(points, 10**7).processed == 250_000


def test_two_benchmarks_at_once_are_refused_naming_both(capsys: pytest.CaptureFixture[str]):
    assert main(["bench", "--replay", "1000", "--gateway"]) == 2
    assert "--gateway and --replay are different benchmarks" in capsys.readouterr().err
