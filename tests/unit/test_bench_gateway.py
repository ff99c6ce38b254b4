"""``imx bench --gateway``'s pure parts: reading deliveries out of SSE lines, matching them."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imx.bench.gateway import Ledger, event_ids

pytestmark = pytest.mark.unit


def _event(event_id: str | None, kind: str = "delivery", record: str = "0-1") -> list[str]:
    report = None if event_id is None else {"event_id": event_id, "type": "VehicleSighting"}
    return [f"event: {kind}", f"id: {record}", f"data: {json.dumps({'report': report})}"]


def test_only_delivery_events_with_a_report_count():
    lines = [
        "retry: 2000",
        ": feed.pd-vranje",
        "",
        *_event("a"),
        "",
        *_event(None),  # a delivery without a report (a correlation): nothing to match
        "",
        *_event("b", kind="message"),
        "",
        ": keep-alive",
        "",
        *_event("c"),  # the last event, its blank line not read yet: still whole
    ]
    assert event_ids(lines) == ["a", "c"]


@given(st.lists(st.text("0123456789abcdef", min_size=1, max_size=8), max_size=20))
def test_every_delivery_of_a_block_is_read_in_order(ids: list[str]) -> None:
    lines = [line for event_id in ids for line in [*_event(event_id), ""]]
    assert event_ids(lines) == ids


def test_the_ledger_times_each_post_once_and_counts_repeats_and_missing():
    ledger = Ledger()
    for event_id, at in (("a", 10.0), ("b", 11.0), ("c", 12.0)):
        ledger.posted_at[event_id] = at
        ledger.accepted.add(event_id)
    ledger.delivered("a", 10.25)
    ledger.delivered("a", 10.5)  # the same delivery again
    ledger.delivered("b", 11.75)
    ledger.delivered("zzz", 11.0)  # not posted by this run
    assert ledger.latency_s == {"a": 0.25, "b": 0.75}
    assert ledger.repeated == 1
    assert ledger.missing() == 1  # c
