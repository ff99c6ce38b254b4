"""Feed event ids: every id resumes the whole multi-partition position exactly."""

from __future__ import annotations

import random

import pytest

from imx.gateway.cursor import CursorError, Gone, event_id, parse, resume

pytestmark = pytest.mark.unit


def test_an_id_starts_with_the_records_partition_and_offset() -> None:
    text = event_id(1, 57, {0: 12, 1: 58, 2: 3})
    assert text == "1-57.0-12.2-3"
    assert parse(text) == ((1, 57), {0: 12, 1: 58, 2: 3})


@pytest.mark.parametrize("bad", ["", "x", "1-", "1-2.", "1-2.3", "-1-2", "1-2.1-5", "1-2.0-1.0-3"])
def test_malformed_ids_are_refused(bad: str) -> None:
    with pytest.raises(CursorError):
        parse(bad)


def test_resuming_at_any_cut_neither_misses_nor_repeats() -> None:
    """Interleave three partitions at random; cut after every event; resume from its id."""
    rng = random.Random(7)
    logs = {0: 5, 1: 9, 2: 0}  # records per partition; partition 2 stays empty
    order = [p for p, n in logs.items() for _ in range(n)]
    rng.shuffle(order)
    positions = dict.fromkeys(logs, 0)
    ids = []
    for p in order:
        offset = positions[p]
        positions[p] += 1
        ids.append(((p, offset), event_id(p, offset, positions)))
    ends = dict(logs)
    for cut, (_record, text) in enumerate(ids):
        start = resume(text, dict.fromkeys(logs, 0), ends)
        assert not isinstance(start, Gone)
        remaining = {(p, o) for p in logs for o in range(start[p], ends[p])}
        assert remaining == {record for record, _ in ids[cut + 1 :]}


def test_an_expired_or_unknown_position_says_where_the_feed_begins() -> None:
    beginnings, ends = {0: 10, 1: 0}, {0: 20, 1: 4}
    expired = resume("0-5.1-2", beginnings, ends)
    assert isinstance(expired, Gone)
    assert "no longer in" in expired.detail
    assert expired.begins == beginnings
    for text in ("0-25.1-2", "1-1.0-9", "1-1.0-21", "3-0", "0-12.5-0"):
        assert isinstance(resume(text, beginnings, ends), Gone), text
    assert resume("0-19.1-4", beginnings, ends) == {0: 20, 1: 4}


def test_a_partition_added_since_starts_at_its_beginning() -> None:
    assert resume("0-3", {0: 0, 1: 2}, {0: 5, 1: 9}) == {0: 4, 1: 2}
