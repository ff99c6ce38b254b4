"""``imx bench --gateway``'s pure parts: reading deliveries out of SSE lines, matching them."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imx.bench.gateway import Ledger, deliveries, event_ids

pytestmark = pytest.mark.unit


def _event(
    event_id: str | None, kind: str = "delivery", record: str = "0-1", decided: str | None = None
) -> list[str]:
    report = None if event_id is None else {"event_id": event_id, "type": "VehicleSighting"}
    body: dict[str, object] = {"report": report}
    if decided is not None:
        body["timing"] = {"reported_at": "2026-12-02T10:00:00Z", "delivered_at": decided}
    return [f"event: {kind}", f"id: {record}", f"data: {json.dumps(body)}"]


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
    ledger = Ledger(wall_offset_s=0.0)
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


def test_a_delivery_carries_its_decision_time_and_the_ledger_splits_the_latency_there():
    lines = [*_event("a", decided="1970-01-01T00:00:10.100Z"), "", *_event("b"), ""]
    assert deliveries(lines) == [("a", 10.1), ("b", None)]
    ledger = Ledger(wall_offset_s=0.0)
    for event_id in ("a", "b"):
        ledger.posted_at[event_id] = 10.0
        ledger.accepted.add(event_id)
    for event_id, decided_at in deliveries(lines):
        ledger.delivered(event_id, 10.25, decided_at)
    assert ledger.to_decided_s == {"a": pytest.approx(0.1)}
    assert ledger.decided_to_sse_s == {"a": pytest.approx(0.15)}
    assert ledger.latency_s == {"a": 0.25, "b": 0.25}


def test_after_a_reset_the_warm_ups_posts_and_late_deliveries_count_for_nothing():
    ledger = Ledger(wall_offset_s=0.0)
    ledger.posted_at["warm"] = 1.0
    ledger.accepted.add("warm")
    ledger.answered_s.append(0.01)
    ledger.refused = 1
    ledger.reset()
    ledger.delivered("warm", 2.0)  # arrives after the reset
    assert (ledger.latency_s, ledger.accepted, ledger.answered_s, ledger.refused) == (
        {},
        set(),
        [],
        0,
    )
    assert ledger.missing() == 0
